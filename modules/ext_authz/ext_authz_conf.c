/*
 * ext_authz_conf.c: the ext_authz filter's configuration (docs/config.md, "Built-in filters" ->
 * "ext_authz"), checked once per config load into an eaz_conf_t (ext_authz.h).
 *
 * What would otherwise fail on every request is refused here: an unknown upstream, a URL the
 * call-outs would not take, a path that is not one, a header name that is not a token or that
 * pyxis or this filter sets itself. Every error is recorded with api->conf_error at the
 * offending node (FILE:LINE:COL), and parsing goes on to report the entry's other errors.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ext_authz.h"

#define EAZ_NELTS(a) (sizeof(a) / sizeof((a)[0]))

/* RFC 9110 token */
static int eaz_is_token(pyxis_str_t s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (s.len == 0)
        return 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.data[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (c == '\0' || memchr(extra, c, sizeof(extra) - 1) == NULL))
            return 0;
    }
    return 1;
}

static int eaz_same_name(pyxis_str_t a, pyxis_str_t b)
{
    return a.len == b.len && strncasecmp(a.data, b.data, a.len) == 0;
}

static int eaz_is_named(pyxis_str_t a, const char *name)
{
    return eaz_same_name(a, (pyxis_str_t){name, strlen(name)});
}

/* ---- header name lists ------------------------------------------------------------------- */

/* Fields pyxis frames and manages itself; no list may name them. */
static const char *const eaz_managed[] = {"content-length", "transfer-encoding", "connection",
                                          "keep-alive",     "proxy-connection",  "te",
                                          "trailer",        "upgrade",           "expect"};

/* Fields of the check request that ext_authz (or the call-out) writes itself. */
static const char *const eaz_generated[] = {"host",
                                            "x-forwarded-for",
                                            "x-forwarded-proto",
                                            "x-forwarded-host",
                                            "x-forwarded-method",
                                            "x-forwarded-uri"};

typedef enum {
    EAZ_LIST_FORWARD = 0,  /* forward_headers */
    EAZ_LIST_UPSTREAM = 1, /* upstream_headers */
    EAZ_LIST_CLIENT = 2,   /* client_headers */
} eaz_list_t;

/* Why `name` may not be in list `kind`, or NULL. */
static const char *eaz_name_refused(pyxis_str_t name, eaz_list_t kind)
{
    for (size_t i = 0; i < EAZ_NELTS(eaz_managed); i++)
        if (eaz_is_named(name, eaz_managed[i]))
            return "is managed by pyxis (message framing and connection handling)";
    if (kind == EAZ_LIST_FORWARD) {
        for (size_t i = 0; i < EAZ_NELTS(eaz_generated); i++)
            if (eaz_is_named(name, eaz_generated[i]))
                return "is written by ext_authz itself (the check's Host is the service's; "
                       "the request's Host, client, method and URI go in X-Forwarded-*)";
    }
    if (kind == EAZ_LIST_UPSTREAM && eaz_is_named(name, "host"))
        return "cannot be changed here (use the route's host_rewrite or the headers filter's "
               "host)";
    return NULL;
}

/* A list of header names: `key: [a, b]`. */
static int eaz_conf_names(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, const char *key,
                          eaz_list_t kind, eaz_names_t *out)
{
    const pyxis_api_t *api = eaz_api;
    if (api->node_type(n) != PYXIS_NODE_SEQ)
        return api->conf_error(cc, n, "%s: expected a list of header names", key);
    size_t len = api->node_len(n);
    out->n = 0;
    out->names = len ? api->conf_alloc(cc, len * sizeof(*out->names)) : NULL;
    if (len && out->names == NULL)
        return api->conf_error(cc, n, "out of memory");
    int bad = 0;
    for (size_t i = 0; i < len; i++) {
        const pyxis_node_t *item = api->node_at(n, i);
        pyxis_str_t s = api->node_str(item);
        const char *why;
        if (api->node_type(item) != PYXIS_NODE_SCALAR || !eaz_is_token(s)) {
            api->conf_error(cc, item,
                            "%s[%zu]: expected a header name (a token: letters, digits and "
                            "!#$%%&'*+-.^_`|~)",
                            key, i);
            bad = 1;
            continue;
        }
        if ((why = eaz_name_refused(s, kind)) != NULL) {
            api->conf_error(cc, item, "%s: %.*s %s", key, (int)s.len, s.data, why);
            bad = 1;
            continue;
        }
        size_t j = 0;
        while (j < out->n && !eaz_same_name(out->names[j], s))
            j++;
        if (j < out->n) {
            api->conf_error(cc, item, "%s: %.*s is listed twice (names are case-insensitive)", key,
                            (int)s.len, s.data);
            bad = 1;
            continue;
        }
        char *copy = api->conf_strdup(cc, s.data, s.len);
        if (copy == NULL)
            return api->conf_error(cc, item, "out of memory");
        out->names[out->n++] = (pyxis_str_t){copy, s.len};
    }
    return bad ? -1 : 0;
}

/* ---- where the check goes ---------------------------------------------------------------- */

/* A path as written in the config: starts with "/"; no spaces, controls or "#", nor "?" unless
 * `query_ok`. */
static int eaz_path_ok(pyxis_str_t s, int query_ok)
{
    if (s.len == 0 || s.data[0] != '/')
        return 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.data[i];
        if (c <= 0x20 || c == 0x7f || c == '#' || (c == '?' && !query_ok))
            return 0;
    }
    return 1;
}

static int eaz_conf_target(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, eaz_conf_t *c)
{
    const pyxis_api_t *api = eaz_api;
    const pyxis_node_t *up = api->node_get(node, "upstream"), *url = api->node_get(node, "url");
    const pyxis_node_t *prefix = api->node_get(node, "path_prefix");
    const pyxis_node_t *path = api->node_get(node, "path");
    int bad = 0;

    if (up == NULL && url == NULL) {
        api->conf_error(cc, node,
                        "give upstream (a named upstream) or url (http[s]://host[:port]): "
                        "where the authorization service is");
        bad = 1;
    } else if (up != NULL && url != NULL) {
        api->conf_error(cc, url, "url: give one of upstream and url, not both");
        bad = 1;
    } else if (up != NULL) {
        if (api->conf_str(cc, up, &c->upstream) != PYXIS_OK) {
            bad = 1;
        } else if (!api->conf_has_upstream(cc, c->upstream)) {
            api->conf_error(cc, up, "upstream: no upstream named \"%s\" in upstreams", c->upstream);
            bad = 1;
        }
    } else {
        pyxis_str_t s = api->node_str(url);
        size_t olen = 0;
        const char *err = api->node_type(url) == PYXIS_NODE_SCALAR
                              ? eaz_url_origin(s.data, s.len, &olen)
                              : "expected a URL (http[s]://host[:port])";
        char *copy = err == NULL ? api->conf_strdup(cc, s.data, olen) : NULL;
        if (err != NULL) {
            api->conf_error(cc, url, "url: %s", err);
            bad = 1;
        } else if (copy == NULL) {
            return api->conf_error(cc, url, "out of memory");
        } else {
            c->url = (pyxis_str_t){copy, olen};
        }
    }

    if (prefix != NULL && path != NULL) {
        api->conf_error(cc, path, "path: give one of path_prefix and path, not both");
        return -1;
    }
    const pyxis_node_t *p = prefix != NULL ? prefix : path;
    if (p == NULL)
        return bad ? -1 : 0;
    const char *key = p == prefix ? "path_prefix" : "path";
    pyxis_str_t s = api->node_str(p);
    if (api->node_type(p) != PYXIS_NODE_SCALAR || !eaz_path_ok(s, p == path))
        return api->conf_error(cc, p,
                               "%s: expected a path starting with \"/\" (no spaces, controls "
                               "or \"#\"%s)",
                               key, p == path ? "" : ", nor \"?\": the request's query follows");
    if (p == prefix && s.data[s.len - 1] == '/')
        return api->conf_error(cc, p,
                               "path_prefix: drop the trailing \"/\" (the request's path, "
                               "appended to it, starts with one)");
    char *copy = api->conf_strdup(cc, s.data, s.len);
    if (copy == NULL)
        return api->conf_error(cc, p, "out of memory");
    c->fixed_path = p == path;
    *(p == path ? &c->path : &c->path_prefix) = (pyxis_str_t){copy, s.len};
    return bad ? -1 : 0;
}

/* ---- the rest ---------------------------------------------------------------------------- */

static int eaz_conf_body(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, eaz_conf_t *c)
{
    static const char *const keys[] = {"max_bytes"};
    const pyxis_api_t *api = eaz_api;
    if (api->node_type(n) != PYXIS_NODE_MAP)
        return api->conf_error(cc, n, "include_body: expected a map { max_bytes: SIZE }");
    int bad = api->conf_check_keys(cc, n, keys, EAZ_NELTS(keys)) != PYXIS_OK;
    const pyxis_node_t *v;
    if ((v = api->node_get(n, "max_bytes")) == NULL) {
        api->conf_error(cc, n, "include_body: missing key \"max_bytes\"");
        bad = 1;
    } else if (api->conf_size(cc, v, &c->body_max) != PYXIS_OK) {
        bad = 1;
    } else if (c->body_max == 0) {
        api->conf_error(cc, v, "include_body.max_bytes: must be more than 0");
        bad = 1;
    }
    c->include_body = 1;
    return bad ? -1 : 0;
}

static int eaz_conf_user(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, eaz_conf_t *c)
{
    const pyxis_api_t *api = eaz_api;
    pyxis_str_t s = api->node_str(n);
    if (api->node_type(n) != PYXIS_NODE_SCALAR || !eaz_is_token(s))
        return api->conf_error(cc, n, "user_header: expected a header name");
    for (size_t i = 0; i < c->upstream_fields.n; i++) {
        if (eaz_same_name(c->upstream_fields.names[i], s)) {
            c->user_header = c->upstream_fields.names[i];
            return 0;
        }
    }
    return api->conf_error(cc, n,
                           "user_header: %.*s must also be listed in upstream_headers (the "
                           "identity reaches the upstream like the other fields the service "
                           "owns)",
                           (int)s.len, s.data);
}

pyxis_rc_t eaz_conf_create(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **conf)
{
    static const char *const keys[] = {
        "upstream",           "url",           "path_prefix",      "path",        "timeout",
        "forward_headers",    "include_body",  "upstream_headers", "user_header", "client_headers",
        "failure_mode_allow", "failure_status"};
    const pyxis_api_t *api = eaz_api;
    if (api->node_type(node) != PYXIS_NODE_MAP) {
        api->conf_error(cc, api->node_type(node) == PYXIS_NODE_NULL ? NULL : node,
                        "expected a map with upstream or url, and the other settings");
        return PYXIS_ERROR;
    }
    eaz_conf_t *c = api->conf_alloc(cc, sizeof(*c));
    if (c == NULL) {
        api->conf_error(cc, node, "out of memory");
        return PYXIS_ERROR;
    }
    c->timeout_ms = EAZ_DEFAULT_TIMEOUT_MS;
    c->failure_status = EAZ_DEFAULT_FAILURE;

    int bad = api->conf_check_keys(cc, node, keys, EAZ_NELTS(keys)) != PYXIS_OK;
    if (eaz_conf_target(cc, node, c) != 0)
        bad = 1;
    const pyxis_node_t *n;
    if ((n = api->node_get(node, "timeout")) != NULL) {
        if (api->conf_duration(cc, n, &c->timeout_ms) != PYXIS_OK) {
            bad = 1;
        } else if (c->timeout_ms == 0) {
            api->conf_error(cc, n, "timeout: must be more than 0");
            bad = 1;
        }
    }
    if ((n = api->node_get(node, "forward_headers")) != NULL &&
        eaz_conf_names(cc, n, "forward_headers", EAZ_LIST_FORWARD, &c->forward) != 0)
        bad = 1;
    if ((n = api->node_get(node, "upstream_headers")) != NULL &&
        eaz_conf_names(cc, n, "upstream_headers", EAZ_LIST_UPSTREAM, &c->upstream_fields) != 0)
        bad = 1;
    if ((n = api->node_get(node, "client_headers")) != NULL &&
        eaz_conf_names(cc, n, "client_headers", EAZ_LIST_CLIENT, &c->client_fields) != 0)
        bad = 1;
    if ((n = api->node_get(node, "user_header")) != NULL && eaz_conf_user(cc, n, c) != 0)
        bad = 1;
    if ((n = api->node_get(node, "include_body")) != NULL && eaz_conf_body(cc, n, c) != 0)
        bad = 1;
    if ((n = api->node_get(node, "failure_mode_allow")) != NULL &&
        api->conf_bool(cc, n, &c->failure_allow) != PYXIS_OK)
        bad = 1;
    uint64_t status;
    if ((n = api->node_get(node, "failure_status")) != NULL) {
        if (api->conf_uint(cc, n, 400, 599, &status) != PYXIS_OK)
            bad = 1;
        else
            c->failure_status = (int)status;
    }
    if (bad)
        return PYXIS_ERROR;
    api->conf_uses(cc, PYXIS_USES_REQUEST_HEADERS);
    *conf = c;
    return PYXIS_OK;
}
