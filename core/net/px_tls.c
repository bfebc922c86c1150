/*
 * px_tls.c: TLS at run time: client and server SSL objects, the server callbacks, session
 * ticket keys. See px_tls.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "px_log.h"
#include "px_tls.h"
#include "px_worker.h"

/* ---- client side --------------------------------------------------------------------------- */

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

SSL *px_tls_client_new(px_worker_t *w, const px_tls_upstream_t *up, const char *host,
                       const char **err)
{
    SSL_CTX *ctx = up != NULL ? up->ctx : px_tls_client_ctx(w, err);
    if (ctx == NULL)
        return NULL;
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL) {
        ERR_clear_error();
        *err = "out of memory";
        return NULL;
    }
    unsigned char ip[sizeof(struct in6_addr)];
    int verify = up == NULL || up->verify, ok;
    if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1) {
        /* RFC 6066: no SNI for an address; the certificate must name the address. */
        ok = !verify || X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
    } else {
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set_tlsext_host_name(ssl, host) == 1 && (!verify || SSL_set1_host(ssl, host) == 1);
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

/* ---- server side: certificates by SNI, ALPN ------------------------------------------------ */

int px_tls_name_match(const char *pattern, const char *name, size_t len)
{
    size_t plen = strlen(pattern);
    if (plen == len && strncasecmp(pattern, name, len) == 0)
        return 1;
    /* "*.example.com": exactly one non-empty label before ".example.com" (RFC 6125 6.4.3,
     * without partial wildcards such as "w*.example.com"). */
    if (plen < 3 || pattern[0] != '*' || pattern[1] != '.' || len <= plen - 1)
        return 0;
    const char *suffix = name + len - (plen - 1);
    if (strncasecmp(pattern + 1, suffix, plen - 1) != 0)
        return 0;
    return memchr(name, '.', (size_t)(suffix - name)) == NULL;
}

const px_tls_cert_t *px_tls_pick_cert(const px_tls_listener_t *l, const char *sni)
{
    if (sni != NULL) {
        size_t len = strlen(sni);
        for (size_t i = 0; i < l->ncerts; i++)
            for (size_t j = 0; j < l->certs[i].nnames; j++)
                if (px_tls_name_match(l->certs[i].names[j], sni, len))
                    return &l->certs[i];
    }
    return &l->certs[0];
}

/* Full handshakes only (a resumed session has its certificate already): give the SSL object
 * the certificate chain and key for the name the client asked for. OpenSSL takes references;
 * nothing is copied. */
static int px_tls_cert_cb(SSL *ssl, void *arg)
{
    const px_tls_listener_t *l = arg;
    const px_tls_cert_t *c =
        px_tls_pick_cert(l, SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
    if (SSL_use_cert_and_key(ssl, c->cert, c->key, c->chain, 1) != 1) {
        ERR_clear_error();
        return 0;
    }
    return 1;
}

/* Accept every server name (the certificate callback picks the certificate, with the first as
 * the default): acknowledged, the name is also kept in TLS 1.2 sessions. */
static int px_tls_servername_cb(SSL *ssl, int *alert, void *arg)
{
    (void)ssl, (void)alert, (void)arg;
    return SSL_TLSEXT_ERR_OK;
}

/* The first protocol of the listener's list the client offers (server preference), h2 first
 * when the listener has http2 enabled. A client that offers ALPN but none of ours gets a
 * no_application_protocol alert (RFC 7301); one that offers no ALPN at all speaks HTTP/1.1.
 * The connection reads the choice once the handshake is done (px_tls_alpn_h2). */
static int px_tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned inlen, void *arg)
{
    const px_tls_listener_t *l = arg;
    unsigned char *sel = NULL;
    (void)ssl;
    static const unsigned char h2[] = "\x02h2";
    if (l->h2 && SSL_select_next_proto(&sel, outlen, h2, 3, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = sel;
        return SSL_TLSEXT_ERR_OK;
    }
    if (SSL_select_next_proto(&sel, outlen, l->common.alpn, (unsigned)l->common.alpn_len, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

int px_tls_verify_optional(int preverify_ok, X509_STORE_CTX *st)
{
    (void)preverify_ok, (void)st;
    return 1;
}

/* ---- session tickets ----------------------------------------------------------------------- */

#define PX_TLS_TICKET_SLOTS (PX_TLS_TICKET_KEEP + 3)

typedef struct {
    _Atomic uint64_t period; /* the period whose key this is (0: none yet); stored last */
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
} px_tls_tkey_t;

static px_tls_tkey_t px_tls_tkeys[PX_TLS_TICKET_SLOTS];
/* AES-256-CBC, fetched once by the first rotation (main thread, before any worker runs): an
 * implicit fetch per ticket (EVP_aes_256_cbc()) would look it up in the provider store each
 * time. Never freed: it lives as long as the process. */
static EVP_CIPHER *px_tls_ticket_cipher;

uint64_t px_tls_ticket_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec;
}

/* Periods count from 1 so that 0 means "empty slot". */
static uint64_t px_tls_ticket_period(uint64_t now_s)
{
    return now_s / PX_TLS_TICKET_PERIOD_S + 1;
}

int px_tls_ticket_rotate(uint64_t now_s)
{
    uint64_t cur = px_tls_ticket_period(now_s);
    int rc = 0;
    if (px_tls_ticket_cipher == NULL &&
        (px_tls_ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL)) == NULL) {
        ERR_clear_error();
        return -1;
    }
    for (uint64_t p = cur; p <= cur + 1; p++) {
        px_tls_tkey_t *k = &px_tls_tkeys[p % PX_TLS_TICKET_SLOTS];
        if (atomic_load_explicit(&k->period, memory_order_relaxed) == p)
            continue;
        /* No reader uses this slot (its period is outside what they accept): empty it first
         * all the same, then fill it, then publish. */
        atomic_store_explicit(&k->period, 0, memory_order_release);
        unsigned char buf[80];
        if (RAND_bytes(buf, sizeof(buf)) != 1) {
            ERR_clear_error();
            rc = -1;
            continue;
        }
        memcpy(k->name, buf, 16);
        memcpy(k->aes, buf + 16, 32);
        memcpy(k->hmac, buf + 48, 32);
        OPENSSL_cleanse(buf, sizeof(buf));
        atomic_store_explicit(&k->period, p, memory_order_release);
    }
    return rc;
}

int px_tls_ticket_key(uint64_t now_s, const unsigned char *name, unsigned char out_name[16],
                      unsigned char aes[32], unsigned char hmac[32])
{
    uint64_t cur = px_tls_ticket_period(now_s);
    for (uint64_t back = 0; back <= PX_TLS_TICKET_KEEP && back < cur; back++) {
        uint64_t p = cur - back;
        const px_tls_tkey_t *k = &px_tls_tkeys[p % PX_TLS_TICKET_SLOTS];
        if (atomic_load_explicit(&k->period, memory_order_acquire) != p)
            continue;
        if (name != NULL && memcmp(k->name, name, 16) != 0)
            continue;
        memcpy(out_name, k->name, 16);
        memcpy(aes, k->aes, 32);
        memcpy(hmac, k->hmac, 32);
        return back == 0 ? 1 : 2;
    }
    return 0;
}

/* OpenSSL's ticket key callback: enc = 1 makes a ticket (key name, IV, cipher and MAC set
 * here), enc = 0 opens one. Returns 1 (use it), 2 (use it, then issue a new ticket), 0 (no
 * ticket / unknown key: a full handshake) or -1 (error). */
static int px_tls_ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char *iv,
                            EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    static char sha256[] = "sha256";
    unsigned char name[16], aes[32], hmac[32];
    (void)ssl;
    const EVP_CIPHER *cipher = px_tls_ticket_cipher;
    int rc = px_tls_ticket_key(px_tls_ticket_clock(), enc ? NULL : key_name, name, aes, hmac);
    if (rc == 0 || cipher == NULL)
        return 0;
    if (enc && RAND_bytes(iv, EVP_CIPHER_get_iv_length(cipher)) != 1)
        rc = -1;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, hmac, sizeof(hmac)),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, sha256, 0),
        OSSL_PARAM_construct_end(),
    };
    if (rc > 0 && EVP_MAC_CTX_set_params(hctx, params) != 1)
        rc = -1;
    if (rc > 0 && (enc ? EVP_EncryptInit_ex(cctx, cipher, NULL, aes, iv)
                       : EVP_DecryptInit_ex(cctx, cipher, NULL, aes, iv)) != 1)
        rc = -1;
    if (rc > 0 && enc)
        memcpy(key_name, name, 16);
    OPENSSL_cleanse(aes, sizeof(aes));
    OPENSSL_cleanse(hmac, sizeof(hmac));
    return rc;
}

/* ---- server contexts and objects ----------------------------------------------------------- */

void px_tls_server_ctx_callbacks(SSL_CTX *ctx, px_tls_listener_t *l)
{
    SSL_CTX_set_cert_cb(ctx, px_tls_cert_cb, l);
    SSL_CTX_set_tlsext_servername_callback(ctx, px_tls_servername_cb);
    SSL_CTX_set_alpn_select_cb(ctx, px_tls_alpn_cb, l);
    if (l->session_tickets)
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, px_tls_ticket_cb);
}

SSL *px_tls_server_new(const px_tls_listener_t *tls)
{
    SSL *ssl = SSL_new(tls->ctx);
    if (ssl == NULL)
        ERR_clear_error();
    return ssl;
}

int px_tls_alpn_h2(const SSL *ssl)
{
    const unsigned char *p = NULL;
    unsigned len = 0;
    if (ssl == NULL)
        return 0;
    SSL_get0_alpn_selected(ssl, &p, &len);
    return len == 2 && memcmp(p, "h2", 2) == 0;
}
