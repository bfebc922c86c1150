/*
 * jwt_auth.c: the built-in `jwt_auth` filter: a request must carry a valid JWT (a bearer token,
 * a named field or a cookie), verified with a configured key or a JWKS; its claims are checked,
 * chosen ones forwarded upstream as fields and variables. docs/config.md ("Built-in filters" ->
 * "jwt_auth") is the user's description; jwt_auth_conf.c makes the jwa_conf_t, jwt.c and
 * jwt_key.c do the token work, this file the per-request and per-worker parts.
 *
 * JWKS from a URL: each worker keeps its own key set per filter entry (jwa_src_t, worker data),
 * fetched with a call-out that belongs to no request, so no lock is needed and a client going
 * away cancels nothing. The first fetch starts when the worker starts; later ones on a timer
 * (jwks_refresh after a good fetch, jwks_min_refresh after a failed one) and when a token names
 * a kid the set lacks, at most once per jwks_min_refresh. Requests that need a fetch in flight
 * (the first one, or one their kid triggered) wait for it, paused: each is linked in the
 * source's waiting list and checked again when the fetch ends, so the longest wait is the
 * fetch's timeout. A request whose source has no key set and no fetch in flight gets 503.
 *
 * The token never reaches a log line: reasons are jwt.c's fixed texts. The decoded token's
 * JSON is jansson's (malloc) and is released before each callback returns; everything else a
 * request needs comes from the transaction pool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jwt_auth.h"

const pyxis_api_t *jwa_api;

#define JWA_MAX_JWKS (1024 * 1024) /* the largest JWKS body fetched */

typedef struct jwa_ctx_s jwa_ctx_t;
typedef struct jwa_src_s jwa_src_t;

/* Per request, in the transaction pool. */
struct jwa_ctx_s {
    const jwa_conf_t *conf;
    jwa_src_t *src; /* jwks_url: this worker's key set for the entry; else NULL */
    pyxis_txn_t *txn;
    jwa_ctx_t *prev, *next; /* in src->waiting while paused for a fetch; NULL otherwise */
};

/* Per worker, per config generation, per jwks_url entry. */
struct jwa_src_s {
    const jwa_conf_t *conf;
    jwt_keyset_t *keys;     /* the last good JWKS; NULL before one */
    pyxis_callout_t *fetch; /* in flight */
    pyxis_timer_t *timer;   /* the next scheduled fetch */
    double next_demand;     /* no kid-triggered fetch before this time */
    int fetched;            /* a fetch has ended (well or not) */
    jwa_ctx_t waiting;      /* the list head of paused requests */
};

typedef struct {
    size_t n;
    jwa_src_t src[];
} jwa_worker_t;

static const pyxis_str_t jwa_authorization = PYXIS_STR("authorization");
static const pyxis_str_t jwa_cookie = PYXIS_STR("cookie");

static pyxis_rc_t jwa_init(const pyxis_api_t *api)
{
    jwa_api = api;
    return PYXIS_OK;
}

static pyxis_filter_status_t jwa_check(jwa_ctx_t *ctx, int may_wait);

/* ---- finding the token ------------------------------------------------------------------- */

typedef enum {
    JWA_TOKEN_NONE = 0,
    JWA_TOKEN_FOUND = 1,
    JWA_TOKEN_MANY = 2, /* two fields or cookies could hold it: ambiguous, refused */
} jwa_token_rc_t;

static int jwa_eq_ci(pyxis_str_t a, pyxis_str_t b)
{
    return a.len == b.len && strncasecmp(a.data, b.data, a.len) == 0;
}

static pyxis_str_t jwa_trim(pyxis_str_t s)
{
    while (s.len > 0 && (s.data[0] == ' ' || s.data[0] == '\t')) {
        s.data++;
        s.len--;
    }
    while (s.len > 0 && (s.data[s.len - 1] == ' ' || s.data[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* "Bearer <token>" (the scheme is case-insensitive): 1 and *tok set, or 0. */
static int jwa_bearer(pyxis_str_t v, pyxis_str_t *tok)
{
    v = jwa_trim(v);
    if (v.len < 7 || strncasecmp(v.data, "bearer", 6) != 0 ||
        (v.data[6] != ' ' && v.data[6] != '\t'))
        return 0;
    *tok = jwa_trim((pyxis_str_t){v.data + 7, v.len - 7});
    return tok->len > 0;
}

/* The cookie `name` in one Cookie field value: count occurrences, keep the first. */
static size_t jwa_cookie_find(pyxis_str_t v, pyxis_str_t name, pyxis_str_t *tok)
{
    size_t found = 0;
    const char *p = v.data, *end = v.data + v.len;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        pyxis_str_t pair = jwa_trim((pyxis_str_t){p, (size_t)((semi ? semi : end) - p)});
        const char *eq = memchr(pair.data, '=', pair.len);
        if (eq != NULL && (size_t)(eq - pair.data) == name.len &&
            memcmp(pair.data, name.data, name.len) == 0) {
            pyxis_str_t val = {eq + 1, pair.len - name.len - 1};
            if (val.len >= 2 && val.data[0] == '"' && val.data[val.len - 1] == '"')
                val = (pyxis_str_t){val.data + 1, val.len - 2};
            if (found++ == 0)
                *tok = val;
        }
        p = semi ? semi + 1 : end;
    }
    return found;
}

static jwa_token_rc_t jwa_token(pyxis_txn_t *txn, const jwa_conf_t *c, pyxis_str_t *tok)
{
    const pyxis_api_t *api = jwa_api;
    pyxis_headers_t *h = api->req_headers(txn);
    pyxis_str_t want = c->from == JWA_FROM_BEARER   ? jwa_authorization
                       : c->from == JWA_FROM_COOKIE ? jwa_cookie
                                                    : c->from_name;
    pyxis_str_t name, value;
    size_t iter = 0, fields = 0, found = 0;
    while (api->header_next(h, &iter, &name, &value) == PYXIS_OK) {
        if (!jwa_eq_ci(name, want))
            continue;
        fields++;
        pyxis_str_t t = jwa_trim(value);
        size_t k = 1;
        if (c->from == JWA_FROM_COOKIE)
            k = jwa_cookie_find(value, c->from_name, &t);
        else if (c->from == JWA_FROM_BEARER)
            k = (size_t)jwa_bearer(value, &t);
        else if (!jwa_bearer(value, &t)) /* a named field: "Bearer " is optional */
            k = t.len > 0;
        if (k > 0 && found == 0)
            *tok = t;
        found += k;
    }
    if (found > 1 || (c->from != JWA_FROM_COOKIE && fields > 1))
        return JWA_TOKEN_MANY;
    return found ? JWA_TOKEN_FOUND : JWA_TOKEN_NONE;
}

/* Drop the token from the upstream request: its field, or its cookie from the Cookie fields. */
static pyxis_rc_t jwa_strip_token(pyxis_txn_t *txn, const jwa_conf_t *c)
{
    const pyxis_api_t *api = jwa_api;
    pyxis_headers_t *h = api->req_headers(txn);
    if (c->from != JWA_FROM_COOKIE)
        return api->header_remove(
            txn, h, c->from == JWA_FROM_BEARER ? jwa_authorization : c->from_name, NULL);
    /* Rebuild each Cookie field without the token's cookie, in order. */
    pyxis_str_t name, value, *kept;
    size_t iter = 0, n = 0;
    while (api->header_next(h, &iter, &name, &value) == PYXIS_OK)
        n += jwa_eq_ci(name, jwa_cookie);
    if ((kept = api->palloc(txn, n * sizeof(*kept))) == NULL)
        return PYXIS_NOMEM;
    iter = n = 0;
    while (api->header_next(h, &iter, &name, &value) == PYXIS_OK) {
        if (!jwa_eq_ci(name, jwa_cookie))
            continue;
        char *out = api->palloc(txn, value.len + 1);
        if (out == NULL)
            return PYXIS_NOMEM;
        size_t o = 0;
        const char *p = value.data, *end = value.data + value.len;
        while (p < end) {
            const char *semi = memchr(p, ';', (size_t)(end - p));
            pyxis_str_t pair = jwa_trim((pyxis_str_t){p, (size_t)((semi ? semi : end) - p)});
            p = semi ? semi + 1 : end;
            if (pair.len == 0 ||
                (pair.len > c->from_name.len && pair.data[c->from_name.len] == '=' &&
                 memcmp(pair.data, c->from_name.data, c->from_name.len) == 0))
                continue;
            if (o > 0) {
                memcpy(out + o, "; ", 2);
                o += 2;
            }
            memcpy(out + o, pair.data, pair.len);
            o += pair.len;
        }
        kept[n++] = (pyxis_str_t){out, o};
    }
    pyxis_rc_t rc = api->header_remove(txn, h, jwa_cookie, NULL);
    for (size_t i = 0; i < n && rc == PYXIS_OK; i++)
        if (kept[i].len > 0)
            rc = api->header_add(txn, h, jwa_cookie, kept[i]);
    return rc;
}

/* ---- answers ----------------------------------------------------------------------------- */

/* Answer 401 (or 400, 503) with the challenge, and log why at info. */
static pyxis_filter_status_t jwa_deny(pyxis_txn_t *txn, int status, const pyxis_str_t *challenge,
                                      const char *why)
{
    const pyxis_api_t *api = jwa_api;
    static const pyxis_str_t bodies[] = {PYXIS_STR("400 Bad Request\n"),
                                         PYXIS_STR("401 Unauthorized\n"),
                                         PYXIS_STR("503 Service Unavailable\n")};
    api->log(txn, PYXIS_LOG_INFO, "request refused (%d): %s", status, why);
    if (api->respond(txn, status, bodies[status == 400 ? 0 : status == 401 ? 1 : 2]) != PYXIS_OK)
        return PYXIS_FILTER_ERROR;
    pyxis_headers_t *h = api->resp_headers(txn);
    if (api->header_set(txn, h, (pyxis_str_t)PYXIS_STR("content-type"),
                        (pyxis_str_t)PYXIS_STR("text/plain")) != PYXIS_OK ||
        (challenge != NULL && api->header_set(txn, h, (pyxis_str_t)PYXIS_STR("www-authenticate"),
                                              *challenge) != PYXIS_OK))
        return PYXIS_FILTER_ERROR;
    return PYXIS_FILTER_STOP;
}

/* The token is good: forward the chosen claims, set the variables, drop the token. */
static pyxis_filter_status_t jwa_accept(pyxis_txn_t *txn, const jwa_conf_t *c, const json_t *claims)
{
    const pyxis_api_t *api = jwa_api;
    pyxis_headers_t *h = api->req_headers(txn);
    const json_t *sub = json_object_get(claims, "sub");
    pyxis_rc_t rc = PYXIS_OK;
    for (size_t i = 0; i < c->nfwd && rc == PYXIS_OK; i++) {
        const jwa_forward_t *f = &c->fwd[i];
        const json_t *j = json_object_get(claims, f->claim);
        rc = api->header_remove(txn, h, f->header, NULL); /* the client's own copies go */
        if (rc != PYXIS_OK || j == NULL || json_is_null(j))
            continue;
        char *dump = json_is_string(j) ? NULL : json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        pyxis_str_t v = {json_is_string(j) ? json_string_value(j) : dump, 0};
        if (v.data == NULL) {
            rc = PYXIS_NOMEM;
            break;
        }
        v.len = json_is_string(j) ? json_string_length(j) : strlen(dump);
        rc = api->header_set(txn, h, f->header, v);
        if (rc == PYXIS_INVALID) { /* a control character: the field is left out */
            api->log(txn, PYXIS_LOG_WARN, "claim %.64s is not a valid field value; %.*s not set",
                     f->claim, (int)f->header.len, f->header.data);
            rc = PYXIS_OK;
        } else if (rc == PYXIS_OK && c->claim_vars) {
            rc = api->var_set(txn, f->var, v);
        }
        free(dump);
    }
    if (rc == PYXIS_OK && json_is_string(sub))
        rc = api->var_set(txn, (pyxis_str_t)PYXIS_STR("auth_user"),
                          (pyxis_str_t){json_string_value(sub), json_string_length(sub)});
    if (rc == PYXIS_OK)
        rc =
            api->var_set(txn, (pyxis_str_t)PYXIS_STR("auth_method"), (pyxis_str_t)PYXIS_STR("jwt"));
    if (rc == PYXIS_OK && !c->forward_token)
        rc = jwa_strip_token(txn, c);
    if (rc != PYXIS_OK) {
        api->log(txn, PYXIS_LOG_ERROR, "changing the request failed (%d)", (int)rc);
        return PYXIS_FILTER_ERROR;
    }
    return PYXIS_FILTER_CONTINUE;
}

/* ---- the JWKS of a URL ------------------------------------------------------------------- */

static void jwa_fetch(jwa_src_t *src);

static void jwa_timer_fired(void *arg)
{
    jwa_src_t *src = arg;
    src->timer = NULL;
    jwa_fetch(src);
}

/* The next fetch in `ms` (replacing a scheduled one). */
static void jwa_schedule(jwa_src_t *src, uint64_t ms)
{
    if (src->timer != NULL)
        jwa_api->timer_cancel(src->timer);
    src->timer = jwa_api->timer_add(NULL, ms, 0, jwa_timer_fired, src);
}

/* Check every waiting request again, now that a fetch ended. */
static void jwa_wake(jwa_src_t *src)
{
    const pyxis_api_t *api = jwa_api;
    jwa_ctx_t list;
    if (src->waiting.next == &src->waiting)
        return;
    /* Take the whole list first: a request resumed here may end, and be detached, at once. */
    list.next = src->waiting.next;
    list.prev = src->waiting.prev;
    list.next->prev = list.prev->next = &list;
    src->waiting.next = src->waiting.prev = &src->waiting;
    while (list.next != &list) {
        jwa_ctx_t *ctx = list.next;
        ctx->prev->next = ctx->next;
        ctx->next->prev = ctx->prev;
        ctx->next = ctx->prev = NULL;
        pyxis_filter_status_t st = jwa_check(ctx, 0);
        if (st == PYXIS_FILTER_CONTINUE)
            api->resume(ctx->txn);
        else
            api->resume_with(ctx->txn, st);
    }
}

static void jwa_fetch_done(const pyxis_callout_resp_t *resp, void *arg)
{
    const pyxis_api_t *api = jwa_api;
    jwa_src_t *src = arg;
    const jwa_conf_t *c = src->conf;
    jwt_err_t err = {""};
    jwt_keyset_t *ks = NULL;
    src->fetch = NULL;
    src->fetched = 1;
    if (resp->status == 200)
        ks = jwt_keyset_jwks(resp->body.data, resp->body.len, &err);
    if (ks != NULL) {
        jwt_keyset_free(src->keys);
        src->keys = ks;
        api->log(NULL, PYXIS_LOG_INFO, "JWKS %s: keys loaded: %zu%s%s", c->jwks_url_log, ks->nkeys,
                 ks->skipped ? "; skipped " : "", ks->skip_why);
        jwa_schedule(src, c->refresh_ms);
    } else {
        if (resp->status == 0)
            api->log(NULL, PYXIS_LOG_WARN, "JWKS %s: fetch failed: %s", c->jwks_url_log,
                     resp->error ? resp->error : "?");
        else if (resp->status != 200)
            api->log(NULL, PYXIS_LOG_WARN, "JWKS %s: fetch answered %d", c->jwks_url_log,
                     resp->status);
        else
            api->log(NULL, PYXIS_LOG_WARN, "JWKS %s: refused: %s", c->jwks_url_log, err.msg);
        if (src->keys != NULL)
            api->log(NULL, PYXIS_LOG_WARN, "JWKS %s: keeping the previous keys", c->jwks_url_log);
        jwa_schedule(src, c->min_refresh_ms);
    }
    jwa_wake(src);
}

/* Start a fetch unless one is in flight. */
static void jwa_fetch(jwa_src_t *src)
{
    static const pyxis_header_t accept[] = {
        {PYXIS_STR("accept"), PYXIS_STR("application/jwk-set+json, application/json")}};
    const jwa_conf_t *c = src->conf;
    if (src->fetch != NULL)
        return;
    pyxis_callout_req_t req = {.size = sizeof(req),
                               .url = c->jwks_url,
                               .headers = accept,
                               .nheaders = 1,
                               .timeout_ms = c->timeout_ms,
                               .max_body = JWA_MAX_JWKS};
    src->fetch = jwa_api->callout(NULL, &req, jwa_fetch_done, src);
    if (src->fetch == NULL) { /* refused at once (logged by the core) */
        src->fetched = 1;
        jwa_schedule(src, c->min_refresh_ms);
    }
}

/* Pause ctx until src's fetch ends, starting one unless one is in flight. PAUSE, or a 503 when
 * no fetch could be started. */
static pyxis_filter_status_t jwa_wait(jwa_ctx_t *ctx)
{
    jwa_src_t *src = ctx->src;
    jwa_fetch(src);
    if (src->fetch == NULL)
        return jwa_deny(ctx->txn, 503, NULL, "no JWKS: the fetch could not start");
    ctx->next = &src->waiting;
    ctx->prev = src->waiting.prev;
    ctx->prev->next = ctx->next->prev = ctx;
    return PYXIS_FILTER_PAUSE;
}

/* ---- the check --------------------------------------------------------------------------- */

/* The key set for ctx, or a decision: PAUSE (waiting for a fetch) or a 503. *st is set when no
 * key set is returned. */
static const jwt_keyset_t *jwa_keys(jwa_ctx_t *ctx, int may_wait, pyxis_filter_status_t *st)
{
    const jwa_conf_t *c = ctx->conf;
    jwa_src_t *src = ctx->src;
    if (c->keys != NULL)
        return c->keys;
    if (src == NULL) {
        *st = jwa_deny(ctx->txn, 503, NULL, "no JWKS on this worker (its start failed)");
        return NULL;
    }
    if (src->keys != NULL)
        return src->keys;
    if (may_wait && (src->fetch != NULL || !src->fetched))
        *st = jwa_wait(ctx);
    else
        *st = jwa_deny(ctx->txn, 503, NULL, "no JWKS (the last fetch failed)");
    return NULL;
}

/* On an unknown kid: wait for a fetch in flight, or start one if the last kid-triggered fetch
 * is at least jwks_min_refresh old. 0 when neither (the token is then refused). */
static int jwa_refetch(jwa_ctx_t *ctx, int may_wait, pyxis_filter_status_t *st)
{
    jwa_src_t *src = ctx->src;
    double now = jwa_api->now();
    if (!may_wait || src == NULL)
        return 0;
    if (src->fetch == NULL) {
        if (now < src->next_demand)
            return 0;
        src->next_demand = now + (double)ctx->conf->min_refresh_ms / 1000;
    }
    *st = jwa_wait(ctx);
    return 1;
}

/* Check the request's token: CONTINUE, STOP (401/400/503 answered), PAUSE (waiting for a
 * JWKS fetch; only when may_wait) or ERROR. */
static pyxis_filter_status_t jwa_check(jwa_ctx_t *ctx, int may_wait)
{
    const pyxis_api_t *api = jwa_api;
    const jwa_conf_t *c = ctx->conf;
    pyxis_txn_t *txn = ctx->txn;
    pyxis_filter_status_t st = PYXIS_FILTER_ERROR;
    pyxis_str_t tok = {NULL, 0};
    jwt_token_t t;
    jwt_err_t err = {""};
    const jwt_key_t *key;
    char why[sizeof(err.msg) + 32];

    switch (jwa_token(txn, c, &tok)) {
    case JWA_TOKEN_NONE: return jwa_deny(txn, 401, &c->challenge, "no token");
    case JWA_TOKEN_MANY:
        return jwa_deny(txn, 400, &c->challenge_request, "more than one token in the request");
    default: break;
    }
    if (tok.len > c->max_token) {
        snprintf(why, sizeof(why), "token of %zu bytes, longer than max_token_size", tok.len);
        return jwa_deny(txn, 401, &c->challenge_invalid, why);
    }
    unsigned char *buf = api->palloc(txn, tok.len);
    if (buf == NULL)
        return PYXIS_FILTER_ERROR;
    if (jwt_decode(tok.data, tok.len, buf, &t, &err) != 0)
        return jwa_deny(txn, 401, &c->challenge_invalid, err.msg);
    if (!(c->algs & JWT_ALG_BIT(t.alg))) {
        snprintf(why, sizeof(why), "alg %s is not allowed", jwt_alg_name(t.alg));
        st = jwa_deny(txn, 401, &c->challenge_invalid, why);
        goto out;
    }
    const jwt_keyset_t *ks = jwa_keys(ctx, may_wait, &st);
    if (ks == NULL)
        goto out;
    switch (jwt_key_find(ks, &t, &key, &err)) {
    case JWT_KEY_FOUND: break;
    case JWT_KEY_UNKNOWN_KID:
        if (jwa_refetch(ctx, may_wait, &st))
            goto out;
        /* fall through */
    default: st = jwa_deny(txn, 401, &c->challenge_invalid, err.msg); goto out;
    }
    if (jwt_verify(key, t.alg, t.signing_input, t.signing_len, t.sig, t.sig_len, &err) != 0 ||
        jwt_check_claims(t.claims, &c->policy, api->now(), &err) != 0) {
        st = jwa_deny(txn, 401, &c->challenge_invalid, err.msg);
        goto out;
    }
    st = jwa_accept(txn, c, t.claims);
out:
    jwt_token_free(&t);
    return st;
}

/* ---- filter callbacks -------------------------------------------------------------------- */

static pyxis_rc_t jwa_attach(pyxis_txn_t *txn, void *conf, void *worker_data, void **ctx)
{
    jwa_worker_t *w = worker_data;
    jwa_ctx_t *c = jwa_api->pcalloc(txn, sizeof(*c));
    if (c == NULL)
        return PYXIS_ERROR;
    c->conf = conf;
    c->txn = txn;
    for (size_t i = 0; w != NULL && c->conf->jwks_url != NULL && i < w->n; i++)
        if (w->src[i].conf == conf)
            c->src = &w->src[i];
    *ctx = c;
    return PYXIS_OK;
}

static void jwa_detach(pyxis_txn_t *txn, void *ctx)
{
    jwa_ctx_t *c = ctx;
    if (c->next != NULL) { /* the request ended while waiting for a fetch */
        c->prev->next = c->next;
        c->next->prev = c->prev;
        c->next = c->prev = NULL;
    }
}

static pyxis_filter_status_t jwa_on_request_headers(pyxis_txn_t *txn, void *ctx)
{
    return jwa_check(ctx, 1);
}

/* ---- per worker: the key sets of jwks_url entries ---------------------------------------- */

static pyxis_rc_t jwa_worker_init(pyxis_worker_t *wk, void *gconf, void *const *confs,
                                  size_t nconfs, void **worker_data)
{
    size_t n = 0;
    for (size_t i = 0; i < nconfs; i++)
        n += confs[i] != NULL && ((const jwa_conf_t *)confs[i])->jwks_url != NULL;
    *worker_data = NULL;
    if (n == 0)
        return PYXIS_OK;
    jwa_worker_t *w = calloc(1, sizeof(*w) + n * sizeof(w->src[0]));
    if (w == NULL)
        return PYXIS_ERROR;
    for (size_t i = 0; i < nconfs; i++) {
        const jwa_conf_t *c = confs[i];
        if (c == NULL || c->jwks_url == NULL)
            continue;
        jwa_src_t *src = &w->src[w->n++];
        src->conf = c;
        src->waiting.next = src->waiting.prev = &src->waiting;
        jwa_schedule(src, 0); /* the first fetch, from the worker's loop */
    }
    *worker_data = w;
    return PYXIS_OK;
}

static void jwa_worker_exit(pyxis_worker_t *wk, void *worker_data)
{
    jwa_worker_t *w = worker_data;
    /* Its timers are cancelled already, and its fetches ended (or were cancelled at shutdown):
     * neither handle may be used. No request waits: all of the generation's requests ended. */
    for (size_t i = 0; w != NULL && i < w->n; i++)
        jwt_keyset_free(w->src[i].keys);
    free(w);
}

PYXIS_EXPORT const pyxis_module_t pyxis_module = {
    PYXIS_MODULE_HEADER,
    .name = "jwt_auth",
    .version = "1.0.0",
    .description = "require a valid JWT (HS*, RS*, PS*, ES256/384, EdDSA; key, JWKS file or URL)",
    .init = jwa_init,
    .conf_create = jwa_conf_create,
    .worker_init = jwa_worker_init,
    .worker_exit = jwa_worker_exit,
    .attach = jwa_attach,
    .detach = jwa_detach,
    .on_request_headers = jwa_on_request_headers,
};
