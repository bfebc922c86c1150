/*
 * px_tls-t.h: the TLS settings of listeners and upstreams, as the config loader builds them.
 *
 * Everything here belongs to a config snapshot (px_conf_t): it is made by px_tls_conf.c while
 * the config loads, never changes afterwards, and is freed with the snapshot (arena cleanups
 * free the OpenSSL objects). The SSL_CTXs are shared by every worker: SSL_new() on a context
 * is thread-safe, and an SSL object keeps its context alive (reference count) after the
 * snapshot is gone, so a connection outlives a reload untouched.
 */
#ifndef PX_TLS_T_H
#define PX_TLS_T_H

#include <stddef.h>
#include <stdint.h>

struct ssl_ctx_st;
struct x509_st;
struct evp_pkey_st;
struct stack_st_X509;

/* Settings listeners and upstreams share (protocols, ciphers, groups, alpn). */
typedef struct {
    int min_version, max_version; /* TLS1_2_VERSION / TLS1_3_VERSION; default 1.2 .. 1.3 */
    char *ciphers;                /* TLS 1.2 cipher list; NULL = the built-in default */
    char *ciphersuites;           /* TLS 1.3 suites; NULL = the built-in default */
    char *groups;                 /* key exchange groups; NULL = the built-in default */
    unsigned char *alpn;          /* ALPN protocol list, wire format (length-prefixed) */
    size_t alpn_len;
} px_tls_common_t;

/* listeners[].tls.certificates[i]: a certificate chain and its key. */
typedef struct {
    char *cert_file, *key_file;  /* resolved paths, for logs */
    struct x509_st *cert;        /* the leaf */
    struct stack_st_X509 *chain; /* the intermediates after it in the file (may be empty) */
    struct evp_pkey_st *key;
    char **names; /* the certificate's DNS names (subjectAltName), lowercased; a wildcard
                     is kept as "*.example.com" */
    size_t nnames;
} px_tls_cert_t;

typedef enum {
    PX_TLS_VERIFY_OFF = 0,
    PX_TLS_VERIFY_OPTIONAL, /* ask for a client certificate; go on without a valid one */
    PX_TLS_VERIFY_REQUIRE,  /* no valid client certificate, no handshake */
} px_tls_verify_t;

/* listeners[].tls.forward_client_cert.mode */
typedef enum {
    PX_XFCC_OFF = 0,  /* the client's field is removed (unless trusted); nothing is added */
    PX_XFCC_SANITIZE, /* the client's field is always removed; ours is set */
    PX_XFCC_APPEND,   /* a trusted client's field is kept and ours appended */
} px_xfcc_mode_t;

/* listeners[].tls */
typedef struct px_tls_listener_s {
    struct ssl_ctx_st *ctx; /* the server context every connection of the listener uses */
    px_tls_common_t common;
    px_tls_cert_t *certs; /* certificates[]; certs[0] is the default */
    size_t ncerts;
    unsigned session_tickets;    /* session_tickets: true (default) */
    uint64_t session_timeout_ms; /* session_timeout: default 1h */
    char *client_ca;             /* client_ca: file of CAs client certificates must chain to */
    px_tls_verify_t verify_client;
    px_xfcc_mode_t xfcc_mode;
    char *xfcc_header; /* forward_client_cert.header: default X-Forwarded-Client-Cert */
    unsigned h2;       /* the listener's http2.enabled: ALPN offers h2 first */
} px_tls_listener_t;

/* upstreams.NAME.tls */
typedef struct px_tls_upstream_s {
    struct ssl_ctx_st *ctx; /* the client context of the upstream's connections */
    px_tls_common_t common;
    unsigned enabled;  /* enabled: true (default when the map is written) */
    unsigned verify;   /* verify: true (default): the server certificate and name */
    char *ca;          /* ca: CA file; NULL = the system store */
    char *server_name; /* server_name: SNI and the name verified; NULL = each endpoint's host */
    char *cert_file;   /* cert/key: a client certificate (mTLS to the upstream) */
    char *key_file;
    char **hosts; /* per endpoint: the name sent as SNI and verified (no brackets) */
} px_tls_upstream_t;

#endif
