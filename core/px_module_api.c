/*
 * px_module_api.c: the service table modules get (pyxis_api_t), over the core's own types.
 *
 * The SDK's opaque handles are the core's objects: pyxis_txn_t is px_txn_t, pyxis_headers_t
 * is px_headers_t, pyxis_chunk_t and pyxis_buf_t are evbuffers, pyxis_worker_t is px_worker_t.
 * pyxis_str_t and pyxis_header_t have the layout of px_str_t and px_header_t (checked below).
 * The config services live in px_conf_module.c, next to the loader they belong to.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config.h"
#include "px_endpoint-t.h"
#include "px_filter.h"
#include "px_headers.h"
#include "px_http1.h"
#include "px_io.h"
#include "px_log.h"
#include "px_module.h"
#include "px_module_api.h"
#include "px_callout.h"
#include "px_pool.h"
#include "px_shdict.h"
#include "px_tls_vars.h"
#include "px_txn.h"
#include "px_worker.h"

_Static_assert(sizeof(pyxis_str_t) == sizeof(px_str_t), "pyxis_str_t layout");
_Static_assert((int)PYXIS_USES_REQUEST_HEADERS == (int)PX_FILTER_HAS_REQ_HEADERS &&
                   (int)PYXIS_USES_REQUEST_BODY == (int)PX_FILTER_HAS_REQ_BODY &&
                   (int)PYXIS_USES_RESPONSE_HEADERS == (int)PX_FILTER_HAS_RESP_HEADERS &&
                   (int)PYXIS_USES_RESPONSE_BODY == (int)PX_FILTER_HAS_RESP_BODY &&
                   (int)PYXIS_USES_LOG == (int)PX_FILTER_HAS_LOG,
               "PYXIS_USES_* and PX_FILTER_HAS_* agree");
_Static_assert(offsetof(pyxis_str_t, len) == offsetof(px_str_t, len), "pyxis_str_t layout");
_Static_assert(sizeof(pyxis_header_t) == sizeof(px_header_t), "pyxis_header_t layout");
_Static_assert(offsetof(pyxis_header_t, value) == offsetof(px_header_t, value),
               "pyxis_header_t layout");

#define T(txn) ((px_txn_t *)(void *)(txn))
#define H(h)   ((px_headers_t *)(void *)(h))
#define EB(c)  ((struct evbuffer *)(void *)(c))
static inline px_str_t PS(pyxis_str_t s)
{
    px_str_t r = {s.data, s.len};
    return r;
}

static inline pyxis_str_t API_S(px_str_t s)
{
    pyxis_str_t r = {s.data, s.len};
    return r;
}

/* ---- memory -------------------------------------------------------------------------------- */

static void *px_api_palloc(pyxis_txn_t *txn, size_t size)
{
    return px_palloc(T(txn)->pool, size);
}

static void *px_api_pcalloc(pyxis_txn_t *txn, size_t size)
{
    return px_pcalloc(T(txn)->pool, size);
}

static char *px_api_pstrndup(pyxis_txn_t *txn, const char *s, size_t n)
{
    return px_pstrndup(T(txn)->pool, s, n);
}

static pyxis_rc_t px_api_cleanup_add(pyxis_txn_t *txn, pyxis_cleanup_fn fn, void *data)
{
    return px_pool_cleanup_add(T(txn)->pool, fn, data) < 0 ? PYXIS_NOMEM : PYXIS_OK;
}

/* ---- headers ------------------------------------------------------------------------------- */

/* RFC 9110 tchar: ALPHA, DIGIT and !#$%&'*+-.^_`|~, one bit per ASCII byte. */
static const uint32_t px_api_tchars[4] = {0x00000000, 0x03ff6cfa, 0xc7fffffe, 0x57ffffff};

static int px_api_tchar(unsigned char c)
{
    return c < 128 && (px_api_tchars[c >> 5] >> (c & 31) & 1);
}

int px_api_is_token(pyxis_str_t s)
{
    if (s.len == 0)
        return 0;
    for (size_t i = 0; i < s.len; i++)
        if (!px_api_tchar((unsigned char)s.data[i]))
            return 0;
    return 1;
}

int px_api_is_field_value(pyxis_str_t s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.data[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

/* Fields that frame the message or describe the connection: the core writes them itself. */
static int px_api_reserved_field(pyxis_str_t n)
{
#define PX_API_NAME(s)                                                                             \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
    static const struct {
        const char *s;
        size_t len;
    } names[] = {PX_API_NAME("content-length"),   PX_API_NAME("transfer-encoding"),
                 PX_API_NAME("connection"),       PX_API_NAME("keep-alive"),
                 PX_API_NAME("proxy-connection"), PX_API_NAME("te"),
                 PX_API_NAME("upgrade"),          PX_API_NAME("trailer")};
#undef PX_API_NAME
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (n.len == names[i].len && (n.data[0] | 0x20) == names[i].s[0] &&
            px_header_name_eq(n.data, n.len, names[i].s, names[i].len))
            return 1;
    return 0;
}

static pyxis_headers_t *px_api_req_headers(pyxis_txn_t *txn)
{
    return (pyxis_headers_t *)&T(txn)->req_headers;
}

static pyxis_headers_t *px_api_resp_headers(pyxis_txn_t *txn)
{
    px_txn_t *t = T(txn);
    return t->status > 0 || t->replying ? (pyxis_headers_t *)&t->resp_headers : NULL;
}

static pyxis_headers_t *px_api_req_trailers(pyxis_txn_t *txn)
{
    return (pyxis_headers_t *)&T(txn)->req_trailers;
}

static pyxis_headers_t *px_api_resp_trailers(pyxis_txn_t *txn)
{
    px_txn_t *t = T(txn);
    return t->status > 0 || t->replying ? (pyxis_headers_t *)&t->resp_trailers : NULL;
}

static pyxis_rc_t px_api_header_get(pyxis_headers_t *h, pyxis_str_t name, pyxis_str_t *value)
{
    long i = h ? px_headers_find(H(h), name.data, name.len, 0) : -1;
    if (i < 0)
        return PYXIS_NOT_FOUND;
    *value = API_S(H(h)->items[i].value);
    return PYXIS_OK;
}

static pyxis_rc_t px_api_header_next(pyxis_headers_t *h, size_t *iter, pyxis_str_t *name,
                                     pyxis_str_t *value)
{
    if (h == NULL || *iter >= H(h)->n)
        return PYXIS_NOT_FOUND;
    const px_header_t *f = &H(h)->items[(*iter)++];
    *name = API_S(f->name);
    *value = API_S(f->value);
    return PYXIS_OK;
}

/* May h be changed now? */
static pyxis_rc_t px_api_headers_writable(px_txn_t *t, pyxis_headers_t *h)
{
    if (H(h) == &t->req_headers)
        return t->req_head_sent ? PYXIS_BAD_STATE : PYXIS_OK;
    if (H(h) == &t->resp_headers)
        return t->resp_head_sent ? PYXIS_BAD_STATE : PYXIS_OK;
    /* Trailers: a change after they went out has no effect (the SDK says when they do). */
    if (H(h) == &t->req_trailers || H(h) == &t->resp_trailers)
        return PYXIS_OK;
    return PYXIS_INVALID;
}

/* Validate and copy a field into the pool. */
static pyxis_rc_t px_api_field(px_txn_t *t, pyxis_headers_t *h, pyxis_str_t *name,
                               pyxis_str_t *value)
{
    pyxis_rc_t rc = h ? px_api_headers_writable(t, h) : PYXIS_INVALID;
    if (rc != PYXIS_OK)
        return rc;
    if (!px_api_is_token(*name) || px_api_reserved_field(*name) ||
        (value != NULL && !px_api_is_field_value(*value)))
        return PYXIS_INVALID;
    char *n = px_pnalloc(t->pool, name->len + (value ? value->len : 0) + 1);
    if (n == NULL)
        return PYXIS_NOMEM;
    memcpy(n, name->data, name->len);
    name->data = n;
    if (value != NULL) {
        char *v = n + name->len;
        if (value->len > 0)
            memcpy(v, value->data, value->len);
        value->data = v;
    }
    return PYXIS_OK;
}

static pyxis_rc_t px_api_header_set(pyxis_txn_t *txn, pyxis_headers_t *h, pyxis_str_t name,
                                    pyxis_str_t value)
{
    pyxis_rc_t rc = px_api_field(T(txn), h, &name, &value);
    if (rc != PYXIS_OK)
        return rc;
    return px_headers_set(H(h), T(txn)->pool, PS(name), PS(value)) < 0 ? PYXIS_NOMEM : PYXIS_OK;
}

static pyxis_rc_t px_api_header_add(pyxis_txn_t *txn, pyxis_headers_t *h, pyxis_str_t name,
                                    pyxis_str_t value)
{
    pyxis_rc_t rc = px_api_field(T(txn), h, &name, &value);
    if (rc != PYXIS_OK)
        return rc;
    return px_headers_add(H(h), T(txn)->pool, PS(name), PS(value)) < 0 ? PYXIS_NOMEM : PYXIS_OK;
}

static pyxis_rc_t px_api_header_remove(pyxis_txn_t *txn, pyxis_headers_t *h, pyxis_str_t name,
                                       size_t *removed)
{
    pyxis_rc_t rc = h ? px_api_headers_writable(T(txn), h) : PYXIS_INVALID;
    if (rc != PYXIS_OK)
        return rc;
    size_t n = px_headers_remove(H(h), name.data, name.len);
    if (removed != NULL)
        *removed = n;
    return PYXIS_OK;
}

/* ---- the request --------------------------------------------------------------------------- */

static pyxis_str_t px_api_req_method(pyxis_txn_t *txn)
{
    return API_S(T(txn)->req.method);
}

static pyxis_str_t px_api_req_path(pyxis_txn_t *txn)
{
    return API_S(T(txn)->req.path);
}

static pyxis_str_t px_api_req_query(pyxis_txn_t *txn)
{
    return API_S(T(txn)->req.query);
}

static pyxis_str_t px_api_req_host(pyxis_txn_t *txn)
{
    return API_S(T(txn)->req.authority);
}

static pyxis_str_t px_api_req_scheme(pyxis_txn_t *txn)
{
    pyxis_str_t http = PYXIS_STR("http"), https = PYXIS_STR("https");
    return px_io_is_tls(T(txn)->down->io) ? https : http;
}

static int px_api_req_version(pyxis_txn_t *txn)
{
    return T(txn)->req.version;
}

static pyxis_str_t px_api_client_addr(pyxis_txn_t *txn)
{
    const char *p = T(txn)->down->peer_text;
    pyxis_str_t s = {p, strlen(p)};
    return s;
}

static unsigned px_api_client_port(pyxis_txn_t *txn)
{
    const struct sockaddr_storage *ss = T(txn)->down->peer;
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return 0;
}

/* Build the target that will be sent: path plus "?query" when there is one. */
static pyxis_rc_t px_api_retarget(px_txn_t *t, pyxis_str_t path, pyxis_str_t query, int has_query)
{
    size_t n = path.len + (has_query ? 1 + query.len : 0);
    char *p = px_pnalloc(t->pool, n ? n : 1);
    if (p == NULL)
        return PYXIS_NOMEM;
    memcpy(p, path.data, path.len);
    if (has_query) {
        p[path.len] = '?';
        memcpy(p + path.len + 1, query.data, query.len);
    }
    t->req.path.data = p;
    t->req.path.len = path.len;
    t->req.query.data = has_query ? p + path.len + 1 : "";
    t->req.query.len = has_query ? query.len : 0;
    t->req.has_query = has_query != 0;
    t->new_target.data = p;
    t->new_target.len = n;
    t->target_changed = 1;
    return PYXIS_OK;
}

static pyxis_rc_t px_api_req_set_path(pyxis_txn_t *txn, pyxis_str_t path)
{
    px_txn_t *t = T(txn);
    if (t->req_head_sent)
        return PYXIS_BAD_STATE;
    if (path.len == 0 || path.data[0] != '/')
        return PYXIS_INVALID;
    for (size_t i = 0; i < path.len; i++) {
        unsigned char c = (unsigned char)path.data[i];
        if (c <= 0x20 || c == 0x7f || c == '?' || c == '#')
            return PYXIS_INVALID;
    }
    pyxis_str_t q = API_S(t->req.query);
    return px_api_retarget(t, path, q, t->req.has_query);
}

static pyxis_rc_t px_api_req_set_query(pyxis_txn_t *txn, pyxis_str_t query)
{
    px_txn_t *t = T(txn);
    if (t->req_head_sent)
        return PYXIS_BAD_STATE;
    for (size_t i = 0; i < query.len; i++) {
        unsigned char c = (unsigned char)query.data[i];
        if (c <= 0x20 || c == 0x7f || c == '#')
            return PYXIS_INVALID;
    }
    pyxis_str_t p = API_S(t->req.path);
    return px_api_retarget(t, p, query, query.len > 0);
}

static pyxis_rc_t px_api_req_set_method(pyxis_txn_t *txn, pyxis_str_t method)
{
    px_txn_t *t = T(txn);
    if (t->req_head_sent)
        return PYXIS_BAD_STATE;
    if (!px_api_is_token(method))
        return PYXIS_INVALID;
    px_method_t id = px_h1_method_id(method.data, method.len);
    if (id == PX_METHOD_HEAD || id == PX_METHOD_CONNECT || t->req.method_id == PX_METHOD_HEAD ||
        t->req.method_id == PX_METHOD_CONNECT)
        return PYXIS_INVALID;
    char *m = px_pstrndup(t->pool, method.data, method.len);
    if (m == NULL)
        return PYXIS_NOMEM;
    t->req.method.data = m;
    t->req.method.len = method.len;
    t->req.method_id = id;
    return PYXIS_OK;
}

static pyxis_rc_t px_api_set_upstream(pyxis_txn_t *txn, const char *name)
{
    px_txn_t *t = T(txn);
    if (t->freq.phase != PX_FPHASE_REQ_HEADERS || t->uconn != NULL)
        return PYXIS_BAD_STATE;
    const px_conf_t *conf = t->wgen->gen->conf;
    for (size_t i = 0; i < conf->nupstreams; i++) {
        if (strcmp(conf->upstreams[i].name, name) == 0) {
            t->upstream = &conf->upstreams[i];
            return PYXIS_OK;
        }
    }
    return PYXIS_NOT_FOUND;
}

/* ---- variables ----------------------------------------------------------------------------- */

static pyxis_rc_t px_api_var_get(pyxis_txn_t *txn, pyxis_str_t name, pyxis_str_t *value)
{
    for (const px_txn_var_t *v = T(txn)->vars; v != NULL; v = v->next) {
        if (v->name.len == name.len && memcmp(v->name.data, name.data, name.len) == 0) {
            *value = API_S(v->value);
            return PYXIS_OK;
        }
    }
    return PYXIS_NOT_FOUND;
}

static pyxis_rc_t px_api_var_set(pyxis_txn_t *txn, pyxis_str_t name, pyxis_str_t value)
{
    px_txn_t *t = T(txn);
    if (name.len == 0)
        return PYXIS_INVALID;
    char *v = px_pnalloc(t->pool, value.len + 1);
    if (v == NULL)
        return PYXIS_NOMEM;
    memcpy(v, value.data, value.len);
    v[value.len] = '\0';
    for (px_txn_var_t *x = t->vars; x != NULL; x = x->next) {
        if (x->name.len == name.len && memcmp(x->name.data, name.data, name.len) == 0) {
            x->value.data = v;
            x->value.len = value.len;
            return PYXIS_OK;
        }
    }
    px_txn_var_t *x = px_palloc(t->pool, sizeof(*x));
    char *n = px_pstrndup(t->pool, name.data, name.len);
    if (x == NULL || n == NULL)
        return PYXIS_NOMEM;
    x->name.data = n;
    x->name.len = name.len;
    x->value.data = v;
    x->value.len = value.len;
    x->next = t->vars;
    t->vars = x;
    return PYXIS_OK;
}

static pyxis_rc_t px_api_var_text(px_txn_t *t, pyxis_str_t *value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static pyxis_rc_t px_api_var_text(px_txn_t *t, pyxis_str_t *value, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    char *p = px_pstrndup(t->pool, buf, (size_t)n);
    if (p == NULL)
        return PYXIS_NOMEM;
    value->data = p;
    value->len = (size_t)n;
    return PYXIS_OK;
}

static pyxis_rc_t px_api_var_cstr(pyxis_str_t *value, const char *s)
{
    if (s == NULL)
        return PYXIS_NOT_FOUND;
    value->data = s;
    value->len = strlen(s);
    return PYXIS_OK;
}

pyxis_rc_t px_api_var(pyxis_txn_t *txn, pyxis_str_t name, pyxis_str_t *value)
{
    px_txn_t *t = T(txn);
#define PX_IS(lit) (name.len == sizeof(lit) - 1 && memcmp(name.data, lit, name.len) == 0)
#define PX_HAS_PREFIX(lit)                                                                         \
    (name.len > sizeof(lit) - 1 && memcmp(name.data, lit, sizeof(lit) - 1) == 0)
    if (PX_IS("remote_addr"))
        return px_api_var_cstr(value, t->down->peer_text);
    if (PX_IS("remote_port"))
        return px_api_var_text(t, value, "%u", px_api_client_port(txn));
    if (PX_IS("request_id"))
        return px_api_var_text(t, value, "%u-%llu", t->worker->id, (unsigned long long)t->id);
    if (PX_IS("host")) {
        *value = API_S(t->req.authority);
        return PYXIS_OK;
    }
    if (PX_IS("path")) {
        *value = API_S(t->req.path);
        return PYXIS_OK;
    }
    if (PX_IS("query")) {
        *value = API_S(t->req.query);
        return PYXIS_OK;
    }
    if (PX_IS("request_uri")) {
        if (t->target_changed) {
            *value = API_S(t->new_target);
            return PYXIS_OK;
        }
        if (!t->req.has_query) {
            *value = API_S(t->req.path);
            return PYXIS_OK;
        }
        size_t n = t->req.path.len + 1 + t->req.query.len;
        char *p = px_pnalloc(t->pool, n);
        if (p == NULL)
            return PYXIS_NOMEM;
        memcpy(p, t->req.path.data, t->req.path.len);
        p[t->req.path.len] = '?';
        memcpy(p + t->req.path.len + 1, t->req.query.data, t->req.query.len);
        value->data = p;
        value->len = n;
        return PYXIS_OK;
    }
    if (PX_IS("method")) {
        *value = API_S(t->req.method);
        return PYXIS_OK;
    }
    if (PX_IS("scheme"))
        return px_api_var_cstr(value, px_io_is_tls(t->down->io) ? "https" : "http");
    if (PX_IS("route"))
        return px_api_var_cstr(value, t->route ? t->route->name : NULL);
    if (PX_IS("upstream"))
        return px_api_var_cstr(value, t->upstream ? t->upstream->name : NULL);
    if (PX_IS("upstream_addr"))
        return px_api_var_cstr(value, t->ep ? t->ep->addr.text : NULL);
    if (PX_IS("status"))
        return t->status > 0 ? px_api_var_text(t, value, "%d", t->status) : PYXIS_NOT_FOUND;
    if (PX_HAS_PREFIX("tls_")) {
        px_str_t v;
        int rc = px_tls_var(t, name.data, name.len, &v);
        if (rc > 0)
            *value = API_S(v);
        return rc > 0 ? PYXIS_OK : rc < 0 ? PYXIS_NOMEM : PYXIS_NOT_FOUND;
    }
    if (PX_HAS_PREFIX("header.")) {
        pyxis_str_t h = {name.data + 7, name.len - 7};
        return px_api_header_get((pyxis_headers_t *)&t->req_headers, h, value);
    }
    if (PX_HAS_PREFIX("resp_header.")) {
        pyxis_str_t h = {name.data + 12, name.len - 12};
        return px_api_header_get(px_api_resp_headers(txn), h, value);
    }
    if (PX_HAS_PREFIX("var.")) {
        pyxis_str_t v = {name.data + 4, name.len - 4};
        return px_api_var_get(txn, v, value);
    }
#undef PX_IS
#undef PX_HAS_PREFIX
    return PYXIS_NOT_FOUND;
}

static int px_api_var_known(pyxis_str_t name)
{
    static const char *const names[] = {
        "remote_addr", "remote_port",   "request_id", "host",   "path",
        "query",       "request_uri",   "method",     "scheme", "route",
        "upstream",    "upstream_addr", "status"};
    static const char *const prefixes[] = {"header.", "resp_header.", "var."};
    if (px_tls_var_known(name.data, name.len))
        return 1;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == name.len && memcmp(names[i], name.data, name.len) == 0)
            return 1;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t n = strlen(prefixes[i]);
        if (name.len > n && memcmp(prefixes[i], name.data, n) == 0)
            return 1;
    }
    return 0;
}

/* ---- the response -------------------------------------------------------------------------- */

static int px_api_resp_status(pyxis_txn_t *txn)
{
    px_txn_t *t = T(txn);
    return t->replying ? t->reply_status : t->status;
}

static pyxis_rc_t px_api_resp_set_status(pyxis_txn_t *txn, int status)
{
    px_txn_t *t = T(txn);
    if (t->fresp.phase != PX_FPHASE_RESP_HEADERS || t->resp_head_sent)
        return PYXIS_BAD_STATE;
    if (status < 200 || status > 999)
        return PYXIS_INVALID;
    if (t->replying)
        t->reply_status = status;
    t->status = status;
    t->status_changed = 1;
    return PYXIS_OK;
}

static pyxis_rc_t px_api_respond(pyxis_txn_t *txn, int status, pyxis_str_t body)
{
    px_txn_t *t = T(txn);
    if (t->resp_head_sent || t->resp_state != PX_TXN_RESP_NONE)
        return PYXIS_BAD_STATE;
    if (status < 200 || status > 999)
        return PYXIS_INVALID;
    char *b = NULL;
    if (body.len > 0 && (b = px_pnalloc(t->pool, body.len)) == NULL)
        return PYXIS_NOMEM;
    if (body.len > 0)
        memcpy(b, body.data, body.len);
    t->replying = 1;
    t->reply_status = status;
    t->reply_body.data = b;
    t->reply_body.len = body.len;
    t->resp_headers.items = NULL;
    t->resp_headers.n = 0;
    t->resp_headers.cap = 0;
    return PYXIS_OK;
}

static pyxis_rc_t px_api_body_will_change(pyxis_txn_t *txn, pyxis_dir_t dir)
{
    px_txn_t *t = T(txn);
    if (dir == PYXIS_REQUEST) {
        if (t->req_head_sent)
            return PYXIS_BAD_STATE;
        t->req_body_change = 1;
    } else {
        if (t->resp_head_sent)
            return PYXIS_BAD_STATE;
        t->resp_body_change = 1;
    }
    return PYXIS_OK;
}

static pyxis_rc_t px_api_req_body_read(pyxis_txn_t *txn, uint64_t max, pyxis_body_fn done,
                                       void *arg)
{
    switch (px_txn_body_read_request(T(txn), max, done, arg)) {
    case 1: return PYXIS_OK;
    case 0: return PYXIS_NOT_FOUND;
    default: return PYXIS_BAD_STATE;
    }
}

static pyxis_buf_t *px_api_req_body(pyxis_txn_t *txn)
{
    px_txn_t *t = T(txn);
    return t->body_reading ? NULL : (pyxis_buf_t *)t->req_full;
}

/* ---- body chunks and buffers --------------------------------------------------------------- */

static size_t px_api_chunk_len(const pyxis_chunk_t *c)
{
    return evbuffer_get_length((const struct evbuffer *)(const void *)c);
}

static int px_api_chunk_peek(const pyxis_chunk_t *c, struct iovec *vec, int n)
{
    struct evbuffer_iovec ev[16];
    struct evbuffer *b = (struct evbuffer *)(void *)c;
    int need = evbuffer_peek(b, -1, NULL, NULL, 0);
    if (n <= 0 || vec == NULL)
        return need;
    int done = 0;
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(b, &pos, 0, EVBUFFER_PTR_SET);
    while (done < n && done < need) {
        int want = n - done < 16 ? n - done : 16;
        int got = evbuffer_peek(b, -1, done == 0 ? NULL : &pos, ev, want);
        if (got <= 0)
            break;
        int take = got < want ? got : want;
        size_t moved = 0;
        for (int i = 0; i < take; i++) {
            vec[done + i].iov_base = ev[i].iov_base;
            vec[done + i].iov_len = ev[i].iov_len;
            moved += ev[i].iov_len;
        }
        done += take;
        if (evbuffer_ptr_set(b, &pos, moved, EVBUFFER_PTR_ADD) < 0)
            break;
    }
    return need;
}

static pyxis_rc_t px_api_chunk_drain(pyxis_chunk_t *c, size_t n)
{
    return evbuffer_drain(EB(c), n) < 0 ? PYXIS_ERROR : PYXIS_OK;
}

static pyxis_rc_t px_api_chunk_add(pyxis_chunk_t *c, const void *data, size_t n)
{
    return evbuffer_add(EB(c), data, n) < 0 ? PYXIS_NOMEM : PYXIS_OK;
}

static pyxis_rc_t px_api_chunk_prepend(pyxis_chunk_t *c, const void *data, size_t n)
{
    return evbuffer_prepend(EB(c), data, n) < 0 ? PYXIS_NOMEM : PYXIS_OK;
}

static void px_api_buf_free(void *b)
{
    evbuffer_free(b);
}

static pyxis_buf_t *px_api_buf_new(pyxis_txn_t *txn)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL)
        return NULL;
    if (px_pool_cleanup_add(T(txn)->pool, px_api_buf_free, b) < 0) {
        evbuffer_free(b);
        return NULL;
    }
    return (pyxis_buf_t *)b;
}

static size_t px_api_buf_len(const pyxis_buf_t *b)
{
    return evbuffer_get_length((const struct evbuffer *)(const void *)b);
}

static pyxis_rc_t px_api_chunk_move_to_buf(pyxis_chunk_t *c, pyxis_buf_t *b)
{
    return evbuffer_add_buffer(EB(b), EB(c)) < 0 ? PYXIS_NOMEM : PYXIS_OK;
}

static pyxis_rc_t px_api_buf_move_to_chunk(pyxis_buf_t *b, pyxis_chunk_t *c)
{
    return evbuffer_add_buffer(EB(c), EB(b)) < 0 ? PYXIS_NOMEM : PYXIS_OK;
}

static const char *px_api_buf_pullup(pyxis_buf_t *b, size_t n)
{
    if (evbuffer_get_length(EB(b)) < n)
        return NULL;
    if (n == 0)
        return "";
    return (const char *)evbuffer_pullup(EB(b), (ssize_t)n);
}

static pyxis_rc_t px_api_buf_drain(pyxis_buf_t *b, size_t n)
{
    return evbuffer_drain(EB(b), n) < 0 ? PYXIS_ERROR : PYXIS_OK;
}

static pyxis_rc_t px_api_buf_add(pyxis_buf_t *b, const void *data, size_t n)
{
    return evbuffer_add(EB(b), data, n) < 0 ? PYXIS_NOMEM : PYXIS_OK;
}

/* ---- resume -------------------------------------------------------------------------------- */

static void px_api_resume(pyxis_txn_t *txn)
{
    px_filter_resume(T(txn), PYXIS_FILTER_CONTINUE);
}

static void px_api_resume_with(pyxis_txn_t *txn, pyxis_filter_status_t status)
{
    px_filter_resume(T(txn), status);
}

/* ---- logging ------------------------------------------------------------------------------- */

static void px_api_logv(pyxis_txn_t *txn, pyxis_log_level_t level, const char *fmt, va_list ap)
{
    if (level < PYXIS_LOG_ERROR || level > PYXIS_LOG_DEBUG ||
        !px_log_enabled((px_log_level_t)level))
        return;
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    const char *mod = px_module_current ? px_module_current->desc.name : "module";
    px_txn_t *t = T(txn);
    if (t != NULL)
        px_log_write((px_log_level_t)level, "[%s] %s %s: %s (request %u-%llu)", mod,
                     t->route ? t->route->name : t->listener->name, t->down->peer_text, msg,
                     t->worker->id, (unsigned long long)t->id);
    else
        px_log_write((px_log_level_t)level, "[%s] %s", mod, msg);
}

static void px_api_log(pyxis_txn_t *txn, pyxis_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    px_api_logv(txn, level, fmt, ap);
    va_end(ap);
}

static pyxis_rc_t px_api_log_set_target(pyxis_txn_t *txn, pyxis_str_t target)
{
    px_txn_t *t = T(txn);
    char *p = px_pstrndup(t->pool, target.data, target.len);
    if (p == NULL)
        return PYXIS_NOMEM;
    t->log_target.data = p;
    t->log_target.len = target.len;
    t->log_target_set = 1;
    return PYXIS_OK;
}

static int px_api_log_enabled(pyxis_log_level_t level)
{
    return level >= PYXIS_LOG_ERROR && level <= PYXIS_LOG_DEBUG &&
           px_log_enabled((px_log_level_t)level);
}

/* ---- timers -------------------------------------------------------------------------------- */

/* The view worker timers of the calling code belong to. */
static __thread px_wgen_t *px_api_wgen_ctx;

struct pyxis_timer_s {
    px_link_t link; /* worker timers: in wgen->timers (must stay first) */
    struct event *ev;
    px_txn_t *txn; /* NULL: a worker timer */
    px_wgen_t *wgen;
    const px_module_t *module;
    pyxis_timer_fn fn;
    void *arg;
    uint64_t ms;
    unsigned repeat : 1;
    unsigned done : 1;
};

static void px_timer_unlink(pyxis_timer_t *tm)
{
    tm->link.prev->next = tm->link.next;
    tm->link.next->prev = tm->link.prev;
}

static void px_timer_free(pyxis_timer_t *tm)
{
    event_free(tm->ev);
    if (tm->txn == NULL) {
        px_timer_unlink(tm);
        free(tm);
    } else {
        tm->done = 1; /* pool memory: freed with the txn */
    }
}

static void px_timer_fire(evutil_socket_t fd, short what, void *arg)
{
    pyxis_timer_t *tm = arg;
    const px_module_t *saved = px_module_current;
    px_module_current = tm->module;
    pyxis_timer_fn fn = tm->fn;
    void *farg = tm->arg;
    px_wgen_t *saved_wg = px_api_wgen_ctx;
    if (tm->txn == NULL)
        px_api_wgen_ctx = tm->wgen;
    if (!tm->repeat)
        px_timer_free(tm); /* before the call: fn may end the txn */
    fn(farg);
    px_api_wgen_ctx = saved_wg;
    px_module_current = saved;
}

static void px_timer_txn_cleanup(void *data)
{
    pyxis_timer_t *tm = data;
    if (!tm->done) {
        event_free(tm->ev);
        tm->done = 1;
    }
}

void px_module_set_wgen_ctx(px_wgen_t *wg)
{
    px_api_wgen_ctx = wg;
}

static pyxis_timer_t *px_api_timer_add(pyxis_txn_t *txn, uint64_t ms, int repeat, pyxis_timer_fn fn,
                                       void *arg)
{
    px_txn_t *t = T(txn);
    px_wgen_t *wg = t                 ? t->wgen
                    : px_api_wgen_ctx ? px_api_wgen_ctx
                    : px_worker_self  ? px_worker_self->cur
                                      : NULL;
    if (wg == NULL || fn == NULL)
        return NULL;
    pyxis_timer_t *tm = t ? px_pcalloc(t->pool, sizeof(*tm)) : calloc(1, sizeof(*tm));
    if (tm == NULL)
        return NULL;
    tm->ev = event_new(wg->worker->base, -1, repeat ? EV_PERSIST : 0, px_timer_fire, tm);
    if (tm->ev == NULL ||
        (t != NULL && px_pool_cleanup_add(t->pool, px_timer_txn_cleanup, tm) < 0)) {
        if (tm->ev != NULL)
            event_free(tm->ev);
        if (t == NULL)
            free(tm);
        return NULL;
    }
    tm->txn = t;
    tm->wgen = wg;
    tm->module = px_module_current;
    tm->fn = fn;
    tm->arg = arg;
    tm->ms = ms;
    tm->repeat = repeat != 0;
    if (t == NULL) {
        px_link_t *head = &wg->timers;
        tm->link.next = head->next;
        tm->link.prev = head;
        head->next->prev = &tm->link;
        head->next = &tm->link;
    }
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    event_add(tm->ev, &tv);
    return tm;
}

static void px_api_timer_cancel(pyxis_timer_t *tm)
{
    if (tm == NULL || tm->done)
        return;
    px_timer_free(tm);
}

void px_module_cancel_worker_timers(px_wgen_t *wg)
{
    while (wg->timers.next != &wg->timers)
        px_timer_free((pyxis_timer_t *)(void *)wg->timers.next);
}

static double px_api_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- call-outs ----------------------------------------------------------------------------- */

/* What a module's call-out handle is: the engine's call-out plus who made it, so its callback
 * runs with px_module_current set (log tags, resume() matching, worker timers). In the txn
 * pool for a request's call-out, else malloc'd and freed when it completes or is cancelled. */
struct pyxis_callout_s {
    px_callout_t *c;
    pyxis_callout_fn fn;
    void *arg;
    const px_module_t *module;
    px_wgen_t *wgen;
    unsigned malloced : 1;
};

static void px_api_callout_done(const pyxis_callout_resp_t *resp, void *arg)
{
    pyxis_callout_t *h = arg;
    const px_module_t *saved = px_module_current;
    px_wgen_t *saved_wg = px_api_wgen_ctx;
    px_module_current = h->module;
    if (h->malloced)
        px_api_wgen_ctx = h->wgen;
    pyxis_callout_fn fn = h->fn;
    void *farg = h->arg;
    if (h->malloced)
        free(h);
    else
        h->c = NULL;
    fn(resp, farg);
    px_api_wgen_ctx = saved_wg;
    px_module_current = saved;
}

static pyxis_callout_t *px_api_callout(pyxis_txn_t *txn, const pyxis_callout_req_t *req,
                                       pyxis_callout_fn fn, void *arg)
{
    px_txn_t *t = T(txn);
    px_worker_t *w = t ? t->worker : px_worker_self;
    px_wgen_t *wg = t ? t->wgen : px_api_wgen_ctx ? px_api_wgen_ctx : w ? w->cur : NULL;
    const char *mod = px_module_current ? px_module_current->desc.name : "module";
    if (w == NULL || wg == NULL || req == NULL || fn == NULL) {
        px_log_error("[%s] callout() outside a worker or without a request or callback", mod);
        return NULL;
    }
    if (t == NULL && w->draining) {
        px_log_warn("[%s] callout() refused: the worker is shutting down", mod);
        return NULL;
    }
    pyxis_callout_t *h = t ? px_pcalloc(t->pool, sizeof(*h)) : calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->fn = fn;
    h->arg = arg;
    h->module = px_module_current;
    h->wgen = wg;
    h->malloced = t == NULL;
    const char *err = NULL;
    h->c = px_callout_start(w, wg, t ? t->pool : NULL, req, px_api_callout_done, h, &err);
    if (h->c == NULL) {
        px_log_error("[%s] callout() refused: %s", mod, err ? err : "invalid request");
        if (h->malloced)
            free(h);
        return NULL;
    }
    if (h->malloced)
        px_callout_owns_arg(h->c); /* cancelled at the worker's exit: h goes too */
    return h;
}

static void px_api_callout_cancel(pyxis_callout_t *h)
{
    if (h == NULL || h->c == NULL)
        return;
    px_callout_t *c = h->c;
    h->c = NULL;
    px_callout_cancel(c); /* frees h when malloced */
}

/* ---- shared dicts ------------------------------------------------------------------------- */

#define SD(d) ((px_shdict_t *)(void *)(d))

static pyxis_shdict_t *px_api_shdict(pyxis_txn_t *txn, const char *name)
{
    px_txn_t *t = T(txn);
    px_wgen_t *wg = t                 ? t->wgen
                    : px_api_wgen_ctx ? px_api_wgen_ctx
                    : px_worker_self  ? px_worker_self->cur
                                      : NULL;
    if (wg == NULL || name == NULL)
        return NULL;
    const px_conf_t *conf = wg->gen->conf;
    for (size_t i = 0; i < conf->nshdicts; i++)
        if (strcmp(conf->shdicts[i].name, name) == 0)
            return (pyxis_shdict_t *)conf->shdicts[i].dict;
    return NULL;
}

static pyxis_rc_t px_api_shdict_get(pyxis_shdict_t *d, pyxis_str_t key, pyxis_value_t *value,
                                    char *buf, size_t cap)
{
    return px_shdict_get(SD(d), key.data, key.len, value, buf, cap);
}

static pyxis_rc_t px_api_shdict_set(pyxis_shdict_t *d, pyxis_str_t key, const pyxis_value_t *value,
                                    double ttl)
{
    return px_shdict_set(SD(d), key.data, key.len, value, ttl);
}

static pyxis_rc_t px_api_shdict_add(pyxis_shdict_t *d, pyxis_str_t key, const pyxis_value_t *value,
                                    double ttl)
{
    return px_shdict_add(SD(d), key.data, key.len, value, ttl);
}

static pyxis_rc_t px_api_shdict_incr(pyxis_shdict_t *d, pyxis_str_t key, double delta, double init,
                                     double ttl, double *result)
{
    return px_shdict_incr(SD(d), key.data, key.len, delta, init, ttl, result);
}

static pyxis_rc_t px_api_shdict_delete(pyxis_shdict_t *d, pyxis_str_t key)
{
    return px_shdict_delete(SD(d), key.data, key.len);
}

static pyxis_rc_t px_api_shdict_ttl(pyxis_shdict_t *d, pyxis_str_t key, double *remaining)
{
    return px_shdict_ttl(SD(d), key.data, key.len, remaining);
}

static pyxis_rc_t px_api_shdict_keys(pyxis_shdict_t *d, size_t max,
                                     int (*fn)(pyxis_str_t key, void *arg), void *arg)
{
    return px_shdict_keys(SD(d), max, fn, arg);
}

/* ---- workers ------------------------------------------------------------------------------- */

static unsigned px_api_worker_id(pyxis_worker_t *w)
{
    return ((px_worker_t *)(void *)w)->id;
}

static void *px_api_worker_data(pyxis_txn_t *txn)
{
    px_txn_t *t = T(txn);
    const px_module_t *m = px_module_current;
    if (t == NULL || m == NULL || t->wgen->module_data == NULL)
        return NULL;
    const px_conf_modset_t *set = &t->wgen->gen->conf->modules;
    for (size_t i = 0; i < set->n; i++)
        if (set->uses[i].module == m)
            return t->wgen->module_data[i];
    return NULL;
}

void px_module_worker_init(px_wgen_t *wg)
{
    const px_conf_modset_t *set = &wg->gen->conf->modules;
    if (set->n == 0)
        return;
    /* The data pointers, then one "worker_init succeeded" byte per module. */
    wg->module_data = calloc(set->n, sizeof(void *) + 1);
    if (wg->module_data == NULL) {
        px_log_error("worker %u: out of memory starting modules", wg->worker->id);
        return;
    }
    px_module_set_wgen_ctx(wg);
    for (size_t i = 0; i < set->n; i++) {
        const px_module_t *m = set->uses[i].module;
        if (m->desc.worker_init == NULL) {
            ((unsigned char *)(wg->module_data + set->n))[i] = 1;
            continue;
        }
        px_module_current = m;
        pyxis_rc_t rc =
            m->desc.worker_init((pyxis_worker_t *)wg->worker, set->uses[i].gconf,
                                set->uses[i].confs, set->uses[i].nconfs, &wg->module_data[i]);
        px_module_current = NULL;
        if (rc != PYXIS_OK) {
            px_log_error("worker %u: module %s: worker_init failed (generation %u)", wg->worker->id,
                         m->desc.name, wg->gen->generation);
            wg->module_data[i] = NULL;
            continue;
        }
        ((unsigned char *)(wg->module_data + set->n))[i] = 1;
    }
    px_module_set_wgen_ctx(NULL);
}

void px_module_worker_exit(px_wgen_t *wg)
{
    const px_conf_modset_t *set = &wg->gen->conf->modules;
    if (wg->module_data == NULL)
        return;
    for (size_t i = set->n; i-- > 0;) {
        const px_module_t *m = set->uses[i].module;
        if (m->desc.worker_exit == NULL || !((unsigned char *)(wg->module_data + set->n))[i])
            continue;
        px_module_current = m;
        m->desc.worker_exit((pyxis_worker_t *)wg->worker, wg->module_data[i]);
        px_module_current = NULL;
    }
    free(wg->module_data);
    wg->module_data = NULL;
}

/* ---- the table ----------------------------------------------------------------------------- */

static const pyxis_api_t px_api = {
    .abi_major = PYXIS_ABI_MAJOR,
    .abi_minor = PYXIS_ABI_MINOR,
    .size = sizeof(pyxis_api_t),
    .version = PACKAGE_VERSION,

    .palloc = px_api_palloc,
    .pcalloc = px_api_pcalloc,
    .pstrndup = px_api_pstrndup,
    .cleanup_add = px_api_cleanup_add,

    .req_headers = px_api_req_headers,
    .resp_headers = px_api_resp_headers,
    .header_get = px_api_header_get,
    .header_next = px_api_header_next,
    .header_set = px_api_header_set,
    .header_add = px_api_header_add,
    .header_remove = px_api_header_remove,

    .req_method = px_api_req_method,
    .req_path = px_api_req_path,
    .req_query = px_api_req_query,
    .req_host = px_api_req_host,
    .req_scheme = px_api_req_scheme,
    .req_version = px_api_req_version,
    .client_addr = px_api_client_addr,
    .client_port = px_api_client_port,
    .req_set_method = px_api_req_set_method,
    .req_set_path = px_api_req_set_path,
    .req_set_query = px_api_req_set_query,
    .set_upstream = px_api_set_upstream,
    .var = px_api_var,
    .var_set = px_api_var_set,
    .var_get = px_api_var_get,

    .resp_status = px_api_resp_status,
    .resp_set_status = px_api_resp_set_status,
    .respond = px_api_respond,
    .body_will_change = px_api_body_will_change,
    .req_body_read = px_api_req_body_read,
    .req_body = px_api_req_body,

    .chunk_len = px_api_chunk_len,
    .chunk_peek = px_api_chunk_peek,
    .chunk_drain = px_api_chunk_drain,
    .chunk_add = px_api_chunk_add,
    .chunk_prepend = px_api_chunk_prepend,
    .buf_new = px_api_buf_new,
    .buf_len = px_api_buf_len,
    .chunk_move_to_buf = px_api_chunk_move_to_buf,
    .buf_move_to_chunk = px_api_buf_move_to_chunk,
    .buf_pullup = px_api_buf_pullup,
    .buf_drain = px_api_buf_drain,
    .buf_add = px_api_buf_add,

    .resume = px_api_resume,
    .resume_with = px_api_resume_with,

    .log = px_api_log,
    .logv = px_api_logv,
    .log_enabled = px_api_log_enabled,

    .timer_add = px_api_timer_add,
    .timer_cancel = px_api_timer_cancel,
    .now = px_api_now,

    .callout = px_api_callout,
    .callout_cancel = px_api_callout_cancel,

    .shdict = px_api_shdict,
    .shdict_get = px_api_shdict_get,
    .shdict_set = px_api_shdict_set,
    .shdict_add = px_api_shdict_add,
    .shdict_incr = px_api_shdict_incr,
    .shdict_delete = px_api_shdict_delete,
    .shdict_ttl = px_api_shdict_ttl,
    .shdict_keys = px_api_shdict_keys,

    .node_type = px_api_node_type,
    .node_str = px_api_node_str,
    .node_len = px_api_node_len,
    .node_at = px_api_node_at,
    .node_key_at = px_api_node_key_at,
    .node_value_at = px_api_node_value_at,
    .node_get = px_api_node_get,
    .node_line = px_api_node_line,
    .node_col = px_api_node_col,
    .conf_error = px_api_conf_error,
    .conf_check_keys = px_api_conf_check_keys,
    .conf_str = px_api_conf_str,
    .conf_bool = px_api_conf_bool,
    .conf_uint = px_api_conf_uint,
    .conf_duration = px_api_conf_duration,
    .conf_size = px_api_conf_size,
    .conf_alloc = px_api_conf_alloc,
    .conf_strdup = px_api_conf_strdup,
    .conf_cleanup_add = px_api_conf_cleanup_add,
    .conf_file = px_api_conf_file,
    .conf_has_upstream = px_api_conf_has_upstream,
    .conf_has_shdict = px_api_conf_has_shdict,

    .worker_id = px_api_worker_id,
    .worker_data = px_api_worker_data,

    .var_known = px_api_var_known,
    .conf_uses = px_api_conf_uses,
    .node_quoted = px_api_node_quoted,
    .log_set_target = px_api_log_set_target,
    .conf_path = px_api_conf_path,
    .req_trailers = px_api_req_trailers,
    .resp_trailers = px_api_resp_trailers,
};

const pyxis_api_t *px_module_api(void)
{
    return &px_api;
}
