/*
 * px_h2_client.h: HTTP/2 upstream connections (nghttp2 client sessions), their streams behind
 * the upstream seam (px_up-t.h).
 *
 * An endpoint pool of an upstream with protocol http2, h2c (or auto, once a server chose h2)
 * keeps its HTTP/2 connections in pool->h2; each carries up to the lower of the upstream's
 * http2.max_concurrent_streams and the server's SETTINGS_MAX_CONCURRENT_STREAMS streams, one
 * per proxied request. The TCP (TLS) connection under a session is a px_uconn_t of the pool
 * owned by the session; each stream is a px_uconn_t too (t->uconn), whose `io` is borrowed from
 * the session for connect failure causes only.
 */
#ifndef PX_H2_CLIENT_H
#define PX_H2_CLIENT_H

#include "px_txn-t.h"
#include "px_upstream-t.h"

typedef struct px_h2c_s px_h2c_t;

/* A session of pool p that takes a new stream now (connected or connecting, no GOAWAY, a free
 * stream slot), preferring a connected one; NULL when none. */
px_h2c_t *px_h2c_find(px_upool_t *p);

/* Open a new HTTP/2 connection of pool p to its endpoint. NULL when nothing could be
 * attempted; *cause (static) says why. The connection's circuit breaker count is the caller's
 * (px_h2c_counted). */
px_h2c_t *px_h2c_open(px_upool_t *p, const char **cause);

/* The connection of c counts in its upstream's circuit_breakers.max_connections. */
void px_h2c_counted(px_h2c_t *c);

/* Is c connected (its streams can start at once)? */
int px_h2c_ready(const px_h2c_t *c);

/* A new stream of c for t, as t's upstream connection: ACTIVE when c is ready (the proxy sends
 * at once), else CONNECTING until px_proxy_upstream_event(PX_IO_CONNECTED) or the connection's
 * failure; `pending`: it counts in circuit_breakers.max_pending while it waits. NULL when out of
 * memory. */
px_uconn_t *px_h2c_stream(px_h2c_t *c, px_txn_t *t, int pending);

/* An auto upstream's new connection uc, attached to a txn, negotiated h2: make it a session
 * and give the txn a stream on it (t->uconn replaced; PX_IO_CONNECTED follows from the loop).
 * -1 when out of memory (uc is left as it was). */
int px_h2c_adopt(px_uconn_t *uc);

/* Did the TLS connection io settle on h2 by ALPN? */
int px_h2c_alpn_h2(px_io_t *io);

/* Close p's sessions without streams; the others take no new stream and close with their last
 * one (the pool's endpoint left, the view is retired, the worker drains). `now`: at once (no
 * stream of the pool may be running: not from a txn's callback), else from the loop. */
void px_h2c_close_idle(px_upool_t *p, int now);

#endif
