/*
 * px_tls_conf.c: the `tls` maps of listeners and upstreams (see px_tls-t.h and docs/tls.md).
 *
 * Each map is walked into its struct and then turned into an SSL_CTX at once, while the YAML
 * nodes are still there: a certificate that cannot be read, a key that does not match it or a
 * cipher list OpenSSL rejects is an error at the key that named it, with OpenSSL's reason. The
 * contexts and certificates are freed with the snapshot (arena cleanups).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "px_conf_yaml.h"
#include "px_pool.h"
#include "px_tls.h"

/* Mozilla's "intermediate" profile (TLS 1.2 without the DHE suites: see docs/tls.md). */
#define PX_TLS_DEFAULT_CIPHERS                                                                     \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"     \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define PX_TLS_DEFAULT_SUITES                                                                      \
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define PX_TLS_DEFAULT_GROUPS "X25519:prime256v1:secp384r1"

#define PX_TLS_MAX_SESSION_TIMEOUT_MS (24ULL * 3600 * 1000)

/* ---- OpenSSL errors and resources ------------------------------------------------------------ */

/* The reason of the oldest error OpenSSL queued (the root cause), then an empty queue. */
static const char *px_tls_conf_reason(const char *fallback)
{
    unsigned long e = ERR_peek_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r != NULL ? r : fallback;
}

static void px_tls_conf_free_ctx(void *p)
{
    SSL_CTX_free(p);
}

static void px_tls_conf_free_cert(void *p)
{
    px_tls_cert_t *c = p;
    X509_free(c->cert);
    EVP_PKEY_free(c->key);
    sk_X509_pop_free(c->chain, X509_free);
}

/* A new context of `method`, freed with the snapshot. NULL with an error recorded at n. */
static SSL_CTX *px_tls_conf_new_ctx(px_conf_ctx_t *cx, const px_ynode_t *n,
                                    const SSL_METHOD *method)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (ctx == NULL) {
        px_conf_err(cx, n, "cannot create a TLS context: %s", px_tls_conf_reason("error"));
        return NULL;
    }
    if (px_pool_cleanup_add(cx->arena, px_tls_conf_free_ctx, ctx) < 0) {
        SSL_CTX_free(ctx);
        px_conf_err_at(cx, 0, 0, "out of memory");
        return NULL;
    }
    return ctx;
}

/* The value node of key node `key` in map n. */
static px_ynode_t *px_tls_conf_value(const px_ynode_t *n, const px_ynode_t *key)
{
    for (size_t i = 0; key != NULL && i + 1 < n->nitems; i += 2)
        if (n->items[i] == key)
            return n->items[i + 1];
    return NULL;
}

/* An error at n under the sub-key `key` of the current path. Returns -1. */
static int px_tls_conf_err_at_key(px_conf_ctx_t *cx, const char *key, const px_ynode_t *n,
                                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int px_tls_conf_err_at_key(px_conf_ctx_t *cx, const char *key, const px_ynode_t *n,
                                  const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t mark = px_conf_path_key(cx, key);
    px_conf_err(cx, n, "%s", msg);
    px_conf_path_pop(cx, mark);
    return -1;
}

/* Can path be read, and is it a regular file (not a directory, a FIFO or /dev/zero, which
 * would never end)? Else an error at n under `key`, with the system's reason. */
static int px_tls_conf_readable(px_conf_ctx_t *cx, const char *key, const px_ynode_t *n,
                                const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) /* before opening: a FIFO would block */
        return px_tls_conf_err_at_key(cx, key, n, "%s is not a regular file", path);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return px_tls_conf_err_at_key(cx, key, n, "cannot open %s: %s", path, strerror(errno));
    fclose(f);
    return 0;
}

/* A file name from the config: relative to the config file's directory. */
static int px_tls_conf_set_file(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    if (px_conf_set_str(cx, v, obj, k) < 0)
        return -1;
    char *path = px_conf_rel_path(cx, v->str, v->len);
    if (path == NULL)
        return -1;
    memcpy((char *)obj + k->off, &path, sizeof(path));
    return 0;
}

/* ---- certificates -------------------------------------------------------------------------- */

/* Encrypted keys are not supported: never prompt on a terminal. */
static int px_tls_conf_no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* The DNS names of c->cert (subjectAltName), lowercased, into c->names (arena). */
static int px_tls_conf_cert_names(px_conf_ctx_t *cx, px_tls_cert_t *c)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(c->cert, NID_subject_alt_name, NULL, NULL);
    int n = gens != NULL ? sk_GENERAL_NAME_num(gens) : 0;
    c->names = n > 0 ? px_conf_alloc(cx, (size_t)n * sizeof(*c->names)) : NULL;
    for (int i = 0; c->names != NULL && i < n; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_DNS)
            continue;
        const unsigned char *s = ASN1_STRING_get0_data(g->d.dNSName);
        int len = ASN1_STRING_length(g->d.dNSName);
        if (len <= 0 || len > 253 || memchr(s, '\0', (size_t)len) != NULL)
            continue;
        char *name = px_conf_dup(cx, (const char *)s, (size_t)len);
        if (name == NULL)
            break;
        for (char *p = name; *p != '\0'; p++)
            *p = (char)tolower((unsigned char)*p);
        c->names[c->nnames++] = name;
    }
    GENERAL_NAMES_free(gens);
    ERR_clear_error();
    return n > 0 && c->names == NULL ? -1 : 0;
}

/* Read a PEM certificate chain (leaf first) and its key into c. Errors at cert_n or key_n,
 * under the keys "cert" and "key". */
static int px_tls_conf_load_cert(px_conf_ctx_t *cx, const px_ynode_t *cert_n,
                                 const px_ynode_t *key_n, px_tls_cert_t *c)
{
    ERR_clear_error();
    if (px_tls_conf_readable(cx, "cert", cert_n, c->cert_file) < 0 ||
        px_tls_conf_readable(cx, "key", key_n, c->key_file) < 0)
        return -1;
    c->chain = sk_X509_new_null();
    if (c->chain == NULL || px_pool_cleanup_add(cx->arena, px_tls_conf_free_cert, c) < 0) {
        sk_X509_free(c->chain);
        c->chain = NULL;
        px_conf_err_at(cx, 0, 0, "out of memory");
        return -1;
    }
    FILE *f = fopen(c->cert_file, "r");
    if (f != NULL) {
        c->cert = PEM_read_X509_AUX(f, NULL, px_tls_conf_no_password, NULL);
        X509 *x;
        while (c->cert != NULL &&
               (x = PEM_read_X509(f, NULL, px_tls_conf_no_password, NULL)) != NULL) {
            if (!sk_X509_push(c->chain, x)) {
                X509_free(x);
                break;
            }
        }
        fclose(f);
    }
    unsigned long e = ERR_peek_last_error();
    if (c->cert == NULL)
        return px_tls_conf_err_at_key(cx, "cert", cert_n, "cannot load a certificate from %s: %s",
                                      c->cert_file, px_tls_conf_reason("no certificate"));
    if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))
        return px_tls_conf_err_at_key(cx, "cert", cert_n, "cannot load the chain in %s: %s",
                                      c->cert_file, px_tls_conf_reason("error"));
    ERR_clear_error();

    f = fopen(c->key_file, "r");
    if (f != NULL) {
        c->key = PEM_read_PrivateKey(f, NULL, px_tls_conf_no_password, NULL);
        fclose(f);
    }
    if (c->key == NULL) {
        e = ERR_peek_last_error();
        int pw =
            ERR_GET_LIB(e) == ERR_LIB_PEM && (ERR_GET_REASON(e) == PEM_R_BAD_PASSWORD_READ ||
                                              ERR_GET_REASON(e) == PEM_R_PROBLEMS_GETTING_PASSWORD);
        return px_tls_conf_err_at_key(
            cx, "key", key_n, "cannot load a private key from %s: %s", c->key_file,
            pw ? "encrypted keys are not supported" : px_tls_conf_reason("no key"));
    }
    if (X509_check_private_key(c->cert, c->key) != 1)
        return px_tls_conf_err_at_key(cx, "key", key_n,
                                      "the key in %s does not match the certificate in %s: %s",
                                      c->key_file, c->cert_file, px_tls_conf_reason("mismatch"));
    ERR_clear_error();
    return px_tls_conf_cert_names(cx, c);
}

static const px_conf_key_t px_tls_conf_cert_keys[] = {
    {"cert", px_tls_conf_set_file, PX_FIELD(px_tls_cert_t, cert_file), 0, 0, 1},
    {"key", px_tls_conf_set_file, PX_FIELD(px_tls_cert_t, key_file), 0, 0, 1},
};

static int px_tls_conf_set_certs(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                 const px_conf_key_t *k)
{
    px_tls_listener_t *l = obj;
    if (px_conf_expect_seq(cx, v) < 0)
        return -1;
    l->certs = px_conf_alloc(cx, v->nitems * sizeof(*l->certs));
    if (l->certs == NULL)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        px_tls_cert_t *c = &l->certs[i]; /* its own slot: a failed one keeps its cleanup */
        px_ynode_t *seen[PX_CONF_MAX_KEYS];
        size_t mark = px_conf_path_index(cx, i);
        if (px_conf_walk(cx, v->items[i], px_tls_conf_cert_keys,
                         PX_KEY_NELTS(px_tls_conf_cert_keys), c, seen) < 0) {
            rc = -1;
        } else {
            px_ynode_t *cert_n = px_tls_conf_value(v->items[i], seen[0]);
            if (px_tls_conf_load_cert(cx, cert_n, px_tls_conf_value(v->items[i], seen[1]), c) < 0)
                rc = -1;
            else if (i > 0 && c->nnames == 0)
                rc = px_tls_conf_err_at_key(cx, "cert", cert_n,
                                            "%s has no DNS name (subjectAltName): only the "
                                            "first certificate, the default, can do without",
                                            c->cert_file);
        }
        px_conf_path_pop(cx, mark);
    }
    l->ncerts = v->nitems;
    return rc;
}

/* ---- settings both sides share --------------------------------------------------------------- */

static int px_tls_conf_set_protocols(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                     const px_conf_key_t *k)
{
    px_tls_common_t *c = (px_tls_common_t *)((char *)obj + k->off);
    if (px_conf_expect_seq(cx, v) < 0)
        return -1;
    int lo = 0, hi = 0, rc = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        px_ynode_t *p = v->items[i];
        int ver = 0;
        size_t mark = px_conf_path_index(cx, i);
        if (px_conf_scalar(cx, p, "a protocol name") < 0)
            rc = -1;
        else if (strcmp(p->str, "TLSv1.2") == 0)
            ver = TLS1_2_VERSION;
        else if (strcmp(p->str, "TLSv1.3") == 0)
            ver = TLS1_3_VERSION;
        else if (strcmp(p->str, "TLSv1") == 0 || strcmp(p->str, "TLSv1.1") == 0 ||
                 strncmp(p->str, "SSL", 3) == 0)
            rc = px_conf_err(cx, p, "%s is not supported (TLSv1.2 is the oldest)", p->str);
        else
            rc = px_conf_err(cx, p, "unknown protocol %s (expected TLSv1.2 or TLSv1.3)",
                             px_conf_q(cx, p->str, p->len));
        px_conf_path_pop(cx, mark);
        if (ver != 0) {
            lo = lo == 0 || ver < lo ? ver : lo;
            hi = ver > hi ? ver : hi;
        }
    }
    c->min_version = lo;
    c->max_version = hi;
    return rc;
}

/* alpn: [http/1.1]. h2 is offered by the listener's http2 key (px_tls_alpn_cb), asked of an
 * upstream by its protocol key (px_conf_upstream.c). */
static int px_tls_conf_set_alpn(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_tls_common_t *c = (px_tls_common_t *)((char *)obj + k->off);
    if (px_conf_expect_seq(cx, v) < 0)
        return -1;
    c->alpn = px_conf_alloc(cx, 9 * v->nitems);
    c->alpn_len = 0;
    int rc = c->alpn != NULL ? 0 : -1;
    for (size_t i = 0; c->alpn != NULL && i < v->nitems; i++) {
        px_ynode_t *p = v->items[i];
        size_t mark = px_conf_path_index(cx, i);
        if (px_conf_scalar(cx, p, "a protocol name") < 0) {
            rc = -1;
        } else if (strcmp(p->str, "h2") == 0) {
            rc = px_conf_err(cx, p,
                             "h2 is not written in alpn: a listener offers h2 with http2: "
                             "{ enabled: true }, an upstream asks for it with protocol: http2 "
                             "or auto");
        } else if (strcmp(p->str, "http/1.1") != 0) {
            rc = px_conf_err(cx, p, "unknown protocol %s (supported: http/1.1)",
                             px_conf_q(cx, p->str, p->len));
        } else if (memmem(c->alpn, c->alpn_len, "\x08http/1.1", 9) != NULL) {
            rc = px_conf_err(cx, p, "http/1.1 is given twice");
        } else {
            memcpy(c->alpn + c->alpn_len, "\x08http/1.1", 9);
            c->alpn_len += 9;
        }
        px_conf_path_pop(cx, mark);
    }
    return rc;
}

/* Apply the shared settings (or their defaults) to ctx. keys[] is the walk's `seen` for map n,
 * whose key tables start with protocols, ciphers, ciphersuites, groups (PX_TLS_K_*): errors
 * point at those values. */
enum { PX_TLS_K_PROTOCOLS = 0, PX_TLS_K_CIPHERS, PX_TLS_K_SUITES, PX_TLS_K_GROUPS };

static int px_tls_conf_common(px_conf_ctx_t *cx, const px_ynode_t *n, px_ynode_t *const *keys,
                              SSL_CTX *ctx, px_tls_common_t *c)
{
    int rc = 0;
    if (c->min_version == 0) {
        c->min_version = TLS1_2_VERSION;
        c->max_version = TLS1_3_VERSION;
    }
    SSL_CTX_set_min_proto_version(ctx, c->min_version);
    SSL_CTX_set_max_proto_version(ctx, c->max_version);
    static const char *const names[] = {"protocols", "ciphers", "ciphersuites", "groups"};
    const char *vals[] = {NULL, c->ciphers ? c->ciphers : PX_TLS_DEFAULT_CIPHERS,
                          c->ciphersuites ? c->ciphersuites : PX_TLS_DEFAULT_SUITES,
                          c->groups ? c->groups : PX_TLS_DEFAULT_GROUPS};
    for (int i = PX_TLS_K_CIPHERS; i <= PX_TLS_K_GROUPS; i++) {
        ERR_clear_error();
        int ok = i == PX_TLS_K_CIPHERS  ? SSL_CTX_set_cipher_list(ctx, vals[i])
                 : i == PX_TLS_K_SUITES ? SSL_CTX_set_ciphersuites(ctx, vals[i])
                                        : SSL_CTX_set1_groups_list(ctx, vals[i]);
        if (ok != 1) {
            const px_ynode_t *at = keys[i] ? px_tls_conf_value(n, keys[i]) : n;
            size_t mark = px_conf_path_key(cx, names[i]);
            rc = px_conf_err(cx, at, "OpenSSL refuses %s: %s",
                             px_conf_q(cx, vals[i], strlen(vals[i])),
                             px_tls_conf_reason("no usable entry"));
            px_conf_path_pop(cx, mark);
        }
    }
    if (c->alpn == NULL) {
        c->alpn = (unsigned char *)px_conf_dup(cx, "\x08http/1.1", 9);
        c->alpn_len = 9;
    }
    /* No renegotiation: HTTP/1.1 never needs it, and a client could use it to burn CPU. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    return c->alpn != NULL ? rc : -1;
}

/* ---- listeners[].tls ------------------------------------------------------------------------ */

static int px_tls_conf_set_verify_client(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                         const px_conf_key_t *k)
{
    px_tls_listener_t *l = obj;
    if (px_conf_scalar(cx, v, "require or optional") < 0)
        return -1;
    if (strcmp(v->str, "require") == 0)
        l->verify_client = PX_TLS_VERIFY_REQUIRE;
    else if (strcmp(v->str, "optional") == 0)
        l->verify_client = PX_TLS_VERIFY_OPTIONAL;
    else
        return px_conf_err(cx, v, "unknown value %s (expected require or optional)",
                           px_conf_q(cx, v->str, v->len));
    return 0;
}

static int px_tls_conf_set_session_timeout(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                           const px_conf_key_t *k)
{
    px_tls_listener_t *l = obj;
    if (px_conf_duration(cx, v, 1000, &l->session_timeout_ms) < 0)
        return -1;
    if (l->session_timeout_ms > PX_TLS_MAX_SESSION_TIMEOUT_MS)
        return px_conf_err(cx, v, "at most 24h (ticket keys live that long at most)");
    return 0;
}

static int px_tls_conf_set_xfcc_mode(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                     const px_conf_key_t *k)
{
    static const char *const modes[] = {"off", "sanitize", "append"};
    if (px_conf_scalar(cx, v, "a string") < 0)
        return -1;
    for (size_t i = 0; i < PX_KEY_NELTS(modes); i++) {
        if (strcmp(v->str, modes[i]) == 0) {
            ((px_tls_listener_t *)obj)->xfcc_mode = (px_xfcc_mode_t)i;
            return 0;
        }
    }
    return px_conf_err(cx, v, "unknown mode %s (expected sanitize, append or off)",
                       px_conf_q(cx, v->str, v->len));
}

static int px_tls_conf_set_xfcc_header(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                       const px_conf_key_t *k)
{
    if (px_conf_scalar(cx, v, "a header name") < 0)
        return -1;
    if (v->len == 0 || strspn(v->str, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789!#$%&'*+-.^_`|~") != v->len)
        return px_conf_err(cx, v, "invalid header name %s", px_conf_q(cx, v->str, v->len));
    return px_conf_set_str(cx, v, obj, k);
}

static const px_conf_key_t px_tls_conf_xfcc_keys[] = {
    PX_KEY_FN_AT("header", px_tls_conf_set_xfcc_header, px_tls_listener_t, xfcc_header),
    PX_KEY_FN("mode", px_tls_conf_set_xfcc_mode),
};

static int px_tls_conf_set_xfcc(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_tls_listener_t *l = obj;
    l->xfcc_mode = PX_XFCC_SANITIZE;
    return px_conf_walk(cx, v, px_tls_conf_xfcc_keys, PX_KEY_NELTS(px_tls_conf_xfcc_keys), obj,
                        NULL);
}

/* The keys both sides share, first in both tables: PX_TLS_K_* index the first four. */
#define PX_TLS_COMMON_KEYS(type)                                                                   \
    PX_KEY_FN_AT("protocols", px_tls_conf_set_protocols, type, common),                            \
        PX_KEY_STR("ciphers", type, common.ciphers),                                               \
        PX_KEY_STR("ciphersuites", type, common.ciphersuites),                                     \
        PX_KEY_STR("groups", type, common.groups),                                                 \
        PX_KEY_FN_AT("alpn", px_tls_conf_set_alpn, type, common)

static const px_conf_key_t px_tls_conf_listener_keys[] = {
    PX_TLS_COMMON_KEYS(px_tls_listener_t),
    {"certificates", px_tls_conf_set_certs, 0, 0, 0, 0, 1},
    PX_KEY_BOOL("session_tickets", px_tls_listener_t, session_tickets),
    PX_KEY_FN("session_timeout", px_tls_conf_set_session_timeout),
    {"client_ca", px_tls_conf_set_file, PX_FIELD(px_tls_listener_t, client_ca), 0, 0, 0},
    PX_KEY_FN("verify_client", px_tls_conf_set_verify_client),
    PX_KEY_FN("forward_client_cert", px_tls_conf_set_xfcc),
};
enum { PX_TLS_K_CLIENT_CA = 8, PX_TLS_K_VERIFY_CLIENT = 9, PX_TLS_K_XFCC = 10 };

/* Client certificates: the CAs they must chain to, and the names sent to ask for one. */
static int px_tls_conf_client_ca(px_conf_ctx_t *cx, const px_ynode_t *at, SSL_CTX *ctx,
                                 const px_tls_listener_t *l)
{
    ERR_clear_error();
    if (px_tls_conf_readable(cx, "client_ca", at, l->client_ca) < 0)
        return -1;
    if (SSL_CTX_load_verify_locations(ctx, l->client_ca, NULL) != 1)
        return px_tls_conf_err_at_key(cx, "client_ca", at,
                                      "cannot load CA certificates from %s: %s", l->client_ca,
                                      px_tls_conf_reason("no certificate"));
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(l->client_ca);
    if (names == NULL)
        return px_tls_conf_err_at_key(cx, "client_ca", at, "no CA certificate in %s: %s",
                                      l->client_ca, px_tls_conf_reason("empty"));
    SSL_CTX_set_client_CA_list(ctx, names);
    int mode = SSL_VERIFY_PEER;
    if (l->verify_client == PX_TLS_VERIFY_REQUIRE)
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode,
                       l->verify_client == PX_TLS_VERIFY_OPTIONAL ? px_tls_verify_optional : NULL);
    ERR_clear_error();
    return 0;
}

/* The session id context: resumption only within the same client-verification policy. */
static void px_tls_conf_sid_ctx(SSL_CTX *ctx, const px_tls_listener_t *l)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    char buf[4200];
    int n = snprintf(buf, sizeof(buf), "pyxis|%d|%s", (int)l->verify_client,
                     l->client_ca ? l->client_ca : "");
    if (n < 0 || (size_t)n >= sizeof(buf))
        n = (int)sizeof(buf) - 1;
    if (EVP_Digest(buf, (size_t)n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen > 32)
        mdlen = 0;
    SSL_CTX_set_session_id_context(ctx, md, mdlen);
    ERR_clear_error();
}

int px_conf_set_listener_tls(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_tls_listener_t *l = px_conf_alloc(cx, sizeof(*l));
    if (l == NULL)
        return -1;
    l->session_tickets = 1;
    l->session_timeout_ms = 3600 * 1000;
    px_ynode_t *seen[PX_CONF_MAX_KEYS];
    if (px_conf_walk(cx, v, px_tls_conf_listener_keys, PX_KEY_NELTS(px_tls_conf_listener_keys), l,
                     seen) < 0)
        return -1;
    if (l->verify_client != PX_TLS_VERIFY_OFF && l->client_ca == NULL)
        return px_tls_conf_err_at_key(cx, "verify_client",
                                      px_tls_conf_value(v, seen[PX_TLS_K_VERIFY_CLIENT]),
                                      "verify_client needs client_ca (the CAs client "
                                      "certificates must chain to)");
    if (l->client_ca != NULL && l->verify_client == PX_TLS_VERIFY_OFF)
        l->verify_client = PX_TLS_VERIFY_REQUIRE;
    if (seen[PX_TLS_K_XFCC] != NULL && l->client_ca == NULL)
        return px_tls_conf_err_at_key(cx, "forward_client_cert",
                                      px_tls_conf_value(v, seen[PX_TLS_K_XFCC]),
                                      "forward_client_cert needs client_ca (no client "
                                      "certificate is asked for without it)");
    if (l->xfcc_header == NULL &&
        (l->xfcc_header = px_conf_dup(cx, "X-Forwarded-Client-Cert", 23)) == NULL)
        return -1;

    SSL_CTX *ctx = px_tls_conf_new_ctx(cx, v, TLS_server_method());
    if (ctx == NULL || px_tls_conf_common(cx, v, seen, ctx, &l->common) < 0)
        return -1;
    if (l->client_ca != NULL &&
        px_tls_conf_client_ca(cx, px_tls_conf_value(v, seen[PX_TLS_K_CLIENT_CA]), ctx, l) < 0)
        return -1;
    /* Resumption with tickets only (see px_tls.c): no server-side cache to lock or lose. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_timeout(ctx, (long)(l->session_timeout_ms / 1000));
    if (!l->session_tickets) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
    }
    px_tls_conf_sid_ctx(ctx, l);
    px_tls_server_ctx_callbacks(ctx, l);
    l->ctx = ctx;
    ((px_conf_listener_t *)obj)->tls = l;
    return 0;
}

/* ---- upstreams.NAME.tls --------------------------------------------------------------------- */

static int px_tls_conf_set_server_name(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                       const px_conf_key_t *k)
{
    if (px_conf_scalar(cx, v, "a host name") < 0)
        return -1;
    for (size_t i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char)v->str[i];
        if (!isalnum(c) && c != '-' && c != '.' && c != '_' && c != ':')
            return px_conf_err(cx, v,
                               "invalid server name %s (a host name or IP address, "
                               "without port or brackets)",
                               px_conf_q(cx, v->str, v->len));
    }
    return px_conf_set_str(cx, v, obj, k);
}

static const px_conf_key_t px_tls_conf_upstream_keys[] = {
    PX_TLS_COMMON_KEYS(px_tls_upstream_t),
    PX_KEY_BOOL("enabled", px_tls_upstream_t, enabled),
    PX_KEY_BOOL("verify", px_tls_upstream_t, verify),
    {"ca", px_tls_conf_set_file, PX_FIELD(px_tls_upstream_t, ca), 0, 0, 0},
    PX_KEY_FN_AT("server_name", px_tls_conf_set_server_name, px_tls_upstream_t, server_name),
    {"cert", px_tls_conf_set_file, PX_FIELD(px_tls_upstream_t, cert_file), 0, 0, 0},
    {"key", px_tls_conf_set_file, PX_FIELD(px_tls_upstream_t, key_file), 0, 0, 0},
};
enum { PX_TLS_K_CA = 7, PX_TLS_K_CERT = 9, PX_TLS_K_KEY = 10 };

int px_conf_set_upstream_tls(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_tls_upstream_t *u = px_conf_alloc(cx, sizeof(*u));
    if (u == NULL)
        return -1;
    u->enabled = 1;
    u->verify = 1;
    px_ynode_t *seen[PX_CONF_MAX_KEYS];
    if (px_conf_walk(cx, v, px_tls_conf_upstream_keys, PX_KEY_NELTS(px_tls_conf_upstream_keys), u,
                     seen) < 0)
        return -1;
    if ((u->cert_file == NULL) != (u->key_file == NULL))
        return px_conf_err(cx, seen[PX_TLS_K_CERT] ? seen[PX_TLS_K_CERT] : seen[PX_TLS_K_KEY],
                           "give both cert and key (a client certificate and its key)");

    if (!u->enabled)
        return 0;
    SSL_CTX *ctx = px_tls_conf_new_ctx(cx, v, TLS_client_method());
    if (ctx == NULL || px_tls_conf_common(cx, v, seen, ctx, &u->common) < 0)
        return -1;
    if (SSL_CTX_set_alpn_protos(ctx, u->common.alpn, (unsigned)u->common.alpn_len) != 0)
        return px_conf_err(cx, v, "cannot set ALPN: %s", px_tls_conf_reason("error"));
    ERR_clear_error();
    const px_ynode_t *ca_n = px_tls_conf_value(v, seen[PX_TLS_K_CA]);
    if (u->ca != NULL && px_tls_conf_readable(cx, "ca", ca_n, u->ca) < 0)
        return -1;
    if (u->ca != NULL && SSL_CTX_load_verify_locations(ctx, u->ca, NULL) != 1)
        return px_tls_conf_err_at_key(cx, "ca", ca_n, "cannot load CA certificates from %s: %s",
                                      u->ca, px_tls_conf_reason("no certificate"));
    if (u->ca == NULL && SSL_CTX_set_default_verify_paths(ctx) != 1)
        return px_conf_err(cx, v, "cannot load the system CA store: %s",
                           px_tls_conf_reason("error"));
    SSL_CTX_set_verify(ctx, u->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (u->cert_file != NULL) {
        px_tls_cert_t *c = px_conf_alloc(cx, sizeof(*c));
        if (c == NULL)
            return -1;
        c->cert_file = u->cert_file;
        c->key_file = u->key_file;
        if (px_tls_conf_load_cert(cx, px_tls_conf_value(v, seen[PX_TLS_K_CERT]),
                                  px_tls_conf_value(v, seen[PX_TLS_K_KEY]), c) < 0)
            return -1;
        if (SSL_CTX_use_cert_and_key(ctx, c->cert, c->key, c->chain, 1) != 1)
            return px_conf_err(cx, v, "cannot use the client certificate %s: %s", c->cert_file,
                               px_tls_conf_reason("error"));
    }
    ERR_clear_error();
    u->ctx = ctx;
    ((px_conf_upstream_t *)obj)->tls = u;
    return 0;
}

int px_conf_tls_upstream_hosts(px_conf_ctx_t *cx, px_conf_upstream_t *up)
{
    px_tls_upstream_t *u = up->tls;
    if (u == NULL || up->nendpoints == 0)
        return 0;
    u->hosts = px_conf_alloc(cx, up->nendpoints * sizeof(*u->hosts));
    if (u->hosts == NULL)
        return -1;
    for (size_t i = 0; i < up->nendpoints; i++) {
        const char *h = up->endpoints[i].host;
        if (u->server_name != NULL || h == NULL) {
            u->hosts[i] = u->server_name;
            continue;
        }
        size_t len = strlen(h);
        if (len >= 2 && h[0] == '[' && h[len - 1] == ']')
            u->hosts[i] = px_conf_dup(cx, h + 1, len - 2);
        else
            u->hosts[i] = px_conf_dup(cx, h, len);
        if (u->hosts[i] == NULL)
            return -1;
    }
    return 0;
}
