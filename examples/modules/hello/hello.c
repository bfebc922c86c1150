/*
 * hello.c: a small pyxis filter module, built out of tree against the installed SDK
 * (`pkg-config --cflags pyxis`). It shows each part of a module once: config parsed with the
 * api readers, per-worker data, a per-request context, a request and a response header, and a
 * local reply.
 *
 *   filters:
 *     - hello: { greeting: hi, header: x-hello }    # both optional
 *
 * - The upstream request gets `HEADER: GREETING` (default `x-hello: hello`), replacing any
 *   value the client sent.
 * - Every response gets `x-hello-module: VERSION` and `x-hello-count: N`, N being how many
 *   requests hello filters have seen on this worker, this one included.
 * - A request whose query has `hello=reply` is answered by the module: 200
 *   "hello from a module\n"; it never reaches the upstream.
 *
 * Of pyxis it includes only <pyxis/module.h> and links against nothing: every service is
 * reached through the pyxis_api_t table init() receives.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pyxis/module.h>

#define HELLO_VERSION "1.0.0"

/* The core's service table, set once by init() on the main thread before anything else runs;
 * valid for the life of the process. Read-only afterwards, so workers may share it. */
static const pyxis_api_t *api;

/* One `hello:` entry of a route, parsed at config load. Lives in the config arena and is
 * freed with the config snapshot, so there is no conf_free. */
typedef struct {
    pyxis_str_t greeting;
    pyxis_str_t header;
} hello_conf_t;

/* Per worker and config generation: calloc'ed by worker_init, freed by worker_exit. Only its
 * own worker thread touches it, so it needs no lock. */
typedef struct {
    uint64_t requests;
} hello_worker_t;

/* Per request, from the transaction pool (freed with the transaction). */
typedef struct {
    const hello_conf_t *conf;
    hello_worker_t *worker; /* NULL if worker_init made none */
    uint64_t seq;           /* this request's number on its worker */
} hello_ctx_t;

static const pyxis_str_t hello_module_header = PYXIS_STR("x-hello-module");
static const pyxis_str_t hello_count_header = PYXIS_STR("x-hello-count");
static const pyxis_str_t hello_reply_body = PYXIS_STR("hello from a module\n");

static pyxis_rc_t hello_init(const pyxis_api_t *a)
{
    api = a;
    return PYXIS_OK;
}

/* ---- configuration (main thread) ------------------------------------------------------- */

/* An HTTP field name (RFC 9110 token). */
static int hello_is_token(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        if (strchr("!#$%&'*+-.^_`|~", *s) == NULL && !(*s >= '0' && *s <= '9') &&
            !(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z'))
            return 0;
    }
    return 1;
}

static pyxis_rc_t hello_conf_create(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **out)
{
    static const char *const keys[] = {"greeting", "header"};
    hello_conf_t *conf;
    const pyxis_node_t *n;
    const char *s;

    conf = api->conf_alloc(cc, sizeof(*conf));
    if (conf == NULL) {
        api->conf_error(cc, NULL, "out of memory");
        return PYXIS_ERROR;
    }
    conf->greeting = (pyxis_str_t)PYXIS_STR("hello");
    conf->header = (pyxis_str_t)PYXIS_STR("x-hello");

    /* `- hello` (or `- hello:`) with nothing after it takes the defaults. */
    if (api->node_type(node) == PYXIS_NODE_NULL) {
        *out = conf;
        return PYXIS_OK;
    }
    if (api->node_type(node) != PYXIS_NODE_MAP) {
        api->conf_error(cc, node, "expected a map: { greeting: TEXT, header: NAME }");
        return PYXIS_ERROR;
    }
    if (api->conf_check_keys(cc, node, keys, sizeof(keys) / sizeof(keys[0])) != PYXIS_OK)
        return PYXIS_ERROR;

    if ((n = api->node_get(node, "greeting")) != NULL) {
        if (api->conf_str(cc, n, &s) != PYXIS_OK)
            return PYXIS_ERROR;
        /* Refuse now what header_set() would refuse on every request. */
        if (strlen(s) != api->node_str(n).len || strpbrk(s, "\r\n") != NULL) {
            api->conf_error(cc, n, "greeting: CR, LF and NUL are not allowed in a header value");
            return PYXIS_ERROR;
        }
        conf->greeting.data = s;
        conf->greeting.len = strlen(s);
    }
    if ((n = api->node_get(node, "header")) != NULL) {
        if (api->conf_str(cc, n, &s) != PYXIS_OK)
            return PYXIS_ERROR;
        if (!hello_is_token(s)) {
            api->conf_error(cc, n, "header: \"%s\" is not a valid header name", s);
            return PYXIS_ERROR;
        }
        conf->header.data = s;
        conf->header.len = strlen(s);
    }
    *out = conf;
    return PYXIS_OK;
}

/* ---- workers ----------------------------------------------------------------------------- */

static pyxis_rc_t hello_worker_init(pyxis_worker_t *w, void *gconf, void *const *confs,
                                    size_t nconfs, void **worker_data)
{
    (void)gconf;
    hello_worker_t *hw = calloc(1, sizeof(*hw));

    (void)confs; /* every hello conf of this generation; the count does not depend on them */
    if (hw == NULL)
        return PYXIS_ERROR;
    *worker_data = hw;
    api->log(NULL, PYXIS_LOG_DEBUG, "worker %u: %zu hello filter(s)", api->worker_id(w), nconfs);
    return PYXIS_OK;
}

static void hello_worker_exit(pyxis_worker_t *w, void *worker_data)
{
    (void)w;
    free(worker_data);
}

/* ---- per request (worker thread) --------------------------------------------------------- */

static pyxis_rc_t hello_attach(pyxis_txn_t *txn, void *conf, void *worker_data, void **ctx)
{
    hello_ctx_t *c = api->pcalloc(txn, sizeof(*c));

    if (c == NULL)
        return PYXIS_ERROR;
    c->conf = conf;
    c->worker = worker_data;
    *ctx = c;
    return PYXIS_OK;
}

/* Does the query (without "?") hold the parameter hello=reply? */
static int hello_wants_reply(pyxis_str_t q)
{
    static const char want[] = "hello=reply";
    size_t i = 0;

    while (i < q.len) {
        const char *amp = memchr(q.data + i, '&', q.len - i);
        size_t end = amp != NULL ? (size_t)(amp - q.data) : q.len;

        if (end - i == sizeof(want) - 1 && memcmp(q.data + i, want, end - i) == 0)
            return 1;
        i = end + 1;
    }
    return 0;
}

/* The module's response headers. header_set, not header_add: set twice, they appear once. */
static pyxis_rc_t hello_mark_response(pyxis_txn_t *txn, hello_ctx_t *c)
{
    pyxis_headers_t *h = api->resp_headers(txn);
    char count[24];
    pyxis_str_t value = PYXIS_STR(HELLO_VERSION);
    pyxis_rc_t rc;

    if (h == NULL)
        return PYXIS_BAD_STATE;
    rc = api->header_set(txn, h, hello_module_header, value);
    if (rc != PYXIS_OK)
        return rc;
    value.data = count; /* header_set copies it into the pool: a stack buffer is fine */
    value.len = (size_t)snprintf(count, sizeof(count), "%llu", (unsigned long long)c->seq);
    return api->header_set(txn, h, hello_count_header, value);
}

static pyxis_filter_status_t hello_on_request_headers(pyxis_txn_t *txn, void *ctx)
{
    hello_ctx_t *c = ctx;
    pyxis_rc_t rc;

    if (c->worker != NULL)
        c->seq = ++c->worker->requests;

    if (hello_wants_reply(api->req_query(txn))) {
        if (api->respond(txn, 200, hello_reply_body) != PYXIS_OK ||
            hello_mark_response(txn, c) != PYXIS_OK)
            return PYXIS_FILTER_ERROR;
        return PYXIS_FILTER_STOP;
    }

    rc = api->header_set(txn, api->req_headers(txn), c->conf->header, c->conf->greeting);
    if (rc != PYXIS_OK) {
        api->log(txn, PYXIS_LOG_ERROR, "cannot set the %.*s request header (%d)",
                 (int)c->conf->header.len, c->conf->header.data, (int)rc);
        return PYXIS_FILTER_ERROR;
    }
    return PYXIS_FILTER_CONTINUE;
}

static pyxis_filter_status_t hello_on_response_headers(pyxis_txn_t *txn, void *ctx)
{
    return hello_mark_response(txn, ctx) == PYXIS_OK ? PYXIS_FILTER_CONTINUE : PYXIS_FILTER_ERROR;
}

/* ---- the descriptor: the one symbol the module exports ----------------------------------- */

PYXIS_EXPORT const pyxis_module_t pyxis_module = {
    PYXIS_MODULE_HEADER,
    .name = "hello",
    .version = HELLO_VERSION,
    .description = "adds a greeting to requests and answers ?hello=reply itself",
    .init = hello_init,
    .conf_create = hello_conf_create,
    .worker_init = hello_worker_init,
    .worker_exit = hello_worker_exit,
    .attach = hello_attach,
    .on_request_headers = hello_on_request_headers,
    .on_response_headers = hello_on_response_headers,
};
