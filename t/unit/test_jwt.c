/*
 * test_jwt.c: the token and key functions of the jwt_auth filter (modules/jwt_auth/jwt.c and
 * jwt_key.c) without pyxis: strict base64url, token decoding, key sets from secrets, PEM and
 * JWKS, key choice, every algorithm's signature check (against RFC vectors where the RFCs have
 * them, else tokens signed here with keys made by OpenSSL), algorithm confusion, and the claims.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "jwt.h"
#include "px_tap.h"

/* ---- helpers: base64url encoding, signing, JWKs ------------------------------------------ */

static char *b64url(const void *p, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    int len = EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (char *c = out; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    return out;
}

static char *b64url_str(const char *s)
{
    return b64url(s, strlen(s));
}

static const char *const digests[] = {"SHA256", "SHA384", "SHA512"};

/* The raw JWS signature of `in` by pk (or the HMAC secret) for alg. */
static unsigned char *sign(jwt_alg_t alg, EVP_PKEY *pk, const char *secret, const char *in,
                           size_t *len)
{
    unsigned char *sig = malloc(1024), der[256];
    size_t dl = sizeof(der);
    const char *md = alg == JWT_EDDSA   ? NULL
                     : alg == JWT_ES256 ? "SHA256"
                     : alg == JWT_ES384 ? "SHA384"
                                        : digests[alg % 3];
    if (alg <= JWT_HS512) {
        EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, secret, strlen(secret), (const void *)in,
                  strlen(in), sig, 1024, len);
        return sig;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    EVP_DigestSignInit_ex(ctx, &pctx, md, NULL, NULL, pk, NULL);
    if (alg >= JWT_PS256 && alg <= JWT_PS512) {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    if (alg == JWT_ES256 || alg == JWT_ES384) {
        EVP_DigestSign(ctx, der, &dl, (const void *)in, strlen(in));
        const unsigned char *p = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dl);
        int half = alg == JWT_ES256 ? 32 : 48;
        BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, half);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + half, half);
        *len = (size_t)(2 * half);
        ECDSA_SIG_free(es);
    } else {
        *len = 1024;
        EVP_DigestSign(ctx, sig, len, (const void *)in, strlen(in));
    }
    EVP_MD_CTX_free(ctx);
    return sig;
}

/* header.claims.signature for the given JSON texts. */
static char *token(jwt_alg_t alg, EVP_PKEY *pk, const char *secret, const char *header,
                   const char *claims)
{
    char *h = b64url_str(header), *c = b64url_str(claims);
    char *in = malloc(strlen(h) + strlen(c) + 2);
    sprintf(in, "%s.%s", h, c);
    size_t sl;
    unsigned char *sig = sign(alg, pk, secret, in, &sl);
    char *s = b64url(sig, sl), *t = malloc(strlen(in) + strlen(s) + 2);
    sprintf(t, "%s.%s", in, s);
    free(h);
    free(c);
    free(in);
    free(sig);
    free(s);
    return t;
}

/* A JWK of pk's public key, with kid (and alg when not NULL). */
static char *jwk(EVP_PKEY *pk, const char *kid, const char *alg)
{
    char *out = malloc(4096), extra[128] = "";
    unsigned char buf[600];
    size_t n = 0;
    if (alg != NULL)
        snprintf(extra, sizeof(extra), ",\"alg\":\"%s\"", alg);
    if (EVP_PKEY_is_a(pk, "RSA")) {
        BIGNUM *bn = NULL, *be = NULL;
        EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &bn);
        EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &be);
        unsigned char nb[512], eb[8];
        int nl = BN_bn2bin(bn, nb), el = BN_bn2bin(be, eb);
        char *n64 = b64url(nb, (size_t)nl), *e64 = b64url(eb, (size_t)el);
        snprintf(out, 4096, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"%s}", kid,
                 n64, e64, extra);
        free(n64);
        free(e64);
        BN_free(bn);
        BN_free(be);
    } else if (EVP_PKEY_is_a(pk, "EC")) {
        EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf, sizeof(buf),
                                        &n);
        size_t half = (n - 1) / 2;
        char *x = b64url(buf + 1, half), *y = b64url(buf + 1 + half, half);
        snprintf(out, 4096,
                 "{\"kty\":\"EC\",\"kid\":\"%s\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s}", kid,
                 half == 32 ? "P-256" : "P-384", x, y, extra);
        free(x);
        free(y);
    } else {
        n = sizeof(buf);
        EVP_PKEY_get_raw_public_key(pk, buf, &n);
        char *x = b64url(buf, n);
        snprintf(out, 4096, "{\"kty\":\"OKP\",\"kid\":\"%s\",\"crv\":\"Ed25519\",\"x\":\"%s\"%s}",
                 kid, x, extra);
        free(x);
    }
    return out;
}

static jwt_keyset_t *jwks(const char *text)
{
    jwt_err_t err = {""};
    jwt_keyset_t *ks = jwt_keyset_jwks(text, strlen(text), &err);
    if (ks == NULL)
        printf("#   jwks: %s\n", err.msg);
    return ks;
}

/* Decode, find the key, verify, check claims at `now`; 0 or -1 with err. */
static int check(const jwt_keyset_t *ks, const char *tok, const jwt_policy_t *p, double now,
                 jwt_err_t *err)
{
    static const jwt_policy_t none = {0};
    size_t len = strlen(tok);
    unsigned char *buf = malloc(len + 1);
    jwt_token_t t;
    const jwt_key_t *k;
    int rc = -1;
    err->msg[0] = '\0';
    if (jwt_decode(tok, len, buf, &t, err) != 0) {
        free(buf);
        return -1;
    }
    if (jwt_key_find(ks, &t, &k, err) == JWT_KEY_FOUND &&
        jwt_verify(k, t.alg, t.signing_input, t.signing_len, t.sig, t.sig_len, err) == 0 &&
        jwt_check_claims(t.claims, p ? p : &none, now, err) == 0)
        rc = 0;
    jwt_token_free(&t);
    free(buf);
    return rc;
}

#define accepted(ks, tok, p, now, ...)                                                             \
    do {                                                                                           \
        jwt_err_t e_;                                                                              \
        if (!ok(check(ks, tok, p, now, &e_) == 0, __VA_ARGS__))                                    \
            printf("#   refused: %s\n", e_.msg);                                                   \
    } while (0)

#define refused(ks, tok, p, now, why, ...)                                                         \
    do {                                                                                           \
        jwt_err_t e_;                                                                              \
        int r_ = check(ks, tok, p, now, &e_);                                                      \
        if (!ok(r_ != 0 && strstr(e_.msg, why) != NULL, __VA_ARGS__))                              \
            printf("#   got: %s '%s', expected: '%s'\n", r_ ? "refused" : "accepted", e_.msg,      \
                   why);                                                                           \
    } while (0)

/* ---- base64url --------------------------------------------------------------------------- */

static void test_b64url(void)
{
    static const struct {
        const char *in, *out;
    } good[] = {{"", ""},        {"Zg", "f"},        {"Zm8", "fo"},
                {"Zm9v", "foo"}, {"Zm9vYg", "foob"}, {"-_8", "\xfb\xff"}};
    static const char *const bad[] = {"Zg==", "Zh",    "Zm9",    "Z",     "Zm9v+",
                                      "Zm/v", "Zm 9v", "Zm9v\n", "Zm9v=", "Zm\x80v"};
    unsigned char out[16];
    size_t n;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int rc = jwt_b64url_decode(good[i].in, strlen(good[i].in), out, &n);
        ok(rc == 0 && n == strlen(good[i].out) && memcmp(out, good[i].out, n) == 0,
           "base64url '%s' decodes", good[i].in);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ok(jwt_b64url_decode(bad[i], strlen(bad[i]), out, &n) != 0,
           "base64url refuses bad input #%zu (padding, trailing bits, length, alphabet)", i);
}

/* ---- RFC vectors ------------------------------------------------------------------------- */

/* RFC 7515 appendix A.1: HS256. */
static void test_rfc7515_hs256(void)
{
    static const char k64[] =
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    static const char tok[] =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQog"
        "Imh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_"
        "wW1gFWFOEjXk";
    unsigned char key[64];
    size_t kl;
    jwt_err_t err;
    ok(jwt_b64url_decode(k64, strlen(k64), key, &kl) == 0, "RFC 7515 A.1 key decodes");
    jwt_keyset_t *ks = jwt_keyset_secret(key, kl, &err);
    jwt_policy_t joe = {.issuers = (const char *const[]){"joe"}, .nissuers = 1};
    accepted(ks, tok, &joe, 1300819379, "RFC 7515 A.1 HS256 token verifies before exp");
    refused(ks, tok, NULL, 1300819380, "expired", "... and is expired at exp");
    char *bad = strdup(tok);
    bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'j' ? 'k' : 'j';
    refused(ks, bad, NULL, 1300819379, "", "... one changed signature character: refused");
    free(bad);
    jwt_keyset_free(ks);
}

/* RFC 8037 appendix A.4 signs a payload that is not JSON: checked at the signature level. */
static void test_rfc8037_ed25519(void)
{
    static const char jwks_text[] = "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":"
                                    "\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";
    static const char in[] = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    static const char sig64[] =
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    unsigned char sig[64];
    size_t sl;
    jwt_err_t err;
    jwt_keyset_t *ks = jwks(jwks_text);
    ok(ks != NULL && ks->nkeys == 1 && ks->keys[0].kty == JWT_KTY_ED25519,
       "RFC 8037 A.4 Ed25519 JWK");
    jwt_b64url_decode(sig64, strlen(sig64), sig, &sl);
    ok(ks && jwt_verify(&ks->keys[0], JWT_EDDSA, in, strlen(in), sig, sl, &err) == 0,
       "RFC 8037 A.4 signature verifies");
    sig[10] ^= 1;
    ok(ks && jwt_verify(&ks->keys[0], JWT_EDDSA, in, strlen(in), sig, sl, &err) != 0,
       "... and not with one bit changed");
    jwt_keyset_free(ks);
}

/* ---- every algorithm, round trip --------------------------------------------------------- */

static EVP_PKEY *rsa, *p256, *p384, *ed;

static void test_algorithms(void)
{
    static const char secret[] = "0123456789abcdef0123456789abcdef-secret";
    jwt_err_t err;
    jwt_keyset_t *hs = jwt_keyset_secret(secret, strlen(secret), &err);
    char *keys[4] = {jwk(rsa, "r", NULL), jwk(p256, "e256", NULL), jwk(p384, "e384", NULL),
                     jwk(ed, "ed", NULL)};
    char set[8192];
    snprintf(set, sizeof(set), "{\"keys\":[%s,%s,%s,%s]}", keys[0], keys[1], keys[2], keys[3]);
    jwt_keyset_t *ks = jwks(set);
    ok(ks != NULL && ks->nkeys == 4 && ks->skipped == 0, "a JWKS of RSA, P-256, P-384, Ed25519");
    static const char *const kids[JWT_NALGS] = {
        [JWT_RS256] = "r",    [JWT_RS384] = "r",    [JWT_RS512] = "r",
        [JWT_PS256] = "r",    [JWT_PS384] = "r",    [JWT_PS512] = "r",
        [JWT_ES256] = "e256", [JWT_ES384] = "e384", [JWT_EDDSA] = "ed"};
    for (int a = 0; a < JWT_NALGS; a++) {
        char header[96];
        EVP_PKEY *pk = a <= JWT_HS512   ? NULL
                       : a <= JWT_PS512 ? rsa
                       : a == JWT_ES256 ? p256
                       : a == JWT_ES384 ? p384
                                        : ed;
        const jwt_keyset_t *set_for = a <= JWT_HS512 ? hs : ks;
        if (a <= JWT_HS512)
            snprintf(header, sizeof(header), "{\"alg\":\"%s\"}", jwt_alg_name((jwt_alg_t)a));
        else
            snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"kid\":\"%s\"}",
                     jwt_alg_name((jwt_alg_t)a), kids[a]);
        char *t = token((jwt_alg_t)a, pk, secret, header, "{\"sub\":\"alice\"}");
        char name[64];
        snprintf(name, sizeof(name), "%s: a token verifies", jwt_alg_name((jwt_alg_t)a));
        accepted(set_for, t, NULL, 0, "%s", name);
        /* one character of the signature changed */
        char *sig = strrchr(t, '.') + 1;
        sig[4] = sig[4] == 'A' ? 'B' : 'A';
        snprintf(name, sizeof(name), "%s: a changed signature is refused",
                 jwt_alg_name((jwt_alg_t)a));
        refused(set_for, t, NULL, 0, "bad signature", "%s", name);
        free(t);
    }
    for (int i = 0; i < 4; i++)
        free(keys[i]);
    jwt_keyset_free(hs);
    jwt_keyset_free(ks);
}

/* ---- algorithm confusion ----------------------------------------------------------------- */

static void test_confusion(void)
{
    jwt_err_t err;
    /* The RSA public key's PEM text used as an HMAC secret: the classic confusion attack. */
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, rsa);
    char *pem;
    long pl = BIO_get_mem_data(bio, &pem);
    jwt_keyset_t *pk = jwt_keyset_pem(pem, (size_t)pl, &err);
    ok(pk != NULL && pk->keys[0].kty == JWT_KTY_RSA, "a PEM RSA public key");
    char *secret = strndup(pem, (size_t)pl);
    char *t = token(JWT_HS256, NULL, secret, "{\"alg\":\"HS256\"}", "{}");
    refused(pk, t, NULL, 0, "no key verifies HS256",
            "HS256 signed with the RSA key's PEM: refused");
    ok(jwt_verify(&pk->keys[0], JWT_HS256, "a", 1, (const unsigned char *)"x", 32, &err) != 0 &&
           strstr(err.msg, "cannot be verified with an RSA key") != NULL,
       "jwt_verify itself refuses HS256 with an RSA key");
    free(t);
    free(secret);
    t = token(JWT_ES256, p256, NULL, "{\"alg\":\"ES256\"}", "{}");
    refused(pk, t, NULL, 0, "no key verifies ES256", "ES256 against an RSA key: refused");
    free(t);
    BIO_free(bio);
    jwt_keyset_free(pk);

    /* A JWK's own alg limits it: an RSA key marked RS256 does not verify PS256. */
    char *k = jwk(rsa, "r", "RS256"), set[4096];
    snprintf(set, sizeof(set), "{\"keys\":[%s]}", k);
    jwt_keyset_t *ks = jwks(set);
    t = token(JWT_PS256, rsa, NULL, "{\"alg\":\"PS256\",\"kid\":\"r\"}", "{}");
    refused(ks, t, NULL, 0, "does not verify PS256", "a JWK with alg RS256 does not verify PS256");
    free(t);
    t = token(JWT_RS256, rsa, NULL, "{\"alg\":\"RS256\",\"kid\":\"r\"}", "{}");
    accepted(ks, t, NULL, 0, "... but does verify RS256");
    free(t);
    free(k);
    /* ES384 signature length against a P-256 key: the key type decides. */
    k = jwk(p256, "e", NULL);
    snprintf(set, sizeof(set), "{\"keys\":[%s]}", k);
    jwt_keyset_free(ks);
    ks = jwks(set);
    t = token(JWT_ES384, p384, NULL, "{\"alg\":\"ES384\",\"kid\":\"e\"}", "{}");
    refused(ks, t, NULL, 0, "does not verify ES384", "ES384 with a P-256 key: refused");
    free(t);
    free(k);
    jwt_keyset_free(ks);

    /* alg none, in every spelling that is not a supported algorithm */
    jwt_keyset_t *hs = jwt_keyset_secret("0123456789abcdef0123456789abcdef", 32, &err);
    static const char *const nones[] = {"eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJub25lIn0.e30.eA",
                                        "eyJhbGciOiJOb25lIn0.e30.eA", "eyJhbGciOiIifQ.e30.eA"};
    refused(hs, nones[0], NULL, 0, "alg none is refused", "alg none with an empty signature");
    refused(hs, nones[1], NULL, 0, "alg none is refused", "alg none with a signature");
    refused(hs, nones[2], NULL, 0, "unsupported alg", "alg None");
    refused(hs, nones[3], NULL, 0, "unsupported alg", "alg \"\"");
    jwt_keyset_free(hs);
}

/* ---- decoding ---------------------------------------------------------------------------- */

static void test_decode(void)
{
    static const char secret[] = "0123456789abcdef0123456789abcdef";
    jwt_err_t err;
    jwt_keyset_t *hs = jwt_keyset_secret(secret, strlen(secret), &err);
    static const struct {
        const char *header, *claims, *why, *name;
    } cases[] = {
        {"{\"alg\":\"HS256\",\"alg\":\"HS256\"}", "{}", "header is not a JSON object",
         "a duplicate header member"},
        {"{\"alg\":\"HS256\"}", "{\"a\":1,\"a\":2}", "payload is not a JSON object",
         "a duplicate claim"},
        {"[\"HS256\"]", "{}", "header is not a JSON object", "a header that is an array"},
        {"{\"alg\":\"HS256\"}", "\"x\"", "payload is not a JSON object", "a payload string"},
        {"{\"alg\":\"HS256\"}", "{", "payload is not a JSON object", "truncated JSON"},
        {"{}", "{}", "no alg", "no alg"},
        {"{\"alg\":256}", "{}", "alg is not a string", "alg a number"},
        {"{\"alg\":\"HS256\",\"kid\":7}", "{}", "kid is not a string", "kid a number"},
        {"{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", "{}", "crit",
         "a critical extension"},
        {"{\"alg\":\"HS256\"}", "{\"a\":\"\\u0000\"}", "payload is not a JSON object",
         "a NUL in a claim"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = token(JWT_HS256, NULL, secret, cases[i].header, cases[i].claims);
        refused(hs, t, NULL, 0, cases[i].why, "%s", cases[i].name);
        free(t);
    }
    char *t = token(JWT_HS256, NULL, secret, "{\"alg\":\"HS256\"}", "{\"sub\":\"a\"}");
    accepted(hs, t, NULL, 0, "the control token verifies");
    char *d = strchr(t, '.');
    static const char *const shapes[] = {"",          "abc", "a.b",     "a.b.c.d",
                                         "a.b.c.d.e", "..",  "e30.e30."};
    static const char *const shape_why[] = {"three parts",     "three parts",     "three parts",
                                            "more than three", "more than three", "header",
                                            "no alg"};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        refused(hs, shapes[i], NULL, 0, shape_why[i], "malformed shape #%zu", i);
    /* padding, the standard alphabet, a truncated token */
    char *padded = malloc(strlen(t) + 3);
    sprintf(padded, "%.*s==%s", (int)(d - t), t, d);
    refused(hs, padded, NULL, 0, "header is not base64url", "a padded header");
    sprintf(padded, "%s", t);
    padded[strlen(padded) - 1] = '\0';
    refused(hs, padded, NULL, 0, "", "a token missing its last character");
    sprintf(padded, "%s", t);
    *strrchr(padded, '.') = '\0';
    refused(hs, padded, NULL, 0, "three parts", "a token without its signature part");
    sprintf(padded, "%s", t);
    *(strrchr(padded, '.') + 1) = '\0';
    refused(hs, padded, NULL, 0, "signature is empty", "an empty signature");
    sprintf(padded, "%s", t);
    padded[3] = '+';
    refused(hs, padded, NULL, 0, "not base64url", "a '+' in the header");
    free(padded);
    free(t);
    jwt_keyset_free(hs);
}

/* ---- key sets ---------------------------------------------------------------------------- */

static void test_keysets(void)
{
    jwt_err_t err;
    ok(jwt_keyset_secret("short", 5, &err) == NULL && strstr(err.msg, "at least 32") != NULL,
       "a 5-byte secret is refused");
    static const struct {
        const char *text, *why, *name;
    } bad[] = {
        {"[]", "not a JWK Set", "a JSON array"},
        {"{\"keys\":{}}", "not a JWK Set", "keys not an array"},
        {"{\"keys\":[]}", "keys array is empty", "no keys"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
         "use is not", "only an encryption key"},
        {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}]}",
         "crv is not P-256", "P-521"},
        {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" /* 32 zero bytes: no point */
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"y\":\""
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}",
         "not a point", "a point not on the curve"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", "do not make an RSA",
         "a 17-bit RSA modulus"},
        {"{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}]}", "at least 32", "a short oct key"},
        {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AA\"}]}", "not Ed25519",
         "an X25519 key"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"n\":7,\"e\":\"AQAB\"}]}", "n is not a string",
         "n a number"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"A=\",\"e\":\"AQAB\"}]}", "n is not base64url",
         "n padded"},
        {"{\"keys\":[{\"kty\":\"XYZ\"}]}", "kty is not", "an unknown kty"},
        {"{\"keys\":[{\"kty\":\"oct\",\"alg\":\"RS256\",\"k\":"
         "\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}]}",
         "does not fit", "an oct key marked RS256"},
        {"{\"keys\":[{\"kty\":\"oct\",\"key_ops\":[\"sign\"],\"k\":"
         "\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}]}",
         "key_ops", "key_ops without verify"},
        {"{\"keys\":[1]}", "not an object", "a key that is a number"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        jwt_keyset_t *ks = jwt_keyset_jwks(bad[i].text, strlen(bad[i].text), &err);
        if (!ok(ks == NULL && strstr(err.msg, bad[i].why) != NULL, "JWKS refused: %s", bad[i].name))
            printf("#   got: %s\n", ks ? "a key set" : err.msg);
        jwt_keyset_free(ks);
    }
    char big[8192] = "{\"keys\":[";
    for (int i = 0; i <= JWT_MAX_KEYS; i++)
        strcat(big, i ? ",{}" : "{}");
    strcat(big, "]}");
    ok(jwt_keyset_jwks(big, strlen(big), &err) == NULL && strstr(err.msg, "more than") != NULL,
       "a JWKS with more than %d keys is refused", JWT_MAX_KEYS);
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    char *sk = jwk(small, "small", NULL), sset[4096];
    snprintf(sset, sizeof(sset), "{\"keys\":[%s]}", sk);
    ok(jwt_keyset_jwks(sset, strlen(sset), &err) == NULL &&
           strstr(err.msg, "at least 2048") != NULL,
       "a 1024-bit RSA key is refused");
    free(sk);
    EVP_PKEY_free(small);

    /* skipped entries are counted, usable ones kept */
    char *k = jwk(p256, "good", NULL), set[4096];
    snprintf(set, sizeof(set),
             "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\"},%s,{\"kty\":\"EC\",\"crv\":\"P-521\"}]}",
             k);
    jwt_keyset_t *ks = jwks(set);
    ok(ks != NULL && ks->nkeys == 1 && ks->skipped == 2 && strcmp(ks->keys[0].kid, "good") == 0 &&
           strstr(ks->skip_why, "keys[0]: use is not") != NULL,
       "a JWKS with one usable key among three: one kept, two skipped (the first reason kept)");
    jwt_keyset_free(ks);
    free(k);

    /* PEM: a private key and garbage are refused */
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, p256, NULL, NULL, 0, NULL, NULL);
    char *pem;
    long pl = BIO_get_mem_data(bio, &pem);
    ok(jwt_keyset_pem(pem, (size_t)pl, &err) == NULL && strstr(err.msg, "private key") != NULL,
       "a PEM private key is refused");
    BIO_free(bio);
    ok(jwt_keyset_pem("hello", 5, &err) == NULL && strstr(err.msg, "no PEM") != NULL,
       "text without PEM is refused");
}

/* ---- choosing a key ---------------------------------------------------------------------- */

static void test_key_find(void)
{
    char *a = jwk(p256, "a", NULL), *b = jwk(p256, "b", NULL), set[4096];
    snprintf(set, sizeof(set), "{\"keys\":[%s,%s]}", a, b);
    jwt_keyset_t *ks = jwks(set);
    jwt_err_t err;
    char *t = token(JWT_ES256, p256, NULL, "{\"alg\":\"ES256\",\"kid\":\"b\"}", "{}");
    accepted(ks, t, NULL, 0, "the kid picks the key");
    free(t);
    t = token(JWT_ES256, p256, NULL, "{\"alg\":\"ES256\",\"kid\":\"c\"}", "{}");
    unsigned char buf[1024];
    jwt_token_t tok;
    const jwt_key_t *k;
    jwt_decode(t, strlen(t), buf, &tok, &err);
    is_int(jwt_key_find(ks, &tok, &k, &err), JWT_KEY_UNKNOWN_KID, "an unknown kid is reported");
    jwt_token_free(&tok);
    free(t);
    t = token(JWT_ES256, p256, NULL, "{\"alg\":\"ES256\"}", "{}");
    refused(ks, t, NULL, 0, "no kid and 2 keys", "no kid, two keys that fit: refused");
    free(t);
    jwt_keyset_free(ks);
    snprintf(set, sizeof(set), "{\"keys\":[%s]}", a);
    ks = jwks(set);
    t = token(JWT_ES256, p256, NULL, "{\"alg\":\"ES256\"}", "{}");
    accepted(ks, t, NULL, 0, "no kid, the only key that fits: used");
    free(t);
    jwt_keyset_free(ks);
    free(a);
    free(b);
}

/* ---- claims ------------------------------------------------------------------------------ */

static void test_claims(void)
{
    static const char secret[] = "0123456789abcdef0123456789abcdef";
    jwt_err_t err;
    jwt_keyset_t *hs = jwt_keyset_secret(secret, strlen(secret), &err);
    jwt_policy_t p = {
        .leeway = 30,
        .issuers = (const char *const[]){"https://idp", "https://idp2"},
        .nissuers = 2,
        .audiences = (const char *const[]){"api"},
        .naudiences = 1,
        .required = (const char *const[]){"sub", "scope"},
        .nrequired = 2,
    };
    static const struct {
        const char *claims, *why; /* why NULL: accepted */
        const char *name;
    } cases[] = {
        {"{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\",\"scope\":\"x\",\"exp\":2000,"
         "\"nbf\":1000,\"iat\":1000}",
         NULL, "all claims good"},
        {"{\"iss\":\"https://idp2\",\"aud\":[\"other\",\"api\"],\"sub\":\"a\",\"scope\":1}", NULL,
         "the second issuer, aud an array"},
        {"{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\",\"scope\":\"x\",\"exp\":1480}",
         NULL, "exp 20 s ago, within the leeway"},
        {"{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\",\"scope\":\"x\",\"exp\":1470}",
         "expired", "exp 30 s ago: expired"},
        {"{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\",\"scope\":\"x\",\"nbf\":1531}",
         "not valid yet", "nbf beyond the leeway"},
        {"{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\",\"scope\":\"x\",\"nbf\":1530}",
         NULL, "nbf within the leeway"},
        {"{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\",\"scope\":\"x\",\"iat\":9999}",
         "issued in the future", "iat in the future"},
        {"{\"iss\":\"https://evil\",\"aud\":\"api\",\"sub\":\"a\",\"scope\":\"x\"}",
         "not an accepted issuer", "another issuer"},
        {"{\"aud\":\"api\",\"sub\":\"a\",\"scope\":\"x\"}", "iss is missing", "no issuer"},
        {"{\"iss\":\"https://idp\",\"aud\":\"web\",\"sub\":\"a\",\"scope\":\"x\"}",
         "none of the accepted audiences", "another audience"},
        {"{\"iss\":\"https://idp\",\"aud\":[],\"sub\":\"a\",\"scope\":\"x\"}",
         "none of the accepted audiences", "an empty aud array"},
        {"{\"iss\":\"https://idp\",\"sub\":\"a\",\"scope\":\"x\"}", "aud is missing", "no aud"},
        {"{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\"}", "scope is missing",
         "a required claim missing"},
        {"{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\",\"scope\":null}",
         "scope is missing", "a required claim null"},
        {"{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\",\"scope\":1,\"exp\":\"2000\"}",
         "exp is not a number", "exp a string"},
        {"{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\",\"scope\":1,\"nbf\":true}",
         "nbf is not a number", "nbf a boolean"},
        {"{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\",\"scope\":1,\"iat\":[1]}",
         "iat is not a number", "iat an array"},
        {"{\"iss\":[\"https://idp\"],\"aud\":\"api\",\"sub\":\"a\",\"scope\":1}",
         "iss is not a string", "iss an array"},
        {"{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":42,\"scope\":1}", "sub is not a string",
         "sub a number"},
        {"{\"iss\":\"https://idp\",\"aud\":[\"api\",7],\"sub\":\"a\",\"scope\":1}", "not a string",
         "aud holding a number"},
        {"{\"iss\":\"https://idp\",\"aud\":{\"a\":1},\"sub\":\"a\",\"scope\":1}",
         "neither a string", "aud an object"},
        {"{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"a\",\"scope\":1,\"jti\":{}}",
         "jti is not a string", "jti an object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = token(JWT_HS256, NULL, secret, "{\"alg\":\"HS256\"}", cases[i].claims);
        if (cases[i].why == NULL)
            accepted(hs, t, &p, 1500, "%s", cases[i].name);
        else
            refused(hs, t, &p, 1500, cases[i].why, "%s", cases[i].name);
        free(t);
    }
    jwt_keyset_free(hs);
}

int main(void)
{
    plan_no_plan();
    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    ok(rsa && p256 && p384 && ed, "test keys made");
    test_b64url();
    test_rfc7515_hs256();
    test_rfc8037_ed25519();
    test_algorithms();
    test_confusion();
    test_decode();
    test_keysets();
    test_key_find();
    test_claims();
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ed);
    return done_testing();
}
