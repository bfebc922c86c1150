/*
 * jwt_auth.h: what the jwt_auth filter's config parser (jwt_auth_conf.c) hands to its runtime
 * (jwt_auth.c). Private to the module; the only pyxis header it sees is <pyxis/module.h>.
 *
 * A jwa_conf_t lives in the config arena and is read-only once conf_create returned, so every
 * worker reads it without locks. Its static key set (secret, PEM, JWKS file) is malloc'd and
 * freed by a conf cleanup with the snapshot; a JWKS fetched from a URL belongs to each worker
 * (jwt_auth.c).
 */
#ifndef JWA_JWT_AUTH_H
#define JWA_JWT_AUTH_H

#include <pyxis/module.h>

#include "jwt.h"

/* Where the token is read from. */
typedef enum {
    JWA_FROM_BEARER = 0, /* Authorization: Bearer <token> */
    JWA_FROM_HEADER = 1, /* the whole value of a named field ("Bearer " optional) */
    JWA_FROM_COOKIE = 2, /* the value of a named cookie */
} jwa_from_t;

/* One forward_claims entry: claim `claim` goes upstream as field `header`, and as the variable
 * `var` ("jwt_claim.NAME") when claim_vars is on. */
typedef struct {
    const char *claim; /* NUL-terminated */
    pyxis_str_t header;
    pyxis_str_t var;
} jwa_forward_t;

typedef struct {
    /* keys: exactly one of `keys` (static) and `jwks_url` */
    jwt_keyset_t *keys;
    const char *jwks_url;     /* NUL-terminated */
    const char *jwks_url_log; /* the URL without its query, for log lines */
    uint64_t refresh_ms;      /* re-fetch a good JWKS this often */
    uint64_t min_refresh_ms;  /* at most one kid-triggered fetch, and retry a failed one, per */
    uint64_t timeout_ms;      /* one fetch, and so the longest a request waits for one */

    unsigned algs; /* allowed algorithms, JWT_ALG_BIT mask */
    jwt_policy_t policy;

    jwa_from_t from;
    pyxis_str_t from_name; /* JWA_FROM_HEADER: the field; JWA_FROM_COOKIE: the cookie */
    uint64_t max_token;
    int forward_token; /* keep the token in the upstream request */

    jwa_forward_t *fwd;
    size_t nfwd;
    int claim_vars;

    /* WWW-Authenticate values (RFC 6750 section 3) */
    pyxis_str_t challenge;         /* no token: Bearer realm="..." */
    pyxis_str_t challenge_invalid; /* ... , error="invalid_token" */
    pyxis_str_t challenge_request; /* ... , error="invalid_request" */
} jwa_conf_t;

/* The service table init() received; set once on the main thread before any config. */
extern const pyxis_api_t *jwa_api;

/* pyxis_module_t.conf_create (jwt_auth_conf.c). */
pyxis_rc_t jwa_conf_create(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **conf);

#endif /* JWA_JWT_AUTH_H */
