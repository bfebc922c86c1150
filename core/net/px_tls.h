/*
 * px_tls.h: TLS at run time: SSL objects for listeners (server side), upstreams and https://
 * call-outs (client side), the callbacks of server contexts (certificate choice by SNI, ALPN,
 * session tickets) and the process's session ticket keys. The contexts themselves are built
 * with the config (px_tls_conf.c, px_tls-t.h).
 *
 * The default client context (made on a worker's first https:// call-out, freed by
 * px_tls_worker_exit): TLS 1.2 at least, peer verification against the system CA store as
 * SSL_CTX_set_default_verify_paths() finds it, which honours the SSL_CERT_FILE and
 * SSL_CERT_DIR environment variables (the tests point them at a test CA). Client connections
 * make a full handshake each (keep-alive pools make that rare).
 */
#ifndef PX_TLS_H
#define PX_TLS_H

#include <stdint.h>

#include "px_tls-t.h"
#include "px_worker-t.h"

struct ssl_st;
struct x509_store_ctx_st;

/* A new client SSL object for `host` (no brackets): SNI and hostname verification for a name,
 * IP address verification (and no SNI) for an IP literal. From the upstream's context when up
 * is not NULL (its `verify: false` turns verification off), else from worker w's default
 * context. Owned by the caller (px_io_start_tls takes it over). NULL with *err (static text)
 * when the context or the object cannot be made. Worker thread only when up is NULL (w's
 * context); with up, any thread (w may be NULL: health checks on the main thread). */
struct ssl_st *px_tls_client_new(px_worker_t *w, const px_tls_upstream_t *up, const char *host,
                                 const char **err);

/* Free worker w's default client context (worker exit; SSL objects still alive keep their own
 * reference). */
void px_tls_worker_exit(px_worker_t *w);

/* A new server SSL object for a connection accepted on a listener with `tls` (owned by the
 * caller; px_io_accept_tls takes it over). NULL when out of memory. Any thread. */
struct ssl_st *px_tls_server_new(const px_tls_listener_t *tls);

/* Install the callbacks of a listener's server context (config loading): the certificate by
 * SNI, ALPN, and session tickets (unless l->session_tickets is off). l must outlive every
 * handshake made with ctx (it lives in the same snapshot as the connection's listener). */
void px_tls_server_ctx_callbacks(struct ssl_ctx_st *ctx, px_tls_listener_t *l);

/* The verify callback of `verify_client: optional`: every certificate passes the handshake,
 * SSL_get_verify_result() keeps what verification found. */
int px_tls_verify_optional(int preverify_ok, struct x509_store_ctx_st *st);

/* Did the handshake of this server connection choose h2 by ALPN? 0 for NULL. */
int px_tls_alpn_h2(const struct ssl_st *ssl);

/* The certificate of l for the server name `sni` (NULL: none sent): the first whose DNS names
 * match it exactly (case-insensitively) or by a wildcard ("*.example.com" matches one label
 * in front of ".example.com"), else the first certificate. */
const px_tls_cert_t *px_tls_pick_cert(const px_tls_listener_t *l, const char *sni);

/* Does DNS name `pattern` (lowercase, maybe "*.suffix") cover host name `name` (any case)? */
int px_tls_name_match(const char *pattern, const char *name, size_t len);

/*
 * Session ticket keys. One set per process, shared by every worker and every config
 * generation, so a ticket made by one worker resumes on any other and across reloads. A new
 * key is made for each hour (a period); tickets are made with the current period's key and
 * accepted with the keys of the last PX_TLS_TICKET_KEEP periods (OpenSSL also enforces each
 * session's own timeout). Keys are random (RAND_bytes), live in memory only and are never
 * logged.
 *
 * The main thread writes keys, workers read them without a lock: key slots form a ring, and
 * the main thread fills the slot of the next period one period ahead, a slot no reader looks
 * at (readers accept only the current and the PX_TLS_TICKET_KEEP previous periods, and the
 * ring has two more slots). A slot's period number is stored (release) after its bytes.
 */
#define PX_TLS_TICKET_PERIOD_S 3600
#define PX_TLS_TICKET_KEEP     24

/* Make sure the keys of now's period and the next exist (main thread: at start, then every
 * minute or so). now_s: seconds of CLOCK_MONOTONIC (px_tls_ticket_clock()). Returns -1 when
 * randomness failed (no key made: no tickets until it works). */
int px_tls_ticket_rotate(uint64_t now_s);
uint64_t px_tls_ticket_clock(void);

/* The key to make a ticket with at now_s (name NULL) or the key named `name` (16 bytes) if it
 * is still accepted. Copies it into the caller's buffers; returns 0 when there is none, else 1
 * for the current key and 2 for an older one (the ticket should be renewed). */
int px_tls_ticket_key(uint64_t now_s, const unsigned char *name, unsigned char out_name[16],
                      unsigned char aes[32], unsigned char hmac[32]);

#endif
