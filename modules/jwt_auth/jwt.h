/*
 * jwt.h: JSON Web Tokens (RFC 7519) in JWS compact form (RFC 7515), checked with OpenSSL 3 and
 * jansson. No pyxis header here: the jwt_auth filter (jwt_auth.c), its unit test
 * (t/unit/test_jwt.c) and its fuzz target (fuzz/fuzz_jwt.c) all link jwt.c and jwt_key.c.
 *
 * The steps a filter takes, each a function below:
 *   1. jwt_decode():       split the token, decode its parts (strict base64url), parse the
 *                          header and the claims (JSON objects), read `alg` and `kid`;
 *   2. jwt_key_find():     choose the key of a key set (jwt_keyset_*) that may verify it;
 *   3. jwt_verify():       check the signature with that key (the key's type must fit the
 *                          algorithm: no HS256 with an RSA key, no `none`);
 *   4. jwt_check_claims(): exp, nbf, iat (with leeway), iss, aud, required claims, and the
 *                          JSON types of the registered claims.
 *
 * Errors are reported in a jwt_err_t as one line of fixed text and numbers: never a byte of the
 * token (claims, signature) and never key material, so a caller may log it as it is.
 *
 * Memory: key sets are malloc'd (jwt_keyset_free); a decoded token's JSON is jansson's (malloc,
 * released by jwt_token_free); its decoded bytes live in a buffer the caller provides. Nothing
 * here keeps global state: any thread may call any function, and key sets are read-only once
 * made, so threads may share one.
 */
#ifndef JWT_H
#define JWT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

/* The algorithms (RFC 7518, RFC 8037). `none` is not one of them: it is always refused. */
typedef enum {
    JWT_HS256 = 0,
    JWT_HS384,
    JWT_HS512,
    JWT_RS256,
    JWT_RS384,
    JWT_RS512,
    JWT_PS256,
    JWT_PS384,
    JWT_PS512,
    JWT_ES256,
    JWT_ES384,
    JWT_EDDSA, /* Ed25519 only */
    JWT_NALGS
} jwt_alg_t;

#define JWT_ALG_BIT(a) (1u << (a))
#define JWT_ALGS_ALL   ((1u << JWT_NALGS) - 1)

/* Key types; each verifies the algorithms jwt_kty_algs() names and no others. */
typedef enum {
    JWT_KTY_OCT = 0, /* an HMAC secret: HS256/384/512 */
    JWT_KTY_RSA,     /* RS* and PS* (2048 bits or more) */
    JWT_KTY_P256,    /* ES256 */
    JWT_KTY_P384,    /* ES384 */
    JWT_KTY_ED25519, /* EdDSA */
} jwt_kty_t;

/* An HMAC secret must have at least this many bytes (256 bits). */
#define JWT_MIN_SECRET 32
/* An RSA key must have at least this many bits. */
#define JWT_MIN_RSA_BITS 2048
/* A JWKS may hold at most this many keys. */
#define JWT_MAX_KEYS 100

typedef struct {
    char msg[160];
} jwt_err_t;

/* "HS256", ...; static. */
const char *jwt_alg_name(jwt_alg_t alg);
/* The algorithm named by the n bytes at s, or -1 (unknown, or "none"). */
int jwt_alg_parse(const char *s, size_t n);
/* The algorithms a key of this type verifies, as a mask of JWT_ALG_BIT. */
unsigned jwt_kty_algs(jwt_kty_t kty);
/* "oct", "RSA", "EC P-256", ...; static. */
const char *jwt_kty_name(jwt_kty_t kty);

/* Strict base64url (RFC 4648 section 5, RFC 7515 section 2): the url alphabet only, no padding,
 * no whitespace, zero bits after the last byte. `out` has room for len * 3 / 4 bytes. 0 and
 * *outlen set, or -1. */
int jwt_b64url_decode(const char *in, size_t len, unsigned char *out, size_t *outlen);

/* ---- keys (jwt_key.c) -------------------------------------------------------------------- */

typedef struct {
    jwt_kty_t kty;
    int alg;        /* the JWK's "alg" (a jwt_alg_t): the only one it verifies; -1: no "alg" */
    char *kid;      /* NUL-terminated; NULL when the key has none */
    EVP_PKEY *pkey; /* RSA, EC and Ed25519 keys */
    unsigned char *secret; /* JWT_KTY_OCT */
    size_t secret_len;
} jwt_key_t;

typedef struct {
    jwt_key_t *keys;
    size_t nkeys;
    size_t skipped;     /* JWKS entries left out: another use, an unsupported type or bad fields */
    char skip_why[128]; /* why the first of them was left out ("" when none was) */
} jwt_keyset_t;

/* One key: an HMAC secret of at least JWT_MIN_SECRET bytes. NULL and *err on failure. */
jwt_keyset_t *jwt_keyset_secret(const void *secret, size_t len, jwt_err_t *err);
/* One key from PEM text: a PUBLIC KEY (SubjectPublicKeyInfo: RSA, EC P-256/P-384 or Ed25519)
 * or a CERTIFICATE holding one. A private key is refused. */
jwt_keyset_t *jwt_keyset_pem(const char *pem, size_t len, jwt_err_t *err);
/* The keys of a JWK Set (RFC 7517 section 5): {"keys": [...]}. Entries with "use" other than
 * "sig", "key_ops" without "verify", an unsupported kty or crv, or fields that do not make a
 * valid key are left out (counted in `skipped`); a set with no usable key, more than
 * JWT_MAX_KEYS entries, or that is not such a JSON object is an error. */
jwt_keyset_t *jwt_keyset_jwks(const char *json, size_t len, jwt_err_t *err);
void jwt_keyset_free(jwt_keyset_t *ks);

/* ---- tokens (jwt.c) ---------------------------------------------------------------------- */

typedef struct {
    jwt_alg_t alg;
    const char *kid; /* NUL-terminated, owned by `header`; NULL when the header has none */
    json_t *header;  /* a JSON object */
    json_t *claims;  /* a JSON object */
    const char *signing_input; /* the token up to its second '.': what the signature covers */
    size_t signing_len;
    const unsigned char *sig; /* the decoded signature, in the caller's buffer */
    size_t sig_len;
} jwt_token_t;

/* Decode the len bytes at tok into *t. `buf` is scratch of at least `len` bytes, which must
 * outlive *t. The header must be a JSON object with a supported "alg" (a string), an optional
 * "kid" (a string) and no "crit"; the claims a JSON object. Duplicate member names are refused
 * in both. 0, or -1 with *err (then *t holds nothing to free). */
int jwt_decode(const char *tok, size_t len, unsigned char *buf, jwt_token_t *t, jwt_err_t *err);
/* Release what jwt_decode made (safe on a zeroed *t). */
void jwt_token_free(jwt_token_t *t);

typedef enum {
    JWT_KEY_FOUND = 0,
    JWT_KEY_UNKNOWN_KID = 1, /* the token names a kid no key has (a newer key set may) */
    JWT_KEY_NONE = 2,        /* no key fits (type, alg), or several do and the token has no kid */
} jwt_key_rc_t;

/* The key that verifies t: with a kid, the first key having that kid and fitting t's alg (keys
 * without a kid stand in for any kid when no key has it: a single PEM key or secret); without
 * a kid, the only key that fits t's alg. A key fits when its type verifies the algorithm and
 * its own "alg", if any, is the same. */
jwt_key_rc_t jwt_key_find(const jwt_keyset_t *ks, const jwt_token_t *t, const jwt_key_t **key,
                          jwt_err_t *err);

/* Does sig (sig_len bytes) sign the in_len bytes at in with key k and algorithm alg? The key
 * must fit alg (else refused as well). ECDSA signatures are JWS's raw r||s. 0 yes, -1 no. */
int jwt_verify(const jwt_key_t *k, jwt_alg_t alg, const void *in, size_t in_len,
               const unsigned char *sig, size_t sig_len, jwt_err_t *err);

/* What jwt_check_claims() requires. Strings are NUL-terminated. */
typedef struct {
    int64_t leeway;             /* seconds of clock skew allowed for exp, nbf and iat */
    const char *const *issuers; /* when nissuers > 0: iss must be one of them */
    size_t nissuers;
    const char *const *audiences; /* when naudiences > 0: aud (a string or an array of
                                     strings) must hold one of them */
    size_t naudiences;
    const char *const *required; /* claims that must be present (and not null) */
    size_t nrequired;
} jwt_policy_t;

/* Check the claims at time `now` (seconds since the epoch). Registered claims of the wrong
 * JSON type are refused whether the policy asks for them or not: exp, nbf and iat must be
 * numbers, iss, sub and jti strings, aud a string or an array of strings. 0, or -1 with *err. */
int jwt_check_claims(const json_t *claims, const jwt_policy_t *p, double now, jwt_err_t *err);

#endif /* JWT_H */
