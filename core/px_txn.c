/*
 * px_txn.c: transaction lifecycle, local replies and the access log.
 *
 * Proxying to an upstream lives in px_proxy.c; this file owns what every request has: routing,
 * replies pyxis writes itself (errors, `respond`, `redirect`), and the end of the exchange.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "px_endpoint-t.h"
#include "px_filter.h"
#include "px_grpc.h"
#include "px_h1_body.h"
#include "px_http1.h"
#include "px_io.h"
#include "px_log.h"
#include "px_module.h"
#include "px_pool.h"
#include "px_proxy.h"
#include "px_route.h"
#include "px_tls_vars.h"
#include "px_txn.h"
#include "px_worker.h"

const char *px_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default:
        return status < 200   ? "Informational"
               : status < 300 ? "Success"
               : status < 400 ? "Redirection"
               : status < 500 ? "Client Error"
                              : "Server Error";
    }
}

px_txn_t *px_txn_create(px_down_t *d, px_worker_t *w, px_wgen_t *wg, size_t listener)
{
    px_pool_t *pool = px_pool_create(PX_POOL_DEFAULT_SIZE);
    if (pool == NULL)
        return NULL;
    px_txn_t *t = px_pcalloc(pool, sizeof(*t));
    t->pool = pool;
    t->worker = w;
    t->wgen = wg;
    t->wgen->active++;
    t->down = d;
    t->listener = &wg->gen->conf->listeners[listener];
    t->listener_index = listener;
    t->id = ++w->seq;
    clock_gettime(CLOCK_MONOTONIC, &t->start);
    return t;
}

void px_txn_free(px_txn_t *t)
{
    px_filter_detach(t);
    if (t->uconn != NULL)
        px_proxy_detach(t, 0);
    px_proxy_txn_done(t);
    if (t->timer != NULL)
        event_del(t->timer); /* the event itself is pool memory */
    px_worker_wgen_put(t->worker, t->wgen);
    px_pool_destroy(t->pool);
}

void px_txn_abort(px_txn_t *t)
{
    t->down->ops->detach(t->down);
    if (t->tunnel != NULL) {
        /* An upgraded connection closed under it (the worker stops): it still gets its one
         * access-log line. */
        if (t->error == NULL)
            t->error = "tunnel closed: pyxis stopped";
        px_txn_finish(t);
        return;
    }
    px_txn_free(t);
}

/* Hand the completed txn back to its connection. */
static void px_txn_done(px_txn_t *t)
{
    t->resp_state = PX_TXN_RESP_DONE;
    if (t->timer != NULL)
        evtimer_del(t->timer);
    if (t->req_state != PX_TXN_REQ_DONE)
        t->close_client = 1; /* the rest of the request body is still on the wire */
    t->down->ops->done(t->down);
}

/* ---- local replies ------------------------------------------------------------------------- */

static void px_txn_reply_filters(px_txn_t *t);
static void px_txn_reply_body(px_txn_t *t);

/* Does a local reply with this status carry a body? */
static int px_txn_reply_has_body(const px_txn_t *t, int status)
{
    return !t->grpc_reply && status >= 200 && status != 204 && status != 304 &&
           t->req.method_id != PX_METHOD_HEAD;
}

/* Queue a complete local response: status, extra headers, body. The response filters of the
 * filters the request reached run on it first (not after a filter failed). */
static void px_txn_reply(px_txn_t *t, int status, const px_conf_kv_t *headers, size_t nheaders,
                         const char *body, size_t body_len)
{
    t->status = status;
    t->in_local_reply = 1;
    t->replying = 0;
    if (t->req_state != PX_TXN_REQ_DONE)
        t->close_client = 1;
    px_headers_t *h = &t->resp_headers;
    h->n = 0;
    h->cap = nheaders + 2;
    h->items = px_palloc(t->pool, h->cap * sizeof(px_header_t));
    if (h->items == NULL) {
        h->cap = 0;
        nheaders = 0;
    }
    for (size_t i = 0; i < nheaders; i++) {
        px_str_t name = {headers[i].name, strlen(headers[i].name)};
        px_str_t value = {headers[i].value, strlen(headers[i].value)};
        h->items[h->n++] = (px_header_t){name, value};
    }
    t->reply_body.data = body;
    t->reply_body.len = body_len;
    px_txn_reply_filters(t);
}

/* Send the reply a filter prepared with respond() (t->reply_*, t->resp_headers). */
void px_txn_reply_from_filter(px_txn_t *t)
{
    t->status = t->reply_status;
    t->in_local_reply = 1;
    if (t->req_state != PX_TXN_REQ_DONE)
        t->close_client = 1;
    px_txn_reply_filters(t);
}

/* The response-headers phase of a local reply (also its resume continuation). */
static void px_txn_reply_filters(px_txn_t *t)
{
    /* Not when a filter failed (the 500 goes out plain), and not when the response phase is
     * held by a filter of the upstream's response (an upstream failure while it waits). */
    if (t->nreached > 0 && (t->route->filter_has & PX_FILTER_HAS_RESP_HEADERS) &&
        !t->filter_failed && !(t->fresp.phase != PX_FPHASE_NONE && !t->in_local_reply)) {
        px_status_t rc = px_filter_headers(t, PX_FPHASE_RESP_HEADERS, px_txn_reply_filters);
        if (rc == PX_AGAIN)
            return;
        if (rc == PX_ERROR) {
            px_txn_local_reply(t, 500, "filter failed");
            return;
        }
        if (rc == PX_DECLINED) /* a response filter replaced the reply */
            t->status = t->reply_status;
    }
    if (t->replying)
        t->status = t->reply_status;
    px_txn_reply_body(t);
}

/* Run the response body filters over the reply's body (one chunk, the last), then write the
 * head, with the body's final length, and the body. */
static void px_txn_reply_body(px_txn_t *t)
{
    int status = t->status;
    int has_body = px_txn_reply_has_body(t, status);
    px_down_t *d = t->down;
    int filtered = has_body && px_filter_has_body(t, PX_FPHASE_RESP_BODY) && t->nreached > 0;
    if (filtered) {
        if (t->resp_chunk == NULL) {
            t->resp_chunk = evbuffer_new();
            if (t->resp_chunk == NULL ||
                px_pool_cleanup_add(t->pool, (px_pool_cleanup_fn)evbuffer_free, t->resp_chunk) <
                    0) {
                px_txn_local_reply(t, 500, "out of memory");
                return;
            }
            if (t->reply_body.len > 0)
                evbuffer_add(t->resp_chunk, t->reply_body.data, t->reply_body.len);
        }
        px_status_t rc = px_filter_body(t, PX_FPHASE_RESP_BODY, 1, px_txn_reply_body);
        if (rc == PX_AGAIN)
            return;
        if (rc != PX_OK) {
            evbuffer_drain(t->resp_chunk, evbuffer_get_length(t->resp_chunk));
            px_txn_local_reply(t, 500, "filter failed");
            return;
        }
    }
    size_t body_len = filtered ? evbuffer_get_length(t->resp_chunk) : t->reply_body.len;
    const char *date = px_worker_date(t->worker);
    const px_header_t extra = {PX_STR("Date"), {date, strlen(date)}};
    const char *reason = px_http_reason(status);
    px_body_kind_t fout;
    if (d->ops->start_response(d, t, (px_str_t){reason, strlen(reason)}, &extra, 1,
                               status >= 200 && status != 204 && status != 304 && !t->grpc_reply
                                   ? PX_BODY_LENGTH
                                   : PX_BODY_NONE,
                               body_len, &fout) < 0) {
        t->close_client = 1;
        px_txn_done(t);
        return;
    }
    t->resp_head_sent = 1;
    if (has_body) {
        struct evbuffer *out = d->ops->body_out(d);
        if (filtered)
            evbuffer_add_buffer(out, t->resp_chunk);
        else if (body_len > 0)
            evbuffer_add(out, t->reply_body.data, body_len);
        t->resp_body.moved = body_len;
    } else {
        t->resp_body.moved = 0;
    }
    px_txn_done(t);
}

/*
 * A failure answered to a gRPC client: HTTP 200, trailers-only (one head, no body, so an HTTP/2
 * client gets a single HEADERS frame that ends the stream) with the gRPC status and message, as
 * gRPC clients expect from a proxy (grpc/doc/http-grpc-status-mapping.md). The error itself was
 * logged by px_txn_local_reply.
 */
static void px_txn_grpc_reply(px_txn_t *t, int status, const char *cause)
{
    int code = px_grpc_status_of(status, t->deadline_hit);
    char *num = px_pnalloc(t->pool, 4), *msg = px_pnalloc(t->pool, 256);
    if (num == NULL || msg == NULL) {
        px_txn_reply(t, 500, NULL, 0, "", 0);
        return;
    }
    snprintf(num, 4, "%d", code);
    msg[px_grpc_message(cause ? cause : px_http_reason(status), msg, 255)] = '\0';
    px_conf_kv_t hs[5] = {
        {"content-type", "application/grpc"}, {"grpc-status", num}, {"grpc-message", msg}};
    size_t nhs = 3;
    if (t->overflow != NULL)
        hs[nhs++] = (px_conf_kv_t){"x-pyxis-overflow", (char *)t->overflow};
    char *attempts = px_proxy_attempts_header(t) ? px_pnalloc(t->pool, 12) : NULL;
    if (attempts != NULL) {
        snprintf(attempts, 12, "%u", t->attempts);
        hs[nhs++] = (px_conf_kv_t){"x-pyxis-attempts", attempts};
    }
    /* HTTP/1.1 has no trailers-only form: an empty body with Content-Length: 0 there. */
    t->grpc_reply = t->req.version == 20;
    px_txn_reply(t, 200, hs, nhs, "", 0);
}

void px_txn_local_reply(px_txn_t *t, int status, const char *cause)
{
    static const px_conf_kv_t text_plain = {"Content-Type", "text/plain; charset=utf-8"};
    char body[96];
    int n = snprintf(body, sizeof(body), "%d %s\n", status, px_http_reason(status));
    t->error = cause;
    /* These statuses mean the connection's framing can no longer be trusted. */
    if (status == 400 || status == 408 || status == 413 || status == 414 || status == 431 ||
        status == 501 || status == 505)
        t->close_client = 1;
    /* One log line per local error reply: who (route or listener, client), what, why, where.
     * Never the target or header values: they may carry credentials. */
    if (status >= 400) {
        px_log(status >= 500 ? PX_LOG_ERROR : PX_LOG_INFO, "%s %s: %d %s: %s%s%s%s",
               t->route ? t->route->name : t->listener->name, t->down->peer_text, status,
               px_http_reason(status), cause ? cause : px_http_reason(status),
               t->ep ? " (endpoint " : "", t->ep ? t->ep->addr.text : "", t->ep ? ")" : "");
    }
    t->grpc_reply = 0;
    if (t->grpc && status >= 400 && !t->filter_failed) {
        px_txn_grpc_reply(t, status, cause);
        return;
    }
    char *copy = px_pstrndup(t->pool, body, (size_t)n);
    px_conf_kv_t hs[3] = {text_plain};
    size_t nhs = 1;
    if (t->overflow != NULL) /* which circuit breaker said no */
        hs[nhs++] = (px_conf_kv_t){"x-pyxis-overflow", (char *)t->overflow};
    char *attempts = px_proxy_attempts_header(t) ? px_pnalloc(t->pool, 12) : NULL;
    if (attempts != NULL) {
        snprintf(attempts, 12, "%u", t->attempts);
        hs[nhs++] = (px_conf_kv_t){"x-pyxis-attempts", attempts};
    }
    px_txn_reply(t, status, hs, nhs, copy ? copy : "", copy ? (size_t)n : 0);
}

void px_txn_fail(px_txn_t *t, int status, const char *cause)
{
    if (t->resp_state == PX_TXN_RESP_NONE) {
        px_txn_local_reply(t, status, cause);
        return;
    }
    /* The response has started: closing is the only honest way to say it is incomplete. */
    px_log_error("%s %s: response aborted after %d: %s%s%s%s", t->route->name, t->down->peer_text,
                 t->status, cause, t->ep ? " (endpoint " : "", t->ep ? t->ep->addr.text : "",
                 t->ep ? ")" : "");
    t->error = cause;
    px_down_t *d = t->down;
    d->ops->detach(d);
    px_txn_finish(t);
    d->ops->abort(d);
}

/* Expand a redirect location template. */
static void px_txn_redirect(px_txn_t *t)
{
    const char *tpl = t->route->redirect_location;
    struct evbuffer *loc = evbuffer_new();
    const px_h1_request_t *r = &t->req;
    while (*tpl != '\0') {
        const char *v = strstr(tpl, "${");
        if (v == NULL) {
            evbuffer_add(loc, tpl, strlen(tpl));
            break;
        }
        evbuffer_add(loc, tpl, (size_t)(v - tpl));
        const char *end = strchr(v, '}');
        size_t name_len = (size_t)(end - v - 2);
        const char *name = v + 2;
#define PX_VAR_IS(lit) (name_len == sizeof(lit) - 1 && memcmp(name, lit, name_len) == 0)
        if (PX_VAR_IS("host"))
            evbuffer_add(loc, r->authority.data, r->authority.len);
        else if (PX_VAR_IS("path"))
            evbuffer_add(loc, r->path.data, r->path.len);
        else if (PX_VAR_IS("query"))
            evbuffer_add(loc, r->query.data, r->query.len);
        else if (PX_VAR_IS("scheme"))
            evbuffer_add(loc, "https", px_io_is_tls(t->down->io) ? 5 : 4);
        else if (PX_VAR_IS("request_uri")) {
            evbuffer_add(loc, r->path.data, r->path.len);
            if (r->has_query) {
                evbuffer_add(loc, "?", 1);
                evbuffer_add(loc, r->query.data, r->query.len);
            }
        }
#undef PX_VAR_IS
        tpl = end + 1;
    }
    size_t len = evbuffer_get_length(loc);
    char *value = px_pnalloc(t->pool, len + 1);
    evbuffer_remove(loc, value, len);
    value[len] = '\0';
    evbuffer_free(loc);
    px_conf_kv_t h = {"Location", value};
    px_txn_reply(t, t->route->redirect_status, &h, 1, NULL, 0);
}

/* The route's action, once the request-headers phase let the request through. */
static void px_txn_action(px_txn_t *t)
{
    switch (t->route->action) {
    case PX_ACTION_RESPOND:
        px_txn_reply(t, t->route->respond_status, t->route->respond_headers,
                     t->route->nrespond_headers, t->route->respond_body,
                     t->route->respond_body_len);
        return;
    case PX_ACTION_REDIRECT: px_txn_redirect(t); return;
    case PX_ACTION_UPSTREAM: px_proxy_start(t); return;
    }
}

/* The request body filters over a body read whole (one chunk, the last); also their resume
 * continuation. Then the action. */
static void px_txn_request_body_full(px_txn_t *t)
{
    if (px_filter_has_body(t, PX_FPHASE_REQ_BODY)) {
        t->req_chunk = t->req_full;
        switch (px_filter_body(t, PX_FPHASE_REQ_BODY, 1, px_txn_request_body_full)) {
        case PX_OK: break;
        case PX_AGAIN: return;
        case PX_DECLINED: px_txn_reply_from_filter(t); return;
        default: px_txn_local_reply(t, 500, "filter failed"); return;
        }
    }
    px_txn_action(t);
}

/* Tell the filter that asked for the whole body that it is there; it resumes the request. */
static void px_txn_body_done(px_txn_t *t)
{
    pyxis_body_fn done = t->body_done;
    t->body_done = NULL;
    if (done == NULL)
        return;
    px_module_current = t->body_done_module;
    done((pyxis_txn_t *)t, t->body_done_arg);
    px_module_current = NULL;
}

/* The request is all read but a filter still holds it (an authorization call-out): read the
 * client only to notice it leave, so the exchange, and what the filter waits for, ends then
 * (px_h1_conn_eventcb: EOF before the response is "client gone") instead of when the wait is
 * over. A pipelined request's bytes wait in the input buffer (bounded by its read_high), as
 * they do once the request went upstream; px_proxy_start disables reading again. */
static void px_txn_watch_eof(px_txn_t *t)
{
    t->down->ops->read(t->down, 1);
}

/* Read the whole request body into t->req_full (req_body_read()); tells the filter that
 * asked once it is complete. */
static void px_txn_read_body(px_txn_t *t)
{
    px_down_t *d = t->down;
    struct evbuffer *in = d->ops->body_in(d);
    px_h1_error_t err = {400, NULL, 0};
    px_status_t rc = px_h1_body_pump(&t->req_body, in, t->req_full, SIZE_MAX, &err);
    uint64_t max_body = t->listener->limits.max_body;
    if (rc == PX_DECLINED && t->body_read_ahead &&
        (max_body == 0 || t->req_body.limit < max_body)) {
        /* Read ahead as far as the proxy wanted (px_txn_read_whole_body): the rest of the
         * body is t->req_body's to pump on. */
        t->body_reading = 0;
        d->ops->read(d, 0);
        d->ops->timeouts(d, 0, 0);
        px_txn_body_done(t);
        return;
    }
    if (rc == PX_DECLINED) {
        t->close_client = 1;
        px_txn_local_reply(t, 413,
                           t->body_read_ahead ? "request body larger than max_body_size"
                                              : "request body larger than the filter's limit");
        return;
    }
    if (rc == PX_ERROR) {
        t->close_client = 1;
        px_txn_local_reply(t, 400, err.reason ? err.reason : "invalid chunked request body");
        return;
    }
    if (rc == PX_AGAIN) {
        d->ops->timeouts(d, t->listener->client_body_timeout_ms, t->listener->send_timeout_ms);
        d->ops->read(d, 1);
        return;
    }
    t->body_reading = 0;
    t->req_state = PX_TXN_REQ_DONE;
    d->ops->timeouts(d, 0, 0);
    px_txn_watch_eof(t);
    px_txn_body_done(t);
}

/* A filter asked for the whole body in on_request_headers and paused, or the proxy wants it
 * for replay (px_txn_read_whole_body): start reading. */
static void px_txn_start_body_read(px_txn_t *t)
{
    t->body_read_asked = 0;
    if (t->req_full != NULL) { /* an earlier filter had it read already */
        px_txn_body_done(t);
        return;
    }
    const px_h1_request_t *r = &t->req;
    t->req_full = evbuffer_new();
    if (t->req_full == NULL ||
        px_pool_cleanup_add(t->pool, (px_pool_cleanup_fn)evbuffer_free, t->req_full) < 0) {
        t->req_full = NULL;
        px_txn_local_reply(t, 500, "out of memory");
        return;
    }
    uint64_t limit = t->listener->limits.max_body;
    if (t->req_full_max > 0 && (limit == 0 || t->req_full_max < limit))
        limit = t->req_full_max;
    if (limit > 0 && r->body == PX_BODY_LENGTH && r->content_length > limit) {
        t->close_client = 1;
        px_txn_local_reply(t, 413, "request body larger than the filter's limit");
        return;
    }
    px_h1_body_init(&t->req_body, r->body, r->content_length, PX_BODY_CLOSE);
    t->req_body.limit = limit;
    t->req_body.chunked.max_trailers = (size_t)t->listener->limits.max_head;
    if ((r->flags & PX_H1_EXPECT_CONTINUE) && !t->continue_sent) {
        t->down->ops->send_continue(t->down);
        t->continue_sent = 1;
    }
    t->body_reading = 1;
    px_txn_read_body(t);
}

/* The request-headers phase of the filters (also its resume continuation). */
static void px_txn_request_filters(px_txn_t *t)
{
    switch (px_filter_headers(t, PX_FPHASE_REQ_HEADERS, px_txn_request_filters)) {
    case PX_OK:
        if (t->req_full != NULL) {
            px_txn_request_body_full(t);
            return;
        }
        px_txn_action(t);
        return;
    case PX_AGAIN:
        /* The body is not read meanwhile (px_txn_start disabled reading), unless a filter
         * asked for the whole body. */
        if (t->body_read_asked)
            px_txn_start_body_read(t);
        else if (t->req_state == PX_TXN_REQ_DONE)
            px_txn_watch_eof(t);
        return;
    case PX_DECLINED: px_txn_reply_from_filter(t); return;
    default: px_txn_local_reply(t, 500, "filter failed"); return;
    }
}

void px_txn_read_whole_body(px_txn_t *t, uint64_t ahead, pyxis_body_fn done)
{
    if (ahead > 0) {
        t->req_full_max = ahead;
        t->body_read_ahead = 1;
    }
    t->body_done = done;
    t->body_done_arg = NULL;
    t->body_done_module = NULL;
    px_txn_start_body_read(t);
}

int px_txn_body_read_request(px_txn_t *t, uint64_t max, pyxis_body_fn done, void *arg)
{
    if (t->freq.phase != PX_FPHASE_REQ_HEADERS || !t->freq.in_call || done == NULL)
        return -1;
    if (t->req.body == PX_BODY_NONE)
        return 0;
    if (t->req_full_max == 0 || (max > 0 && max < t->req_full_max))
        t->req_full_max = max;
    t->body_read_asked = 1;
    t->body_done = done;
    t->body_done_arg = arg;
    t->body_done_module = px_module_current;
    return 1;
}

static void px_txn_route_timeout(evutil_socket_t fd, short what, void *arg)
{
    px_txn_t *t = arg;
    t->deadline_hit = 1;
    px_txn_fail(t, 504, t->timer_grpc ? "grpc-timeout expired" : "route timeout");
}

/* The request's deadline: the route's `timeout` (request start to response end, filters' waits
 * included), or a gRPC request's grpc-timeout when it is sooner. */
static int px_txn_arm_timer(px_txn_t *t)
{
    uint64_t ms = t->route->timeout_ms, grpc_ms;
    if (t->grpc) {
        for (size_t i = 0; i < t->req.nheaders; i++) {
            const px_header_t *h = &t->req.headers[i];
            if (PX_H1_TOKEN_EQ(h->name, "grpc-timeout") &&
                px_grpc_timeout_ms(h->value, &grpc_ms) == PX_OK && (ms == 0 || grpc_ms < ms)) {
                ms = grpc_ms > 0 ? grpc_ms : 1;
                t->timer_grpc = 1;
                break;
            }
        }
    }
    if (ms == 0)
        return 0;
    /* From the pool, not evtimer_new(): no malloc per request. px_txn_free() deletes it. */
    t->timer = px_palloc(t->pool, event_get_struct_event_size());
    if (t->timer == NULL ||
        event_assign(t->timer, t->worker->base, -1, 0, px_txn_route_timeout, t) < 0) {
        t->timer = NULL;
        return -1;
    }
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(t->timer, &tv);
    return 0;
}

void px_txn_start(px_txn_t *t)
{
    const px_h1_request_t *r = &t->req;

    for (size_t i = 0; i < r->nheaders; i++) {
        if (PX_H1_TOKEN_EQ(r->headers[i].name, "content-type")) {
            t->grpc = px_grpc_content_type(r->headers[i].value) != 0;
            break;
        }
    }
    if (px_route_host(t) != 0) {
        px_txn_local_reply(t, 400, "invalid host");
        return;
    }
    t->req_state = r->body == PX_BODY_NONE ? PX_TXN_REQ_DONE : PX_TXN_REQ_BODY;
    /* Persistence (RFC 9112 section 9.3): 1.1 keeps the connection unless told to close;
     * 1.0 closes unless it asked for keep-alive. */
    if ((r->flags & PX_H1_CONN_CLOSE) || (r->version == 10 && !(r->flags & PX_H1_CONN_KEEPALIVE)))
        t->close_client = 1;
    uint64_t max_body = t->listener->limits.max_body;
    if (max_body > 0 && r->body == PX_BODY_LENGTH && r->content_length > max_body) {
        px_txn_local_reply(t, 413, "request body larger than max_body_size");
        return;
    }
    t->route = px_route_match(t);
    if (t->route == NULL) {
        px_txn_local_reply(t, 404, "no route matched");
        return;
    }
    t->upstream = t->route->upstream;
    /* The request body is not read until the upstream can take it: backpressure from the
     * start, and a local reply never leaves a half-read body behind unnoticed. */
    t->down->ops->read(t->down, 0);
    if (px_proxy_build_request_headers(t) < 0 || px_tls_forward_client_cert(t) < 0 ||
        px_txn_arm_timer(t) < 0) {
        px_txn_local_reply(t, 500, "out of memory");
        return;
    }
    if (t->route->nfilters == 0) {
        px_txn_action(t);
        return;
    }
    if (px_filter_attach(t) != PX_OK) {
        t->filter_failed = 1;
        px_txn_local_reply(t, 500, "filter attach failed");
        return;
    }
    px_txn_request_filters(t);
}

void px_txn_client_readable(px_txn_t *t)
{
    if (t->body_reading) {
        px_txn_read_body(t);
        return;
    }
    px_proxy_client_readable(t);
}

void px_txn_client_writable(px_txn_t *t)
{
    px_proxy_client_writable(t);
}

void px_txn_client_timeout(px_txn_t *t, int reading)
{
    if (reading && t->resp_state == PX_TXN_RESP_NONE) {
        px_txn_fail(t, 408, "client body timeout");
        return;
    }
    t->status = t->status ? t->status : 408;
    px_txn_client_gone(t, reading ? "client body timeout" : "client send timeout");
}

void px_txn_client_gone(px_txn_t *t, const char *cause)
{
    /* Routine under load (clients time out, tabs close): the access log's 499 records it. */
    px_log_debug("%s %s: client gone: %s", t->route ? t->route->name : t->listener->name,
                 t->down->peer_text, cause);
    t->error = cause;
    if (t->status == 0)
        t->status = 499; /* client closed request, as nginx logs it */
    px_down_t *d = t->down;
    d->ops->detach(d);
    px_txn_finish(t);
    d->ops->close(d);
}

/* ---- access log --------------------------------------------------------------------------- */

/* Append s to out as the inside of a JSON string (or a combined-log quoted field). */
static void px_txn_log_escape(struct evbuffer *out, const char *s, size_t len, int json)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
            continue;
        evbuffer_add(out, s + start, i - start);
        start = i + 1;
        char esc[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
        if (!json) {
            esc[1] = 'x';
            esc[2] = hex[ch >> 4];
            esc[3] = hex[ch & 15];
            evbuffer_add(out, esc, 4);
        } else if (ch == '"' || ch == '\\') {
            char e2[2] = {'\\', (char)ch};
            evbuffer_add(out, e2, 2);
        } else {
            evbuffer_add(out, esc, 6);
        }
    }
    evbuffer_add(out, s + start, len - start);
}

static px_str_t px_txn_req_header(const px_txn_t *t, const char *name, size_t len)
{
    px_str_t none = {"", 0};
    for (size_t i = 0; i < t->req.nheaders; i++) {
        const px_header_t *h = &t->req.headers[i];
        if (px_header_name_eq(h->name.data, h->name.len, name, len))
            return h->value;
    }
    return none;
}

static void px_txn_access_log(px_txn_t *t)
{
    int fd = t->wgen->gen->access_fds[t->listener_index];
    const px_conf_access_log_t *al = &t->listener->access_log;
    if (fd < 0 || al->format == PX_ACCESS_LOG_OFF)
        return;
    int parsed = t->req.method.len > 0; /* else rejected before its head was understood */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double secs =
        (double)(now.tv_sec - t->start.tv_sec) + (double)(now.tv_nsec - t->start.tv_nsec) / 1e9;
    time_t wall = time(NULL);
    struct tm tm;
    char when[64];
    px_str_t ua = px_txn_req_header(t, "user-agent", 10);
    px_str_t ref = px_txn_req_header(t, "referer", 7);
    const px_h1_request_t *r = &t->req;
    px_str_t target = t->log_target_set ? t->log_target : r->target;
    int json = al->format == PX_ACCESS_LOG_JSON;
    struct evbuffer *out = t->worker->log_buf; /* reused: no allocation per logged line */
    if (json) {
        gmtime_r(&wall, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        evbuffer_add_printf(out, "{\"time\":\"%s\",\"remote_addr\":\"%s\",\"method\":\"", when,
                            t->down->peer_text);
        px_txn_log_escape(out, r->method.data, r->method.len, 1);
        evbuffer_add(out, "\",\"uri\":\"", 9);
        px_txn_log_escape(out, target.data, target.len, 1);
        evbuffer_add(out, "\",\"host\":\"", 10);
        px_txn_log_escape(out, r->authority.data, r->authority.len, 1);
        evbuffer_add_printf(out,
                            "\",\"protocol\":\"%s\",\"status\":%d,\"bytes_sent\":%llu,"
                            "\"duration\":%.3f,\"route\":\"%s\",\"upstream\":\"%s\","
                            "\"endpoint\":\"%s\",\"attempts\":%u,\"request_id\":\"%u-%llu\","
                            "\"user_agent\":\"",
                            !parsed            ? ""
                            : r->version == 10 ? "HTTP/1.0"
                            : r->version == 20 ? "HTTP/2.0"
                                               : "HTTP/1.1",
                            t->status, (unsigned long long)t->resp_body.moved, secs,
                            t->route ? t->route->name : "", t->upstream ? t->upstream->name : "",
                            t->ep ? t->ep->addr.text : "", t->attempts, t->worker->id,
                            (unsigned long long)t->id);
        px_txn_log_escape(out, ua.data, ua.len, 1);
        evbuffer_add(out, "\",\"referer\":\"", 13);
        px_txn_log_escape(out, ref.data, ref.len, 1);
        evbuffer_add_printf(out, "\",\"error\":\"%s\"}\n", t->error ? t->error : "");
    } else {
        localtime_r(&wall, &tm);
        strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S %z", &tm);
        evbuffer_add_printf(out, "%s - - [%s] \"", t->down->peer_text, when);
        if (parsed) {
            px_txn_log_escape(out, r->method.data, r->method.len, 0);
            evbuffer_add(out, " ", 1);
            px_txn_log_escape(out, target.data, target.len, 0);
            evbuffer_add_printf(out, " HTTP/%d.%d", r->version / 10,
                                r->version == 10 ? 0 : r->version % 10);
        } else {
            evbuffer_add(out, "-", 1);
        }
        evbuffer_add_printf(out, "\" %d %llu \"", t->status,
                            (unsigned long long)t->resp_body.moved);
        px_txn_log_escape(out, ref.len ? ref.data : "-", ref.len ? ref.len : 1, 0);
        evbuffer_add(out, "\" \"", 3);
        px_txn_log_escape(out, ua.len ? ua.data : "-", ua.len ? ua.len : 1, 0);
        evbuffer_add_printf(out, "\" %.3f \"%s\" \"%s\"\n", secs, t->route ? t->route->name : "-",
                            t->ep ? t->ep->addr.text : "-");
    }
    /* One write per line, so lines from different workers never interleave. */
    size_t len = evbuffer_get_length(out);
    const char *line = (const char *)evbuffer_pullup(out, (ssize_t)len);
    if (write(fd, line, len) < 0) {
        /* nothing sensible to do: the access log must not fail the request */
    }
    evbuffer_drain(out, len);
}

void px_txn_finish(px_txn_t *t)
{
    px_filter_log(t);
    px_txn_access_log(t);
    px_txn_free(t);
}
