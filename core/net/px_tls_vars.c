/*
 * px_tls_vars.c: the tls_* variables and X-Forwarded-Client-Cert. See px_tls_vars.h.
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "px_headers.h"
#include "px_io.h"
#include "px_pool.h"
#include "px_proxy.h"
#include "px_tls_vars.h"

/* A string growing in a pool (outgrown copies stay in the pool until it is freed). */
typedef struct {
    px_pool_t *pool;
    char *p;
    size_t len, cap;
    int oom;
} px_tls_buf_t;

static void px_tls_buf_add(px_tls_buf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 128) + n;
        char *p = px_pnalloc(b->pool, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        if (b->len > 0)
            memcpy(p, b->p, b->len);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

#define PX_TLS_BUF_LIT(b, lit) px_tls_buf_add((b), (lit), sizeof(lit) - 1)

/* A SAN or subject value as an XFCC value: quoted (with \" and \\ escaped) when it holds a
 * character the field's syntax uses (RFC 8941-like: , ; = " or space), else as it is. */
static void px_tls_buf_value(px_tls_buf_t *b, const char *s, size_t n, int quote)
{
    for (size_t i = 0; !quote && i < n; i++)
        quote = strchr(",;=\" \\", s[i]) != NULL;
    if (!quote) {
        px_tls_buf_add(b, s, n);
        return;
    }
    PX_TLS_BUF_LIT(b, "\"");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            PX_TLS_BUF_LIT(b, "\\");
        px_tls_buf_add(b, &s[i], 1);
    }
    PX_TLS_BUF_LIT(b, "\"");
}

int px_tls_client_verified(const SSL *ssl)
{
    return ssl != NULL && SSL_get0_peer_certificate(ssl) != NULL &&
           SSL_get_verify_result(ssl) == X509_V_OK;
}

/* The verified client certificate of t's connection, or NULL. */
static X509 *px_tls_client_cert(px_txn_t *t)
{
    SSL *ssl = px_io_ssl(t->down->io);
    return px_tls_client_verified(ssl) ? SSL_get0_peer_certificate(ssl) : NULL;
}

/* SHA-256 of the DER certificate, 64 lowercase hex digits, in the pool. */
static int px_tls_fingerprint(px_txn_t *t, X509 *x, px_str_t *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (X509_digest(x, EVP_sha256(), md, &n) != 1) {
        ERR_clear_error();
        return 0;
    }
    char *p = px_pnalloc(t->pool, 2 * n);
    if (p == NULL)
        return -1;
    for (unsigned i = 0; i < n; i++) {
        p[2 * i] = "0123456789abcdef"[md[i] >> 4];
        p[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
    }
    *out = (px_str_t){p, 2 * (size_t)n};
    return 1;
}

/* The subject as RFC 2253 text ("CN=client,O=Example"): control and non-ASCII bytes escaped,
 * so the text is a valid field value. */
static int px_tls_subject(px_txn_t *t, X509 *x, px_str_t *out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        ERR_clear_error();
        return -1;
    }
    int rc = 0;
    if (X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
        char *data = NULL;
        long n = BIO_get_mem_data(bio, &data);
        char *p = n > 0 ? px_pstrndup(t->pool, data, (size_t)n) : NULL;
        rc = n <= 0 ? 0 : p == NULL ? -1 : 1;
        if (p != NULL)
            *out = (px_str_t){p, (size_t)n};
    }
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

/* The subjectAltName entries of `type` (GEN_DNS, GEN_URI) that are plain visible ASCII, each
 * passed to fn. */
static void px_tls_each_san(X509 *x, int type, void (*fn)(void *arg, const char *s, size_t n),
                            void *arg)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != type)
            continue;
        const ASN1_IA5STRING *v = type == GEN_DNS ? g->d.dNSName : g->d.uniformResourceIdentifier;
        const char *s = (const char *)ASN1_STRING_get0_data(v);
        int n = ASN1_STRING_length(v), ok = n > 0;
        for (int j = 0; ok && j < n; j++)
            ok = s[j] > 0x20 && s[j] < 0x7f;
        if (ok)
            fn(arg, s, (size_t)n);
    }
    GENERAL_NAMES_free(gens);
    ERR_clear_error();
}

static void px_tls_join_san(void *arg, const char *s, size_t n)
{
    px_tls_buf_t *b = arg;
    if (b->len > 0)
        PX_TLS_BUF_LIT(b, ",");
    px_tls_buf_add(b, s, n);
}

static int px_tls_sans(px_txn_t *t, X509 *x, int type, px_str_t *out)
{
    px_tls_buf_t b = {t->pool, NULL, 0, 0, 0};
    px_tls_each_san(x, type, px_tls_join_san, &b);
    if (b.oom)
        return -1;
    *out = (px_str_t){b.p, b.len};
    return b.len > 0;
}

static const char *const px_tls_var_names[] = {
    "tls_version",
    "tls_cipher",
    "tls_sni",
    "tls_alpn",
    "tls_client_subject",
    "tls_client_san_dns",
    "tls_client_san_uri",
    "tls_client_fingerprint",
    "tls_client_verified",
};

int px_tls_var_known(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(px_tls_var_names) / sizeof(px_tls_var_names[0]); i++)
        if (strlen(px_tls_var_names[i]) == len && memcmp(px_tls_var_names[i], name, len) == 0)
            return 1;
    return 0;
}

static int px_tls_cstr(const char *s, px_str_t *out)
{
    if (s == NULL || *s == '\0')
        return 0;
    *out = (px_str_t){s, strlen(s)};
    return 1;
}

int px_tls_var(px_txn_t *t, const char *name, size_t len, px_str_t *out)
{
    SSL *ssl = px_io_ssl(t->down->io);
    if (ssl == NULL || len < 7 || memcmp(name, "tls_", 4) != 0)
        return 0;
#define PX_TLS_IS(lit) (len == sizeof(lit) - 1 && memcmp(name, lit, len) == 0)
    if (PX_TLS_IS("tls_version"))
        return px_tls_cstr(SSL_get_version(ssl), out);
    if (PX_TLS_IS("tls_cipher"))
        return px_tls_cstr(SSL_get_cipher_name(ssl), out);
    if (PX_TLS_IS("tls_sni"))
        return px_tls_cstr(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), out);
    if (PX_TLS_IS("tls_alpn")) {
        const unsigned char *p = NULL;
        unsigned n = 0;
        SSL_get0_alpn_selected(ssl, &p, &n);
        *out = (px_str_t){(const char *)p, n};
        return n > 0;
    }
    if (PX_TLS_IS("tls_client_verified"))
        return px_tls_cstr(px_tls_client_verified(ssl) ? "true" : "false", out);
    X509 *x = px_tls_client_cert(t);
    if (x == NULL)
        return 0;
    if (PX_TLS_IS("tls_client_subject"))
        return px_tls_subject(t, x, out);
    if (PX_TLS_IS("tls_client_san_dns"))
        return px_tls_sans(t, x, GEN_DNS, out);
    if (PX_TLS_IS("tls_client_san_uri"))
        return px_tls_sans(t, x, GEN_URI, out);
    if (PX_TLS_IS("tls_client_fingerprint"))
        return px_tls_fingerprint(t, x, out);
#undef PX_TLS_IS
    return 0;
}

/* ---- X-Forwarded-Client-Cert --------------------------------------------------------------- */

typedef struct {
    px_tls_buf_t *b;
    const char *key; /* ";URI=" or ";DNS=" */
} px_tls_xfcc_san_t;

static void px_tls_xfcc_san(void *arg, const char *s, size_t n)
{
    px_tls_xfcc_san_t *x = arg;
    px_tls_buf_add(x->b, x->key, strlen(x->key));
    px_tls_buf_value(x->b, s, n, 0);
}

/* Our element: Hash=HEX;Subject="...";URI=...;DNS=... (Envoy's order and keys). */
static int px_tls_xfcc_element(px_txn_t *t, X509 *x, px_tls_buf_t *b)
{
    px_str_t hash, subject;
    int rc = px_tls_fingerprint(t, x, &hash);
    if (rc < 0)
        return -1;
    if (rc > 0) {
        PX_TLS_BUF_LIT(b, "Hash=");
        px_tls_buf_add(b, hash.data, hash.len);
    }
    if ((rc = px_tls_subject(t, x, &subject)) < 0)
        return -1;
    if (rc > 0) {
        PX_TLS_BUF_LIT(b, ";Subject=");
        px_tls_buf_value(b, subject.data, subject.len, 1);
    }
    px_tls_xfcc_san_t uri = {b, ";URI="}, dns = {b, ";DNS="};
    px_tls_each_san(x, GEN_URI, px_tls_xfcc_san, &uri);
    px_tls_each_san(x, GEN_DNS, px_tls_xfcc_san, &dns);
    return b->oom ? -1 : 0;
}

int px_tls_forward_client_cert(px_txn_t *t)
{
    const px_tls_listener_t *l = t->listener->tls;
    if (l == NULL || !px_io_is_tls(t->down->io))
        return 0;
    px_headers_t *h = &t->req_headers;
    px_str_t name = {l->xfcc_header, strlen(l->xfcc_header)};
    int keep = l->xfcc_mode != PX_XFCC_SANITIZE && px_proxy_trusted(t);
    px_tls_buf_t b = {t->pool, NULL, 0, 0, 0};
    if (keep && l->xfcc_mode == PX_XFCC_APPEND) {
        /* The elements a trusted proxy sent, every field of the name joined, then ours. */
        for (long i = px_headers_find(h, name.data, name.len, 0); i >= 0;
             i = px_headers_find(h, name.data, name.len, (size_t)i + 1)) {
            if (b.len > 0)
                PX_TLS_BUF_LIT(&b, ",");
            px_tls_buf_add(&b, h->items[i].value.data, h->items[i].value.len);
        }
    }
    if (!keep || l->xfcc_mode == PX_XFCC_APPEND)
        px_headers_remove(h, name.data, name.len);
    X509 *x = px_tls_client_cert(t);
    if (l->xfcc_mode == PX_XFCC_OFF || x == NULL) {
        if (b.len > 0) /* append mode without a certificate: the trusted value as it came */
            return px_headers_add(h, t->pool, name, (px_str_t){b.p, b.len});
        return b.oom ? -1 : 0;
    }
    if (b.len > 0)
        PX_TLS_BUF_LIT(&b, ",");
    if (px_tls_xfcc_element(t, x, &b) < 0)
        return -1;
    return px_headers_add(h, t->pool, name, (px_str_t){b.p, b.len});
}
