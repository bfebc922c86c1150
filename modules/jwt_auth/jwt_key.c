/*
 * jwt_key.c: key sets for jwt.c, from an HMAC secret, a PEM public key or certificate, or a
 * JWK Set (RFC 7517, RFC 7518 section 6, RFC 8037). JWK members become EVP_PKEYs through
 * OSSL_PARAM and EVP_PKEY_fromdata; EC points are checked to be on their curve.
 *
 * A JWKS from an identity provider commonly lists keys this filter has no use for (encryption
 * keys, other curves): those entries are skipped and counted, not errors. Messages name
 * members and types, never key bytes.
 */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "jwt.h"

static void jwt_key_fail(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void jwt_key_fail(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

#define JWT_FAIL(err, ...) jwt_key_fail((err)->msg, sizeof((err)->msg), __VA_ARGS__)

static void jwt_key_clear(jwt_key_t *k)
{
    EVP_PKEY_free(k->pkey);
    if (k->secret != NULL)
        OPENSSL_clear_free(k->secret, k->secret_len);
    free(k->kid);
    memset(k, 0, sizeof(*k));
}

void jwt_keyset_free(jwt_keyset_t *ks)
{
    if (ks == NULL)
        return;
    for (size_t i = 0; i < ks->nkeys; i++)
        jwt_key_clear(&ks->keys[i]);
    free(ks->keys);
    free(ks);
}

static jwt_keyset_t *jwt_keyset_new(size_t cap, jwt_err_t *err)
{
    jwt_keyset_t *ks = calloc(1, sizeof(*ks));
    if (ks != NULL && (ks->keys = calloc(cap ? cap : 1, sizeof(*ks->keys))) != NULL)
        return ks;
    free(ks);
    JWT_FAIL(err, "out of memory");
    return NULL;
}

/* ---- one key ----------------------------------------------------------------------------- */

static int jwt_secret_key(jwt_key_t *k, const void *secret, size_t len, char *why, size_t cap)
{
    if (len < JWT_MIN_SECRET) {
        jwt_key_fail(why, cap, "an HMAC secret needs at least %d bytes (has %zu)", JWT_MIN_SECRET,
                     len);
        return -1;
    }
    if ((k->secret = OPENSSL_malloc(len)) == NULL) {
        jwt_key_fail(why, cap, "out of memory");
        return -1;
    }
    memcpy(k->secret, secret, len);
    k->secret_len = len;
    k->kty = JWT_KTY_OCT;
    return 0;
}

/* The type of a public key, which must be one this filter verifies with. */
static int jwt_pkey_kty(EVP_PKEY *pk, jwt_kty_t *kty, char *why, size_t cap)
{
    char group[64];
    if (EVP_PKEY_is_a(pk, "RSA")) {
        if (EVP_PKEY_get_bits(pk) < JWT_MIN_RSA_BITS) {
            jwt_key_fail(why, cap, "an RSA key needs at least %d bits (has %d)", JWT_MIN_RSA_BITS,
                         EVP_PKEY_get_bits(pk));
            return -1;
        }
        *kty = JWT_KTY_RSA;
        return 0;
    }
    if (EVP_PKEY_is_a(pk, "ED25519")) {
        *kty = JWT_KTY_ED25519;
        return 0;
    }
    if (EVP_PKEY_is_a(pk, "EC") &&
        EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       NULL) == 1) {
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
            *kty = JWT_KTY_P256;
            return 0;
        }
        if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
            *kty = JWT_KTY_P384;
            return 0;
        }
        jwt_key_fail(why, cap, "EC curve %.32s is not supported (P-256 and P-384 are)", group);
        return -1;
    }
    jwt_key_fail(why, cap, "a %.32s key is not supported (RSA, EC P-256/P-384 and Ed25519 are)",
                 EVP_PKEY_get0_type_name(pk) ? EVP_PKEY_get0_type_name(pk) : "?");
    return -1;
}

/* The public key `type` ("RSA", "EC", "ED25519") made of params, checked. */
static EVP_PKEY *jwt_pkey_fromdata(const char *type, OSSL_PARAM *params)
{
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pk = NULL;
    EVP_PKEY_CTX_free(ctx);
    if (pk != NULL) {
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
        if (check == NULL || EVP_PKEY_public_check(check) != 1) {
            EVP_PKEY_free(pk);
            pk = NULL;
        }
        EVP_PKEY_CTX_free(check);
    }
    ERR_clear_error();
    return pk;
}

/* ---- JWK members ------------------------------------------------------------------------- */

/* The base64url member `name` of a JWK, decoded into a malloc'd *out. */
static int jwt_jwk_bytes(const json_t *jwk, const char *name, unsigned char **out, size_t *len,
                         char *why, size_t cap)
{
    const json_t *j = json_object_get(jwk, name);
    *out = NULL;
    if (j == NULL || !json_is_string(j)) {
        jwt_key_fail(why, cap, "member %s is %s", name, j == NULL ? "missing" : "not a string");
        return -1;
    }
    size_t n = json_string_length(j);
    if (n == 0 || (*out = malloc(n)) == NULL ||
        jwt_b64url_decode(json_string_value(j), n, *out, len) != 0 || *len == 0) {
        free(*out);
        *out = NULL;
        jwt_key_fail(why, cap, "member %s is not base64url", name);
        return -1;
    }
    return 0;
}

static int jwt_jwk_rsa(const json_t *jwk, jwt_key_t *k, char *why, size_t cap)
{
    unsigned char *nb = NULL, *eb = NULL;
    size_t nl = 0, el = 0;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    int rc = -1;
    if (jwt_jwk_bytes(jwk, "n", &nb, &nl, why, cap) != 0 ||
        jwt_jwk_bytes(jwk, "e", &eb, &el, why, cap) != 0)
        goto out;
    if ((n = BN_bin2bn(nb, (int)nl, NULL)) == NULL || (e = BN_bin2bn(eb, (int)el, NULL)) == NULL ||
        (bld = OSSL_PARAM_BLD_new()) == NULL ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (k->pkey = jwt_pkey_fromdata("RSA", params)) == NULL) {
        jwt_key_fail(why, cap, "n and e do not make an RSA public key");
        goto out;
    }
    rc = jwt_pkey_kty(k->pkey, &k->kty, why, cap);
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    free(nb);
    free(eb);
    return rc;
}

/* An uncompressed point 04||x||y on the curve of `crv`. */
static int jwt_jwk_ec(const json_t *jwk, jwt_key_t *k, char *why, size_t cap)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const char *group;
    size_t size;
    if (crv != NULL && strcmp(crv, "P-256") == 0) {
        group = "prime256v1";
        size = 32;
    } else if (crv != NULL && strcmp(crv, "P-384") == 0) {
        group = "secp384r1";
        size = 48;
    } else {
        jwt_key_fail(why, cap, "EC crv is not P-256 or P-384");
        return -1;
    }
    unsigned char *x = NULL, *y = NULL, pub[1 + 2 * 48];
    size_t xl = 0, yl = 0;
    int rc = -1;
    if (jwt_jwk_bytes(jwk, "x", &x, &xl, why, cap) != 0 ||
        jwt_jwk_bytes(jwk, "y", &y, &yl, why, cap) != 0)
        goto out;
    if (xl != size || yl != size) {
        jwt_key_fail(why, cap, "EC x and y of %s must have %zu bytes each", crv, size);
        goto out;
    }
    pub[0] = 0x04;
    memcpy(pub + 1, x, size);
    memcpy(pub + 1 + size, y, size);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * size),
        OSSL_PARAM_construct_end(),
    };
    if ((k->pkey = jwt_pkey_fromdata("EC", params)) == NULL) {
        jwt_key_fail(why, cap, "x and y are not a point of %s", crv);
        goto out;
    }
    rc = jwt_pkey_kty(k->pkey, &k->kty, why, cap);
out:
    free(x);
    free(y);
    return rc;
}

static int jwt_jwk_okp(const json_t *jwk, jwt_key_t *k, char *why, size_t cap)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    unsigned char *x = NULL;
    size_t xl = 0;
    int rc = -1;
    if (crv == NULL || strcmp(crv, "Ed25519") != 0) {
        jwt_key_fail(why, cap, "OKP crv is not Ed25519");
        return -1;
    }
    if (jwt_jwk_bytes(jwk, "x", &x, &xl, why, cap) != 0)
        return -1;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, x, xl),
        OSSL_PARAM_construct_end(),
    };
    if (xl != 32 || (k->pkey = jwt_pkey_fromdata("ED25519", params)) == NULL)
        jwt_key_fail(why, cap, "x is not an Ed25519 public key");
    else
        rc = jwt_pkey_kty(k->pkey, &k->kty, why, cap);
    free(x);
    return rc;
}

static int jwt_jwk_oct(const json_t *jwk, jwt_key_t *k, char *why, size_t cap)
{
    unsigned char *s = NULL;
    size_t sl = 0;
    if (jwt_jwk_bytes(jwk, "k", &s, &sl, why, cap) != 0)
        return -1;
    int rc = jwt_secret_key(k, s, sl, why, cap);
    OPENSSL_clear_free(s, sl);
    return rc;
}

/* May this JWK verify signatures ("use", "key_ops")? */
static int jwt_jwk_for_signatures(const json_t *jwk, char *why, size_t cap)
{
    const json_t *use = json_object_get(jwk, "use"), *ops = json_object_get(jwk, "key_ops"), *v;
    size_t i;
    if (use != NULL && !(json_is_string(use) && strcmp(json_string_value(use), "sig") == 0)) {
        jwt_key_fail(why, cap, "use is not \"sig\"");
        return 0;
    }
    if (ops == NULL)
        return 1;
    json_array_foreach(ops, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), "verify") == 0)
            return 1;
    }
    jwt_key_fail(why, cap, "key_ops has no \"verify\"");
    return 0;
}

/* One JWK into *k. 0, or -1 (skip it) with why. */
static int jwt_jwk_parse(const json_t *jwk, jwt_key_t *k, char *why, size_t cap)
{
    static const struct {
        const char *kty;
        int (*parse)(const json_t *, jwt_key_t *, char *, size_t);
    } types[] = {
        {"RSA", jwt_jwk_rsa}, {"EC", jwt_jwk_ec}, {"OKP", jwt_jwk_okp}, {"oct", jwt_jwk_oct}};
    if (!json_is_object(jwk)) {
        jwt_key_fail(why, cap, "an entry of keys is not an object");
        return -1;
    }
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const json_t *alg = json_object_get(jwk, "alg"), *kid = json_object_get(jwk, "kid");
    if (!jwt_jwk_for_signatures(jwk, why, cap))
        return -1;
    if (kid != NULL && !json_is_string(kid)) {
        jwt_key_fail(why, cap, "kid is not a string");
        return -1;
    }
    k->alg = -1;
    if (alg != NULL &&
        (!json_is_string(alg) ||
         (k->alg = jwt_alg_parse(json_string_value(alg), json_string_length(alg))) < 0)) {
        jwt_key_fail(why, cap, "alg is not a supported signature algorithm");
        return -1;
    }
    size_t t = 0;
    while (t < sizeof(types) / sizeof(types[0]) && (kty == NULL || strcmp(kty, types[t].kty) != 0))
        t++;
    if (t == sizeof(types) / sizeof(types[0])) {
        jwt_key_fail(why, cap, "kty is not RSA, EC, OKP or oct");
        return -1;
    }
    if (types[t].parse(jwk, k, why, cap) != 0)
        return -1;
    if (k->alg >= 0 && !(jwt_kty_algs(k->kty) & JWT_ALG_BIT(k->alg))) {
        jwt_key_fail(why, cap, "alg %s does not fit an %s key", jwt_alg_name((jwt_alg_t)k->alg),
                     jwt_kty_name(k->kty));
        return -1;
    }
    if (kid != NULL && (k->kid = strdup(json_string_value(kid))) == NULL) {
        jwt_key_fail(why, cap, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- key sets ---------------------------------------------------------------------------- */

jwt_keyset_t *jwt_keyset_secret(const void *secret, size_t len, jwt_err_t *err)
{
    jwt_keyset_t *ks = jwt_keyset_new(1, err);
    if (ks == NULL)
        return NULL;
    ks->keys[0].alg = -1;
    if (jwt_secret_key(&ks->keys[0], secret, len, err->msg, sizeof(err->msg)) != 0) {
        jwt_keyset_free(ks);
        return NULL;
    }
    ks->nkeys = 1;
    return ks;
}

jwt_keyset_t *jwt_keyset_pem(const char *pem, size_t len, jwt_err_t *err)
{
    if (len > INT32_MAX) {
        JWT_FAIL(err, "too large");
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    if (pk == NULL && bio != NULL && BIO_reset(bio) == 1) {
        X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        pk = cert ? X509_get_pubkey(cert) : NULL;
        X509_free(cert);
    }
    BIO_free(bio);
    ERR_clear_error();
    if (pk == NULL) {
        JWT_FAIL(err, "%s",
                 memmem(pem, len, "PRIVATE KEY-----", 16) != NULL
                     ? "holds a private key: give the public key (openssl pkey -pubout)"
                     : "holds no PEM PUBLIC KEY or CERTIFICATE");
        return NULL;
    }
    jwt_keyset_t *ks = jwt_keyset_new(1, err);
    if (ks == NULL) {
        EVP_PKEY_free(pk);
        return NULL;
    }
    ks->keys[0].alg = -1;
    ks->keys[0].pkey = pk;
    ks->nkeys = 1;
    if (jwt_pkey_kty(pk, &ks->keys[0].kty, err->msg, sizeof(err->msg)) != 0) {
        jwt_keyset_free(ks);
        return NULL;
    }
    return ks;
}

jwt_keyset_t *jwt_keyset_jwks(const char *json, size_t len, jwt_err_t *err)
{
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *keys = json_object_get(root, "keys"), *jwk;
    jwt_keyset_t *ks = NULL;
    size_t i;
    if (root == NULL || !json_is_object(root) || !json_is_array(keys)) {
        JWT_FAIL(err, "not a JWK Set (a JSON object with a \"keys\" array)");
        goto out;
    }
    if (json_array_size(keys) > JWT_MAX_KEYS) {
        JWT_FAIL(err, "more than %d keys", JWT_MAX_KEYS);
        goto out;
    }
    if ((ks = jwt_keyset_new(json_array_size(keys), err)) == NULL)
        goto out;
    json_array_foreach(keys, i, jwk)
    {
        char why[96];
        jwt_key_t *k = &ks->keys[ks->nkeys];
        if (jwt_jwk_parse(jwk, k, why, sizeof(why)) == 0) {
            ks->nkeys++;
            continue;
        }
        jwt_key_clear(k);
        if (ks->skipped++ == 0)
            snprintf(ks->skip_why, sizeof(ks->skip_why), "keys[%u]: %s", (unsigned)i, why);
    }
    if (ks->nkeys == 0) {
        if (ks->skipped)
            JWT_FAIL(err, "no usable signature key (%s)", ks->skip_why);
        else
            JWT_FAIL(err, "the keys array is empty");
        jwt_keyset_free(ks);
        ks = NULL;
    }
out:
    json_decref(root);
    return ks;
}
