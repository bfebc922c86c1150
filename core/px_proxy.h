/*
 * px_proxy.h: forwarding a transaction to an upstream and streaming the response back.
 */
#ifndef PX_PROXY_H
#define PX_PROXY_H

#include "px_txn-t.h"

/* Build t->req_headers, what the upstream would receive (hop-by-hop fields out,
 * X-Forwarded-*, Host). Returns -1 when out of memory. */
int px_proxy_build_request_headers(px_txn_t *t);

/* Is t's client in its listener's forwarded.trusted_proxies? */
int px_proxy_trusted(const px_txn_t *t);

/* Attach an upstream connection and forward the request. */
void px_proxy_start(px_txn_t *t);

/* t ends: give back what proxying counted (requests in flight, retries, timers). */
void px_proxy_txn_done(px_txn_t *t);

/* Does t's retry policy want x-pyxis-attempts on its response? */
int px_proxy_attempts_header(const px_txn_t *t);

/* Detach the txn's upstream connection: pooled when `reusable`, else closed. */
void px_proxy_detach(px_txn_t *t, int reusable);

/* Events from the downstream connection (see px_txn.h). */
void px_proxy_client_readable(px_txn_t *t);
void px_proxy_client_writable(px_txn_t *t);

/* Events from the attached upstream connection (see px_upstream.h). */
void px_proxy_upstream_readable(px_txn_t *t);
void px_proxy_upstream_writable(px_txn_t *t);
void px_proxy_upstream_event(px_txn_t *t, short what);

#endif
