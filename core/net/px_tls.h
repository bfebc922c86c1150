/*
 * px_tls.h: TLS contexts. For now the client side only: the per-worker client SSL_CTX behind
 * https:// call-outs (the server side and upstream TLS come with the protocols issue).
 *
 * The client context (made on a worker's first TLS connection, freed by px_tls_worker_exit):
 * TLS 1.2 at least, peer verification against the system CA store as
 * SSL_CTX_set_default_verify_paths() finds it, which honours the SSL_CERT_FILE and
 * SSL_CERT_DIR environment variables (the tests point them at a test CA). No session reuse
 * yet: every new connection makes a full handshake (keep-alive pools make that rare).
 */
#ifndef PX_TLS_H
#define PX_TLS_H

#include "px_worker-t.h"

struct ssl_st;

/* A new client SSL object from worker w's client context, set up for `host` (no brackets):
 * SNI and hostname verification for a name, IP address verification (and no SNI) for an IP
 * literal. Owned by the caller (px_io_start_tls takes it over). NULL with *err (static text)
 * when the context or the object cannot be made. Worker thread only. */
struct ssl_st *px_tls_client_new(px_worker_t *w, const char *host, const char **err);

/* Free worker w's client context (worker exit; SSL objects still alive keep their own
 * reference). */
void px_tls_worker_exit(px_worker_t *w);

#endif
