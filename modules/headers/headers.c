/*
 * headers.c: the built-in `headers` filter: set, add, append and remove header fields in both
 * directions, rewrite the request path (prefix or regex) and the Host sent upstream.
 * docs/config.md ("Built-in filters" -> "headers") is the user's description; headers_conf.c turns
 * the config into an hdr_conf_t, which this file applies per request.
 *
 * Per request nothing is allocated but the expanded values (from the transaction pool); the
 * regex's match data is made once per worker (worker_init). Header values are never logged:
 * they may hold credentials.
 */
#include <string.h>
#include <strings.h>

#include "headers.h"

const pyxis_api_t *hdr_api;

#define HDR_STACK_VALUES 16

static const char *const hdr_op_verbs[] = {"remove", "set", "add", "append"};

static pyxis_rc_t hdr_init(const pyxis_api_t *api)
{
    hdr_api = api;
    return PYXIS_OK;
}

/* ---- values ------------------------------------------------------------------------------ */

/* Expand a template into *out: the literal itself, a variable's value (valid for the txn), or
 * the parts joined in the transaction pool. A variable without a value (a missing header,
 * ${status} before the response) expands to nothing. 0, or -1 when out of memory. */
static int hdr_expand(pyxis_txn_t *txn, const hdr_tmpl_t *t, pyxis_str_t *out)
{
    const pyxis_api_t *api = hdr_api;
    pyxis_str_t stack[HDR_STACK_VALUES], *vals = stack;
    if (t->nparts == 1) {
        *out = t->parts[0].str;
        if (t->parts[0].is_var && api->var(txn, t->parts[0].str, out) != PYXIS_OK)
            *out = (pyxis_str_t){"", 0};
        return 0;
    }
    if (t->nparts > HDR_STACK_VALUES &&
        (vals = api->palloc(txn, t->nparts * sizeof(*vals))) == NULL)
        return -1;
    size_t len = 0;
    for (size_t i = 0; i < t->nparts; i++) {
        vals[i] = t->parts[i].str;
        if (t->parts[i].is_var && api->var(txn, t->parts[i].str, &vals[i]) != PYXIS_OK)
            vals[i] = (pyxis_str_t){"", 0};
        len += vals[i].len;
    }
    char *buf = api->palloc(txn, len + 1);
    if (buf == NULL)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < t->nparts; i++) {
        memcpy(buf + o, vals[i].data, vals[i].len);
        o += vals[i].len;
    }
    *out = (pyxis_str_t){buf, len};
    return 0;
}

/* ---- header operations ------------------------------------------------------------------- */

/* Append v to the comma-separated list held by every `name` field (joined into one field, in
 * order), or add the field when there is none. */
static pyxis_rc_t hdr_append(pyxis_txn_t *txn, pyxis_headers_t *h, pyxis_str_t name, pyxis_str_t v)
{
    const pyxis_api_t *api = hdr_api;
    pyxis_str_t fn, fv;
    size_t iter = 0, len = 0, n = 0;
    while (api->header_next(h, &iter, &fn, &fv) == PYXIS_OK) {
        if (fn.len == name.len && strncasecmp(fn.data, name.data, name.len) == 0 && fv.len > 0) {
            len += fv.len + 2;
            n++;
        }
    }
    if (n == 0)
        return api->header_add(txn, h, name, v);
    char *buf = api->palloc(txn, len + v.len + 1);
    if (buf == NULL)
        return PYXIS_NOMEM;
    size_t o = 0;
    iter = 0;
    while (api->header_next(h, &iter, &fn, &fv) == PYXIS_OK) {
        if (fn.len == name.len && strncasecmp(fn.data, name.data, name.len) == 0 && fv.len > 0) {
            memcpy(buf + o, fv.data, fv.len);
            memcpy(buf + o + fv.len, ", ", 2);
            o += fv.len + 2;
        }
    }
    memcpy(buf + o, v.data, v.len);
    return api->header_set(txn, h, name, (pyxis_str_t){buf, o + v.len});
}

/* Apply one direction's operations to h. Every value is expanded before any field changes,
 * so values read the message as it reached this filter (remove: [x-old] with
 * set: { x-new: "${header.x-old}" } renames a field). 0, or -1 to fail the request. */
static int hdr_apply(pyxis_txn_t *txn, pyxis_headers_t *h, const hdr_ops_t *ops)
{
    const pyxis_api_t *api = hdr_api;
    if (ops->nops == 0 || h == NULL)
        return 0;
    pyxis_str_t stack[HDR_STACK_VALUES], *vals = stack;
    if (ops->nops > HDR_STACK_VALUES &&
        (vals = api->palloc(txn, ops->nops * sizeof(*vals))) == NULL)
        goto nomem;
    for (size_t i = 0; i < ops->nops; i++)
        if (ops->ops[i].kind != HDR_OP_REMOVE && hdr_expand(txn, &ops->ops[i].value, &vals[i]) < 0)
            goto nomem;

    for (size_t i = 0; i < ops->nops; i++) {
        const hdr_op_t *op = &ops->ops[i];
        pyxis_rc_t rc;
        switch (op->kind) {
        case HDR_OP_REMOVE: rc = api->header_remove(txn, h, op->name, NULL); break;
        case HDR_OP_SET:
            /* An empty value removes the field: a client cannot slip in a value this filter
             * was meant to own. */
            rc = vals[i].len ? api->header_set(txn, h, op->name, vals[i])
                             : api->header_remove(txn, h, op->name, NULL);
            break;
        case HDR_OP_ADD:
            rc = vals[i].len ? api->header_add(txn, h, op->name, vals[i]) : PYXIS_OK;
            break;
        case HDR_OP_APPEND:
        default: rc = vals[i].len ? hdr_append(txn, h, op->name, vals[i]) : PYXIS_OK; break;
        }
        if (rc == PYXIS_OK || rc == PYXIS_NOT_FOUND)
            continue;
        if (rc == PYXIS_INVALID) { /* a variable brought in bytes a field may not hold */
            api->log(txn, PYXIS_LOG_WARN,
                     "%s %.*s: the expanded value is not a valid field value; field left out",
                     hdr_op_verbs[op->kind], (int)op->name.len, op->name.data);
            continue;
        }
        if (rc == PYXIS_NOMEM)
            goto nomem;
        api->log(txn, PYXIS_LOG_ERROR, "%s %.*s failed (%d)", hdr_op_verbs[op->kind],
                 (int)op->name.len, op->name.data, (int)rc);
        return -1;
    }
    return 0;

nomem:
    api->log(txn, PYXIS_LOG_ERROR, "out of memory");
    return -1;
}

/* ---- path and host ----------------------------------------------------------------------- */

/* The new path for a regex rewrite: the part of the path the pattern matched (the first
 * match) is replaced by the replacement; what is around it stays. 1 rewritten, 0 no match,
 * -1 error. */
static int hdr_regex_path(pyxis_txn_t *txn, const hdr_conf_t *c, pyxis_str_t path, pyxis_str_t *out)
{
    const pyxis_api_t *api = hdr_api;
    pcre2_match_data *md = api->worker_data(txn), *own = NULL;
    if (md == NULL || pcre2_get_ovector_count(md) < c->ovec_pairs) {
        /* worker_init sizes the worker's match data for every pattern; this is a fallback */
        if ((md = own = pcre2_match_data_create(c->ovec_pairs, NULL)) == NULL)
            return -1;
    }
    int rc = pcre2_match(c->regex, (PCRE2_SPTR)path.data, path.len, 0, 0, md, NULL);
    if (rc < 0) {
        if (rc != PCRE2_ERROR_NOMATCH)
            api->log(txn, PYXIS_LOG_ERROR, "path regex: match failed (pcre2 error %d)", rc);
        pcre2_match_data_free(own);
        return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
    }
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t len = ov[0] + (path.len - ov[1]);
    for (size_t i = 0; i < c->nrepl; i++) {
        const hdr_repl_part_t *p = &c->repl[i];
        if (!p->is_group)
            len += p->lit.len;
        else if (ov[2 * p->group] != PCRE2_UNSET)
            len += ov[2 * p->group + 1] - ov[2 * p->group];
    }
    char *buf = api->palloc(txn, len + 1);
    if (buf == NULL) {
        pcre2_match_data_free(own);
        return -1;
    }
    size_t o = ov[0];
    memcpy(buf, path.data, ov[0]);
    for (size_t i = 0; i < c->nrepl; i++) {
        const hdr_repl_part_t *p = &c->repl[i];
        if (!p->is_group) {
            memcpy(buf + o, p->lit.data, p->lit.len);
            o += p->lit.len;
        } else if (ov[2 * p->group] != PCRE2_UNSET) {
            size_t gl = ov[2 * p->group + 1] - ov[2 * p->group];
            memcpy(buf + o, path.data + ov[2 * p->group], gl);
            o += gl;
        }
    }
    memcpy(buf + o, path.data + ov[1], path.len - ov[1]);
    *out = (pyxis_str_t){buf, len};
    pcre2_match_data_free(own);
    return 1;
}

/* Rewrite the path the upstream receives; the query is left as it is. 0, or -1 to fail. */
static int hdr_rewrite_path(pyxis_txn_t *txn, const hdr_conf_t *c)
{
    const pyxis_api_t *api = hdr_api;
    pyxis_str_t path = api->req_path(txn), np;
    if (c->path_kind == HDR_PATH_PREFIX) {
        if (path.len < c->prefix_from.len ||
            memcmp(path.data, c->prefix_from.data, c->prefix_from.len) != 0)
            return 0;
        char *buf = api->palloc(txn, c->prefix_to.len + path.len - c->prefix_from.len + 1);
        if (buf == NULL)
            return -1;
        memcpy(buf, c->prefix_to.data, c->prefix_to.len);
        memcpy(buf + c->prefix_to.len, path.data + c->prefix_from.len,
               path.len - c->prefix_from.len);
        np = (pyxis_str_t){buf, c->prefix_to.len + path.len - c->prefix_from.len};
    } else {
        int rc = hdr_regex_path(txn, c, path, &np);
        if (rc <= 0)
            return rc;
    }
    pyxis_rc_t rc = api->req_set_path(txn, np);
    if (rc == PYXIS_OK)
        return 0;
    if (rc == PYXIS_INVALID)
        api->log(txn, PYXIS_LOG_ERROR,
                 "path rewrite: the result is not a valid path (it must start with \"/\")");
    else
        api->log(txn, PYXIS_LOG_ERROR, "path rewrite failed (%d)", (int)rc);
    return -1;
}

/* ---- filter callbacks -------------------------------------------------------------------- */

static pyxis_filter_status_t hdr_on_request_headers(pyxis_txn_t *txn, void *ctx)
{
    const pyxis_api_t *api = hdr_api;
    const hdr_conf_t *c = ctx;
    pyxis_str_t host = {NULL, 0};
    /* Host is expanded with the other values, before any field changes. */
    if (c->has_host && hdr_expand(txn, &c->host, &host) < 0)
        return PYXIS_FILTER_ERROR;
    if (hdr_apply(txn, api->req_headers(txn), &c->req) < 0)
        return PYXIS_FILTER_ERROR;
    if (c->path_kind != HDR_PATH_NONE && hdr_rewrite_path(txn, c) < 0)
        return PYXIS_FILTER_ERROR;
    if (host.len > 0) {
        pyxis_rc_t rc =
            api->header_set(txn, api->req_headers(txn), (pyxis_str_t)PYXIS_STR("host"), host);
        if (rc == PYXIS_INVALID) {
            api->log(txn, PYXIS_LOG_WARN, "host: the expanded value is not valid; Host kept");
        } else if (rc != PYXIS_OK) {
            api->log(txn, PYXIS_LOG_ERROR, "host: setting Host failed (%d)", (int)rc);
            return PYXIS_FILTER_ERROR;
        }
    }
    return PYXIS_FILTER_CONTINUE;
}

static pyxis_filter_status_t hdr_on_response_headers(pyxis_txn_t *txn, void *ctx)
{
    const hdr_conf_t *c = ctx;
    if (hdr_apply(txn, hdr_api->resp_headers(txn), &c->resp) < 0)
        return PYXIS_FILTER_ERROR;
    return PYXIS_FILTER_CONTINUE;
}

/* ---- per worker: one match data sized for the largest pattern ---------------------------- */

static pyxis_rc_t hdr_worker_init(pyxis_worker_t *w, void *gconf, void *const *confs, size_t nconfs,
                                  void **worker_data)
{
    (void)gconf;
    uint32_t pairs = 0;
    for (size_t i = 0; i < nconfs; i++) {
        const hdr_conf_t *c = confs[i];
        if (c != NULL && c->path_kind == HDR_PATH_REGEX && c->ovec_pairs > pairs)
            pairs = c->ovec_pairs;
    }
    *worker_data = NULL;
    if (pairs == 0)
        return PYXIS_OK;
    pcre2_match_data *md = pcre2_match_data_create(pairs, NULL);
    if (md == NULL)
        return PYXIS_ERROR;
    *worker_data = md;
    return PYXIS_OK;
}

static void hdr_worker_exit(pyxis_worker_t *w, void *worker_data)
{
    pcre2_match_data_free(worker_data);
}

PYXIS_EXPORT const pyxis_module_t pyxis_module = {
    PYXIS_MODULE_HEADER,
    .name = "headers",
    .version = "1.0.0",
    .description = "set, add, append and remove header fields; rewrite the path and Host",
    .init = hdr_init,
    .conf_create = hdr_conf_create,
    .worker_init = hdr_worker_init,
    .worker_exit = hdr_worker_exit,
    .on_request_headers = hdr_on_request_headers,
    .on_response_headers = hdr_on_response_headers,
};
