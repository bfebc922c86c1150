/*
 * px_upstream.h: choosing an endpoint, taking a pooled connection or opening one, and giving
 * it back.
 *
 * The pool functions know nothing of who uses a connection: an owner (a proxied txn, a
 * call-out) attaches with its px_uconn_ops_t and gets the connection's events while it holds
 * it; while idle, px_upstream.c watches it and closes it on any event. px_upstream_attach() is
 * the proxy's way in.
 */
#ifndef PX_UPSTREAM_H
#define PX_UPSTREAM_H

#include <sys/socket.h>

#include "px_status-t.h"
#include "px_txn-t.h"
#include "px_upstream-t.h"

/* Most idle connections a URL pool keeps, and all URL pools of a view together; how long an
 * idle one is kept. */
#define PX_UPSTREAM_URL_MAX_IDLE       8
#define PX_UPSTREAM_URL_MAX_IDLE_TOTAL 64
#define PX_UPSTREAM_URL_IDLE_TIMEOUT   60000

/* The pool of the endpoint the upstream's balance policy picks next in view u, among usable
 * endpoints (healthy, not ejected), preferring those not in k->tried (k may be NULL). NULL when
 * no endpoint is usable. Switches u to a newer host set first when there is one. */
px_upool_t *px_upstream_pick(px_wup_t *u, const px_pick_t *k);

/* The call-out pool for `key` ("host:port" for http, "https://host:port" for https;
 * lowercase) in view wg, or NULL when there is none and `create` is 0 (or out of memory). A
 * pool made here is TLS when tls_host is not NULL (copied: the host its connections send as
 * SNI and verify); it is freed with its last connection, so call px_upstream_connect() on it
 * at once. */
px_upool_t *px_upstream_url_pool(px_wgen_t *wg, const char *key, const char *tls_host, int create);

/* Take p's most recently used idle connection for owner (ACTIVE, uc->reused set, timeouts
 * off), or NULL when p has none. */
px_uconn_t *px_upstream_take(px_upool_t *p, const px_uconn_ops_t *ops, void *owner);

/* Open a new connection of pool p to sa for owner. It starts CONNECTING; the outcome comes
 * as ops->event(PX_IO_CONNECTED), or PX_IO_ERROR / PX_IO_TIMEOUT (p->connect_timeout_ms),
 * never from within this call. NULL when nothing could be attempted; *cause (static) says
 * why. */
px_uconn_t *px_upstream_connect(px_upool_t *p, const struct sockaddr *sa, socklen_t salen,
                                const px_uconn_ops_t *ops, void *owner, const char **cause);

/* px_upstream_connect() on a socket the caller made: fd (owned by the connection from here
 * on, closed on failure; -1: the caller's socket call failed, errno says why) is connected to
 * sa, or is connected already when sa is NULL (PX_IO_CONNECTED still comes from the loop).
 * On a TLS pool (p->tls_host) the connection makes a TLS handshake after connecting, and
 * PX_IO_CONNECTED comes after it; a failed handshake is PX_IO_ERROR with px_io_tls_error(). */
px_uconn_t *px_upstream_connect_fd(px_upool_t *p, int fd, const struct sockaddr *sa,
                                   socklen_t salen, const px_uconn_ops_t *ops, void *owner,
                                   const char **cause);

/* NULL in normal runs. When set (pyxis test-filter), a new connection for a proxied request
 * is this function's socket instead of a connect to p's endpoint: a connected, non-blocking
 * stream socket, or -1 with errno set. Call-outs do not use it (px_callout_connect_hook).
 * Set before the loop runs. */
extern int (*px_upstream_connect_hook)(const px_upool_t *p);

/* 0 in normal runs. A test hook, set at startup when the environment has
 * PYXIS_TEST_IDLE_UNWATCHED (t/046-stale-write.t): idle pooled connections are not watched
 * (no read, so no idle timeout either), so an upstream that resets one is not noticed before
 * a request is written to it. That is the stale keep-alive race made deterministic: the write
 * fails before one byte of the request left (docs/proxy.md). */
extern int px_upstream_idle_unwatched;

/* Attach a connection to t for t->upstream: pick an endpoint (recorded in t->ep and t->tried),
 * take a pooled connection unless `fresh`, else open one within the circuit breakers.
 * PX_OK: t->uconn is a pooled connection ready to take a request now. PX_AGAIN: t->uconn is
 * connecting; px_proxy_upstream_event() will report PX_IO_CONNECTED or the failure.
 * PX_ERROR: nothing could be attempted; *status (502 or 503) and *cause say why, and
 * t->overflow names a circuit breaker that tripped. */
px_status_t px_upstream_attach(px_txn_t *t, int fresh, int *status, const char **cause);

/* uc's connection is established (or failed): it no longer counts as pending. */
void px_upstream_unpend(px_uconn_t *uc);

/* A pseudo-random number from view u's generator (per worker: no lock, no shared line). */
uint64_t px_upstream_random(px_wup_t *u);

/* Keep endpoint pool p (and its endpoint) while a request or call-out that picked it may still
 * connect through it; least_request counts these. Drop gives it back. */
void px_upstream_pool_hold(px_upool_t *p);
void px_upstream_pool_drop(px_upool_t *p);

/* t is done with upstreams (least_request's count of requests per endpoint). */
void px_upstream_txn_done(px_txn_t *t);

/* Detach uc from its owner: back to its pool when `reusable` (and the pool wants it: the view
 * is current, the pool has room, nothing unread or unsent), else closed. The owner must not
 * touch uc afterwards. */
void px_upstream_release(px_uconn_t *uc, int reusable);

/* Close every idle connection of a view's pools, URL pools included (the view is retired or
 * the worker drains). */
void px_upstream_close_idle(px_wgen_t *wg);

/* Make a view's per-upstream state and endpoint pools; -1 when out of memory. */
int px_upstream_views_init(px_wgen_t *wg);
/* Free them (the view is freed: nothing uses its connections any more). */
void px_upstream_views_free(px_wgen_t *wg);

#endif
