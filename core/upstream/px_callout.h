/*
 * px_callout.h: asynchronous HTTP/1.1 call-outs, the engine behind pyxis_api_t.callout.
 *
 * A filter (a C module, Lua's pyxis.http.request, the ext_authz and JWKS fetchers) sends a
 * request to another service and gets the whole response in a callback, while the worker goes
 * on serving other requests. Everything runs on the worker thread that started the call-out.
 *
 * Targets: a named upstream of the view's config (endpoint chosen by the same smooth weighted
 * round robin as proxied requests, connections from the same per-endpoint keep-alive pools),
 * or an "http[s]://host[:port]/path?query" URL (hostnames resolved with evdns on the worker's
 * event_base; connections pooled per view by "host:port", "https://host:port" for TLS; https
 * verifies the server against the system CA store, see px_tls.h). docs/internals.md,
 * "Call-outs", has the pooling, retry and limit rules. Named upstreams are plain HTTP.
 *
 * Ownership: a call-out owns one px_pool (the call-out, the copied request, the response head)
 * and one evbuffer (the response body), freed right after fn returns or when it is cancelled.
 */
#ifndef PX_CALLOUT_H
#define PX_CALLOUT_H

#include "pyxis/module.h"

#include "px_pool-t.h"
#include "px_worker-t.h"

typedef struct px_callout_s px_callout_t;

/* Defaults and limits of a call-out. */
#define PX_CALLOUT_TIMEOUT_MS  5000          /* req->timeout_ms == 0 */
#define PX_CALLOUT_MAX_BODY    (1024 * 1024) /* req->max_body == 0 */
#define PX_CALLOUT_MAX_INTERIM 8             /* 1xx responses skipped before the final one */
#define PX_CALLOUT_MAX_ADDRS   4             /* resolved addresses tried in turn */
#define PX_CALLOUT_MAX_HEAD    (16 * 1024)   /* response head, as max_header_size's default */
#define PX_CALLOUT_MAX_HEADERS 100           /* response header fields */

/*
 * Start a call-out on worker w, view wg (named upstreams are looked up in wg->gen->conf; the
 * call-out counts in wg->active until it ends). Everything of req (a pyxis_callout_req_t of
 * req->size bytes; fields past that size count as 0) is copied before this returns.
 *
 * fn runs exactly once, from the event loop, never from inside px_callout_start, unless the
 * call-out is cancelled first: by px_callout_cancel, by the destruction of `owner` (a txn
 * pool; NULL for none), or by the worker's exit. The response given to fn is borrowed until
 * fn returns. A failure (connection refused, timeout, invalid response, ...) is a response
 * with status 0 and a short error text.
 *
 * Returns NULL and sets *err (static text) when the request is invalid: no target, unknown
 * upstream, bad or unsupported URL, bad method, path, header name or value; or when out of
 * memory. A TLS failure (certificate verification, hostname, handshake) is a failed call-out:
 * status 0, error "certificate verify failed: ..." or "TLS handshake failed: ...".
 */
px_callout_t *px_callout_start(px_worker_t *w, px_wgen_t *wg, px_pool_t *owner,
                               const pyxis_callout_req_t *req, pyxis_callout_fn fn, void *arg,
                               const char **err);

/* arg is malloc'd and goes with c: a cancelled call-out (px_callout_cancel, the worker's exit)
 * frees it. Once fn has run, arg is fn's to free. */
void px_callout_owns_arg(px_callout_t *c);

/*
 * NULL in normal runs. When set (pyxis test-filter), every call-out's connection is this
 * function's socket: no pool, resolver or connect is used. It gets the target (upstream: the
 * upstream's name, or NULL for a URL; key: the URL's "host:port", lowercased, with "https://"
 * before it for https, or NULL) and the serialized request head (borrowed for the call; the
 * body, if any, follows it on the socket), and returns a connected, non-blocking stream socket
 * that speaks plain HTTP even for https, or -1 with *error set: the call-out then fails with
 * that error (the text must stay valid until the worker exits). Set before the loop runs.
 */
extern int (*px_callout_connect_hook)(const char *upstream, const char *key, const char *head,
                                      size_t head_len, const char **error);

/* Stop a call-out: its connection is closed, its memory freed, fn is not called. A no-op from
 * inside its own fn (it is ending anyway). c is invalid afterwards, as it is after fn ran. */
void px_callout_cancel(px_callout_t *c);

/* The worker is exiting: cancel every call-out still in flight (fn is not called) and free
 * the resolver. Called before the worker frees its views. */
void px_callout_worker_exit(px_worker_t *w);

#endif
