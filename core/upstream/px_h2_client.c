/*
 * px_h2_client.c: HTTP/2 to upstreams with nghttp2 client sessions.
 *
 * A session (px_h2c_t) owns one pooled connection of an endpoint pool and multiplexes the
 * streams (px_h2s_t) of up to max_streams proxied requests over it. A stream is the txn's
 * t->uconn: the proxy drives it through px_h2s_ops (the upstream seam, px_up-t.h) exactly as
 * it drives an HTTP/1.1 connection.
 *
 * Translation: the request head goes out as :method, :scheme, :authority (the Host field),
 * :path and the fields of t->req_headers without the connection-specific ones (RFC 9113
 * section 8.2.2), plus "te: trailers" when the client can take trailers (it said TE: trailers,
 * it speaks HTTP/2, or the request is gRPC). The body goes out as DATA as the proxy moves it
 * into the stream's `out` buffer (framing CLOSE or LENGTH: bytes as they are); the request's
 * trailers (t->req_trailers) follow as a HEADERS frame. The response head is handed over as a
 * px_h1_response_t (version 20, no reason), its body as the bytes of the DATA frames (LENGTH
 * with content-length, else CLOSE: uc->eof at END_STREAM), its trailers put in
 * t->resp_trailers.
 *
 * Flow control: automatic WINDOW_UPDATE is off. Response DATA waits in the stream's `in`
 * buffer and is acknowledged (nghttp2_session_consume) only as the proxy moves it towards the
 * client, so a slow client closes that stream's window, not the connection's.
 *
 * Failures: RST_STREAM fails its stream only. GOAWAY: the session takes no new stream; the
 * streams above the server's last-stream-id are closed by nghttp2 with REFUSED_STREAM, and a
 * refused stream, like one that never left nghttp2's queue, counts as never sent (retried).
 * A connection that stays silent for http2.ping_interval gets a PING; no answer within
 * http2.ping_timeout and it is dead: its streams fail.
 *
 * nghttp2 callbacks never call into a txn: they record what happened and activate the stream's
 * event, whose handler (px_h2s_run) calls the proxy. Frames go out from the session's flush
 * event; sessions are freed from it too, never under a callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "px_endpoint-t.h"
#include "px_grpc.h"
#include "px_h2_client.h"
#include "px_h2_util.h"
#include "px_http1.h"
#include "px_io.h"
#include "px_log.h"
#include "px_pool.h"
#include "px_proxy.h"
#include "px_time.h"
#include "px_txn.h"
#include "px_upstream.h"
#include "px_worker.h"

/* Stop producing frames while this much is queued on the socket. */
#define PX_H2C_OUT_HIGH (256 * 1024)
/* Receive windows: per stream (what one slow client can hold), per connection. */
#define PX_H2C_STREAM_WINDOW (256 * 1024)
#define PX_H2C_CONN_WINDOW   (16 * 1024 * 1024)

typedef struct px_h2s_s px_h2s_t;

struct px_h2c_s {
    px_link_t link; /* in pool->h2 */
    px_upool_t *pool;
    px_uconn_t *uc; /* the connection, owned */
    nghttp2_session *ng;
    struct event *flush_ev;
    struct event *timer; /* PING interval and timeout, idle timeout */
    px_h2s_t *streams;   /* every stream not freed (zombies included) */
    unsigned nattached;  /* streams a txn holds */
    uint32_t max_streams;
    uint64_t last_recv; /* px_time_ms() when bytes last arrived */
    uint64_t idle_since;
    char why[160];          /* why the connection failed */
    unsigned connected : 1; /* TCP (and TLS, h2 chosen) up: the preface went out */
    unsigned ready : 1;     /* the server's SETTINGS arrived: streams start */
    unsigned goaway : 1;    /* GOAWAY received: no new stream */
    unsigned dead : 1;      /* failed or closing: freed with its last attached stream */
    unsigned ping_out : 1;
    unsigned tls : 1;
};

struct px_h2s_s {
    px_uconn_t uc; /* first: t->uconn */
    px_h2c_t *c;
    px_h2s_t *next, *prev;
    px_txn_t *t; /* NULL once released: a zombie until nghttp2 closes it */
    int32_t id;
    struct event *ev;
    struct event *timer; /* the proxy's read timeout */
    struct evbuffer *in, *out;
    size_t write_low;
    uint64_t read_ms;
    px_h2_flow_t flow; /* the response body's acknowledgements */
    px_headers_t hs; /* response fields, from the txn pool */
    size_t head_bytes;
    int status;
    uint64_t content_length;
    nghttp2_nv *req_tr; /* request trailers (one malloc), sent after the last DATA */
    size_t nreq_tr;
    const char *why; /* failure cause (static or txn pool) */
    short deliver;   /* an event for the proxy: PX_IO_CONNECTED, _ERROR, _TIMEOUT */
    unsigned has_cl : 1;
    unsigned too_large : 1;
    unsigned head_seen : 1;  /* the final head arrived: what follows are trailers */
    unsigned head_ready : 1; /* ... and was not read yet */
    unsigned end_at_head : 1;
    unsigned ended : 1;  /* END_STREAM received */
    unsigned news : 1;   /* something for readable() */
    unsigned failed : 1; /* reset, or the connection failed */
    unsigned refused : 1;
    unsigned reading : 1;
    unsigned want_write : 1;
    unsigned req_end : 1;
    unsigned deferred : 1;
    unsigned has_data : 1;
    unsigned submitted : 1;
    unsigned closed : 1;
    unsigned in_run : 1;
    unsigned free_later : 1;
    unsigned interim; /* 1xx heads seen */
};

static const px_up_ops_t px_h2s_ops;
static const px_uconn_ops_t px_h2c_conn_ops;

static void px_h2c_schedule(px_h2c_t *c)
{
    event_active(c->flush_ev, EV_WRITE, 0);
}

static void px_h2s_kick(px_h2s_t *st)
{
    if (st->t != NULL)
        event_active(st->ev, EV_READ, 0);
}

static px_h2c_t *px_h2c_of(const px_link_t *l)
{
    return (px_h2c_t *)((char *)l - offsetof(px_h2c_t, link));
}

/* ---- streams ------------------------------------------------------------------------------- */

static void px_h2s_free(px_h2s_t *st)
{
    if (st->in_run) {
        st->free_later = 1;
        return;
    }
    px_h2c_t *c = st->c;
    if (st->submitted && !st->closed)
        nghttp2_session_set_stream_user_data(c->ng, st->id, NULL);
    if (st->next != NULL)
        st->next->prev = st->prev;
    if (st->prev != NULL)
        st->prev->next = st->next;
    else
        c->streams = st->next;
    event_free(st->ev);
    event_free(st->timer);
    evbuffer_free(st->in);
    evbuffer_free(st->out);
    free(st->req_tr);
    free(st);
}

/* The proxy took response bytes out of `in`: acknowledge them (WINDOW_UPDATE). */
static void px_h2s_in_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    px_h2s_t *st = arg;
    if (info->n_deleted == 0)
        return;
    size_t ack = px_h2_flow_taken(&st->flow, info->n_deleted);
    if (ack > 0 && !st->closed && !st->c->dead) {
        nghttp2_session_consume(st->c->ng, st->id, ack);
        px_h2c_schedule(st->c);
    }
}

/* The proxy queued request bytes: wake a deferred data provider. */
static void px_h2s_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    px_h2s_t *st = arg;
    if (info->n_added > 0 && st->deferred && !st->closed && !st->c->dead) {
        st->deferred = 0;
        nghttp2_session_resume_data(st->c->ng, st->id);
        px_h2c_schedule(st->c);
    }
}

static void px_h2s_run(evutil_socket_t fd, short what, void *arg);
static void px_h2s_timeout(evutil_socket_t fd, short what, void *arg);

px_uconn_t *px_h2c_stream(px_h2c_t *c, px_txn_t *t, int pending)
{
    struct event_base *base = c->pool->wgen->worker->base;
    px_h2s_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    st->c = c;
    st->t = t;
    st->in = evbuffer_new();
    st->out = evbuffer_new();
    st->ev = event_new(base, -1, 0, px_h2s_run, st);
    st->timer = evtimer_new(base, px_h2s_timeout, st);
    if (st->in == NULL || st->out == NULL || st->ev == NULL || st->timer == NULL ||
        evbuffer_add_cb(st->in, px_h2s_in_cb, st) == NULL ||
        evbuffer_add_cb(st->out, px_h2s_out_cb, st) == NULL) {
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
    px_uconn_t *uc = &st->uc;
    uc->pool = c->pool;
    uc->wgen = c->pool->wgen;
    uc->io = c->uc->io; /* borrowed: connect failure causes */
    uc->state = c->ready ? PX_UCONN_ACTIVE : PX_UCONN_CONNECTING;
    uc->owner = t;
    uc->up = &px_h2s_ops;
    uc->pending = pending != 0;
    st->next = c->streams;
    if (st->next != NULL)
        st->next->prev = st;
    c->streams = st;
    c->nattached++;
    return uc;
}

/* ---- the response -------------------------------------------------------------------------- */

static void px_h2s_touch(px_h2s_t *st)
{
    if (st->read_ms > 0) {
        struct timeval tv = {(time_t)(st->read_ms / 1000),
                             (suseconds_t)(st->read_ms % 1000) * 1000};
        evtimer_add(st->timer, &tv);
    }
}

static int px_h2c_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                            size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                            void *user_data)
{
    px_h2s_t *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (st == NULL || st->t == NULL || frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    px_txn_t *t = st->t;
    st->head_bytes += namelen + valuelen + 4;
    if (st->too_large || st->head_bytes > t->listener->limits.max_head) {
        st->too_large = 1;
        return 0;
    }
    px_str_t n = {(const char *)name, namelen};
    if (st->head_seen) {
        /* trailers */
        if (px_h1_trailer_dropped(n))
            return 0;
        px_str_t nd = px_h2_dup(t->pool, name, namelen), vd = px_h2_dup(t->pool, value, valuelen);
        if (nd.data == NULL || vd.data == NULL ||
            px_headers_add(&t->resp_trailers, t->pool, nd, vd) < 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        return 0;
    }
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        st->status =
            valuelen == 3 ? (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0') : 0;
        return 0;
    }
    if (namelen == 14 && memcmp(name, "content-length", 14) == 0) {
        uint64_t v = 0;
        for (size_t i = 0; i < valuelen && v < UINT64_MAX / 10; i++)
            v = v * 10 + (uint64_t)(value[i] - '0'); /* digits: nghttp2 checked */
        st->content_length = v;
        st->has_cl = 1;
    }
    px_str_t nd = px_h2_dup(t->pool, name, namelen), vd = px_h2_dup(t->pool, value, valuelen);
    if (nd.data == NULL || vd.data == NULL || px_headers_add(&st->hs, t->pool, nd, vd) < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
}

static int px_h2c_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data)
{
    px_h2c_t *c = user_data;
    switch (frame->hd.type) {
    case NGHTTP2_SETTINGS: {
        if (frame->hd.flags & NGHTTP2_FLAG_ACK)
            return 0;
        uint32_t peer =
            nghttp2_session_get_remote_settings(ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
        uint64_t mine = c->pool->upstream->http2.max_concurrent_streams;
        c->max_streams = (uint32_t)(peer < mine ? peer : mine);
        if (!c->ready) {
            /* The stream limit is known: the streams waiting for the connection start
             * (nghttp2 holds those over the limit until others close). */
            c->ready = 1;
            for (px_h2s_t *st = c->streams; st != NULL; st = st->next) {
                if (st->t == NULL || st->uc.state != PX_UCONN_CONNECTING)
                    continue;
                px_upstream_unpend(&st->uc);
                st->deliver = PX_IO_CONNECTED;
                px_h2s_kick(st);
            }
        }
        return 0;
    }
    case NGHTTP2_GOAWAY:
        c->goaway = 1;
        px_log_debug("upstream %s: HTTP/2 GOAWAY (last stream %d, error %u)", c->pool->name,
                     frame->goaway.last_stream_id, frame->goaway.error_code);
        return 0;
    case NGHTTP2_PING:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK)
            c->ping_out = 0;
        return 0;
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA: break;
    default: return 0;
    }
    px_h2s_t *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (st == NULL || st->t == NULL)
        return 0;
    int end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    px_h2s_touch(st);
    if (frame->hd.type == NGHTTP2_HEADERS && !st->head_seen) {
        if (st->status < 200) {
            /* interim (1xx): not forwarded, and not without end */
            st->hs.n = 0;
            st->status = 0;
            st->has_cl = 0;
            st->head_bytes = 0;
            if (++st->interim > 8)
                nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                          NGHTTP2_PROTOCOL_ERROR);
            return 0;
        }
        st->head_seen = 1;
        st->head_ready = 1;
        st->end_at_head = end;
    }
    if (end)
        st->ended = 1;
    st->news = 1;
    if (st->reading)
        px_h2s_kick(st);
    return 0;
}

static int px_h2c_on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                          size_t len, void *user_data)
{
    px_h2s_t *st = nghttp2_session_get_stream_user_data(ng, id);
    if (st == NULL || st->t == NULL) {
        nghttp2_session_consume(ng, id, len); /* nobody reads it */
        return 0;
    }
    st->flow.recv += len;
    evbuffer_add(st->in, data, len);
    st->news = 1;
    px_h2s_touch(st);
    if (st->reading)
        px_h2s_kick(st);
    return 0;
}

static int px_h2c_on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code,
                                  void *user_data)
{
    px_h2s_t *st = nghttp2_session_get_stream_user_data(ng, id);
    if (st == NULL)
        return 0;
    st->closed = 1;
    /* What the stream received and nobody acknowledged still counts against the connection
     * window. */
    size_t left = px_h2_flow_closed(&st->flow);
    if (left > 0)
        nghttp2_session_consume_connection(ng, left);
    if (st->t == NULL) {
        px_h2s_free(st);
        return 0;
    }
    if (!st->ended) {
        st->failed = 1;
        st->refused = error_code == NGHTTP2_REFUSED_STREAM;
        st->uc.reused = st->refused; /* never reached: one more try on another connection */
        st->why = error_code == NGHTTP2_REFUSED_STREAM
                      ? "upstream refused the stream (REFUSED_STREAM or GOAWAY)"
                      : px_pcause(st->t->pool, "upstream reset the stream",
                                  nghttp2_http2_strerror(error_code));
        evtimer_del(st->timer);
        px_h2s_kick(st);
    }
    return 0;
}

/* ---- delivering to the proxy --------------------------------------------------------------- */

static void px_h2s_run(evutil_socket_t fd, short what, void *arg)
{
    px_h2s_t *st = arg;
    st->in_run = 1;
    if (st->deliver && st->t != NULL) {
        short w = st->deliver;
        st->deliver = 0;
        if (w & PX_IO_CONNECTED)
            st->uc.state = PX_UCONN_ACTIVE;
        px_proxy_upstream_event(st->t, w);
    } else if (st->t != NULL) {
        if (st->want_write) {
            st->want_write = 0;
            px_proxy_upstream_writable(st->t);
        }
        if (st->t != NULL && st->reading && st->news && !st->failed) {
            st->news = 0;
            if (st->ended)
                st->uc.eof = 1;
            px_proxy_upstream_readable(st->t);
        }
        if (st->t != NULL && st->failed && st->reading) {
            st->reading = 0;
            px_proxy_upstream_event(st->t, PX_IO_ERROR);
        }
    }
    st->in_run = 0;
    if (st->free_later)
        px_h2s_free(st);
}

static void px_h2s_timeout(evutil_socket_t fd, short what, void *arg)
{
    px_h2s_t *st = arg;
    if (st->t == NULL || st->failed)
        return;
    st->deliver = PX_IO_TIMEOUT;
    px_h2s_kick(st);
}

/* ---- the seam ------------------------------------------------------------------------------ */

/* Can the client take trailers? It said so (TE: trailers), or speaks HTTP/2, or is gRPC; or
 * a filter made the request gRPC (grpc_web: it moves the trailers into the body itself). */
static int px_h2s_client_trailers(const px_txn_t *t)
{
    if (t->grpc || t->req.version == 20)
        return 1;
    long ct = px_headers_find(&t->req_headers, "content-type", 12, 0);
    if (ct >= 0 && px_grpc_content_type(t->req_headers.items[ct].value))
        return 1;
    for (size_t i = 0; i < t->req.nheaders; i++) {
        const px_header_t *h = &t->req.headers[i];
        if (!PX_H1_TOKEN_EQ(h->name, "te"))
            continue;
        for (size_t k = 0; k + 8 <= h->value.len; k++) {
            if (strncasecmp(h->value.data + k, "trailers", 8) == 0)
                return 1;
        }
    }
    return 0;
}

static ssize_t px_h2s_read_data(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                                uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    px_h2s_t *st = source->ptr;
    size_t have = evbuffer_get_length(st->out);
    if (st->t == NULL || (have == 0 && !st->req_end)) {
        st->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    int n = have > 0 ? evbuffer_remove(st->out, buf, length) : 0;
    if (n < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (st->req_end && evbuffer_get_length(st->out) == 0) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        /* Trailers end the stream instead (nghttp2 copies the fields). */
        if (st->req_tr != NULL && nghttp2_submit_trailer(ng, id, st->req_tr, st->nreq_tr) == 0)
            *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        free(st->req_tr);
        st->req_tr = NULL;
    }
    if (!st->req_end && evbuffer_get_length(st->out) <= st->write_low) {
        st->want_write = 1;
        px_h2s_kick(st);
    }
    return n;
}

static int px_h2s_send_head(px_uconn_t *uc, px_txn_t *t, px_str_t target, px_body_kind_t *framing)
{
    px_h2s_t *st = (px_h2s_t *)uc;
    px_h2c_t *c = st->c;
    if (*framing == PX_BODY_CHUNKED)
        *framing = PX_BODY_CLOSE; /* DATA frames delimit the body */
    size_t cap = t->req_headers.n + 6, n = 0;
    nghttp2_nv *nva = px_palloc(t->pool, cap * sizeof(*nva));
    if (nva == NULL)
        return -1;
    long host = PX_HEADERS_FIND(&t->req_headers, "host");
    px_str_t authority = host >= 0 ? t->req_headers.items[host].value : (px_str_t){"", 0};
    px_str_t scheme = c->tls ? (px_str_t)PX_STR("https") : (px_str_t)PX_STR("http");
    nva[n++] = (nghttp2_nv){(uint8_t *)":method", (uint8_t *)t->req.method.data, 7,
                            t->req.method.len, NGHTTP2_NV_FLAG_NONE};
    nva[n++] = (nghttp2_nv){(uint8_t *)":scheme", (uint8_t *)scheme.data, 7, scheme.len,
                            NGHTTP2_NV_FLAG_NONE};
    nva[n++] = (nghttp2_nv){(uint8_t *)":authority", (uint8_t *)authority.data, 10, authority.len,
                            NGHTTP2_NV_FLAG_NONE};
    nva[n++] = (nghttp2_nv){(uint8_t *)":path", (uint8_t *)target.data, 5, target.len,
                            NGHTTP2_NV_FLAG_NONE};
    for (size_t i = 0; i < t->req_headers.n; i++) {
        const px_header_t *h = &t->req_headers.items[i];
        if (px_h2_connection_specific(h->name))
            continue;
        if (px_h2_nv(t->pool, &nva[n++], h->name, h->value) < 0)
            return -1;
    }
    if (px_h2s_client_trailers(t))
        nva[n++] = (nghttp2_nv){(uint8_t *)"te", (uint8_t *)"trailers", 2, 8, NGHTTP2_NV_FLAG_NONE};
    char *cl = NULL;
    if (*framing == PX_BODY_LENGTH) {
        cl = px_pnalloc(t->pool, 24);
        if (cl == NULL)
            return -1;
        int m = snprintf(cl, 24, "%llu", (unsigned long long)t->req_out_left);
        nva[n++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)cl, 14, (size_t)m,
                                NGHTTP2_NV_FLAG_NONE};
    }
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = px_h2s_read_data};
    st->has_data = *framing != PX_BODY_NONE;
    int32_t id = nghttp2_submit_request(c->ng, NULL, nva, n, st->has_data ? &prd : NULL, st);
    if (id < 0) {
        /* No stream id left (or the session is going): never sent, another connection. */
        c->goaway = 1;
        st->failed = 1;
        st->refused = 1;
        st->uc.reused = 1;
        st->why = px_pcause(t->pool, "cannot open an HTTP/2 stream", nghttp2_strerror(id));
        px_h2s_kick(st);
        return 0;
    }
    st->id = id;
    st->submitted = 1;
    px_h2c_schedule(c);
    return 0;
}

static struct evbuffer *px_h2s_body_out(px_uconn_t *uc)
{
    return ((px_h2s_t *)uc)->out;
}

/* Keep the request's trailers for the end of the data (the txn pool may go first). */
static void px_h2s_keep_trailers(px_h2s_t *st, const px_headers_t *tr)
{
    size_t n;
    nghttp2_nv *nv = px_h2_trailers_nv(tr, &n);
    if (nv == NULL)
        return; /* dropped: the body still ends */
    free(st->req_tr);
    st->req_tr = nv;
    st->nreq_tr = n;
}

static void px_h2s_end(px_uconn_t *uc, px_txn_t *t)
{
    px_h2s_t *st = (px_h2s_t *)uc;
    st->req_end = 1;
    if (!st->has_data)
        return;
    if (t->req_trailers.n > 0)
        px_h2s_keep_trailers(st, &t->req_trailers);
    if (st->submitted && st->deferred && !st->closed && !st->c->dead) {
        st->deferred = 0;
        nghttp2_session_resume_data(st->c->ng, st->id);
    }
    px_h2c_schedule(st->c);
}

static px_h1_rc_t px_h2s_read_head(px_uconn_t *uc, px_txn_t *t, px_h1_response_t *resp,
                                   px_h1_error_t *err)
{
    px_h2s_t *st = (px_h2s_t *)uc;
    if (st->too_large) {
        err->reason = "upstream response head too large";
        return PX_H1_INVALID;
    }
    if (!st->head_ready)
        return PX_H1_AGAIN;
    st->head_ready = 0;
    memset(resp, 0, sizeof(*resp));
    resp->version = 20;
    resp->status = st->status;
    resp->reason.data = px_http_reason(st->status); /* HTTP/2 has none: the standard one */
    resp->reason.len = strlen(resp->reason.data);
    resp->headers = st->hs.items;
    resp->nheaders = st->hs.n;
    resp->content_length = st->content_length;
    resp->body = st->end_at_head ? PX_BODY_NONE : st->has_cl ? PX_BODY_LENGTH : PX_BODY_CLOSE;
    if (resp->body == PX_BODY_NONE)
        resp->content_length = 0;
    (void)t;
    return PX_H1_DONE;
}

static struct evbuffer *px_h2s_body_in(px_uconn_t *uc)
{
    return ((px_h2s_t *)uc)->in;
}

static void px_h2s_read(px_uconn_t *uc, int on)
{
    px_h2s_t *st = (px_h2s_t *)uc;
    st->reading = on != 0;
    if (on && (st->news || st->failed))
        px_h2s_kick(st);
}

static void px_h2s_timeouts(px_uconn_t *uc, uint64_t read_ms, uint64_t write_ms)
{
    px_h2s_t *st = (px_h2s_t *)uc;
    (void)write_ms; /* flow control, not the socket, holds the request body back */
    st->read_ms = read_ms;
    if (read_ms == 0)
        evtimer_del(st->timer);
    else
        px_h2s_touch(st);
}

static void px_h2s_write_low(px_uconn_t *uc, size_t low)
{
    ((px_h2s_t *)uc)->write_low = low;
}

static int px_h2s_never_sent(const px_uconn_t *uc)
{
    const px_h2s_t *st = (const px_h2s_t *)uc;
    return st->refused || !st->submitted;
}

static const char *px_h2s_cause(px_uconn_t *uc, px_pool_t *pool)
{
    const px_h2s_t *st = (const px_h2s_t *)uc;
    (void)pool;
    return st->why != NULL ? st->why : "upstream HTTP/2 stream failed";
}

static void px_h2c_release_stream(px_uconn_t *uc, int reusable)
{
    px_h2s_t *st = (px_h2s_t *)uc;
    px_h2c_t *c = st->c;
    (void)reusable; /* the connection stays whatever became of the stream */
    px_upstream_unpend(uc);
    st->t = NULL;
    st->reading = 0;
    st->deliver = 0;
    evtimer_del(st->timer);
    event_del(st->ev);
    c->nattached--;
    if (c->nattached == 0)
        c->idle_since = px_time_ms();
    if (!st->submitted || st->closed || c->dead) {
        px_h2s_free(st);
    } else {
        /* Still open (the response ended early, or was abandoned): cancel it, freed when
         * nghttp2 closes it. */
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
    }
    px_h2c_schedule(c);
}

static const px_up_ops_t px_h2s_ops = {
    .send_head = px_h2s_send_head,
    .body_out = px_h2s_body_out,
    .end = px_h2s_end,
    .read_head = px_h2s_read_head,
    .body_in = px_h2s_body_in,
    .read = px_h2s_read,
    .timeouts = px_h2s_timeouts,
    .write_low = px_h2s_write_low,
    .never_sent = px_h2s_never_sent,
    .cause = px_h2s_cause,
    .release = px_h2c_release_stream,
};

/* ---- the connection ------------------------------------------------------------------------ */

static void px_h2c_free(px_h2c_t *c)
{
    while (c->streams != NULL) {
        px_h2s_t *st = c->streams;
        st->in_run = 0;
        st->closed = 1; /* the session goes: no user data to clear */
        px_h2s_free(st);
    }
    px_link_t *l = &c->link;
    l->prev->next = l->next;
    l->next->prev = l->prev;
    c->pool->nh2--;
    nghttp2_session_del(c->ng);
    event_free(c->flush_ev);
    event_free(c->timer);
    px_uconn_t *uc = c->uc;
    free(c);
    if (uc != NULL)
        px_upstream_release(uc, 0); /* may free the pool */
}

/* The connection failed (or closes): every attached stream that has not ended fails. */
static void px_h2c_fail(px_h2c_t *c, const char *why)
{
    if (c->dead)
        return;
    c->dead = 1;
    snprintf(c->why, sizeof(c->why), "%s", why);
    if (c->uc != NULL)
        px_io_read_disable(c->uc->io);
    evtimer_del(c->timer);
    for (px_h2s_t *st = c->streams; st != NULL; st = st->next) {
        if (st->t == NULL || st->ended || st->failed)
            continue;
        st->failed = 1;
        /* Never sent: nghttp2 had not opened it (still queued), or it was never submitted. */
        st->refused =
            !st->submitted || (!st->closed && nghttp2_session_find_stream(c->ng, st->id) == NULL);
        st->uc.reused = st->refused;
        st->why = px_pcause(st->t->pool, "upstream HTTP/2 connection failed", c->why);
        evtimer_del(st->timer);
        if (st->uc.state == PX_UCONN_CONNECTING) {
            /* It waited for this connection: fails as an attempt, with this cause. */
            px_upstream_unpend(&st->uc);
            st->uc.state = PX_UCONN_ACTIVE;
            st->deliver = PX_IO_ERROR;
        }
        px_h2s_kick(st);
    }
    px_h2c_schedule(c);
}

static void px_h2c_arm(px_h2c_t *c, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

/* Produce frames; free or close the session when it is done with. */
static void px_h2c_flush(px_h2c_t *c)
{
    px_worker_t *w = c->pool->wgen->worker;
    if (!c->dead && c->nattached == 0 &&
        (c->goaway || c->pool->gone || w->draining || c->pool->wgen != w->cur))
        c->dead = 1; /* nothing more for it to do */
    if (c->dead) {
        if (c->nattached == 0)
            px_h2c_free(c);
        return;
    }
    if (!c->connected)
        return;
    struct evbuffer *out = px_io_output(c->uc->io);
    while (evbuffer_get_length(out) < PX_H2C_OUT_HIGH) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->ng, &data);
        if (n < 0) {
            px_h2c_fail(c, nghttp2_strerror((int)n));
            return;
        }
        if (n == 0)
            break;
        evbuffer_add(out, data, (size_t)n);
    }
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng)) {
        px_h2c_fail(c, "the HTTP/2 session ended");
        return;
    }
    if (c->nattached == 0 && !evtimer_pending(c->timer, NULL)) {
        uint64_t idle = c->pool->idle_timeout_ms, ping = c->pool->upstream->http2.ping_interval_ms;
        px_h2c_arm(c, idle < ping ? idle : ping);
    }
}

static void px_h2c_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    px_h2c_flush(arg);
}

/* PING after ping_interval of silence, dead after ping_timeout without its ACK; idle close. */
static void px_h2c_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    px_h2c_t *c = arg;
    const px_conf_uhttp2_t *h = &c->pool->upstream->http2;
    uint64_t now = px_time_ms();
    if (c->dead || !c->connected)
        return;
    if (c->ping_out) {
        px_log_info("upstream %s: HTTP/2 connection did not answer a PING within %llums; closed",
                    c->pool->name, (unsigned long long)h->ping_timeout_ms);
        px_h2c_fail(c, "no answer to a PING");
        return;
    }
    if (c->nattached == 0 && now - c->idle_since >= c->pool->idle_timeout_ms) {
        c->dead = 1;
        px_h2c_schedule(c);
        return;
    }
    if (now - c->last_recv >= h->ping_interval_ms) {
        nghttp2_submit_ping(c->ng, NGHTTP2_FLAG_NONE, NULL);
        c->ping_out = 1;
        px_h2c_arm(c, h->ping_timeout_ms);
        px_h2c_schedule(c);
        return;
    }
    uint64_t left = h->ping_interval_ms - (now - c->last_recv);
    if (c->nattached == 0 && c->pool->idle_timeout_ms - (now - c->idle_since) < left)
        left = c->pool->idle_timeout_ms - (now - c->idle_since);
    px_h2c_arm(c, left);
}

static void px_h2c_readable(void *owner)
{
    px_h2c_t *c = owner;
    if (c->dead)
        return;
    struct evbuffer *in = px_io_input(c->uc->io);
    c->last_recv = px_time_ms();
    while (evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        ssize_t n = nghttp2_session_mem_recv(c->ng, v.iov_base, v.iov_len);
        if (n < 0) {
            px_log_info("upstream %s: HTTP/2: %s", c->pool->name, nghttp2_strerror((int)n));
            nghttp2_session_terminate_session(c->ng, NGHTTP2_PROTOCOL_ERROR);
            px_h2c_fail(c, nghttp2_strerror((int)n));
            return;
        }
        evbuffer_drain(in, (size_t)n);
    }
    px_h2c_flush(c);
}

static void px_h2c_writable(void *owner)
{
    px_h2c_flush(owner);
}

/* The connection is up: the preface and SETTINGS go out; streams wait for the server's. */
static void px_h2c_start(px_h2c_t *c)
{
    c->connected = 1;
    c->last_recv = c->idle_since = px_time_ms();
    px_io_set_timeouts(c->uc->io, 0, 0);
    px_io_set_read_high(c->uc->io, PX_H2C_OUT_HIGH);
    px_io_set_write_low(c->uc->io, PX_H2C_OUT_HIGH / 4);
    px_io_read_enable(c->uc->io);
    px_h2c_arm(c, c->pool->upstream->http2.ping_interval_ms);
    px_h2c_flush(c);
}

int px_h2c_alpn_h2(px_io_t *io)
{
    const unsigned char *p = NULL;
    unsigned len = 0;
    SSL *ssl = px_io_ssl(io);
    if (ssl != NULL)
        SSL_get0_alpn_selected(ssl, &p, &len);
    return len == 2 && memcmp(p, "h2", 2) == 0;
}

static void px_h2c_event(void *owner, short what)
{
    px_h2c_t *c = owner;
    if (what & PX_IO_CONNECTED) {
        if (c->tls && !px_h2c_alpn_h2(c->uc->io)) {
            px_h2c_fail(c, "the server did not choose h2 by ALPN");
            return;
        }
        px_h2c_start(c);
        return;
    }
    if (!c->connected) {
        /* Connect failure: each waiting stream hears it as its own (px_io_error()). */
        c->dead = 1;
        for (px_h2s_t *st = c->streams; st != NULL; st = st->next) {
            if (st->t == NULL)
                continue;
            st->failed = 1;
            st->deliver = (what & PX_IO_TIMEOUT) ? PX_IO_TIMEOUT : PX_IO_ERROR;
            px_h2s_kick(st);
        }
        px_h2c_schedule(c);
        return;
    }
    const char *why = (what & PX_IO_EOF) ? "closed by the upstream" : px_io_tls_error(c->uc->io);
    if (why == NULL)
        why = strerror(px_io_error(c->uc->io));
    px_h2c_fail(c, why);
}

static const px_uconn_ops_t px_h2c_conn_ops = {
    .readable = px_h2c_readable,
    .writable = px_h2c_writable,
    .event = px_h2c_event,
};

static px_h2c_t *px_h2c_new(px_upool_t *p)
{
    px_h2c_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    struct event_base *base = p->wgen->worker->base;
    c->pool = p;
    c->tls = p->tls_host != NULL;
    c->max_streams = (uint32_t)p->upstream->http2.max_concurrent_streams;
    c->flush_ev = event_new(base, -1, 0, px_h2c_flush_cb, c);
    c->timer = evtimer_new(base, px_h2c_timer_cb, c);
    nghttp2_session_callbacks *cb = NULL;
    nghttp2_option *opt = NULL;
    int rc = c->flush_ev != NULL && c->timer != NULL ? nghttp2_session_callbacks_new(&cb) : -1;
    if (rc == 0) {
        nghttp2_session_callbacks_set_on_header_callback(cb, px_h2c_on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, px_h2c_on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, px_h2c_on_data);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, px_h2c_on_stream_close);
        rc = nghttp2_option_new(&opt);
    }
    if (rc == 0) {
        nghttp2_option_set_no_auto_window_update(opt, 1);
        nghttp2_option_set_peer_max_concurrent_streams(opt, c->max_streams);
        rc = nghttp2_session_client_new2(&c->ng, cb, c, opt);
    }
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, PX_H2C_STREAM_WINDOW},
    };
    if (rc == 0)
        rc = nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, 2);
    if (rc == 0)
        rc = nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, PX_H2C_CONN_WINDOW);
    if (opt != NULL)
        nghttp2_option_del(opt);
    if (cb != NULL)
        nghttp2_session_callbacks_del(cb);
    if (rc != 0) {
        if (c->ng != NULL)
            nghttp2_session_del(c->ng);
        if (c->flush_ev != NULL)
            event_free(c->flush_ev);
        if (c->timer != NULL)
            event_free(c->timer);
        free(c);
        return NULL;
    }
    c->link.next = p->h2.next;
    c->link.prev = &p->h2;
    p->h2.next->prev = &c->link;
    p->h2.next = &c->link;
    p->nh2++;
    return c;
}

px_h2c_t *px_h2c_open(px_upool_t *p, const char **cause)
{
    px_h2c_t *c = px_h2c_new(p);
    if (c == NULL) {
        *cause = "out of memory";
        return NULL;
    }
    const px_conf_addr_t *a = &p->ep->addr;
    p->nconns++; /* keep p if the connect fails at once */
    c->uc = px_upstream_connect(p, (const struct sockaddr *)&a->sa, a->salen, &px_h2c_conn_ops, c,
                                cause);
    p->nconns--;
    if (c->uc == NULL) {
        c->dead = 1;
        px_h2c_free(c);
        return NULL;
    }
    return c;
}

void px_h2c_counted(px_h2c_t *c)
{
    c->uc->counted = 1;
}

int px_h2c_ready(const px_h2c_t *c)
{
    return c->ready;
}

px_h2c_t *px_h2c_find(px_upool_t *p)
{
    px_h2c_t *connecting = NULL;
    for (px_link_t *l = p->h2.next; l != &p->h2; l = l->next) {
        px_h2c_t *c = px_h2c_of(l);
        if (c->dead || c->goaway || c->nattached >= c->max_streams)
            continue;
        if (c->ready)
            return c;
        if (connecting == NULL)
            connecting = c;
    }
    return connecting;
}

int px_h2c_adopt(px_uconn_t *uc)
{
    px_txn_t *t = uc->owner;
    px_h2c_t *c = px_h2c_new(uc->pool);
    if (c == NULL)
        return -1;
    c->uc = uc;
    px_uconn_t *sc = px_h2c_stream(c, t, 0);
    if (sc == NULL) {
        c->uc = NULL;
        c->dead = 1;
        px_h2c_free(c);
        return -1;
    }
    uc->ops = &px_h2c_conn_ops;
    uc->owner = c;
    uc->up = NULL;
    sc->state = PX_UCONN_CONNECTING;
    t->uconn = sc;
    px_h2c_start(c);
    return 0;
}

void px_h2c_close_idle(px_upool_t *p, int now)
{
    for (px_link_t *l = p->h2.next, *next; l != &p->h2; l = next) {
        next = l->next;
        px_h2c_t *c = px_h2c_of(l);
        c->goaway = 1; /* closes with its last stream (px_h2c_flush) */
        if (!now || c->nattached > 0) {
            px_h2c_schedule(c);
            continue;
        }
        c->dead = 1;
        int last = next == &p->h2;
        px_h2c_free(c); /* the last may free p: nothing of p after it */
        if (last)
            return;
    }
}
