/*
 * testfilter.c: a filter module for the integration tests of the filter chain (t/080-*.t). It
 * exercises every callback and the services a filter most needs, each behaviour switched on
 * by its config:
 *
 *   - testfilter:
 *       tag: A                    # appended to x-order on the request and the response
 *       pause: [request_headers, request_body, response_headers, response_body, log]
 *                                 # wait `pause_ms` (timer) before going on, in these phases
 *       pause_ms: 20
 *       respond_in: request_headers   # answer 403 "denied by TAG\n" from that phase
 *       fail_in: response_headers     # return ERROR from that phase
 *       upper: [request, response]    # uppercase body bytes (same length)
 *       append: { request: "...", response: "..." }  # add bytes at the end of the body
 *       hold_response: true       # keep the whole response body until the last chunk
 *       set_var: user             # var_set("who", "user"); x-var on the request shows var.who
 *       upstream: NAME            # set_upstream()
 *       path: /new/path           # req_set_path()
 *       count: true               # x-count: requests this worker served with this module
 *       shdict: NAME              # x-hits: incr "hits" in that shared dict per request
 *       read_body: 100            # read the whole request body (at most 100 bytes), then add
 *                                 # x-body-len and append "+seen" to it
 *       callout: { upstream: NAME, url: URL, path: /check, in: [request_headers, ...] }
 *                                 # an HTTP call-out in those phases (request_headers and
 *                                 # response_headers pause for it and add x-callout: STATUS
 *                                 # BODY-LENGTH or "0 ERROR"; log makes a worker-level one
 *                                 # whose answer is logged)
 *
 * A top-level `testfilter: { global: TEXT }` (conf_global) reaches worker_init; every response
 * then carries x-global: TEXT.
 *
 * Like any module it includes only <pyxis/module.h>.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pyxis/module.h>

static const pyxis_api_t *api;

enum {
    PH_REQ_HEADERS = 1 << 0,
    PH_REQ_BODY = 1 << 1,
    PH_RESP_HEADERS = 1 << 2,
    PH_RESP_BODY = 1 << 3,
    PH_LOG = 1 << 4,
};

typedef struct {
    const char *tag;
    unsigned pause, respond_in, fail_in;
    uint64_t pause_ms;
    int upper_req, upper_resp, hold_resp, count;
    const char *append_req, *append_resp, *set_var, *upstream, *path, *shdict;
    const char *co_upstream, *co_url, *co_path;
    unsigned co_in;
    uint64_t read_body;
} tf_conf_t;

/* Per worker: the request counter and the global config. */
typedef struct {
    unsigned long served;
    const char *global;
} tf_worker_t;

typedef struct {
    tf_conf_t *conf;
    pyxis_txn_t *txn;
    tf_worker_t *worker;
    pyxis_buf_t *held;
    unsigned long *served;
    double hits;
} tf_ctx_t;

static unsigned tf_phase(pyxis_str_t s)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"request_headers", PH_REQ_HEADERS},
                 {"request_body", PH_REQ_BODY},
                 {"response_headers", PH_RESP_HEADERS},
                 {"response_body", PH_RESP_BODY},
                 {"log", PH_LOG}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i].name) == s.len && memcmp(names[i].name, s.data, s.len) == 0)
            return names[i].bit;
    return 0;
}

static pyxis_rc_t tf_phases(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, unsigned *out)
{
    if (api->node_type(n) == PYXIS_NODE_SCALAR) {
        if ((*out = tf_phase(api->node_str(n))) == 0)
            return api->conf_error(cc, n, "unknown phase");
        return PYXIS_OK;
    }
    if (api->node_type(n) != PYXIS_NODE_SEQ)
        return api->conf_error(cc, n, "expected a phase or a list of phases");
    for (size_t i = 0; i < api->node_len(n); i++) {
        unsigned bit = tf_phase(api->node_str(api->node_at(n, i)));
        if (bit == 0)
            return api->conf_error(cc, api->node_at(n, i), "unknown phase");
        *out |= bit;
    }
    return PYXIS_OK;
}

static pyxis_rc_t tf_init(const pyxis_api_t *a)
{
    api = a;
    return PYXIS_OK;
}

static pyxis_rc_t tf_conf_create(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **out)
{
    static const char *const keys[] = {"tag",     "pause",    "pause_ms", "respond_in",
                                       "fail_in", "upper",    "append",   "hold_response",
                                       "set_var", "upstream", "path",     "count",
                                       "shdict",  "callout",  "read_body"};
    tf_conf_t *c = api->conf_alloc(cc, sizeof(*c));
    if (c == NULL)
        return PYXIS_ERROR;
    c->tag = "-";
    c->pause_ms = 20;
    *out = c;
    if (api->node_type(node) == PYXIS_NODE_NULL)
        return PYXIS_OK;
    if (api->conf_check_keys(cc, node, keys, sizeof(keys) / sizeof(keys[0])) != PYXIS_OK)
        return PYXIS_ERROR;
    const pyxis_node_t *n;
    pyxis_rc_t rc = PYXIS_OK;
    if ((n = api->node_get(node, "tag")) != NULL && api->conf_str(cc, n, &c->tag) != PYXIS_OK)
        rc = PYXIS_ERROR;
    if ((n = api->node_get(node, "pause")) != NULL && tf_phases(cc, n, &c->pause) != PYXIS_OK)
        rc = PYXIS_ERROR;
    if ((n = api->node_get(node, "pause_ms")) != NULL &&
        api->conf_duration(cc, n, &c->pause_ms) != PYXIS_OK)
        rc = PYXIS_ERROR;
    if ((n = api->node_get(node, "respond_in")) != NULL &&
        tf_phases(cc, n, &c->respond_in) != PYXIS_OK)
        rc = PYXIS_ERROR;
    if ((n = api->node_get(node, "fail_in")) != NULL && tf_phases(cc, n, &c->fail_in) != PYXIS_OK)
        rc = PYXIS_ERROR;
    if ((n = api->node_get(node, "upper")) != NULL) {
        for (size_t i = 0; i < api->node_len(n); i++) {
            pyxis_str_t s = api->node_str(api->node_at(n, i));
            if (s.len == 7 && memcmp(s.data, "request", 7) == 0)
                c->upper_req = 1;
            else if (s.len == 8 && memcmp(s.data, "response", 8) == 0)
                c->upper_resp = 1;
            else
                rc = api->conf_error(cc, api->node_at(n, i), "request or response");
        }
    }
    if ((n = api->node_get(node, "append")) != NULL) {
        const pyxis_node_t *v;
        if ((v = api->node_get(n, "request")) != NULL &&
            api->conf_str(cc, v, &c->append_req) != PYXIS_OK)
            rc = PYXIS_ERROR;
        if ((v = api->node_get(n, "response")) != NULL &&
            api->conf_str(cc, v, &c->append_resp) != PYXIS_OK)
            rc = PYXIS_ERROR;
    }
    if ((n = api->node_get(node, "hold_response")) != NULL &&
        api->conf_bool(cc, n, &c->hold_resp) != PYXIS_OK)
        rc = PYXIS_ERROR;
    if ((n = api->node_get(node, "count")) != NULL && api->conf_bool(cc, n, &c->count) != PYXIS_OK)
        rc = PYXIS_ERROR;
    if ((n = api->node_get(node, "set_var")) != NULL &&
        api->conf_str(cc, n, &c->set_var) != PYXIS_OK)
        rc = PYXIS_ERROR;
    if ((n = api->node_get(node, "upstream")) != NULL) {
        if (api->conf_str(cc, n, &c->upstream) != PYXIS_OK)
            rc = PYXIS_ERROR;
        else if (!api->conf_has_upstream(cc, c->upstream))
            rc = api->conf_error(cc, n, "no upstream named \"%s\"", c->upstream);
    }
    if ((n = api->node_get(node, "path")) != NULL && api->conf_str(cc, n, &c->path) != PYXIS_OK)
        rc = PYXIS_ERROR;
    if ((n = api->node_get(node, "read_body")) != NULL &&
        api->conf_size(cc, n, &c->read_body) != PYXIS_OK)
        rc = PYXIS_ERROR;
    if ((n = api->node_get(node, "callout")) != NULL) {
        const pyxis_node_t *v;
        if ((v = api->node_get(n, "upstream")) != NULL &&
            api->conf_str(cc, v, &c->co_upstream) != PYXIS_OK)
            rc = PYXIS_ERROR;
        if ((v = api->node_get(n, "url")) != NULL && api->conf_str(cc, v, &c->co_url) != PYXIS_OK)
            rc = PYXIS_ERROR;
        if ((v = api->node_get(n, "path")) != NULL && api->conf_str(cc, v, &c->co_path) != PYXIS_OK)
            rc = PYXIS_ERROR;
        if ((v = api->node_get(n, "in")) != NULL && tf_phases(cc, v, &c->co_in) != PYXIS_OK)
            rc = PYXIS_ERROR;
    }
    if ((n = api->node_get(node, "shdict")) != NULL) {
        if (api->conf_str(cc, n, &c->shdict) != PYXIS_OK)
            rc = PYXIS_ERROR;
        else if (!api->conf_has_shdict(cc, c->shdict))
            rc = api->conf_error(cc, n, "no shared dict named \"%s\"", c->shdict);
    }
    return rc == PYXIS_OK ? PYXIS_OK : PYXIS_ERROR;
}

static pyxis_rc_t tf_conf_global(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **gconf)
{
    static const char *const keys[] = {"global"};
    const char *text = NULL;
    const pyxis_node_t *n;
    if (api->conf_check_keys(cc, node, keys, 1) != PYXIS_OK)
        return PYXIS_ERROR;
    if ((n = api->node_get(node, "global")) != NULL && api->conf_str(cc, n, &text) != PYXIS_OK)
        return PYXIS_ERROR;
    *gconf = (void *)text;
    return PYXIS_OK;
}

static pyxis_rc_t tf_worker_init(pyxis_worker_t *w, void *gconf, void *const *confs, size_t n,
                                 void **data)
{
    (void)w;
    (void)confs;
    (void)n;
    tf_worker_t *tw = calloc(1, sizeof(*tw));
    if (tw == NULL)
        return PYXIS_ERROR;
    tw->global = gconf;
    *data = tw;
    return PYXIS_OK;
}

static void tf_worker_exit(pyxis_worker_t *w, void *data)
{
    (void)w;
    free(data);
}

static pyxis_rc_t tf_attach(pyxis_txn_t *txn, void *conf, void *wdata, void **ctx)
{
    tf_ctx_t *c = api->pcalloc(txn, sizeof(*c));
    if (c == NULL)
        return PYXIS_ERROR;
    c->conf = conf;
    c->txn = txn;
    c->worker = wdata;
    c->served = c->worker ? &c->worker->served : NULL;
    *ctx = c;
    return PYXIS_OK;
}

static void tf_resume(void *arg)
{
    tf_ctx_t *c = arg;
    api->resume(c->txn);
}

/* The common end of every callback: fail, answer, pause or go on, as configured. */
static pyxis_filter_status_t tf_outcome(tf_ctx_t *c, unsigned phase)
{
    if (c->conf->fail_in & phase)
        return PYXIS_FILTER_ERROR;
    if (c->conf->respond_in & phase) {
        char body[64];
        int n = snprintf(body, sizeof(body), "denied by %s\n", c->conf->tag);
        pyxis_str_t b = {body, (size_t)n};
        if (api->respond(c->txn, 403, b) != PYXIS_OK)
            return PYXIS_FILTER_ERROR;
        pyxis_str_t name = PYXIS_STR("x-denied-by");
        pyxis_str_t tag = {c->conf->tag, strlen(c->conf->tag)};
        api->header_set(c->txn, api->resp_headers(c->txn), name, tag);
        return PYXIS_FILTER_STOP;
    }
    if (c->conf->pause & phase) {
        if (api->timer_add(c->txn, c->conf->pause_ms, 0, tf_resume, c) == NULL)
            return PYXIS_FILTER_ERROR;
        return PYXIS_FILTER_PAUSE;
    }
    return PYXIS_FILTER_CONTINUE;
}

/* ---- call-outs ---- */

typedef struct {
    tf_ctx_t *c;
    int response; /* 1: made in the response phase */
} tf_call_t;

static void tf_callout_req(const tf_conf_t *conf, pyxis_callout_req_t *req)
{
    memset(req, 0, sizeof(*req));
    req->size = sizeof(*req);
    req->upstream = conf->co_upstream;
    req->url = conf->co_url;
    if (conf->co_path != NULL) {
        req->path.data = conf->co_path;
        req->path.len = strlen(conf->co_path);
    }
    req->timeout_ms = 5000;
}

static void tf_callout_done(const pyxis_callout_resp_t *resp, void *arg)
{
    tf_call_t *call = arg;
    tf_ctx_t *c = call->c;
    char buf[128];
    int n = resp->status ? snprintf(buf, sizeof(buf), "%d %zu", resp->status, resp->body.len)
                         : snprintf(buf, sizeof(buf), "0 %s", resp->error);
    pyxis_str_t name = PYXIS_STR("x-callout"), v = {buf, (size_t)n};
    api->header_set(c->txn, call->response ? api->resp_headers(c->txn) : api->req_headers(c->txn),
                    name, v);
    api->resume(c->txn);
}

/* Start a call-out and pause for it. */
static pyxis_filter_status_t tf_callout(tf_ctx_t *c, int response)
{
    pyxis_callout_req_t req;
    tf_callout_req(c->conf, &req);
    tf_call_t *call = api->palloc(c->txn, sizeof(*call));
    if (call == NULL)
        return PYXIS_FILTER_ERROR;
    call->c = c;
    call->response = response;
    if (api->callout(c->txn, &req, tf_callout_done, call) == NULL)
        return PYXIS_FILTER_ERROR;
    return PYXIS_FILTER_PAUSE;
}

static void tf_log_callout_done(const pyxis_callout_resp_t *resp, void *arg)
{
    (void)arg;
    api->log(NULL, PYXIS_LOG_INFO, "log-phase call-out answered %d (%zu bytes)", resp->status,
             resp->body.len);
}

/* The whole request body is there: note its length, change it, go on. */
static void tf_body_read(pyxis_txn_t *txn, void *arg)
{
    tf_ctx_t *c = arg;
    pyxis_buf_t *b = api->req_body(txn);
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%zu", b ? api->buf_len(b) : (size_t)0);
    pyxis_str_t name = PYXIS_STR("x-body-len"), v = {buf, (size_t)n};
    api->header_set(txn, api->req_headers(txn), name, v);
    if (b == NULL || api->buf_add(b, "+seen", 5) != PYXIS_OK) {
        api->resume_with(txn, PYXIS_FILTER_ERROR);
        return;
    }
    (void)c;
    api->resume(txn);
}

/* Append the tag to a comma list header. */
static void tf_order(tf_ctx_t *c, pyxis_headers_t *h)
{
    pyxis_str_t name = PYXIS_STR("x-order"), cur;
    char buf[256];
    int n;
    if (api->header_get(h, name, &cur) == PYXIS_OK)
        n = snprintf(buf, sizeof(buf), "%.*s,%s", (int)cur.len, cur.data, c->conf->tag);
    else
        n = snprintf(buf, sizeof(buf), "%s", c->conf->tag);
    pyxis_str_t v = {buf, (size_t)n};
    api->header_set(c->txn, h, name, v);
}

static pyxis_filter_status_t tf_request_headers(pyxis_txn_t *txn, void *ctx)
{
    tf_ctx_t *c = ctx;
    tf_order(c, api->req_headers(txn));
    if (c->conf->set_var != NULL) {
        pyxis_str_t k = PYXIS_STR("who"), v = {c->conf->set_var, strlen(c->conf->set_var)};
        api->var_set(txn, k, v);
    }
    pyxis_str_t who, vn = PYXIS_STR("var.who");
    if (api->var(txn, vn, &who) == PYXIS_OK) {
        pyxis_str_t hn = PYXIS_STR("x-var");
        api->header_set(txn, api->req_headers(txn), hn, who);
    }
    if (c->conf->upstream != NULL && api->set_upstream(txn, c->conf->upstream) != PYXIS_OK)
        return PYXIS_FILTER_ERROR;
    if (c->conf->path != NULL) {
        pyxis_str_t p = {c->conf->path, strlen(c->conf->path)};
        if (api->req_set_path(txn, p) != PYXIS_OK)
            return PYXIS_FILTER_ERROR;
    }
    if (c->conf->append_req != NULL)
        api->body_will_change(txn, PYXIS_REQUEST);
    if (c->served != NULL)
        (*c->served)++;
    if (c->conf->co_in & PH_REQ_HEADERS)
        return tf_callout(c, 0);
    if (c->conf->read_body > 0) {
        pyxis_rc_t rc = api->req_body_read(txn, c->conf->read_body, tf_body_read, c);
        if (rc == PYXIS_OK)
            return PYXIS_FILTER_PAUSE;
        if (rc != PYXIS_NOT_FOUND)
            return PYXIS_FILTER_ERROR;
    }
    if (c->conf->shdict != NULL) {
        pyxis_shdict_t *d = api->shdict(txn, c->conf->shdict);
        pyxis_str_t key = PYXIS_STR("hits");
        if (d == NULL || api->shdict_incr(d, key, 1, 0, 0, &c->hits) != PYXIS_OK)
            return PYXIS_FILTER_ERROR;
    }
    return tf_outcome(c, PH_REQ_HEADERS);
}

static void tf_upper(pyxis_chunk_t *chunk)
{
    struct iovec vec[64];
    int n = api->chunk_peek(chunk, vec, 64);
    for (int i = 0; i < n && i < 64; i++) {
        unsigned char *p = vec[i].iov_base;
        for (size_t j = 0; j < vec[i].iov_len; j++)
            p[j] = (unsigned char)toupper(p[j]);
    }
}

static pyxis_filter_status_t tf_request_body(pyxis_txn_t *txn, void *ctx, pyxis_chunk_t *chunk,
                                             int last)
{
    tf_ctx_t *c = ctx;
    (void)txn;
    if (c->conf->upper_req)
        tf_upper(chunk);
    if (last && c->conf->append_req != NULL)
        api->chunk_add(chunk, c->conf->append_req, strlen(c->conf->append_req));
    return tf_outcome(c, PH_REQ_BODY);
}

static pyxis_filter_status_t tf_response_headers(pyxis_txn_t *txn, void *ctx)
{
    tf_ctx_t *c = ctx;
    pyxis_headers_t *h = api->resp_headers(txn);
    tf_order(c, h);
    if (c->worker != NULL && c->worker->global != NULL) {
        pyxis_str_t name = PYXIS_STR("x-global"),
                    v = {c->worker->global, strlen(c->worker->global)};
        api->header_set(txn, h, name, v);
    }
    if (c->conf->count && c->served != NULL) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%lu", *c->served);
        pyxis_str_t name = PYXIS_STR("x-count"), v = {buf, (size_t)n};
        api->header_set(txn, h, name, v);
    }
    if (c->conf->shdict != NULL) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%.0f", c->hits);
        pyxis_str_t name = PYXIS_STR("x-hits"), v = {buf, (size_t)n};
        api->header_set(txn, h, name, v);
    }
    if (c->conf->append_resp != NULL)
        api->body_will_change(txn, PYXIS_RESPONSE);
    if (c->conf->co_in & PH_RESP_HEADERS)
        return tf_callout(c, 1);
    return tf_outcome(c, PH_RESP_HEADERS);
}

static pyxis_filter_status_t tf_response_body(pyxis_txn_t *txn, void *ctx, pyxis_chunk_t *chunk,
                                              int last)
{
    tf_ctx_t *c = ctx;
    if (c->conf->upper_resp)
        tf_upper(chunk);
    if (c->conf->hold_resp) {
        if (c->held == NULL && (c->held = api->buf_new(txn)) == NULL)
            return PYXIS_FILTER_ERROR;
        api->chunk_move_to_buf(chunk, c->held);
        if (!last)
            return PYXIS_FILTER_CONTINUE; /* passes on an empty chunk */
        api->buf_move_to_chunk(c->held, chunk);
    }
    if (last && c->conf->append_resp != NULL)
        api->chunk_add(chunk, c->conf->append_resp, strlen(c->conf->append_resp));
    return tf_outcome(c, PH_RESP_BODY);
}

static void tf_log(pyxis_txn_t *txn, void *ctx)
{
    tf_ctx_t *c = ctx;
    pyxis_str_t path = api->req_path(txn);
    api->log(txn, PYXIS_LOG_INFO, "testfilter %s log: status=%d path=%.*s", c->conf->tag,
             api->resp_status(txn), (int)path.len, path.data);
    if (c->conf->co_in & PH_LOG) {
        /* The request is over: a worker-level call-out, not tied to it. */
        pyxis_callout_req_t req;
        tf_callout_req(c->conf, &req);
        if (api->callout(NULL, &req, tf_log_callout_done, NULL) == NULL)
            api->log(txn, PYXIS_LOG_ERROR, "log-phase call-out refused");
    }
}

PYXIS_EXPORT const pyxis_module_t pyxis_module = {
    PYXIS_MODULE_HEADER,
    .name = "testfilter",
    .version = "1.0.0",
    .description = "exercises the filter chain (tests only)",
    .init = tf_init,
    .conf_create = tf_conf_create,
    .conf_global = tf_conf_global,
    .worker_init = tf_worker_init,
    .worker_exit = tf_worker_exit,
    .attach = tf_attach,
    .on_request_headers = tf_request_headers,
    .on_request_body = tf_request_body,
    .on_response_headers = tf_response_headers,
    .on_response_body = tf_response_body,
    .on_log = tf_log,
};
