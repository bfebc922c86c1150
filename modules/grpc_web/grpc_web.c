/*
 * grpc_web.c: the built-in `grpc_web` filter: lets gRPC-Web clients (browsers, over HTTP/1.1 or
 * HTTP/2) call a gRPC service. docs/config.md ("Built-in filters" -> "grpc_web") is the user's
 * description; gw_codec.c does the byte transforms.
 *
 * Per request:
 *  - request headers: a gRPC-Web content type becomes application/grpc (its "+SUB" kept); a
 *    text-mode request (application/grpc-web-text) has its body base64-decoded on the way, so
 *    its length changes; a request that is not gRPC-Web passes untouched (native gRPC clients
 *    may share the route);
 *  - response headers: an application/grpc response becomes application/grpc-web (or -text
 *    when the request was text, or its Accept asks for it); the body is reframed from here on,
 *    so the core drops Content-Length; with an Origin in the request, the gRPC status fields
 *    are exposed to the page (Access-Control-Expose-Headers). Any other response (an HTTP
 *    error page) passes as it is: the gRPC-Web client maps its status;
 *  - response body: in text mode each piece is base64-encoded on its own (padded, so nothing of
 *    a streamed message waits for the next piece); at the end the response's trailer fields
 *    (grpc-status, grpc-message, metadata) are moved into the body as the trailers frame, since
 *    a browser cannot read HTTP trailers.
 *
 * Memory: the expanded bytes of a piece go through one scratch buffer per request (malloc'd,
 * grown to the largest piece, freed at detach), so a long stream does not grow the transaction
 * pool.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pyxis/module.h>

#include "gw_codec.h"

static const pyxis_api_t *gw_api;

#define GW_NELTS(a) (sizeof(a) / sizeof((a)[0]))
#define GW_MAX_IOV  64

typedef struct {
    pyxis_str_t expose; /* Access-Control-Expose-Headers value; empty: none added */
} gw_conf_t;

typedef struct {
    const gw_conf_t *conf;
    gw_mode_t req_mode;   /* how the request came: GW_NONE = not gRPC-Web, left alone */
    gw_mode_t resp_mode;  /* how the response goes: GW_BINARY or GW_TEXT */
    unsigned origin : 1;  /* the request had an Origin field (a browser, cross-origin) */
    unsigned reframe : 1; /* the response is gRPC: its body is reframed */
    gw_b64dec_t dec;
    unsigned char *scratch; /* malloc'd */
    size_t scratch_cap;
} gw_ctx_t;

static pyxis_rc_t gw_init(const pyxis_api_t *api)
{
    gw_api = api;
    return PYXIS_OK;
}

/* ---- configuration ------------------------------------------------------------------------- */

/* A field name as RFC 9110 allows it. */
static int gw_is_token(pyxis_str_t s)
{
    if (s.len == 0)
        return 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.data[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL)))
            return 0;
    }
    return 1;
}

static pyxis_rc_t gw_conf_expose(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, gw_conf_t *c)
{
    const pyxis_api_t *api = gw_api;
    if (api->node_type(n) != PYXIS_NODE_SEQ) {
        api->conf_error(cc, n, "expose_headers: expected a list of field names");
        return PYXIS_ERROR;
    }
    size_t len = 0, count = api->node_len(n);
    for (size_t i = 0; i < count; i++) {
        const pyxis_node_t *item = api->node_at(n, i);
        pyxis_str_t s = api->node_str(item);
        if (api->node_type(item) != PYXIS_NODE_SCALAR || !gw_is_token(s)) {
            api->conf_error(cc, item, "expose_headers: expected a field name");
            return PYXIS_ERROR;
        }
        len += s.len + 2;
    }
    char *v = api->conf_alloc(cc, len + 1);
    if (v == NULL) {
        api->conf_error(cc, n, "out of memory");
        return PYXIS_ERROR;
    }
    size_t o = 0;
    for (size_t i = 0; i < count; i++) {
        pyxis_str_t s = api->node_str(api->node_at(n, i));
        if (o > 0) {
            memcpy(v + o, ", ", 2);
            o += 2;
        }
        memcpy(v + o, s.data, s.len);
        o += s.len;
    }
    c->expose = (pyxis_str_t){v, o};
    return PYXIS_OK;
}

static pyxis_rc_t gw_conf_create(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **conf)
{
    static const char *const keys[] = {"expose_headers"};
    const pyxis_api_t *api = gw_api;
    gw_conf_t *c = api->conf_alloc(cc, sizeof(*c));
    if (c == NULL) {
        api->conf_error(cc, node, "out of memory");
        return PYXIS_ERROR;
    }
    c->expose = (pyxis_str_t)PYXIS_STR("grpc-status, grpc-message");
    if (api->node_type(node) != PYXIS_NODE_NULL) { /* "- grpc_web" alone: the defaults */
        if (api->node_type(node) != PYXIS_NODE_MAP) {
            api->conf_error(cc, node, "expected a map (expose_headers) or nothing");
            return PYXIS_ERROR;
        }
        if (api->conf_check_keys(cc, node, keys, GW_NELTS(keys)) != PYXIS_OK)
            return PYXIS_ERROR;
        const pyxis_node_t *n = api->node_get(node, "expose_headers");
        if (n != NULL && gw_conf_expose(cc, n, c) != PYXIS_OK)
            return PYXIS_ERROR;
    }
    api->conf_uses(cc, PYXIS_USES_REQUEST_HEADERS | PYXIS_USES_REQUEST_BODY |
                           PYXIS_USES_RESPONSE_HEADERS | PYXIS_USES_RESPONSE_BODY);
    *conf = c;
    return PYXIS_OK;
}

/* ---- per request ----------------------------------------------------------------------------- */

static pyxis_rc_t gw_attach(pyxis_txn_t *txn, void *conf, void *worker_data, void **ctx)
{
    gw_ctx_t *c = gw_api->pcalloc(txn, sizeof(*c));
    if (c == NULL)
        return PYXIS_ERROR;
    c->conf = conf;
    *ctx = c;
    return PYXIS_OK;
}

static void gw_detach(pyxis_txn_t *txn, void *ctx)
{
    gw_ctx_t *c = ctx;
    free(c->scratch);
}

/* The scratch buffer with room for n bytes, or NULL. */
static unsigned char *gw_scratch(gw_ctx_t *c, size_t n)
{
    if (n > c->scratch_cap) {
        size_t cap = n < 4096 ? 4096 : n;
        unsigned char *p = realloc(c->scratch, cap);
        if (p == NULL)
            return NULL;
        c->scratch = p;
        c->scratch_cap = cap;
    }
    return c->scratch;
}

/* "application/grpc" or "application/grpc-web[-text]", then "+SUB" when there is one; in the
 * transaction pool. */
static pyxis_str_t gw_type(pyxis_txn_t *txn, const char *base, const char *sub, size_t sublen)
{
    size_t blen = strlen(base), len = blen + (sublen > 0 ? sublen + 1 : 0);
    char *v = gw_api->palloc(txn, len);
    if (v == NULL)
        return (pyxis_str_t){NULL, 0};
    memcpy(v, base, blen);
    if (sublen > 0) {
        v[blen] = '+';
        memcpy(v + blen + 1, sub, sublen);
    }
    return (pyxis_str_t){v, len};
}

static pyxis_filter_status_t gw_on_request_headers(pyxis_txn_t *txn, void *ctx)
{
    const pyxis_api_t *api = gw_api;
    gw_ctx_t *c = ctx;
    pyxis_headers_t *h = api->req_headers(txn);
    pyxis_str_t ct, v, method = api->req_method(txn);
    const char *sub = NULL;
    size_t sublen = 0;
    if (api->header_get(h, (pyxis_str_t)PYXIS_STR("content-type"), &ct) != PYXIS_OK ||
        method.len != 4 || memcmp(method.data, "POST", 4) != 0)
        return PYXIS_FILTER_CONTINUE;
    c->req_mode = gw_content_type(ct.data, ct.len, &sub, &sublen);
    if (c->req_mode == GW_NONE)
        return PYXIS_FILTER_CONTINUE;
    c->resp_mode = c->req_mode;
    if (api->header_get(h, (pyxis_str_t)PYXIS_STR("accept"), &v) == PYXIS_OK &&
        gw_accepts_text(v.data, v.len))
        c->resp_mode = GW_TEXT;
    c->origin = api->header_get(h, (pyxis_str_t)PYXIS_STR("origin"), &v) == PYXIS_OK;
    pyxis_str_t grpc = gw_type(txn, "application/grpc", sub, sublen);
    if (grpc.data == NULL ||
        api->header_set(txn, h, (pyxis_str_t)PYXIS_STR("content-type"), grpc) != PYXIS_OK ||
        api->header_remove(txn, h, (pyxis_str_t)PYXIS_STR("x-grpc-web"), NULL) != PYXIS_OK ||
        (c->req_mode == GW_TEXT && api->body_will_change(txn, PYXIS_REQUEST) != PYXIS_OK))
        return PYXIS_FILTER_ERROR;
    return PYXIS_FILTER_CONTINUE;
}

static pyxis_filter_status_t gw_bad_request(pyxis_txn_t *txn, const char *why)
{
    gw_api->log(txn, PYXIS_LOG_INFO, "refused: %s", why);
    if (gw_api->respond(txn, 400, (pyxis_str_t)PYXIS_STR("malformed grpc-web-text body\n")) !=
        PYXIS_OK)
        return PYXIS_FILTER_ERROR;
    return PYXIS_FILTER_STOP;
}

/* The chunk's pieces: in `stack` when they fit, else in a malloc'd array (*n of them); NULL
 * when out of memory. Free the result when it is not `stack`. */
static struct iovec *gw_peek(pyxis_chunk_t *chunk, struct iovec *stack, int *n)
{
    *n = gw_api->chunk_peek(chunk, stack, GW_MAX_IOV);
    if (*n <= GW_MAX_IOV)
        return stack;
    struct iovec *v = malloc((size_t)*n * sizeof(*v));
    if (v != NULL)
        gw_api->chunk_peek(chunk, v, *n);
    return v;
}

/* Text mode: the chunk's base64 replaced by the bytes it encodes. */
static pyxis_filter_status_t gw_on_request_body(pyxis_txn_t *txn, void *ctx, pyxis_chunk_t *chunk,
                                                int last)
{
    const pyxis_api_t *api = gw_api;
    gw_ctx_t *c = ctx;
    if (c->req_mode != GW_TEXT)
        return PYXIS_FILTER_CONTINUE;
    size_t len = api->chunk_len(chunk), o = 0;
    unsigned char *out = gw_scratch(c, GW_B64_DECODED_MAX(len) + 1);
    struct iovec stack[GW_MAX_IOV], *iov;
    int n;
    if (out == NULL || (iov = gw_peek(chunk, stack, &n)) == NULL)
        return PYXIS_FILTER_ERROR;
    int bad = 0;
    for (int i = 0; i < n && !bad; i++) {
        ssize_t got = gw_b64_decode(&c->dec, iov[i].iov_base, iov[i].iov_len, out + o);
        if (got < 0)
            bad = 1;
        else
            o += (size_t)got;
    }
    if (iov != stack)
        free(iov);
    if (bad)
        return gw_bad_request(txn, "the grpc-web-text body is not base64");
    if (last && gw_b64_decode_end(&c->dec) < 0)
        return gw_bad_request(txn, "the grpc-web-text body ends inside a base64 quantum");
    if (api->chunk_drain(chunk, len) != PYXIS_OK || api->chunk_add(chunk, out, o) != PYXIS_OK)
        return PYXIS_FILTER_ERROR;
    return PYXIS_FILTER_CONTINUE;
}

static pyxis_filter_status_t gw_on_response_headers(pyxis_txn_t *txn, void *ctx)
{
    const pyxis_api_t *api = gw_api;
    gw_ctx_t *c = ctx;
    if (c->req_mode == GW_NONE)
        return PYXIS_FILTER_CONTINUE;
    pyxis_headers_t *h = api->resp_headers(txn);
    pyxis_str_t ct;
    static const char grpc[] = "application/grpc";
    if (h == NULL || api->header_get(h, (pyxis_str_t)PYXIS_STR("content-type"), &ct) != PYXIS_OK ||
        ct.len < sizeof(grpc) - 1 || strncasecmp(ct.data, grpc, sizeof(grpc) - 1) != 0)
        return PYXIS_FILTER_CONTINUE; /* not a gRPC answer: an error page, left as it is */
    /* "application/grpc", "application/grpc+SUB", parameters after ";" */
    const char *rest = ct.data + sizeof(grpc) - 1, *end = ct.data + ct.len, *sub = rest;
    size_t sublen = 0;
    if (rest < end && *rest == '+') {
        sub = rest + 1;
        while (sub + sublen < end && sub[sublen] != ';' && sub[sublen] != ' ')
            sublen++;
    } else if (rest < end && *rest != ';' && *rest != ' ') {
        return PYXIS_FILTER_CONTINUE; /* "application/grpcx": not gRPC */
    }
    pyxis_str_t web =
        gw_type(txn, c->resp_mode == GW_TEXT ? "application/grpc-web-text" : "application/grpc-web",
                sub, sublen);
    if (web.data == NULL ||
        api->header_set(txn, h, (pyxis_str_t)PYXIS_STR("content-type"), web) != PYXIS_OK ||
        api->body_will_change(txn, PYXIS_RESPONSE) != PYXIS_OK)
        return PYXIS_FILTER_ERROR;
    if (c->origin && c->conf->expose.len > 0 &&
        api->header_add(txn, h, (pyxis_str_t)PYXIS_STR("access-control-expose-headers"),
                        c->conf->expose) != PYXIS_OK)
        return PYXIS_FILTER_ERROR;
    c->reframe = 1;
    return PYXIS_FILTER_CONTINUE;
}

/* The response's trailer fields as the trailers frame, added to the end of the chunk and taken
 * out of the trailers (which a browser could not read). */
static int gw_trailers_to_body(pyxis_txn_t *txn, pyxis_chunk_t *chunk)
{
    const pyxis_api_t *api = gw_api;
    pyxis_headers_t *tr = api->resp_trailers(txn);
    size_t iter = 0, n = 0;
    pyxis_str_t name, value;
    while (tr != NULL && api->header_next(tr, &iter, &name, &value) == PYXIS_OK)
        n++;
    if (n == 0)
        return 0; /* a trailers-only answer had its status in the headers */
    gw_field_t *f = api->palloc(txn, n * sizeof(*f));
    if (f == NULL)
        return -1;
    iter = 0;
    for (size_t i = 0; i < n && api->header_next(tr, &iter, &name, &value) == PYXIS_OK; i++)
        f[i] = (gw_field_t){name.data, name.len, value.data, value.len};
    size_t size = gw_trailer_frame_size(f, n);
    unsigned char *frame = size > 0 ? api->palloc(txn, size) : NULL;
    if (frame == NULL || api->chunk_add(chunk, frame, gw_trailer_frame(f, n, frame)) != PYXIS_OK)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (api->header_remove(txn, tr, (pyxis_str_t){f[i].name, f[i].name_len}, NULL) != PYXIS_OK)
            return -1;
    }
    return 0;
}

/* Text mode: the chunk replaced by its base64, padded. */
static int gw_encode_chunk(gw_ctx_t *c, pyxis_chunk_t *chunk)
{
    const pyxis_api_t *api = gw_api;
    size_t len = api->chunk_len(chunk), o = 0;
    if (len == 0)
        return 0;
    struct iovec stack[GW_MAX_IOV], *iov;
    int n;
    /* Whole 3-byte groups are encoded straight from the chunk's pieces; the bytes of a group
     * that straddles two pieces are gathered first. */
    unsigned char *out = gw_scratch(c, GW_B64_ENCODED_LEN(len));
    if (out == NULL || (iov = gw_peek(chunk, stack, &n)) == NULL)
        return -1;
    unsigned char carry[3];
    size_t ncarry = 0;
    for (int i = 0; i < n; i++) {
        const unsigned char *p = iov[i].iov_base;
        size_t plen = iov[i].iov_len;
        while (ncarry > 0 && ncarry < 3 && plen > 0) {
            carry[ncarry++] = *p++;
            plen--;
        }
        if (ncarry == 3) {
            o += gw_b64_encode(carry, 3, (char *)out + o);
            ncarry = 0;
        }
        size_t whole = plen / 3 * 3;
        o += gw_b64_encode(p, whole, (char *)out + o);
        for (size_t k = whole; k < plen; k++)
            carry[ncarry++] = p[k];
    }
    o += gw_b64_encode(carry, ncarry, (char *)out + o);
    if (iov != stack)
        free(iov);
    return api->chunk_drain(chunk, len) == PYXIS_OK && api->chunk_add(chunk, out, o) == PYXIS_OK
               ? 0
               : -1;
}

static pyxis_filter_status_t gw_on_response_body(pyxis_txn_t *txn, void *ctx, pyxis_chunk_t *chunk,
                                                 int last)
{
    gw_ctx_t *c = ctx;
    if (!c->reframe)
        return PYXIS_FILTER_CONTINUE;
    if ((last && gw_trailers_to_body(txn, chunk) < 0) ||
        (c->resp_mode == GW_TEXT && gw_encode_chunk(c, chunk) < 0))
        return PYXIS_FILTER_ERROR;
    return PYXIS_FILTER_CONTINUE;
}

PYXIS_EXPORT const pyxis_module_t pyxis_module = {
    PYXIS_MODULE_HEADER,
    .name = "grpc_web",
    .version = "1.0.0",
    .description = "gRPC-Web clients (binary and base64 text) to gRPC services",
    .init = gw_init,
    .conf_create = gw_conf_create,
    .attach = gw_attach,
    .detach = gw_detach,
    .on_request_headers = gw_on_request_headers,
    .on_request_body = gw_on_request_body,
    .on_response_headers = gw_on_response_headers,
    .on_response_body = gw_on_response_body,
};
