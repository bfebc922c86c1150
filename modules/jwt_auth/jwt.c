/*
 * jwt.c: decoding a JWS compact token, choosing its key, checking its signature and claims
 * (jwt.h). Keys are made in jwt_key.c.
 *
 * Every signature check is OpenSSL's: HMAC with EVP_Q_mac and CRYPTO_memcmp, the others with
 * EVP_DigestVerify. A key verifies only the algorithms of its type (jwt_kty_algs), checked
 * again here whatever the caller did, so a token cannot pick HS256 and have an RSA public key
 * used as its HMAC secret.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>

#include "jwt.h"

static void jwt_fail(jwt_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jwt_fail(jwt_err_t *err, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

/* ---- algorithms -------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *digest; /* NULL for EdDSA */
    size_t sig_len;     /* the exact signature length; 0: depends on the key (RSA) */
} jwt_alg_info_t;

static const jwt_alg_info_t jwt_algs[JWT_NALGS] = {
    [JWT_HS256] = {"HS256", "SHA256", 32}, [JWT_HS384] = {"HS384", "SHA384", 48},
    [JWT_HS512] = {"HS512", "SHA512", 64}, [JWT_RS256] = {"RS256", "SHA256", 0},
    [JWT_RS384] = {"RS384", "SHA384", 0},  [JWT_RS512] = {"RS512", "SHA512", 0},
    [JWT_PS256] = {"PS256", "SHA256", 0},  [JWT_PS384] = {"PS384", "SHA384", 0},
    [JWT_PS512] = {"PS512", "SHA512", 0},  [JWT_ES256] = {"ES256", "SHA256", 64},
    [JWT_ES384] = {"ES384", "SHA384", 96}, [JWT_EDDSA] = {"EdDSA", NULL, 64},
};

const char *jwt_alg_name(jwt_alg_t alg)
{
    return (unsigned)alg < JWT_NALGS ? jwt_algs[alg].name : "?";
}

int jwt_alg_parse(const char *s, size_t n)
{
    for (int i = 0; i < JWT_NALGS; i++)
        if (strlen(jwt_algs[i].name) == n && memcmp(jwt_algs[i].name, s, n) == 0)
            return i;
    return -1;
}

unsigned jwt_kty_algs(jwt_kty_t kty)
{
    switch (kty) {
    case JWT_KTY_OCT:
        return JWT_ALG_BIT(JWT_HS256) | JWT_ALG_BIT(JWT_HS384) | JWT_ALG_BIT(JWT_HS512);
    case JWT_KTY_RSA:
        return JWT_ALG_BIT(JWT_RS256) | JWT_ALG_BIT(JWT_RS384) | JWT_ALG_BIT(JWT_RS512) |
               JWT_ALG_BIT(JWT_PS256) | JWT_ALG_BIT(JWT_PS384) | JWT_ALG_BIT(JWT_PS512);
    case JWT_KTY_P256: return JWT_ALG_BIT(JWT_ES256);
    case JWT_KTY_P384: return JWT_ALG_BIT(JWT_ES384);
    case JWT_KTY_ED25519: return JWT_ALG_BIT(JWT_EDDSA);
    default: return 0;
    }
}

const char *jwt_kty_name(jwt_kty_t kty)
{
    switch (kty) {
    case JWT_KTY_OCT: return "oct";
    case JWT_KTY_RSA: return "RSA";
    case JWT_KTY_P256: return "EC P-256";
    case JWT_KTY_P384: return "EC P-384";
    case JWT_KTY_ED25519: return "OKP Ed25519";
    default: return "?";
    }
}

/* Does key k verify alg? */
static int jwt_key_fits(const jwt_key_t *k, jwt_alg_t alg)
{
    return (jwt_kty_algs(k->kty) & JWT_ALG_BIT(alg)) != 0 && (k->alg < 0 || k->alg == (int)alg);
}

/* ---- base64url --------------------------------------------------------------------------- */

static int jwt_b64url_value(unsigned char c)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *p = c != '\0' ? memchr(alphabet, c, 64) : NULL;
    return p != NULL ? (int)(p - alphabet) : -1;
}

int jwt_b64url_decode(const char *in, size_t len, unsigned char *out, size_t *outlen)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    if (len % 4 == 1) /* 6 bits cannot make a byte */
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = jwt_b64url_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* bits after the last byte must be zero: one encoding per byte string */
        return -1;
    *outlen = o;
    return 0;
}

/* ---- decoding ---------------------------------------------------------------------------- */

/* Decode one base64url part into buf at *used and parse it as a JSON object. */
static json_t *jwt_decode_json(const char *part, size_t len, unsigned char *buf, size_t *used,
                               const char *what, jwt_err_t *err)
{
    size_t n;
    if (jwt_b64url_decode(part, len, buf + *used, &n) != 0) {
        jwt_fail(err, "the %s is not base64url", what);
        return NULL;
    }
    /* jansson's own messages quote the input: they are not passed on. */
    json_t *j = json_loadb((const char *)buf + *used, n, JSON_REJECT_DUPLICATES, NULL);
    *used += n;
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        jwt_fail(err, "the %s is not a JSON object", what);
        return NULL;
    }
    return j;
}

/* Read alg, kid and crit from the header. */
static int jwt_decode_header(jwt_token_t *t, jwt_err_t *err)
{
    json_t *alg = json_object_get(t->header, "alg"), *kid = json_object_get(t->header, "kid");
    if (alg == NULL) {
        jwt_fail(err, "the header has no alg");
        return -1;
    }
    if (!json_is_string(alg)) {
        jwt_fail(err, "the header's alg is not a string");
        return -1;
    }
    int a = jwt_alg_parse(json_string_value(alg), json_string_length(alg));
    if (a < 0) {
        int none = json_string_length(alg) == 4 && strcmp(json_string_value(alg), "none") == 0;
        jwt_fail(err, none ? "alg none is refused" : "unsupported alg");
        return -1;
    }
    t->alg = (jwt_alg_t)a;
    if (kid != NULL) {
        if (!json_is_string(kid)) {
            jwt_fail(err, "the header's kid is not a string");
            return -1;
        }
        t->kid = json_string_value(kid);
    }
    /* No extension is understood, so a token that makes one critical is refused (RFC 7515
     * section 4.1.11). */
    if (json_object_get(t->header, "crit") != NULL) {
        jwt_fail(err, "the header has crit (no extension is supported)");
        return -1;
    }
    return 0;
}

int jwt_decode(const char *tok, size_t len, unsigned char *buf, jwt_token_t *t, jwt_err_t *err)
{
    memset(t, 0, sizeof(*t));
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (d2 == NULL) {
        jwt_fail(err, "not a JWS compact token (three parts separated by dots)");
        return -1;
    }
    const char *sig = d2 + 1;
    size_t sig_len = len - (size_t)(sig - tok);
    if (memchr(sig, '.', sig_len) != NULL) {
        jwt_fail(err, "more than three parts (an encrypted JWE is not supported)");
        return -1;
    }
    size_t used = 0;
    t->header = jwt_decode_json(tok, (size_t)(d1 - tok), buf, &used, "header", err);
    if (t->header == NULL || jwt_decode_header(t, err) != 0)
        goto fail;
    t->claims = jwt_decode_json(d1 + 1, (size_t)(d2 - d1 - 1), buf, &used, "payload", err);
    if (t->claims == NULL)
        goto fail;
    size_t n;
    if (sig_len == 0) {
        jwt_fail(err, "the signature is empty");
        goto fail;
    }
    if (jwt_b64url_decode(sig, sig_len, buf + used, &n) != 0) {
        jwt_fail(err, "the signature is not base64url");
        goto fail;
    }
    t->sig = buf + used;
    t->sig_len = n;
    t->signing_input = tok;
    t->signing_len = (size_t)(d2 - tok);
    return 0;

fail:
    jwt_token_free(t);
    return -1;
}

void jwt_token_free(jwt_token_t *t)
{
    json_decref(t->header);
    json_decref(t->claims);
    memset(t, 0, sizeof(*t));
}

/* ---- choosing the key -------------------------------------------------------------------- */

jwt_key_rc_t jwt_key_find(const jwt_keyset_t *ks, const jwt_token_t *t, const jwt_key_t **key,
                          jwt_err_t *err)
{
    const jwt_key_t *fit = NULL, *anon = NULL;
    size_t nfit = 0, nanon = 0, named = 0;
    for (size_t i = 0; i < ks->nkeys; i++) {
        const jwt_key_t *k = &ks->keys[i];
        int fits = jwt_key_fits(k, t->alg);
        if (t->kid != NULL && k->kid != NULL && strcmp(k->kid, t->kid) == 0) {
            named++;
            if (fits) {
                *key = k;
                return JWT_KEY_FOUND;
            }
        }
        if (fits && nfit++ == 0)
            fit = k;
        if (fits && k->kid == NULL && nanon++ == 0)
            anon = k;
    }
    if (t->kid != NULL) {
        if (named > 0) {
            jwt_fail(err, "the key with the token's kid does not verify %s", jwt_alg_name(t->alg));
            return JWT_KEY_NONE;
        }
        if (nanon == 1) { /* a lone key without a kid (PEM, secret) answers to any kid */
            *key = anon;
            return JWT_KEY_FOUND;
        }
        jwt_fail(err, "no key has the token's kid");
        return JWT_KEY_UNKNOWN_KID;
    }
    if (nfit == 1) {
        *key = fit;
        return JWT_KEY_FOUND;
    }
    if (nfit == 0)
        jwt_fail(err, "no key verifies %s", jwt_alg_name(t->alg));
    else
        jwt_fail(err, "the token has no kid and %zu keys verify %s", nfit, jwt_alg_name(t->alg));
    return JWT_KEY_NONE;
}

/* ---- signatures -------------------------------------------------------------------------- */

static int jwt_verify_hmac(const jwt_key_t *k, jwt_alg_t alg, const void *in, size_t in_len,
                           const unsigned char *sig, size_t sig_len, jwt_err_t *err)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    if (EVP_Q_mac(NULL, "HMAC", NULL, jwt_algs[alg].digest, NULL, k->secret, k->secret_len, in,
                  in_len, mac, sizeof(mac), &mac_len) == NULL) {
        jwt_fail(err, "HMAC failed");
        return -1;
    }
    int good = mac_len == sig_len && CRYPTO_memcmp(mac, sig, mac_len) == 0;
    OPENSSL_cleanse(mac, sizeof(mac));
    if (!good) {
        jwt_fail(err, "bad signature");
        return -1;
    }
    return 0;
}

/* JWS's ECDSA signature is r||s, each half the signature; OpenSSL verifies DER. *der is
 * OPENSSL_malloc'd. */
static int jwt_ecdsa_der(const unsigned char *sig, size_t sig_len, unsigned char **der,
                         size_t *der_len)
{
    size_t half = sig_len / 2;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)half, NULL), *s = BN_bin2bn(sig + half, (int)half, NULL);
    int n = -1;
    *der = NULL;
    if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* es owns them */
        n = i2d_ECDSA_SIG(es, der);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    if (n <= 0)
        return -1;
    *der_len = (size_t)n;
    return 0;
}

static int jwt_verify_pkey(const jwt_key_t *k, jwt_alg_t alg, const void *in, size_t in_len,
                           const unsigned char *sig, size_t sig_len, jwt_err_t *err)
{
    unsigned char *der = NULL;
    const char *digest = jwt_algs[alg].digest;
    EVP_PKEY_CTX *pctx = NULL;
    int rc = -1;
    if (alg == JWT_ES256 || alg == JWT_ES384) {
        if (jwt_ecdsa_der(sig, sig_len, &der, &sig_len) != 0) {
            jwt_fail(err, "bad signature");
            return -1;
        }
        sig = der;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestVerifyInit_ex(md, &pctx, digest, NULL, NULL, k->pkey, NULL) != 1) {
        jwt_fail(err, "cannot set up %s verification", jwt_alg_name(alg));
        goto out;
    }
    if (alg == JWT_PS256 || alg == JWT_PS384 || alg == JWT_PS512) {
        /* RFC 7518 section 3.5: MGF1 with the same hash, salt as long as the hash */
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, digest, NULL) != 1) {
            jwt_fail(err, "cannot set up %s verification", jwt_alg_name(alg));
            goto out;
        }
    }
    if (EVP_DigestVerify(md, sig, sig_len, in, in_len) != 1) {
        jwt_fail(err, "bad signature");
        goto out;
    }
    rc = 0;
out:
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    return rc;
}

int jwt_verify(const jwt_key_t *k, jwt_alg_t alg, const void *in, size_t in_len,
               const unsigned char *sig, size_t sig_len, jwt_err_t *err)
{
    if ((unsigned)alg >= JWT_NALGS || !jwt_key_fits(k, alg)) {
        jwt_fail(err, "%s cannot be verified with an %s key", jwt_alg_name(alg),
                 jwt_kty_name(k->kty));
        return -1;
    }
    if (jwt_algs[alg].sig_len != 0 && sig_len != jwt_algs[alg].sig_len) {
        jwt_fail(err, "bad signature (%zu bytes; %s has %zu)", sig_len, jwt_algs[alg].name,
                 jwt_algs[alg].sig_len);
        return -1;
    }
    if (k->kty == JWT_KTY_OCT)
        return jwt_verify_hmac(k, alg, in, in_len, sig, sig_len, err);
    return jwt_verify_pkey(k, alg, in, in_len, sig, sig_len, err);
}

/* ---- claims ------------------------------------------------------------------------------ */

/* A NumericDate claim: absent (0), a number (1, *v set), or the wrong type (-1). */
static int jwt_claim_time(const json_t *claims, const char *name, double *v, jwt_err_t *err)
{
    const json_t *j = json_object_get(claims, name);
    if (j == NULL)
        return 0;
    if (!json_is_number(j)) {
        jwt_fail(err, "claim %s is not a number", name);
        return -1;
    }
    *v = json_number_value(j);
    return 1;
}

static int jwt_is_one_of(const char *s, size_t len, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0)
            return 1;
    return 0;
}

/* The JSON types of the registered claims (RFC 7519 section 4.1) that hold strings. */
static int jwt_check_types(const json_t *claims, jwt_err_t *err)
{
    static const char *const strings[] = {"iss", "sub", "jti"};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        const json_t *j = json_object_get(claims, strings[i]);
        if (j != NULL && !json_is_string(j)) {
            jwt_fail(err, "claim %s is not a string", strings[i]);
            return -1;
        }
    }
    const json_t *aud = json_object_get(claims, "aud"), *v;
    size_t i;
    if (aud != NULL && json_is_array(aud)) {
        json_array_foreach(aud, i, v)
        {
            if (!json_is_string(v)) {
                jwt_fail(err, "claim aud holds a value that is not a string");
                return -1;
            }
        }
    } else if (aud != NULL && !json_is_string(aud)) {
        jwt_fail(err, "claim aud is neither a string nor an array of strings");
        return -1;
    }
    return 0;
}

static int jwt_check_aud(const json_t *claims, const jwt_policy_t *p, jwt_err_t *err)
{
    const json_t *aud = json_object_get(claims, "aud"), *v;
    size_t i;
    if (p->naudiences == 0)
        return 0;
    if (aud == NULL) {
        jwt_fail(err, "claim aud is missing");
        return -1;
    }
    if (json_is_string(aud) &&
        jwt_is_one_of(json_string_value(aud), json_string_length(aud), p->audiences, p->naudiences))
        return 0;
    json_array_foreach(aud, i, v)
    {
        if (jwt_is_one_of(json_string_value(v), json_string_length(v), p->audiences, p->naudiences))
            return 0;
    }
    jwt_fail(err, "claim aud names none of the accepted audiences");
    return -1;
}

int jwt_check_claims(const json_t *claims, const jwt_policy_t *p, double now, jwt_err_t *err)
{
    /* exp must be later than now - leeway; nbf and iat no later than now + leeway. */
    static const struct {
        const char *claim, *what;
        int is_exp;
    } times[] = {
        {"exp", "expired", 1}, {"nbf", "not valid yet", 0}, {"iat", "issued in the future", 0}};
    double leeway = (double)p->leeway, v;
    if (jwt_check_types(claims, err) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        int rc = jwt_claim_time(claims, times[i].claim, &v, err);
        if (rc < 0)
            return -1;
        if (rc > 0 && (times[i].is_exp ? now - leeway >= v : now + leeway < v)) {
            jwt_fail(err, "%s (%s %.0f, now %.0f, leeway %llds)", times[i].what, times[i].claim, v,
                     now, (long long)p->leeway);
            return -1;
        }
    }
    if (p->nissuers > 0) {
        const json_t *iss = json_object_get(claims, "iss");
        if (iss == NULL) {
            jwt_fail(err, "claim iss is missing");
            return -1;
        }
        if (!jwt_is_one_of(json_string_value(iss), json_string_length(iss), p->issuers,
                           p->nissuers)) {
            jwt_fail(err, "claim iss is not an accepted issuer");
            return -1;
        }
    }
    if (jwt_check_aud(claims, p, err) != 0)
        return -1;
    for (size_t i = 0; i < p->nrequired; i++) {
        const json_t *j = json_object_get(claims, p->required[i]);
        if (j == NULL || json_is_null(j)) {
            jwt_fail(err, "required claim %.64s is missing", p->required[i]);
            return -1;
        }
    }
    return 0;
}
