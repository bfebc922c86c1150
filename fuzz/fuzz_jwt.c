/*
 * fuzz_jwt.c: libFuzzer target for the jwt_auth filter's parsers (modules/jwt_auth/jwt.c and
 * jwt_key.c), the code a client's token and a fetched JWKS reach. Every input goes to:
 *   - jwt_b64url_decode: what it accepts re-encodes (OpenSSL's base64, url alphabet, no
 *     padding) to the input exactly: one encoding per byte string;
 *   - jwt_decode, then jwt_key_find, jwt_verify and jwt_check_claims against keys made once
 *     (an HMAC secret and a JWKS of RSA, P-256, P-384 and Ed25519 keys): a decoded token has a
 *     known alg, JSON objects for header and claims, and its parts inside the input; the key
 *     found verifies that alg (seed hs256_claims is signed with the HMAC secret here, so the
 *     claims are reached past a good signature too);
 *   - jwt_check_claims on the input parsed as JSON (to reach the claim checks directly);
 *   - jwt_keyset_jwks and jwt_keyset_pem: a key set has 1..JWT_MAX_KEYS keys, each of a type
 *     that verifies its own alg.
 * Seeds: fuzz/corpus/jwt/; dictionary: fuzz/jwt.dict.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "jwt.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static jwt_keyset_t *fz_hmac, *fz_jwks;

/* base64url of n bytes into out (room for 4 * (n + 2) / 3 + 1), no padding. */
static size_t fz_b64url(const unsigned char *p, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    for (int i = 0; i < len; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    return (size_t)len;
}

/* The JWK members of a public key, appended to json. */
static void fz_jwk(EVP_PKEY *pk, const char *kid, char *json, size_t cap)
{
    unsigned char buf[600];
    char a[1024], b[1024];
    size_t n = 0, o = strlen(json);
    if (EVP_PKEY_is_a(pk, "RSA")) {
        BIGNUM *bn = NULL;
        EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &bn);
        a[fz_b64url(buf, (size_t)BN_bn2bin(bn, buf), a)] = '\0';
        BN_free(bn);
        snprintf(json + o, cap - o,
                 "%s{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"AQAB\"}", o > 9 ? "," : "",
                 kid, a);
    } else if (EVP_PKEY_is_a(pk, "EC")) {
        EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf, sizeof(buf),
                                        &n);
        size_t half = (n - 1) / 2;
        a[fz_b64url(buf + 1, half, a)] = '\0';
        b[fz_b64url(buf + 1 + half, half, b)] = '\0';
        snprintf(json + o, cap - o,
                 "%s{\"kty\":\"EC\",\"kid\":\"%s\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}",
                 o > 9 ? "," : "", kid, half == 32 ? "P-256" : "P-384", a, b);
    } else {
        n = sizeof(buf);
        EVP_PKEY_get_raw_public_key(pk, buf, &n);
        a[fz_b64url(buf, n, a)] = '\0';
        snprintf(json + o, cap - o,
                 "%s{\"kty\":\"OKP\",\"kid\":\"%s\",\"crv\":\"Ed25519\",\"x\":\"%s\"}",
                 o > 9 ? "," : "", kid, a);
    }
}

static void fz_setup(void)
{
    static const char *const kids[] = {"rsa", "p256", "p384", "ed"};
    EVP_PKEY *pk[4] = {EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048),
                       EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"),
                       EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"),
                       EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")};
    char json[8192] = "{\"keys\":[";
    jwt_err_t err;
    for (int i = 0; i < 4; i++) {
        CHECK(pk[i] != NULL);
        fz_jwk(pk[i], kids[i], json, sizeof(json));
        EVP_PKEY_free(pk[i]);
    }
    strncat(json, "]}", sizeof(json) - strlen(json) - 1);
    fz_jwks = jwt_keyset_jwks(json, strlen(json), &err);
    fz_hmac = jwt_keyset_secret("fuzz-secret-0123456789abcdef-0123456789", 39, &err);
    CHECK(fz_jwks != NULL && fz_jwks->nkeys == 4 && fz_hmac != NULL);
}

static const jwt_policy_t fz_policy = {
    .leeway = 30,
    .issuers = (const char *const[]){"https://idp"},
    .nissuers = 1,
    .audiences = (const char *const[]){"api", "web"},
    .naudiences = 2,
    .required = (const char *const[]){"sub"},
    .nrequired = 1,
};

static void fz_b64(const char *in, size_t n)
{
    unsigned char *out = malloc(n + 1);
    char *back = malloc(4 * (n + 2) / 3 + 8);
    size_t len;
    CHECK(out != NULL && back != NULL);
    if (jwt_b64url_decode(in, n, out, &len) == 0) {
        CHECK(len <= n * 3 / 4);
        CHECK(fz_b64url(out, len, back) == n && memcmp(back, in, n) == 0);
    }
    free(out);
    free(back);
}

static void fz_token(const char *in, size_t n)
{
    unsigned char *buf = malloc(n + 1);
    jwt_token_t t;
    jwt_err_t err;
    const jwt_key_t *k;
    CHECK(buf != NULL);
    if (jwt_decode(in, n, buf, &t, &err) == 0) {
        CHECK((unsigned)t.alg < JWT_NALGS);
        CHECK(json_is_object(t.header) && json_is_object(t.claims));
        CHECK(t.signing_input == in && t.signing_len < n && t.sig_len > 0);
        CHECK(t.sig >= buf && t.sig + t.sig_len <= buf + n);
        const jwt_keyset_t *sets[] = {fz_hmac, fz_jwks};
        for (int i = 0; i < 2; i++) {
            if (jwt_key_find(sets[i], &t, &k, &err) != JWT_KEY_FOUND)
                continue;
            CHECK(jwt_kty_algs(k->kty) & JWT_ALG_BIT(t.alg));
            (void)jwt_verify(k, t.alg, t.signing_input, t.signing_len, t.sig, t.sig_len, &err);
        }
        (void)jwt_check_claims(t.claims, &fz_policy, 1500000000.0, &err);
        jwt_token_free(&t);
    }
    free(buf);
}

static void fz_keys(const char *in, size_t n)
{
    jwt_err_t err;
    jwt_keyset_t *ks = jwt_keyset_jwks(in, n, &err);
    if (ks != NULL) {
        CHECK(ks->nkeys >= 1 && ks->nkeys <= JWT_MAX_KEYS);
        for (size_t i = 0; i < ks->nkeys; i++) {
            const jwt_key_t *k = &ks->keys[i];
            CHECK(k->alg < 0 || (jwt_kty_algs(k->kty) & JWT_ALG_BIT(k->alg)));
            CHECK((k->kty == JWT_KTY_OCT) == (k->secret != NULL) &&
                  (k->kty == JWT_KTY_OCT) == (k->pkey == NULL));
        }
        jwt_keyset_free(ks);
    }
    jwt_keyset_free(jwt_keyset_pem(in, n, &err));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    jwt_err_t err;
    if (fz_jwks == NULL)
        fz_setup();
    fz_b64(in, size);
    fz_token(in, size);
    json_t *claims = json_loadb(in, size, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(claims))
        (void)jwt_check_claims(claims, &fz_policy, 1500000000.0, &err);
    json_decref(claims);
    fz_keys(in, size);
    return 0;
}
