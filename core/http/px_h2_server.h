/*
 * px_h2_server.h: downstream HTTP/2 (RFC 9113) on a client connection, with nghttp2.
 *
 * A px_h1_conn_t becomes an HTTP/2 connection when TLS ALPN chose h2 or, on a plain listener,
 * when its first bytes are the client connection preface (prior knowledge, "h2c"). From then
 * on the connection's callbacks hand everything to the session (c->h2). Each stream is a
 * transaction on the listener's routes and filters, reached through its own px_down_t.
 */
#ifndef PX_H2_SERVER_H
#define PX_H2_SERVER_H

#include <stddef.h>
#include <stdint.h>

typedef struct px_h2_session_s px_h2_session_t;
typedef struct px_h1_conn_s px_h1_conn_t;

/* The client connection preface (RFC 9113 section 3.4). */
#define PX_H2_PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PX_H2_PREFACE_LEN 24

/* Make connection c an HTTP/2 connection (c->h2) and process what its input holds. Returns 0,
 * or -1 when out of memory (the caller closes c). */
int px_h2_session_start(px_h1_conn_t *c);

/* Free the session: every stream's txn is aborted. Called by the connection's free only. */
void px_h2_session_free(px_h2_session_t *s);

/* Connection events, from px_h1_server.c. Each may close (free) the connection. */
void px_h2_readable(px_h2_session_t *s);
void px_h2_writable(px_h2_session_t *s);
void px_h2_timeout(px_h2_session_t *s); /* the connection's timer: idle (keepalive_timeout) */

/* Graceful shutdown (drain, reload): GOAWAY with the last stream id taken; the streams in
 * progress finish, then the connection closes. */
void px_h2_goaway(px_h2_session_t *s);

/* Drain, or the connection's generation was replaced: the session's WebSocket tunnels
 * (extended CONNECT streams, px_tunnel.h) close within ms at the latest. */
void px_h2_drain_tunnels(px_h2_session_t *s, uint64_t ms);

#endif
