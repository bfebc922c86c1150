/*
 * ext_authz.c: the built-in `ext_authz` filter: ask an HTTP authorization service about each
 * request before it goes upstream, in the manner of Envoy's HTTP ext_authz. docs/config.md
 * ("Built-in filters" -> "ext_authz") is the user's description; ext_authz_conf.c turns the
 * config into an eaz_conf_t, which this file applies per request.
 *
 * Per request: on_request_headers (after reading the body, with include_body) sends the check
 * with api->callout and returns PAUSE; the call-out's callback decides and resumes the request:
 *   - 2xx: allowed. The fields the service owns (upstream_headers) are taken off the request
 *     and replaced by the answer's; user_header's value becomes var auth_user.
 *   - 3xx..5xx: denied. The answer's status, body and client_headers go to the client.
 *   - no answer (refused, timeout, malformed, status outside 200..599): failure_status, or the
 *     request goes on without the owned fields with failure_mode_allow.
 * The worker serves other requests meanwhile. The call-out belongs to the transaction: when
 * the client goes away first, the core cancels it and the callback never runs, so nothing
 * here outlives the request.
 *
 * Nothing is allocated per request but from the transaction pool. Header values are never
 * logged: they carry credentials (Authorization, Cookie) and identities.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ext_authz.h"

const pyxis_api_t *eaz_api;

/* One check in flight: the call-out's argument (transaction pool). */
typedef struct {
    const eaz_conf_t *conf;
    pyxis_txn_t *txn;
} eaz_call_t;

/* The check request's fields (transaction pool), at most `cap`. */
typedef struct {
    pyxis_header_t *items;
    size_t n, cap;
} eaz_fields_t;

/* Fields ext_authz adds to every check, after the forwarded ones. */
#define EAZ_OWN_FIELDS 5

static const pyxis_str_t eaz_xff = PYXIS_STR("X-Forwarded-For");
static const pyxis_str_t eaz_xfp = PYXIS_STR("X-Forwarded-Proto");
static const pyxis_str_t eaz_xfh = PYXIS_STR("X-Forwarded-Host");
static const pyxis_str_t eaz_xfm = PYXIS_STR("X-Forwarded-Method");
static const pyxis_str_t eaz_xfu = PYXIS_STR("X-Forwarded-Uri");
static const pyxis_str_t eaz_var_user = PYXIS_STR("auth_user");
static const pyxis_str_t eaz_var_method = PYXIS_STR("auth_method");
static const pyxis_str_t eaz_method_name = PYXIS_STR("ext_authz");
static const pyxis_str_t eaz_failed_body = PYXIS_STR("authorization check failed\n");

static pyxis_rc_t eaz_init(const pyxis_api_t *api)
{
    eaz_api = api;
    return PYXIS_OK;
}

static int eaz_name_is(pyxis_str_t a, pyxis_str_t b)
{
    return a.len == b.len && strncasecmp(a.data, b.data, a.len) == 0;
}

static int eaz_listed(const eaz_names_t *l, pyxis_str_t name)
{
    for (size_t i = 0; i < l->n; i++)
        if (eaz_name_is(l->names[i], name))
            return 1;
    return 0;
}

/* Resume a request paused in on_request_headers with the outcome st. */
static void eaz_resume(pyxis_txn_t *txn, pyxis_filter_status_t st)
{
    if (st == PYXIS_FILTER_CONTINUE)
        eaz_api->resume(txn);
    else
        eaz_api->resume_with(txn, st);
}

/* ---- the answer -------------------------------------------------------------------------- */

/* Take the fields the service owns off the upstream request: a client cannot send its own
 * X-User, whatever the service answers. 0, or -1 to fail the request. */
static int eaz_strip_owned(pyxis_txn_t *txn, const eaz_conf_t *c)
{
    const pyxis_api_t *api = eaz_api;
    pyxis_headers_t *h = api->req_headers(txn);
    for (size_t i = 0; i < c->upstream_fields.n; i++) {
        pyxis_rc_t rc = api->header_remove(txn, h, c->upstream_fields.names[i], NULL);
        if (rc != PYXIS_OK && rc != PYXIS_NOT_FOUND) {
            api->log(txn, PYXIS_LOG_ERROR, "removing %.*s from the request failed (%d)",
                     (int)c->upstream_fields.names[i].len, c->upstream_fields.names[i].data,
                     (int)rc);
            return -1;
        }
    }
    return 0;
}

/* Add every field of the answer whose name is in `names` to h. 0, or -1 to fail the request. */
static int eaz_copy_fields(pyxis_txn_t *txn, pyxis_headers_t *h, const eaz_names_t *names,
                           const pyxis_callout_resp_t *resp, const char *key)
{
    const pyxis_api_t *api = eaz_api;
    for (size_t i = 0; i < resp->nheaders; i++) {
        const pyxis_header_t *f = &resp->headers[i];
        if (!eaz_listed(names, f->name))
            continue;
        pyxis_rc_t rc = api->header_add(txn, h, f->name, f->value);
        if (rc == PYXIS_INVALID) {
            api->log(txn, PYXIS_LOG_WARN,
                     "%s: the service's %.*s is not a valid field value; left out", key,
                     (int)f->name.len, f->name.data);
        } else if (rc != PYXIS_OK) {
            api->log(txn, PYXIS_LOG_ERROR, "%s: adding %.*s failed (%d)", key, (int)f->name.len,
                     f->name.data, (int)rc);
            return -1;
        }
    }
    return 0;
}

static pyxis_filter_status_t eaz_allow(eaz_call_t *call, const pyxis_callout_resp_t *resp)
{
    const pyxis_api_t *api = eaz_api;
    const eaz_conf_t *c = call->conf;
    pyxis_txn_t *txn = call->txn;
    if (eaz_strip_owned(txn, c) != 0 ||
        eaz_copy_fields(txn, api->req_headers(txn), &c->upstream_fields, resp,
                        "upstream_headers") != 0)
        return PYXIS_FILTER_ERROR;
    for (size_t i = 0; c->user_header.len > 0 && i < resp->nheaders; i++) {
        const pyxis_header_t *f = &resp->headers[i];
        if (!eaz_name_is(f->name, c->user_header) || f->value.len == 0)
            continue;
        if (api->var_set(txn, eaz_var_user, f->value) != PYXIS_OK ||
            api->var_set(txn, eaz_var_method, eaz_method_name) != PYXIS_OK) {
            api->log(txn, PYXIS_LOG_ERROR, "setting var.auth_user failed");
            return PYXIS_FILTER_ERROR;
        }
        break;
    }
    if (api->log_enabled(PYXIS_LOG_DEBUG))
        api->log(txn, PYXIS_LOG_DEBUG, "allowed by the authorization service (%d)", resp->status);
    return PYXIS_FILTER_CONTINUE;
}

static pyxis_filter_status_t eaz_deny(eaz_call_t *call, const pyxis_callout_resp_t *resp)
{
    const pyxis_api_t *api = eaz_api;
    pyxis_txn_t *txn = call->txn;
    pyxis_rc_t rc = api->respond(txn, resp->status, resp->body);
    if (rc != PYXIS_OK) {
        api->log(txn, PYXIS_LOG_ERROR, "answering %d failed (%d)", resp->status, (int)rc);
        return PYXIS_FILTER_ERROR;
    }
    if (eaz_copy_fields(txn, api->resp_headers(txn), &call->conf->client_fields, resp,
                        "client_headers") != 0)
        return PYXIS_FILTER_ERROR;
    api->log(txn, PYXIS_LOG_INFO, "denied by the authorization service (%d)", resp->status);
    return PYXIS_FILTER_STOP;
}

/* No usable answer: `why` says what went wrong (no credential ever appears in it). */
static pyxis_filter_status_t eaz_failure(eaz_call_t *call, const char *why)
{
    const pyxis_api_t *api = eaz_api;
    const eaz_conf_t *c = call->conf;
    pyxis_txn_t *txn = call->txn;
    const char *kind = c->upstream != NULL ? "upstream " : "";
    pyxis_str_t where =
        c->upstream != NULL ? (pyxis_str_t){c->upstream, strlen(c->upstream)} : c->url;
    if (c->failure_allow) {
        api->log(txn, PYXIS_LOG_WARN,
                 "authorization service %s%.*s failed: %s; failure_mode_allow: the request goes "
                 "on unauthorized",
                 kind, (int)where.len, where.data, why);
        return eaz_strip_owned(txn, c) == 0 ? PYXIS_FILTER_CONTINUE : PYXIS_FILTER_ERROR;
    }
    api->log(txn, PYXIS_LOG_ERROR, "authorization service %s%.*s failed: %s; answering %d", kind,
             (int)where.len, where.data, why, c->failure_status);
    if (api->respond(txn, c->failure_status, eaz_failed_body) != PYXIS_OK)
        return PYXIS_FILTER_ERROR;
    return PYXIS_FILTER_STOP;
}

static void eaz_answered(const pyxis_callout_resp_t *resp, void *arg)
{
    eaz_call_t *call = arg;
    pyxis_filter_status_t st;
    char why[64];
    if (resp->status == 0) {
        st = eaz_failure(call, resp->error != NULL ? resp->error : "call-out failed");
    } else if (resp->status < 200 || resp->status > 599) {
        snprintf(why, sizeof(why), "invalid status %d", resp->status);
        st = eaz_failure(call, why);
    } else if (resp->status < 300) {
        st = eaz_allow(call, resp);
    } else {
        st = eaz_deny(call, resp);
    }
    eaz_resume(call->txn, st);
}

/* ---- the check request ------------------------------------------------------------------- */

static void eaz_push(eaz_fields_t *f, pyxis_str_t name, pyxis_str_t value)
{
    if (f->n < f->cap)
        f->items[f->n++] = (pyxis_header_t){name, value};
}

/* Concatenate up to three strings into the pool, NUL-terminated. */
static char *eaz_join(pyxis_txn_t *txn, pyxis_str_t a, pyxis_str_t b, pyxis_str_t c, size_t *len)
{
    char *p = eaz_api->palloc(txn, a.len + b.len + c.len + 1);
    if (p == NULL)
        return NULL;
    const pyxis_str_t parts[] = {a, b, c};
    size_t o = 0;
    for (size_t i = 0; i < 3; i++) {
        if (parts[i].len > 0) /* an empty string's data may be NULL */
            memcpy(p + o, parts[i].data, parts[i].len);
        o += parts[i].len;
    }
    p[o] = '\0';
    *len = o;
    return p;
}

/* The check's fields: the request fields named in forward_headers, then X-Forwarded-For,
 * -Proto and -Host as the upstream will get them (the listener's `forwarded` setting applied;
 * the client's address, the scheme and the Host when the request has none), -Method and -Uri.
 * Values are borrowed from the request list, which does not change before callout() copies
 * them. 0, or -1 when out of memory. */
static int eaz_check_fields(pyxis_txn_t *txn, const eaz_conf_t *c, pyxis_str_t uri, eaz_fields_t *f)
{
    const pyxis_api_t *api = eaz_api;
    pyxis_headers_t *h = api->req_headers(txn);
    pyxis_str_t name, value;
    size_t iter = 0, count = EAZ_OWN_FIELDS;
    while (api->header_next(h, &iter, &name, &value) == PYXIS_OK)
        count++;
    f->n = 0;
    f->cap = count;
    if ((f->items = api->palloc(txn, count * sizeof(*f->items))) == NULL)
        return -1;
    int have_xff = 0, have_xfp = 0, have_xfh = 0;
    iter = 0;
    while (api->header_next(h, &iter, &name, &value) == PYXIS_OK) {
        int xff = eaz_name_is(name, eaz_xff), xfp = eaz_name_is(name, eaz_xfp),
            xfh = eaz_name_is(name, eaz_xfh);
        if (xff || xfp || xfh || eaz_listed(&c->forward, name))
            eaz_push(f, name, value);
        have_xff |= xff;
        have_xfp |= xfp;
        have_xfh |= xfh;
    }
    if (!have_xff)
        eaz_push(f, eaz_xff, api->client_addr(txn));
    if (!have_xfp)
        eaz_push(f, eaz_xfp, api->req_scheme(txn));
    if (!have_xfh && api->req_host(txn).len > 0)
        eaz_push(f, eaz_xfh, api->req_host(txn));
    eaz_push(f, eaz_xfm, api->req_method(txn));
    eaz_push(f, eaz_xfu, uri);
    return 0;
}

/* Send the check. PAUSE when it is on its way (eaz_answered will resume the request), else
 * the outcome of a check that could not start. */
static pyxis_filter_status_t eaz_send(eaz_call_t *call)
{
    const pyxis_api_t *api = eaz_api;
    const eaz_conf_t *c = call->conf;
    pyxis_txn_t *txn = call->txn;
    pyxis_str_t none = {"", 0}, path = api->req_path(txn), query = api->req_query(txn);
    pyxis_str_t uri, target;
    eaz_fields_t fields;
    size_t url_len;

    uri.data = eaz_join(txn, path, query.len ? (pyxis_str_t)PYXIS_STR("?") : none, query, &uri.len);
    if (uri.data == NULL)
        goto nomem;
    target = c->fixed_path ? c->path : uri;
    if (!c->fixed_path && c->path_prefix.len > 0 &&
        (target.data = eaz_join(txn, c->path_prefix, uri, none, &target.len)) == NULL)
        goto nomem;
    if (eaz_check_fields(txn, c, uri, &fields) != 0)
        goto nomem;

    pyxis_callout_req_t req;
    memset(&req, 0, sizeof(req));
    req.size = sizeof(req);
    req.method = api->req_method(txn);
    req.headers = fields.items;
    req.nheaders = fields.n;
    req.timeout_ms = c->timeout_ms;
    if (c->upstream != NULL) {
        req.upstream = c->upstream;
        req.path = target;
    } else if ((req.url = eaz_join(txn, c->url, target, none, &url_len)) == NULL) {
        goto nomem;
    }
    pyxis_buf_t *body = c->include_body ? api->req_body(txn) : NULL;
    if (body != NULL && (req.body.len = api->buf_len(body)) > 0 &&
        (req.body.data = api->buf_pullup(body, req.body.len)) == NULL)
        goto nomem;

    if (api->callout(txn, &req, eaz_answered, call) == NULL)
        return eaz_failure(call, "the call-out was refused (the line before says why)");
    return PYXIS_FILTER_PAUSE;

nomem:
    api->log(txn, PYXIS_LOG_ERROR, "out of memory");
    return PYXIS_FILTER_ERROR;
}

/* include_body: the whole body is in req_body(); send the check now. */
static void eaz_body_read(pyxis_txn_t *txn, void *arg)
{
    pyxis_filter_status_t st = eaz_send(arg);
    if (st != PYXIS_FILTER_PAUSE)
        eaz_resume(txn, st);
}

static pyxis_filter_status_t eaz_on_request_headers(pyxis_txn_t *txn, void *ctx)
{
    const pyxis_api_t *api = eaz_api;
    const eaz_conf_t *c = ctx;
    eaz_call_t *call = api->palloc(txn, sizeof(*call));
    if (call == NULL) {
        api->log(txn, PYXIS_LOG_ERROR, "out of memory");
        return PYXIS_FILTER_ERROR;
    }
    call->conf = c;
    call->txn = txn;
    if (c->include_body) {
        /* A body longer than max_bytes is answered 413 by the core. */
        pyxis_rc_t rc = api->req_body_read(txn, c->body_max, eaz_body_read, call);
        if (rc == PYXIS_OK)
            return PYXIS_FILTER_PAUSE;
        if (rc != PYXIS_NOT_FOUND) {
            api->log(txn, PYXIS_LOG_ERROR, "reading the request body failed (%d)", (int)rc);
            return PYXIS_FILTER_ERROR;
        }
    }
    return eaz_send(call);
}

PYXIS_EXPORT const pyxis_module_t pyxis_module = {
    PYXIS_MODULE_HEADER,
    .name = "ext_authz",
    .version = "1.0.0",
    .description = "asks an HTTP authorization service about each request (like Envoy's "
                   "ext_authz)",
    .init = eaz_init,
    .conf_create = eaz_conf_create,
    .on_request_headers = eaz_on_request_headers,
};
