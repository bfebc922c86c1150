/*
 * px_tls_vars.h: what a request knows about its TLS connection: the tls_* variables and the
 * X-Forwarded-Client-Cert field (listeners[].tls.forward_client_cert).
 *
 * Values are computed when asked, into the transaction's pool (OpenSSL's own temporary
 * allocations aside), and live as long as the transaction. Client certificate facts exist only
 * for a certificate that verified against the listener's client_ca.
 */
#ifndef PX_TLS_VARS_H
#define PX_TLS_VARS_H

#include <stddef.h>

#include "px_str-t.h"
#include "px_txn-t.h"

struct ssl_st;

/* The tls_* variable `name` of t: 1 with *out set, 0 when it has no value (a plain
 * connection, no verified client certificate, ...) or is not a TLS variable, -1 when out of
 * memory. */
int px_tls_var(px_txn_t *t, const char *name, size_t len, px_str_t *out);

/* Is `name` one of the tls_* variables? */
int px_tls_var_known(const char *name, size_t len);

/* Did the client of ssl (NULL: none) present a certificate that verified? */
int px_tls_client_verified(const struct ssl_st *ssl);

/* Apply forward_client_cert to t->req_headers (called once they are built): the client's
 * field is removed unless the client is trusted (forwarded.trusted_proxies) and the mode keeps
 * it; with sanitize or append, a verified client certificate adds ours. Returns -1 when out of
 * memory. Nothing happens on a plain connection. */
int px_tls_forward_client_cert(px_txn_t *t);

#endif
