/*
 * px_tls.c: TLS contexts (client side). See px_tls.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "px_log.h"
#include "px_tls.h"
#include "px_worker.h"

static SSL_CTX *px_tls_client_ctx(px_worker_t *w, const char **err)
{
    if (w->tls_client != NULL)
        return w->tls_client;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        ERR_clear_error();
        *err = "TLS: cannot create the client context";
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        /* Not fatal: every handshake will then fail verification, saying so. */
        px_log_warn("worker %u: TLS: cannot load the system CA store", w->id);
    }
    ERR_clear_error();
    w->tls_client = ctx;
    return ctx;
}

SSL *px_tls_client_new(px_worker_t *w, const char *host, const char **err)
{
    SSL_CTX *ctx = px_tls_client_ctx(w, err);
    if (ctx == NULL)
        return NULL;
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL) {
        ERR_clear_error();
        *err = "out of memory";
        return NULL;
    }
    unsigned char ip[sizeof(struct in6_addr)];
    int ok;
    if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1) {
        /* RFC 6066: no SNI for an address; the certificate must name the address. */
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
    } else {
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1;
    }
    if (!ok) {
        ERR_clear_error();
        SSL_free(ssl);
        *err = "TLS: cannot set the server name";
        return NULL;
    }
    return ssl;
}

void px_tls_worker_exit(px_worker_t *w)
{
    SSL_CTX_free(w->tls_client);
    w->tls_client = NULL;
}
