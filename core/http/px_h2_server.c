/*
 * px_h2_server.c: downstream HTTP/2 with nghttp2.
 *
 * nghttp2 does the framing, HPACK and the RFC 9113 message checks (pseudo-header fields,
 * connection-specific fields, TE other than "trailers", content-length against the DATA):
 * a request that fails them is reset by nghttp2 (PROTOCOL_ERROR) before it becomes a txn.
 *
 * A stream's request head is turned into an HTTP/1.1 head in the txn's pool (":authority" as
 * Host, cookies joined with "; ") and parsed by px_h1_parse_request, so an HTTP/2 request goes
 * through exactly the checks and limits (max_header_size, max_headers, max_uri_size) an
 * HTTP/1.1 request does, and the txn sees the same px_h1_request_t. A body without
 * content-length is presented to the txn chunked (px_down-t.h).
 *
 * Flow control: automatic WINDOW_UPDATE is off. Received DATA waits in the stream's input
 * buffer and is acknowledged (nghttp2_session_consume) only as the txn takes it out, so a
 * slow upstream closes the client's window. The response body waits in the stream's output
 * buffer; the data provider takes from it as the stream's window allows and is deferred when
 * it is empty; the txn stops reading the upstream while the buffer is full (PX_PROXY_HIGH),
 * which is the case while the client's window is closed.
 *
 * nghttp2 callbacks never call into a txn: they record what happened on the stream and
 * activate the stream's event; txn calls happen from that event (px_h2_stream_run). Frames
 * go out from the session's flush event, so a txn op may be called from anywhere.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "px_h1_server.h"
#include "px_h2_server.h"
#include "px_h2_util.h"
#include "px_http1.h"
#include "px_io.h"
#include "px_log.h"
#include "px_pool.h"
#include "px_time.h"
#include "px_tunnel.h"
#include "px_txn.h"
#include "px_worker.h"

/* Stop producing frames while this much is queued on the socket (writecb goes on). */
#define PX_H2_OUT_HIGH (256 * 1024)

/* Frames that cost work and carry no request (PING, SETTINGS, PRIORITY, empty DATA): a
 * connection may send PX_H2_CALM_BURST at once and PX_H2_CALM_RATE a second after that; more
 * is a flood (GOAWAY ENHANCE_YOUR_CALM). nghttp2 bounds the rest: rapid reset (RST_STREAM
 * rate), CONTINUATION count, queued ACKs (docs/http.md "HTTP/2"). */
#define PX_H2_CALM_BURST 500
#define PX_H2_CALM_RATE  100

typedef struct px_h2_stream_s px_h2_stream_t;

struct px_h2_session_s {
    nghttp2_session *ng;
    px_h1_conn_t *c;
    struct event *flush_ev;
    px_h2_stream_t *streams; /* every stream we made, until freed */
    unsigned nstreams;
    uint32_t calm_tokens; /* what is left of the control-frame budget (PX_H2_CALM_*) */
    uint64_t calm_at;     /* px_time_ms() the budget was last refilled */
    unsigned goaway : 1;  /* a graceful GOAWAY was submitted */
    unsigned flooded : 1; /* the budget ran out: the connection is being closed */
    unsigned in_recv : 1; /* inside nghttp2_session_mem_recv */
    unsigned closing : 1; /* the connection closes once the output is flushed */
};

struct px_h2_stream_s {
    px_down_t down; /* first: the ops find the stream from it */
    px_h2_session_t *s;
    px_h2_stream_t *next, *prev;
    int32_t id;
    px_txn_t *txn;
    struct event *ev;           /* runs what the callbacks recorded (px_h2_stream_run) */
    struct event *timer;        /* client_body_timeout and send_timeout of the stream */
    uint64_t read_ms, write_ms; /* the txn's (px_down_t timeouts); write_ms outlives it */
    uint64_t last_in, last_out; /* px_time_ms() of the last DATA in, of the last DATA out */
    struct evbuffer *in;
    struct evbuffer *out;
    size_t write_low;
    px_h2_flow_t flow;   /* the request body's acknowledgements */
    uint64_t in_added;   /* bytes appended to `in`, framing included */
    /* request head being received */
    px_header_t *hs;
    size_t nhs, caphs, head_bytes;
    px_str_t method, path, authority, host, cookie, protocol;
    struct evbuffer *req_tr; /* request trailer fields in HTTP/1.1 form, for a chunked body */
    nghttp2_nv *resp_tr;     /* response trailers (one malloc with their bytes), sent at EOF */
    size_t nresp_tr;
    unsigned too_large : 1;  /* the head is over the listener's limits */
    unsigned chunked : 1;    /* the body is presented chunked */
    unsigned start : 1;      /* the head is complete: start the txn */
    unsigned req_ended : 1;  /* END_STREAM received */
    unsigned reading : 1;    /* the txn wants the body (read on) */
    unsigned want_write : 1; /* tell the txn the output drained */
    unsigned has_data : 1;   /* a data provider was given */
    unsigned deferred : 1;   /* the data provider is deferred */
    unsigned resp_ended : 1; /* the txn queued the whole response */
    unsigned closed : 1;     /* nghttp2 closed the stream */
    unsigned reset_by_peer : 1;
    unsigned in_run : 1;
    unsigned free_later : 1;
    unsigned tunnel : 1;    /* extended CONNECT switched: the txn is a tunnel (px_tunnel.h) */
    unsigned eof_told : 1;  /* the tunnel was told the client's END_STREAM */
    unsigned timed_out : 2; /* 1: no DATA for read_ms, 2: nothing sent for write_ms */
};

static const px_down_ops_t px_h2_down_ops;

static void px_h2_schedule_flush(px_h2_session_t *s)
{
    event_active(s->flush_ev, EV_WRITE, 0);
}

static void px_h2_kick(px_h2_stream_t *st)
{
    event_active(st->ev, EV_READ, 0);
}

/* ---- streams ------------------------------------------------------------------------------- */

static void px_h2_stream_free(px_h2_stream_t *st)
{
    if (st->in_run) {
        st->free_later = 1;
        return;
    }
    px_h2_session_t *s = st->s;
    if (!st->closed)
        nghttp2_session_set_stream_user_data(s->ng, st->id, NULL);
    if (st->next != NULL)
        st->next->prev = st->prev;
    if (st->prev != NULL)
        st->prev->next = st->next;
    else
        s->streams = st->next;
    s->nstreams--;
    event_free(st->ev);
    event_free(st->timer);
    evbuffer_free(st->in);
    evbuffer_free(st->out);
    if (st->req_tr != NULL)
        evbuffer_free(st->req_tr);
    free(st->resp_tr);
    free(st);
}

/* Acknowledge the request body bytes the txn took out of `in`. */
static void px_h2_in_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    px_h2_stream_t *st = arg;
    if (info->n_deleted == 0)
        return;
    size_t ack = px_h2_flow_taken(&st->flow, info->n_deleted);
    if (ack > 0 && !st->closed) {
        nghttp2_session_consume(st->s->ng, st->id, ack);
        px_h2_schedule_flush(st->s);
    }
}

/* The txn queued response bytes: wake a deferred data provider. */
static void px_h2_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    px_h2_stream_t *st = arg;
    if (info->n_added > 0 && info->orig_size == 0)
        st->last_out = px_time_ms(); /* bytes wait from now: the send_timeout clock starts */
    if (info->n_added > 0 && st->deferred && !st->closed) {
        st->deferred = 0;
        nghttp2_session_resume_data(st->s->ng, st->id);
        px_h2_schedule_flush(st->s);
    }
}

static void px_h2_stream_run(evutil_socket_t fd, short what, void *arg);

/* Per-stream timeouts, as an HTTP/1 connection's socket has them: read_ms while the txn
 * reads a body that has not ended, write_ms while response bytes wait in `out`. The timer
 * looks at the last progress and sleeps again for the rest; progress only stores a time. */
static void px_h2_arm_timer(px_h2_stream_t *st, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(st->timer, &tv);
}

static void px_h2_stream_timer(evutil_socket_t fd, short what, void *arg)
{
    px_h2_stream_t *st = arg;
    uint64_t now = px_time_ms(), next = UINT64_MAX;
    if (st->closed || st->timed_out)
        return;
    if (st->read_ms > 0 && st->txn != NULL && st->reading && !st->req_ended) {
        if (now - st->last_in >= st->read_ms) {
            st->timed_out = 1;
            px_h2_kick(st);
            return;
        }
        next = st->read_ms - (now - st->last_in);
    }
    if (st->write_ms > 0 && evbuffer_get_length(st->out) > 0) {
        if (now - st->last_out >= st->write_ms) {
            st->timed_out = 2;
            px_h2_kick(st);
            return;
        }
        if (st->write_ms - (now - st->last_out) < next)
            next = st->write_ms - (now - st->last_out);
    }
    if (next == UINT64_MAX) /* nothing waits now: look again later */
        next = st->read_ms > 0 && (st->write_ms == 0 || st->read_ms < st->write_ms) ? st->read_ms
                                                                                    : st->write_ms;
    if (next > 0 && next != UINT64_MAX)
        px_h2_arm_timer(st, next);
}

static px_h2_stream_t *px_h2_stream_new(px_h2_session_t *s, int32_t id)
{
    px_h1_conn_t *c = s->c;
    px_h2_stream_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    st->s = s;
    st->id = id;
    st->down.ops = &px_h2_down_ops;
    st->down.io = c->io;
    st->down.peer_text = c->peer_text;
    st->down.peer = &c->peer;
    st->in = evbuffer_new();
    st->out = evbuffer_new();
    st->ev = event_new(c->worker->base, -1, 0, px_h2_stream_run, st);
    st->timer = evtimer_new(c->worker->base, px_h2_stream_timer, st);
    st->txn = px_txn_create(&st->down, c->worker, c->wgen, c->listener);
    if (st->in == NULL || st->out == NULL || st->ev == NULL || st->timer == NULL ||
        st->txn == NULL || evbuffer_add_cb(st->in, px_h2_in_cb, st) == NULL ||
        evbuffer_add_cb(st->out, px_h2_out_cb, st) == NULL) {
        if (st->txn != NULL)
            px_txn_free(st->txn);
        if (st->ev != NULL)
            event_free(st->ev);
        if (st->timer != NULL)
            event_free(st->timer);
        if (st->in != NULL)
            evbuffer_free(st->in);
        if (st->out != NULL)
            evbuffer_free(st->out);
        free(st);
        return NULL;
    }
    st->next = s->streams;
    if (st->next != NULL)
        st->next->prev = st;
    s->streams = st;
    s->nstreams++;
    return st;
}

/* ---- request head -------------------------------------------------------------------------- */

/* A request trailer field. Kept in HTTP/1.1 form for a body presented chunked (the chunked
 * decoder checks and parses them as it does an HTTP/1.1 client's); a body with content-length
 * cannot carry them to an HTTP/1.1 upstream: dropped. Past the size limit nothing more is
 * kept, and the decoder refuses the section. */
static int px_h2_on_trailer(px_h2_stream_t *st, const uint8_t *name, size_t namelen,
                            const uint8_t *value, size_t valuelen)
{
    if (!st->chunked || st->txn == NULL || st->txn->req_state == PX_TXN_REQ_DONE)
        return 0;
    size_t max = (size_t)st->txn->listener->limits.max_head;
    if (st->req_tr == NULL && (st->req_tr = evbuffer_new()) == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (evbuffer_get_length(st->req_tr) > max)
        return 0;
    evbuffer_add(st->req_tr, name, namelen);
    evbuffer_add(st->req_tr, ": ", 2);
    evbuffer_add(st->req_tr, value, valuelen);
    evbuffer_add(st->req_tr, "\r\n", 2);
    return 0;
}

static int px_h2_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                           size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                           void *user_data)
{
    px_h2_stream_t *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (st != NULL && frame->headers.cat == NGHTTP2_HCAT_HEADERS)
        return px_h2_on_trailer(st, name, namelen, value, valuelen);
    if (st == NULL || st->txn == NULL || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    px_txn_t *t = st->txn;
    const px_conf_listener_t *l = t->listener;
    st->head_bytes += namelen + valuelen + 4;
    if (st->too_large || st->head_bytes > l->limits.max_head ||
        st->head_bytes > l->http2.max_header_list_size) {
        st->too_large = 1;
        return 0;
    }
    px_str_t n = {(const char *)name, namelen};
    px_str_t v = px_h2_dup(t->pool, value, valuelen);
    if (v.data == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (namelen > 0 && name[0] == ':') {
        if (PX_H1_TOKEN_EQ(n, ":method"))
            st->method = v;
        else if (PX_H1_TOKEN_EQ(n, ":path"))
            st->path = v;
        else if (PX_H1_TOKEN_EQ(n, ":authority"))
            st->authority = v;
        else if (PX_H1_TOKEN_EQ(n, ":protocol"))
            st->protocol = v; /* nghttp2 lets it through on CONNECT only (RFC 8441) */
        return 0;             /* :scheme is checked by nghttp2; the transport decides ${scheme} */
    }
    if (PX_H1_TOKEN_EQ(n, "host")) {
        st->host = v;
        return 0;
    }
    if (PX_H1_TOKEN_EQ(n, "te"))
        return 0; /* "trailers" (nghttp2 refuses anything else): hop-by-hop */
    if (st->protocol.len > 0 &&
        (PX_H1_TOKEN_EQ(n, "sec-websocket-key") || PX_H1_TOKEN_EQ(n, "sec-websocket-accept")))
        return 0; /* the upgrade's key is pyxis's own (px_h2_build_request) */
    if (PX_H1_TOKEN_EQ(n, "cookie")) {
        /* RFC 9113 section 8.2.3: cookie crumbs are joined with "; " for HTTP/1.1. */
        if (st->cookie.len == 0) {
            st->cookie = v;
        } else {
            char *p = px_pnalloc(t->pool, st->cookie.len + 2 + v.len);
            if (p == NULL)
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
            memcpy(p, st->cookie.data, st->cookie.len);
            memcpy(p + st->cookie.len, "; ", 2);
            memcpy(p + st->cookie.len + 2, v.data, v.len);
            st->cookie.data = p;
            st->cookie.len += 2 + v.len;
        }
        return 0;
    }
    if (st->nhs == st->caphs) {
        size_t cap = st->caphs ? st->caphs * 2 : 16;
        px_header_t *hs = px_palloc(t->pool, cap * sizeof(*hs));
        if (hs == NULL)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        if (st->nhs > 0)
            memcpy(hs, st->hs, st->nhs * sizeof(*hs));
        st->hs = hs;
        st->caphs = cap;
    }
    st->hs[st->nhs].name = px_h2_dup(t->pool, name, namelen);
    st->hs[st->nhs].value = v;
    if (st->hs[st->nhs].name.data == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    st->nhs++;
    return 0;
}

/* Build the HTTP/1.1 head of the stream's request in the txn pool and parse it into t->req.
 * Returns 0, or the status to answer with (err->reason says why). */
static int px_h2_build_request(px_h2_stream_t *st, px_h1_error_t *err)
{
    px_txn_t *t = st->txn;
    const px_conf_listener_t *l = t->listener;
    if (st->too_large) {
        err->reason = "request header fields too large";
        return 431;
    }
    px_str_t authority = st->authority.len > 0 ? st->authority : st->host;
    px_str_t method = st->method, upgrade = {NULL, 0};
    if (method.len == 7 && memcmp(method.data, "CONNECT", 7) == 0) { /* case-sensitive */
        /* Only the extended CONNECT of RFC 8441, for WebSocket: it becomes the HTTP/1.1
         * upgrade of a GET to :path, with a key of pyxis's own. */
        if (st->protocol.len == 0 || !PX_H1_TOKEN_EQ(st->protocol, "websocket")) {
            err->reason = st->protocol.len == 0 ? "CONNECT is not supported"
                                                : "extended CONNECT for an unknown protocol";
            return 501;
        }
        if (px_tunnel_ws_key(t) < 0) {
            err->reason = "out of memory";
            return 500;
        }
        static const char up[] = "Connection: upgrade\r\nUpgrade: websocket\r\n"
                                 "Sec-WebSocket-Key: ";
        char *u = px_pnalloc(t->pool, sizeof(up) - 1 + t->ws_key.len + 2);
        if (u == NULL) {
            err->reason = "out of memory";
            return 500;
        }
        memcpy(u, up, sizeof(up) - 1);
        memcpy(u + sizeof(up) - 1, t->ws_key.data, t->ws_key.len);
        memcpy(u + sizeof(up) - 1 + t->ws_key.len, "\r\n", 2);
        upgrade = (px_str_t){u, sizeof(up) - 1 + t->ws_key.len + 2};
        method = (px_str_t)PX_STR("GET");
        t->ext_connect = 1;
    }
    if (st->authority.len > 0 && st->host.len > 0 &&
        (st->host.len != st->authority.len ||
         strncasecmp(st->host.data, st->authority.data, st->host.len) != 0)) {
        err->reason = ":authority and Host disagree";
        return 400;
    }
    size_t len = method.len + 1 + st->path.len + 11 + 6 + authority.len + 2 + 2 + 28 + upgrade.len;
    for (size_t i = 0; i < st->nhs; i++)
        len += st->hs[i].name.len + 2 + st->hs[i].value.len + 2;
    if (st->cookie.len > 0)
        len += 8 + st->cookie.len + 2;
    char *head = px_pnalloc(t->pool, len);
    if (head == NULL) {
        err->reason = "out of memory";
        return 500;
    }
    char *p = head;
#define PX_PUT(src, n) (memcpy(p, (src), (n)), p += (n))
    PX_PUT(method.data, method.len);
    PX_PUT(" ", 1);
    PX_PUT(st->path.data, st->path.len);
    PX_PUT(" HTTP/1.1\r\n", 11);
    if (authority.len > 0) {
        PX_PUT("Host: ", 6);
        PX_PUT(authority.data, authority.len);
        PX_PUT("\r\n", 2);
    }
    for (size_t i = 0; i < st->nhs; i++) {
        PX_PUT(st->hs[i].name.data, st->hs[i].name.len);
        PX_PUT(": ", 2);
        PX_PUT(st->hs[i].value.data, st->hs[i].value.len);
        PX_PUT("\r\n", 2);
    }
    if (st->cookie.len > 0) {
        PX_PUT("cookie: ", 8);
        PX_PUT(st->cookie.data, st->cookie.len);
        PX_PUT("\r\n", 2);
    }
    if (st->chunked)
        PX_PUT("Transfer-Encoding: chunked\r\n", 28);
    if (upgrade.len > 0)
        PX_PUT(upgrade.data, upgrade.len);
    PX_PUT("\r\n", 2);
#undef PX_PUT
    px_worker_t *w = t->worker;
    /* What pyxis adds (Host, Transfer-Encoding, an upgrade) does not count against the limits. */
    px_h1_limits_t plim = {(size_t)l->limits.max_head + 64 + upgrade.len,
                           (size_t)l->limits.max_headers + 5, (size_t)l->limits.max_uri};
    px_h1_rc_t rc = px_h1_parse_request(head, (size_t)(p - head), &t->req, w->scratch,
                                        w->scratch_cap, &plim, err);
    if (rc != PX_H1_DONE) {
        if (err->reason == NULL)
            err->reason = "invalid request";
        return err->status ? err->status : 400;
    }
    px_header_t *hs = px_palloc(t->pool, t->req.nheaders * sizeof(*hs) + 1);
    if (hs == NULL) {
        err->reason = "out of memory";
        return 500;
    }
    memcpy(hs, t->req.headers, t->req.nheaders * sizeof(*hs));
    t->req.headers = hs;
    t->req.version = 20;
    t->req.flags &= ~(unsigned)(PX_H1_CONN_CLOSE | PX_H1_CONN_KEEPALIVE);
    return 0;
}

static int px_h2_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data)
{
    px_h2_session_t *s = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    px_h2_stream_t *st = px_h2_stream_new(s, frame->hd.stream_id);
    if (st == NULL) {
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_INTERNAL_ERROR);
        return 0;
    }
    nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, st);
    evtimer_del(s->c->timer); /* not idle any more */
    return 0;
}

/* One frame of the control-frame budget: 0, or -1 when the connection floods. */
static int px_h2_calm_spend(px_h2_session_t *s)
{
    uint64_t now = px_time_ms();
    uint64_t add = (now - s->calm_at) * PX_H2_CALM_RATE / 1000;
    if (add > 0) {
        s->calm_tokens = s->calm_tokens + add > PX_H2_CALM_BURST ? PX_H2_CALM_BURST
                                                                 : s->calm_tokens + (uint32_t)add;
        s->calm_at += add * 1000 / PX_H2_CALM_RATE;
    }
    if (s->calm_tokens == 0) {
        s->flooded = 1;
        return -1;
    }
    s->calm_tokens--;
    return 0;
}

static int px_h2_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data)
{
    px_h2_session_t *s = user_data;
    int control = (frame->hd.type == NGHTTP2_PING && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) ||
                  (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) ||
                  frame->hd.type == NGHTTP2_PRIORITY ||
                  (frame->hd.type == NGHTTP2_DATA && frame->hd.length == frame->data.padlen &&
                   !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM));
    if (control && px_h2_calm_spend(s) < 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE; /* px_h2_readable says GOAWAY */
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    px_h2_stream_t *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (st == NULL)
        return 0;
    int end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        /* A body of unknown length is presented chunked: decided before any DATA. */
        int has_cl = 0;
        for (size_t i = 0; i < st->nhs; i++)
            has_cl |= PX_H1_TOKEN_EQ(st->hs[i].name, "content-length");
        st->chunked = !end && !has_cl && st->protocol.len == 0; /* a tunnel's bytes: as is */
        st->start = 1;
        st->req_ended = end;
        px_h2_kick(st);
        return 0;
    }
    if (end && !st->req_ended) {
        st->req_ended = 1;
        if (st->chunked && st->txn != NULL) {
            size_t before = evbuffer_get_length(st->in);
            evbuffer_add(st->in, "0\r\n", 3);
            if (st->req_tr != NULL)
                evbuffer_add_buffer(st->in, st->req_tr);
            evbuffer_add(st->in, "\r\n", 2);
            st->in_added += evbuffer_get_length(st->in) - before;
        }
        px_h2_kick(st);
    }
    return 0;
}

static int px_h2_on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user_data)
{
    px_h2_stream_t *st = nghttp2_session_get_stream_user_data(ng, id);
    if (st == NULL || st->txn == NULL ||
        (st->txn->req_state == PX_TXN_REQ_DONE && !st->txn->ext_connect)) {
        /* Nobody will read it: acknowledge it at once. */
        nghttp2_session_consume(ng, id, len);
        return 0;
    }
    st->flow.recv += len;
    st->last_in = px_time_ms();
    if (st->chunked) {
        char line[24];
        int n = snprintf(line, sizeof(line), "%zx\r\n", len);
        evbuffer_add(st->in, line, (size_t)n);
        evbuffer_add(st->in, data, len);
        evbuffer_add(st->in, "\r\n", 2);
        st->in_added += (size_t)n + len + 2;
    } else {
        evbuffer_add(st->in, data, len);
        st->in_added += len;
    }
    if (st->reading)
        px_h2_kick(st);
    return 0;
}

static int px_h2_on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code,
                                 void *user_data)
{
    px_h2_session_t *s = user_data;
    px_h2_stream_t *st = nghttp2_session_get_stream_user_data(ng, id);
    if (st == NULL)
        return 0;
    st->closed = 1;
    st->reset_by_peer = error_code != NGHTTP2_NO_ERROR;
    /* What the stream received and nobody acknowledged still counts against the connection
     * window. */
    size_t left = px_h2_flow_closed(&st->flow);
    if (left > 0)
        nghttp2_session_consume_connection(ng, left);
    if (st->txn != NULL)
        px_h2_kick(st); /* the txn learns the client is gone */
    else
        px_h2_stream_free(st);
    (void)s;
    return 0;
}

/* ---- running a stream's txn ---------------------------------------------------------------- */

static void px_h2_stream_start(px_h2_stream_t *st)
{
    px_txn_t *t = st->txn;
    px_h1_error_t err = {400, NULL, 0};
    int status = px_h2_build_request(st, &err);
    st->hs = NULL;
    if (status != 0) {
        t->req_state = PX_TXN_REQ_DONE;
        px_txn_local_reply(t, status, err.reason);
        return;
    }
    px_txn_start(t);
}

/* The stream is a tunnel's client side: report to the tunnel (px_tunnel.h). Each call may end
 * the tunnel, which detaches the txn (st->txn = NULL). */
static void px_h2_stream_tunnel_run(px_h2_stream_t *st)
{
    if (st->closed && (st->reset_by_peer || !st->resp_ended)) {
        px_tunnel_client_failed(st->txn, st->reset_by_peer ? "client reset the stream"
                                                           : "stream closed by the client");
        return;
    }
    if (st->reading && evbuffer_get_length(st->in) > 0)
        px_tunnel_client_readable(st->txn);
    if (st->txn != NULL && st->req_ended && !st->eof_told && evbuffer_get_length(st->in) == 0) {
        st->eof_told = 1;
        px_tunnel_client_eof(st->txn);
    }
    /* A stream closed without a reset has sent its END_STREAM: nothing is left to write. */
    if (st->txn != NULL && (st->want_write || st->closed)) {
        st->want_write = 0;
        px_tunnel_client_writable(st->txn);
    }
}

static void px_h2_stream_run(evutil_socket_t fd, short what, void *arg)
{
    px_h2_stream_t *st = arg;
    px_h2_session_t *s = st->s;
    st->in_run = 1;
    if (st->timed_out && !st->closed && (st->txn == NULL || !st->tunnel)) {
        int reading = st->timed_out == 1;
        st->timed_out = 0;
        if (st->txn != NULL) {
            px_txn_client_timeout(st->txn, reading); /* 408, or the stream is reset */
        } else {
            /* The response is all queued but the client takes none of it (a window that
             * stays closed): the stream would hold its buffer and its slot for good. */
            px_log_debug("%s %s: HTTP/2 stream %d: send timeout", st->s->c->lconf->name,
                         st->down.peer_text, (int)st->id);
            nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
        }
    } else if (st->txn != NULL && st->tunnel) {
        px_h2_stream_tunnel_run(st);
    } else if (st->txn != NULL && st->closed && (st->reset_by_peer || !st->resp_ended)) {
        px_txn_client_gone(st->txn, st->reset_by_peer ? "client reset the stream"
                                                      : "stream closed before the response");
    } else if (st->txn != NULL && st->start) {
        st->start = 0;
        px_h2_stream_start(st);
    } else if (st->txn != NULL) {
        if (st->want_write) {
            st->want_write = 0;
            px_txn_client_writable(st->txn);
        }
        if (st->txn != NULL && st->reading && st->txn->req_state == PX_TXN_REQ_BODY &&
            evbuffer_get_length(st->in) > 0)
            px_txn_client_readable(st->txn);
    }
    st->in_run = 0;
    if (st->free_later || (st->closed && st->txn == NULL))
        px_h2_stream_free(st);
    px_h2_schedule_flush(s);
}

/* ---- the response: data provider ----------------------------------------------------------- */

static ssize_t px_h2_read_data(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                               uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    px_h2_stream_t *st = source->ptr;
    size_t have = evbuffer_get_length(st->out);
    if (have == 0 && !st->resp_ended) {
        st->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    int n = have > 0 ? evbuffer_remove(st->out, buf, length) : 0;
    if (n < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    st->last_out = px_time_ms();
    if (st->resp_ended && evbuffer_get_length(st->out) == 0) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        /* Trailers end the stream instead (nghttp2 copies the fields). */
        if (st->resp_tr != NULL && nghttp2_submit_trailer(ng, id, st->resp_tr, st->nresp_tr) == 0)
            *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        free(st->resp_tr);
        st->resp_tr = NULL;
        if (st->tunnel && st->txn != NULL) {
            st->want_write = 1; /* a tunnel waits for its END_STREAM to be out */
            px_h2_kick(st);
        }
    }
    if (st->txn != NULL && !st->resp_ended && evbuffer_get_length(st->out) <= st->write_low) {
        st->want_write = 1;
        px_h2_kick(st);
    }
    return n;
}

/* ---- the downstream ops -------------------------------------------------------------------- */

static int px_h2_down_start_response(px_down_t *d, px_txn_t *t, px_str_t reason,
                                     const px_header_t *extra, size_t nextra, px_body_kind_t body,
                                     uint64_t length, px_body_kind_t *out)
{
    px_h2_stream_t *st = (px_h2_stream_t *)d;
    (void)reason; /* HTTP/2 has none */
    if (t->ext_connect && !st->tunnel && t->status >= 200 && t->status < 300) {
        /* A 2xx to an extended CONNECT opens the tunnel (RFC 8441 section 5): only the
         * upstream's 101 may say that. An upstream that ignored the upgrade, or a local reply,
         * must not look like one. */
        t->status = 502;
        t->error = "no protocol switch for an extended CONNECT";
        body = PX_BODY_NONE;
    }
    size_t cap = 2 + t->resp_headers.n + nextra;
    nghttp2_nv *nva = px_palloc(t->pool, cap * sizeof(*nva));
    if (nva == NULL)
        return -1;
    size_t n = 0;
    int sc = t->status;
    char code[4] = {(char)('0' + sc / 100 % 10), (char)('0' + sc / 10 % 10), (char)('0' + sc % 10),
                    '\0'};
    nva[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE};
    for (size_t i = 0; i < t->resp_headers.n; i++) {
        const px_header_t *h = &t->resp_headers.items[i];
        if (px_h2_connection_specific(h->name) ||
            (st->tunnel && PX_H1_TOKEN_EQ(h->name, "sec-websocket-accept")))
            continue; /* RFC 8441 section 5: pyxis checked the accept, the client has no key */
        if (px_h2_nv(t->pool, &nva[n++], h->name, h->value) < 0)
            return -1;
    }
    for (size_t i = 0; i < nextra; i++) {
        if (px_h2_nv(t->pool, &nva[n++], extra[i].name, extra[i].value) < 0)
            return -1;
    }
    char cl[24];
    if (body == PX_BODY_LENGTH) {
        int m = snprintf(cl, sizeof(cl), "%llu", (unsigned long long)length);
        nva[n++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)cl, 14, (size_t)m,
                                NGHTTP2_NV_FLAG_NONE};
    }
    *out = body == PX_BODY_NONE     ? PX_BODY_NONE
           : body == PX_BODY_LENGTH ? PX_BODY_LENGTH
                                    : PX_BODY_CLOSE;
    int no_body = body == PX_BODY_NONE || t->req.method_id == PX_METHOD_HEAD || t->status == 204 ||
                  t->status == 304;
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = px_h2_read_data};
    st->has_data = !no_body;
    /* The field values are copied by nghttp2: the txn pool may go first. */
    if (!st->closed)
        nghttp2_submit_response(st->s->ng, st->id, nva, n, no_body ? NULL : &prd);
    px_h2_schedule_flush(st->s);
    return 0;
}

static void px_h2_down_send_continue(px_down_t *d)
{
    px_h2_stream_t *st = (px_h2_stream_t *)d;
    nghttp2_nv nv = {(uint8_t *)":status", (uint8_t *)"100", 7, 3, NGHTTP2_NV_FLAG_NONE};
    if (!st->closed)
        nghttp2_submit_headers(st->s->ng, NGHTTP2_FLAG_NONE, st->id, NULL, &nv, 1, NULL);
    px_h2_schedule_flush(st->s);
}

static struct evbuffer *px_h2_down_body_in(px_down_t *d)
{
    return ((px_h2_stream_t *)d)->in;
}

static struct evbuffer *px_h2_down_body_out(px_down_t *d)
{
    return ((px_h2_stream_t *)d)->out;
}

static void px_h2_down_read(px_down_t *d, int on)
{
    px_h2_stream_t *st = (px_h2_stream_t *)d;
    st->reading = on != 0;
    if (on && (evbuffer_get_length(st->in) > 0 || st->closed))
        px_h2_kick(st);
}

static void px_h2_down_timeouts(px_down_t *d, uint64_t read_ms, uint64_t write_ms)
{
    px_h2_stream_t *st = (px_h2_stream_t *)d;
    st->read_ms = read_ms;
    st->write_ms = write_ms;
    st->last_in = st->last_out = px_time_ms();
    uint64_t first = read_ms && (!write_ms || read_ms < write_ms) ? read_ms : write_ms;
    if (first == 0)
        evtimer_del(st->timer);
    else
        px_h2_arm_timer(st, first);
}

static void px_h2_down_write_low(px_down_t *d, size_t low)
{
    ((px_h2_stream_t *)d)->write_low = low;
}

/* Keep the txn's response trailers for the end of the data (the txn pool goes first). -1 when
 * out of memory. */
static int px_h2_keep_trailers(px_h2_stream_t *st, const px_headers_t *tr)
{
    size_t n;
    nghttp2_nv *nv = px_h2_trailers_nv(tr, &n);
    if (nv == NULL)
        return -1;
    free(st->resp_tr);
    st->resp_tr = nv;
    st->nresp_tr = n;
    return 0;
}

static void px_h2_down_done(px_down_t *d)
{
    px_h2_stream_t *st = (px_h2_stream_t *)d;
    px_txn_t *t = st->txn;
    if (t->resp_trailers.n > 0 && st->has_data && !st->closed &&
        px_h2_keep_trailers(st, &t->resp_trailers) < 0)
        t->error = "out of memory: response trailers dropped";
    st->txn = NULL;
    st->resp_ended = 1;
    st->reading = 0;
    if (st->deferred && !st->closed) {
        st->deferred = 0;
        nghttp2_session_resume_data(st->s->ng, st->id);
    }
    /* The client may still be sending a body nobody reads: acknowledge what is there. */
    evbuffer_drain(st->in, evbuffer_get_length(st->in));
    px_h2_schedule_flush(st->s);
    px_txn_finish(t);
    if (st->closed)
        px_h2_stream_free(st);
}

static void px_h2_down_detach(px_down_t *d)
{
    px_h2_stream_t *st = (px_h2_stream_t *)d;
    st->txn = NULL;
    st->reading = 0;
}

static void px_h2_down_reset(px_h2_stream_t *st, uint32_t code)
{
    if (!st->closed)
        nghttp2_submit_rst_stream(st->s->ng, NGHTTP2_FLAG_NONE, st->id, code);
    else
        px_h2_stream_free(st);
    px_h2_schedule_flush(st->s);
}

static void px_h2_down_abort(px_down_t *d)
{
    px_h2_down_reset((px_h2_stream_t *)d, NGHTTP2_INTERNAL_ERROR);
}

static void px_h2_down_close(px_down_t *d)
{
    px_h2_stream_t *st = (px_h2_stream_t *)d;
    if (st->tunnel && st->resp_ended && st->req_ended && !st->closed &&
        evbuffer_get_length(st->out) == 0) {
        /* A tunnel that ended cleanly: only our END_STREAM is left, then nghttp2 closes the
         * stream and frees it (txn NULL). */
        px_h2_schedule_flush(st->s);
        return;
    }
    px_h2_down_reset(st, NGHTTP2_CANCEL);
}

/* RFC 8441 section 5: the 200 that opens the tunnel, with the 101's fields as the filters left
 * them; the stream's DATA is the tunnel from now on. */
static int px_h2_down_tunnel(px_down_t *d, px_txn_t *t)
{
    px_h2_stream_t *st = (px_h2_stream_t *)d;
    px_body_kind_t out;
    st->tunnel = 1;
    st->reading = 0;
    t->status = 200; /* what the client got, for the access log */
    if (px_h2_down_start_response(d, t, (px_str_t){NULL, 0}, NULL, 0, PX_BODY_CLOSE, 0, &out) < 0) {
        st->tunnel = 0;
        return -1;
    }
    return 0;
}

static void px_h2_down_shutdown(px_down_t *d)
{
    px_h2_stream_t *st = (px_h2_stream_t *)d;
    st->resp_ended = 1;
    if (st->deferred && !st->closed) {
        st->deferred = 0;
        nghttp2_session_resume_data(st->s->ng, st->id);
    }
    px_h2_schedule_flush(st->s);
}

static const px_down_ops_t px_h2_down_ops = {
    .start_response = px_h2_down_start_response,
    .send_continue = px_h2_down_send_continue,
    .body_in = px_h2_down_body_in,
    .body_out = px_h2_down_body_out,
    .read = px_h2_down_read,
    .timeouts = px_h2_down_timeouts,
    .write_low = px_h2_down_write_low,
    .done = px_h2_down_done,
    .detach = px_h2_down_detach,
    .abort = px_h2_down_abort,
    .close = px_h2_down_close,
    .tunnel = px_h2_down_tunnel,
    .shutdown = px_h2_down_shutdown,
};

/* ---- the connection ------------------------------------------------------------------------ */

static void px_h2_arm_idle(px_h2_session_t *s)
{
    px_h1_conn_t *c = s->c;
    uint64_t ms = c->lconf->keepalive_timeout_ms;
    if (s->nstreams > 0 || ms == 0)
        return;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(c->timer, &tv);
}

/* Produce frames into the socket's output. Returns -1 when the connection was closed. */
static int px_h2_flush(px_h2_session_t *s)
{
    px_h1_conn_t *c = s->c;
    struct evbuffer *out = px_io_output(c->io);
    if (s->closing)
        return 0;
    while (evbuffer_get_length(out) < PX_H2_OUT_HIGH) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(s->ng, &data);
        if (n < 0) {
            px_log_info("%s %s: HTTP/2: %s", c->lconf->name, c->peer_text,
                        nghttp2_strerror((int)n));
            px_h1_conn_close(c);
            return -1;
        }
        if (n == 0)
            break;
        evbuffer_add(out, data, (size_t)n);
    }
    if (!nghttp2_session_want_read(s->ng) && !nghttp2_session_want_write(s->ng)) {
        s->closing = 1;
        px_h1_conn_abort(c); /* flush what is queued, then close */
        return -1;
    }
    if (s->nstreams == 0 && !evtimer_pending(c->timer, NULL))
        px_h2_arm_idle(s);
    return 0;
}

static void px_h2_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    px_h2_flush(arg);
}

void px_h2_readable(px_h2_session_t *s)
{
    px_h1_conn_t *c = s->c;
    struct evbuffer *in = px_io_input(c->io);
    s->in_recv = 1;
    while (evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        ssize_t n = nghttp2_session_mem_recv(s->ng, v.iov_base, v.iov_len);
        if (n < 0 && s->flooded) {
            s->in_recv = 0;
            px_log_info("%s %s: HTTP/2: too many PING, SETTINGS, PRIORITY or empty DATA frames",
                        c->lconf->name, c->peer_text);
            evbuffer_drain(in, evbuffer_get_length(in));
            nghttp2_session_terminate_session(s->ng, NGHTTP2_ENHANCE_YOUR_CALM);
            px_h2_flush(s);
            return;
        }
        if (n < 0) {
            s->in_recv = 0;
            px_log_info("%s %s: HTTP/2: %s", c->lconf->name, c->peer_text,
                        nghttp2_strerror((int)n));
            if (n == NGHTTP2_ERR_BAD_CLIENT_MAGIC || n == NGHTTP2_ERR_FLOODED) {
                px_h1_conn_close(c);
                return;
            }
            nghttp2_session_terminate_session(s->ng, NGHTTP2_PROTOCOL_ERROR);
            px_h2_flush(s);
            return;
        }
        evbuffer_drain(in, (size_t)n);
    }
    s->in_recv = 0;
    px_h2_flush(s);
}

void px_h2_writable(px_h2_session_t *s)
{
    px_h2_flush(s);
}

void px_h2_timeout(px_h2_session_t *s)
{
    if (s->nstreams > 0)
        return;
    px_h2_goaway(s);
}

void px_h2_goaway(px_h2_session_t *s)
{
    if (s->goaway || s->closing)
        return;
    s->goaway = 1;
    nghttp2_submit_goaway(s->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(s->ng),
                          NGHTTP2_NO_ERROR, NULL, 0);
    px_h2_schedule_flush(s);
}

void px_h2_drain_tunnels(px_h2_session_t *s, uint64_t ms)
{
    for (px_h2_stream_t *st = s->streams; st != NULL; st = st->next) {
        if (st->tunnel && st->txn != NULL)
            px_tunnel_drain(st->txn, ms);
    }
}

void px_h2_session_free(px_h2_session_t *s)
{
    while (s->streams != NULL) {
        px_h2_stream_t *st = s->streams;
        st->in_run = 0;
        st->closed = 1;
        if (st->txn != NULL)
            px_txn_abort(st->txn); /* detach() clears st->txn */
        px_h2_stream_free(st);
    }
    nghttp2_session_del(s->ng);
    event_free(s->flush_ev);
    free(s);
}

/* Does a route of listener l let WebSocket through (route `upgrade`)? */
static int px_h2_websocket_routes(const px_conf_listener_t *l)
{
    for (size_t i = 0; i < l->nroutes; i++) {
        const px_conf_route_t *r = &l->routes[i];
        for (size_t j = 0; j < r->nupgrades; j++) {
            if (strcasecmp(r->upgrades[j], "websocket") == 0)
                return 1;
        }
    }
    return 0;
}

int px_h2_session_start(px_h1_conn_t *c)
{
    px_h2_session_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    s->c = c;
    s->calm_tokens = PX_H2_CALM_BURST;
    s->calm_at = px_time_ms();
    s->flush_ev = event_new(c->worker->base, -1, 0, px_h2_flush_cb, s);
    nghttp2_session_callbacks *cb;
    nghttp2_option *opt;
    if (s->flush_ev == NULL || nghttp2_session_callbacks_new(&cb) != 0) {
        if (s->flush_ev != NULL)
            event_free(s->flush_ev);
        free(s);
        return -1;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, px_h2_on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, px_h2_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, px_h2_on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, px_h2_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, px_h2_on_stream_close);
    int rc = nghttp2_option_new(&opt);
    if (rc == 0) {
        nghttp2_option_set_no_auto_window_update(opt, 1);
        rc = nghttp2_session_server_new2(&s->ng, cb, s, opt);
        nghttp2_option_del(opt);
    }
    nghttp2_session_callbacks_del(cb);
    const px_conf_http2_t *h = &c->lconf->http2;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)h->max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (uint32_t)h->initial_window_size},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)h->max_header_list_size},
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
    };
    /* Extended CONNECT (RFC 8441) is offered where a route may let WebSocket through. */
    size_t niv = px_h2_websocket_routes(c->lconf) ? 4 : 3;
    if (rc != 0 || nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, niv) != 0 ||
        nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0,
                                              (int32_t)h->connection_window_size) != 0) {
        if (s->ng != NULL)
            nghttp2_session_del(s->ng);
        event_free(s->flush_ev);
        free(s);
        return -1;
    }
    c->h2 = s;
    evtimer_del(c->timer);
    /* A client that reads nothing at all: the connection closes after send_timeout (each
     * stream has its own besides, px_h2_stream_timer). */
    px_io_set_timeouts(c->io, 0, c->lconf->send_timeout_ms);
    px_io_set_read_high(c->io, PX_H2_OUT_HIGH);
    px_io_read_enable(c->io);
    if (evbuffer_get_length(px_io_input(c->io)) > 0)
        px_h2_readable(s);
    else
        px_h2_flush(s);
    return 0;
}
