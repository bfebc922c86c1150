/*
 * jwt_auth_conf.c: the jwt_auth filter's configuration (docs/config.md, "Built-in filters" ->
 * "jwt_auth"), checked once per config load into a jwa_conf_t (jwt_auth.h).
 *
 * Static keys (secret, secret_file, public_key_file, jwks_file) are read and parsed here, so a
 * bad key refuses the config instead of failing every request; a jwks_url is only checked for
 * its form (it is fetched by each worker). Every error is recorded with api->conf_error at the
 * offending node (FILE:LINE:COL); parsing goes on to report the other errors of the entry.
 * Key material never appears in a message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jwt_auth.h"

#define JWA_NELTS(a)       (sizeof(a) / sizeof((a)[0]))
#define JWA_MAX_KEY_FILE   (1024 * 1024)
#define JWA_DEFAULT_REALM  "pyxis"
#define JWA_DEFAULT_LEEWAY 30

static const char *const jwa_keys[] = {
    "secret",         "secret_file",      "public_key_file", "jwks_file",  "jwks_url",
    "jwks_refresh",   "jwks_min_refresh", "jwks_timeout",    "algorithms", "issuers",
    "audiences",      "leeway",           "required_claims", "header",     "cookie",
    "max_token_size", "forward_token",    "forward_claims",  "claim_vars", "realm",
};

/* The key sources: exactly one is given. */
static const char *const jwa_sources[] = {"secret", "secret_file", "public_key_file", "jwks_file",
                                          "jwks_url"};

/* Header fields a claim may not be forwarded as: message framing, connection handling, Host. */
static const char *const jwa_reserved_fields[] = {
    "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te",
    "trailer",        "upgrade",           "host"};

#define JWA_TCHARS "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

/* An RFC 9110 token (a field or cookie name). */
static int jwa_is_token(pyxis_str_t s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.data[i] == '\0' || strchr(JWA_TCHARS, s.data[i]) == NULL)
            return 0;
    return s.len > 0;
}

/* Visible ASCII, and `extra` bytes refused too. */
static int jwa_is_visible(pyxis_str_t s, const char *refused)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.data[i];
        if (c <= 0x20 || c >= 0x7f || strchr(refused, c) != NULL)
            return 0;
    }
    return s.len > 0;
}

/* A scalar of the map `node`, copied into the arena; NULL (error recorded) when not one. */
static const char *jwa_conf_scalar(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, const char *key)
{
    const pyxis_api_t *api = jwa_api;
    const char *s = NULL;
    if (api->node_type(n) != PYXIS_NODE_SCALAR || api->node_str(n).len == 0) {
        api->conf_error(cc, n, "%s: expected a non-empty string", key);
        return NULL;
    }
    return api->conf_str(cc, n, &s) == PYXIS_OK ? s : NULL;
}

/* A string or a list of strings, into an arena array. */
static int jwa_conf_strings(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, const char *key,
                            const char *const **out, size_t *nout)
{
    const pyxis_api_t *api = jwa_api;
    int seq = api->node_type(n) == PYXIS_NODE_SEQ;
    size_t len = seq ? api->node_len(n) : 1;
    if (!seq && api->node_type(n) != PYXIS_NODE_SCALAR)
        return api->conf_error(cc, n, "%s: expected a string or a list of strings", key);
    if (len == 0)
        return api->conf_error(cc, n, "%s: an empty list (leave the key out instead)", key);
    const char **list = api->conf_alloc(cc, len * sizeof(*list));
    if (list == NULL)
        return api->conf_error(cc, n, "out of memory");
    for (size_t i = 0; i < len; i++)
        if ((list[i] = jwa_conf_scalar(cc, seq ? api->node_at(n, i) : n, key)) == NULL)
            return PYXIS_INVALID;
    *out = list;
    *nout = len;
    return 0;
}

/* ---- key sources ------------------------------------------------------------------------- */

/* The whole file at `path` (malloc'd, *len set), or NULL with an error recorded at n. */
static char *jwa_conf_read(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, const char *key,
                           const char *path, size_t *len)
{
    const pyxis_api_t *api = jwa_api;
    const char *full = api->conf_path(cc, (pyxis_str_t){path, strlen(path)});
    FILE *f = full ? fopen(full, "rb") : NULL;
    if (f == NULL) {
        api->conf_error(cc, n, "%s: cannot open %s: %s", key, full ? full : path,
                        full ? strerror(errno) : "out of memory");
        return NULL;
    }
    char *buf = malloc(JWA_MAX_KEY_FILE + 1);
    size_t got = buf ? fread(buf, 1, JWA_MAX_KEY_FILE + 1, f) : 0;
    int bad = buf == NULL || ferror(f);
    fclose(f);
    if (bad || got > JWA_MAX_KEY_FILE) {
        api->conf_error(cc, n, "%s: cannot read %s: %s", key, full,
                        bad ? "read error" : "larger than 1 MiB");
        free(buf);
        return NULL;
    }
    *len = got;
    return buf;
}

static void jwa_keys_free(void *keys)
{
    jwt_keyset_free(keys);
}

/* Parse the one key source given into c->keys (or c->jwks_url). */
static int jwa_conf_source(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, jwa_conf_t *c)
{
    const pyxis_api_t *api = jwa_api;
    const pyxis_node_t *n = NULL;
    const char *key = NULL;
    for (size_t i = 0; i < JWA_NELTS(jwa_sources); i++) {
        const pyxis_node_t *v = api->node_get(node, jwa_sources[i]);
        if (v == NULL)
            continue;
        if (n != NULL)
            return api->conf_error(cc, v,
                                   "%s: give one of secret, secret_file, public_key_file, "
                                   "jwks_file and jwks_url (%s is given too)",
                                   jwa_sources[i], key);
        n = v;
        key = jwa_sources[i];
    }
    if (n == NULL)
        return api->conf_error(cc, node,
                               "no key: give one of secret, secret_file, "
                               "public_key_file, jwks_file and jwks_url");
    const char *s = jwa_conf_scalar(cc, n, key);
    if (s == NULL)
        return PYXIS_INVALID;
    if (strcmp(key, "jwks_url") == 0) {
        if (strncasecmp(s, "http://", 7) != 0 && strncasecmp(s, "https://", 8) != 0)
            return api->conf_error(cc, n, "jwks_url: expected an http:// or https:// URL");
        c->jwks_url = s;
        c->jwks_url_log = api->conf_strdup(cc, s, strcspn(s, "?#"));
        return c->jwks_url_log ? 0 : api->conf_error(cc, n, "out of memory");
    }
    jwt_err_t err = {""};
    size_t len = strlen(s);
    char *text = NULL;
    if (strcmp(key, "secret") != 0 && (text = jwa_conf_read(cc, n, key, s, &len)) == NULL)
        return PYXIS_INVALID;
    if (strcmp(key, "secret_file") == 0 && len > 0 && text[len - 1] == '\n')
        len -= len > 1 && text[len - 2] == '\r' ? 2 : 1; /* one line end, as editors leave */
    if (strcmp(key, "secret") == 0 || strcmp(key, "secret_file") == 0)
        c->keys = jwt_keyset_secret(text ? text : s, len, &err);
    else if (strcmp(key, "public_key_file") == 0)
        c->keys = jwt_keyset_pem(text, len, &err);
    else
        c->keys = jwt_keyset_jwks(text, len, &err);
    if (text != NULL) {
        memset(text, 0, len);
        free(text);
    }
    if (c->keys == NULL)
        return api->conf_error(cc, n, "%s: %s", key, err.msg);
    if (api->conf_cleanup_add(cc, jwa_keys_free, c->keys) != PYXIS_OK) {
        jwt_keyset_free(c->keys);
        c->keys = NULL;
        return api->conf_error(cc, n, "out of memory");
    }
    return 0;
}

/* jwks_refresh, jwks_min_refresh, jwks_timeout: only with jwks_url. */
static int jwa_conf_jwks_timing(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, jwa_conf_t *c)
{
    static const char *const keys[] = {"jwks_refresh", "jwks_min_refresh", "jwks_timeout"};
    const pyxis_api_t *api = jwa_api;
    uint64_t *dst[] = {&c->refresh_ms, &c->min_refresh_ms, &c->timeout_ms};
    int bad = 0;
    c->refresh_ms = 10 * 60 * 1000;
    c->min_refresh_ms = 30 * 1000;
    c->timeout_ms = 5 * 1000;
    for (size_t i = 0; i < JWA_NELTS(keys); i++) {
        const pyxis_node_t *n = api->node_get(node, keys[i]);
        if (n == NULL)
            continue;
        if (c->jwks_url == NULL && c->keys != NULL) {
            bad = api->conf_error(cc, n, "%s: only with jwks_url", keys[i]);
            continue;
        }
        if (api->conf_duration(cc, n, dst[i]) != PYXIS_OK) {
            bad = -1;
            continue;
        }
        if (*dst[i] < 1000)
            bad = api->conf_error(cc, n, "%s: at least 1s", keys[i]);
    }
    return bad ? -1 : 0;
}

/* algorithms: names; with a static key, each must fit one of its keys. */
static int jwa_conf_algorithms(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, jwa_conf_t *c)
{
    const pyxis_api_t *api = jwa_api;
    const pyxis_node_t *n = api->node_get(node, "algorithms");
    unsigned fits = c->keys ? 0 : JWT_ALGS_ALL;
    for (size_t i = 0; c->keys != NULL && i < c->keys->nkeys; i++)
        fits |= c->keys->keys[i].alg >= 0 ? JWT_ALG_BIT(c->keys->keys[i].alg)
                                          : jwt_kty_algs(c->keys->keys[i].kty);
    c->algs = fits;
    if (n == NULL)
        return 0;
    const char *const *names;
    size_t nnames;
    if (api->node_type(n) != PYXIS_NODE_SEQ)
        return api->conf_error(cc, n, "algorithms: expected a list (e.g. [RS256, ES256])");
    if (jwa_conf_strings(cc, n, "algorithms", &names, &nnames) != 0)
        return -1;
    c->algs = 0;
    for (size_t i = 0; i < nnames; i++) {
        int a = jwt_alg_parse(names[i], strlen(names[i]));
        if (a < 0)
            return api->conf_error(cc, api->node_at(n, i),
                                   "algorithms: unknown algorithm \"%.32s\" (known: HS256 HS384 "
                                   "HS512 RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA; "
                                   "none is never accepted)",
                                   names[i]);
        if (!(fits & JWT_ALG_BIT(a)))
            return api->conf_error(cc, api->node_at(n, i),
                                   "algorithms: %s cannot be verified with the configured key",
                                   names[i]);
        c->algs |= JWT_ALG_BIT(a);
    }
    return 0;
}

/* ---- the token and what is forwarded ----------------------------------------------------- */

static int jwa_conf_from(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, jwa_conf_t *c)
{
    const pyxis_api_t *api = jwa_api;
    const pyxis_node_t *h = api->node_get(node, "header"), *k = api->node_get(node, "cookie");
    const pyxis_node_t *n = h ? h : k;
    if (h != NULL && k != NULL)
        return api->conf_error(cc, k, "cookie: give header or cookie, not both");
    c->from = JWA_FROM_BEARER;
    if (n == NULL)
        return 0;
    const char *s = jwa_conf_scalar(cc, n, h ? "header" : "cookie");
    if (s == NULL)
        return -1;
    c->from_name = (pyxis_str_t){s, strlen(s)};
    if (!jwa_is_token(c->from_name))
        return api->conf_error(cc, n, "%s: not a valid %s name", h ? "header" : "cookie",
                               h ? "field" : "cookie");
    c->from = h ? JWA_FROM_HEADER : JWA_FROM_COOKIE;
    if (h != NULL && strcasecmp(s, "authorization") == 0)
        c->from = JWA_FROM_BEARER; /* the default, spelled out */
    return 0;
}

static int jwa_conf_forward(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, jwa_conf_t *c)
{
    const pyxis_api_t *api = jwa_api;
    if (api->node_type(n) != PYXIS_NODE_MAP)
        return api->conf_error(cc, n, "forward_claims: expected a map of claim: header");
    c->nfwd = api->node_len(n);
    c->fwd = api->conf_alloc(cc, (c->nfwd ? c->nfwd : 1) * sizeof(*c->fwd));
    if (c->fwd == NULL)
        return api->conf_error(cc, n, "out of memory");
    int bad = 0;
    for (size_t i = 0; i < c->nfwd; i++) {
        const pyxis_node_t *kn = api->node_key_at(n, i), *vn = api->node_value_at(n, i);
        jwa_forward_t *f = &c->fwd[i];
        if ((f->claim = jwa_conf_scalar(cc, kn, "forward_claims")) == NULL ||
            !jwa_is_visible((pyxis_str_t){f->claim, strlen(f->claim)}, "")) {
            bad = f->claim ? api->conf_error(cc, kn,
                                             "forward_claims: a claim name is visible "
                                             "ASCII without spaces")
                           : -1;
            continue;
        }
        const char *h = jwa_conf_scalar(cc, vn, "forward_claims");
        if (h == NULL) {
            bad = -1;
            continue;
        }
        f->header = (pyxis_str_t){h, strlen(h)};
        int reserved = 0;
        for (size_t r = 0; r < JWA_NELTS(jwa_reserved_fields); r++)
            reserved |= strcasecmp(h, jwa_reserved_fields[r]) == 0;
        if (!jwa_is_token(f->header) || reserved) {
            bad = api->conf_error(cc, vn, "forward_claims.%.64s: %s", f->claim,
                                  reserved ? "pyxis manages this field; choose another"
                                           : "not a valid field name");
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (c->fwd[j].header.data != NULL && strcasecmp(c->fwd[j].header.data, h) == 0)
                bad =
                    api->conf_error(cc, vn, "forward_claims.%.64s: %s is given twice", f->claim, h);
        size_t vl = strlen("jwt_claim.") + strlen(f->claim);
        char *var = api->conf_alloc(cc, vl + 1);
        if (var == NULL)
            return api->conf_error(cc, vn, "out of memory");
        snprintf(var, vl + 1, "jwt_claim.%s", f->claim);
        f->var = (pyxis_str_t){var, vl};
    }
    return bad ? -1 : 0;
}

/* The three WWW-Authenticate values for `realm`. */
static int jwa_conf_challenges(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, jwa_conf_t *c)
{
    const pyxis_api_t *api = jwa_api;
    const pyxis_node_t *n = api->node_get(node, "realm");
    const char *realm = JWA_DEFAULT_REALM;
    if (n != NULL) {
        if ((realm = jwa_conf_scalar(cc, n, "realm")) == NULL)
            return -1;
        for (const char *p = realm; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
                return api->conf_error(cc, n,
                                       "realm: no quotes, backslashes or control "
                                       "characters");
    }
    static const char *const errors[] = {"", ", error=\"invalid_token\"",
                                         ", error=\"invalid_request\""};
    pyxis_str_t *dst[] = {&c->challenge, &c->challenge_invalid, &c->challenge_request};
    for (size_t i = 0; i < JWA_NELTS(errors); i++) {
        size_t len = sizeof("Bearer realm=\"\"") + strlen(realm) + strlen(errors[i]);
        char *v = api->conf_alloc(cc, len);
        if (v == NULL)
            return api->conf_error(cc, n, "out of memory");
        *dst[i] =
            (pyxis_str_t){v, (size_t)snprintf(v, len, "Bearer realm=\"%s\"%s", realm, errors[i])};
    }
    return 0;
}

/* ---- the entry --------------------------------------------------------------------------- */

/* leeway, max_token_size, forward_token, claim_vars, issuers, audiences, required_claims. */
static int jwa_conf_checks(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, jwa_conf_t *c)
{
    const pyxis_api_t *api = jwa_api;
    const pyxis_node_t *n;
    uint64_t ms;
    int bad = 0, flag;
    c->policy.leeway = JWA_DEFAULT_LEEWAY;
    c->max_token = 8192;
    if ((n = api->node_get(node, "leeway")) != NULL) {
        if (api->conf_duration(cc, n, &ms) != PYXIS_OK)
            bad = -1;
        else if (ms % 1000 != 0 || ms > 86400 * 1000)
            bad = api->conf_error(cc, n, "leeway: whole seconds, at most 1 day");
        else
            c->policy.leeway = (int64_t)(ms / 1000);
    }
    if ((n = api->node_get(node, "max_token_size")) != NULL &&
        api->conf_size(cc, n, &c->max_token) != PYXIS_OK)
        bad = -1;
    else if (n != NULL && (c->max_token < 16 || c->max_token > 65536))
        bad = api->conf_error(cc, n, "max_token_size: from 16 to 64k");
    if ((n = api->node_get(node, "forward_token")) != NULL) {
        if (api->conf_bool(cc, n, &flag) != PYXIS_OK)
            bad = -1;
        c->forward_token = flag;
    }
    if ((n = api->node_get(node, "claim_vars")) != NULL) {
        if (api->conf_bool(cc, n, &flag) != PYXIS_OK)
            bad = -1;
        c->claim_vars = flag;
    }
    jwt_policy_t *p = &c->policy;
    if ((n = api->node_get(node, "issuers")) != NULL &&
        jwa_conf_strings(cc, n, "issuers", &p->issuers, &p->nissuers) != 0)
        bad = -1;
    if ((n = api->node_get(node, "audiences")) != NULL &&
        jwa_conf_strings(cc, n, "audiences", &p->audiences, &p->naudiences) != 0)
        bad = -1;
    if ((n = api->node_get(node, "required_claims")) != NULL &&
        jwa_conf_strings(cc, n, "required_claims", &p->required, &p->nrequired) != 0)
        bad = -1;
    return bad;
}

pyxis_rc_t jwa_conf_create(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **conf)
{
    const pyxis_api_t *api = jwa_api;
    if (api->node_type(node) != PYXIS_NODE_MAP) {
        api->conf_error(cc, api->node_type(node) == PYXIS_NODE_NULL ? NULL : node,
                        "expected a map with a key source (secret, secret_file, public_key_file, "
                        "jwks_file or jwks_url)");
        return PYXIS_ERROR;
    }
    jwa_conf_t *c = api->conf_alloc(cc, sizeof(*c));
    if (c == NULL) {
        api->conf_error(cc, node, "out of memory");
        return PYXIS_ERROR;
    }
    int bad = api->conf_check_keys(cc, node, jwa_keys, JWA_NELTS(jwa_keys)) != PYXIS_OK;
    const pyxis_node_t *n;
    if (jwa_conf_source(cc, node, c) != 0)
        bad = 1;
    else if (jwa_conf_algorithms(cc, node, c) != 0)
        bad = 1;
    if (jwa_conf_jwks_timing(cc, node, c) != 0)
        bad = 1;
    if (jwa_conf_from(cc, node, c) != 0)
        bad = 1;
    if (jwa_conf_checks(cc, node, c) != 0)
        bad = 1;
    if ((n = api->node_get(node, "forward_claims")) != NULL && jwa_conf_forward(cc, n, c) != 0)
        bad = 1;
    if (jwa_conf_challenges(cc, node, c) != 0)
        bad = 1;
    if (bad)
        return PYXIS_ERROR;
    api->conf_uses(cc, PYXIS_USES_REQUEST_HEADERS);
    *conf = c;
    return PYXIS_OK;
}
