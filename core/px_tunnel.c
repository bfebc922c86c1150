/*
 * px_tunnel.c: HTTP/1.1 Upgrade passthrough. See px_tunnel.h for the contract and
 * docs/proxy.md#websocket for the behaviour users see.
 *
 * Once switched, the tunnel owns the events of both sides: the client's codec reports to
 * px_tunnel_client_* (its down op `tunnel` switched it over; the client side is reached only
 * through the downstream seam, so an HTTP/1 connection and an HTTP/2 stream are the same
 * here), the upstream connection's ops become px_tunnel_up_ops (its owner stays the txn).
 * One timer (txn pool memory) covers the idle timeout and a drain deadline; progress only
 * stores a coarse-clock time, so moving bytes costs no timer operation.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "px_http1.h"
#include "px_io.h"
#include "px_log.h"
#include "px_pool.h"
#include "px_proxy.h"
#include "px_time.h"
#include "px_tunnel.h"
#include "px_txn.h"
#include "px_upstream.h"

/* Backpressure: a direction stops reading while its destination's output holds HIGH bytes
 * and resumes when it drains to LOW (the same bounds as bodies). */
#define PX_TUNNEL_HIGH (256 * 1024)
#define PX_TUNNEL_LOW  (64 * 1024)

typedef struct px_tunnel_s {
    px_txn_t *t;
    px_down_t *d;        /* the client's side: an HTTP/1 connection or an HTTP/2 stream */
    px_io_t *uio;        /* the upstream's socket (owned by t->uconn) */
    struct event *timer; /* idle timeout and drain deadline (pool memory) */
    uint64_t idle_ms;    /* 0: none */
    uint64_t deadline;   /* px_time_ms() by which to close; 0: none */
    uint64_t last;       /* px_time_ms() of the last progress either way */
    uint64_t up_bytes;   /* client -> upstream (t->resp_body.moved counts the other way) */
    unsigned client_eof : 1;
    unsigned upstream_eof : 1;
} px_tunnel_t;

/* ---- the handshake ------------------------------------------------------------------------- */

static int px_tunnel_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int px_tunnel_next_protocol(px_str_t v, size_t *pos, px_str_t *name)
{
    size_t i = *pos;
    while (i < v.len && (v.data[i] == ' ' || v.data[i] == '\t' || v.data[i] == ','))
        i++;
    if (i == v.len) {
        *pos = i;
        return 0;
    }
    size_t start = i;
    while (i < v.len && px_tunnel_tchar((unsigned char)v.data[i]))
        i++;
    if (i == start)
        return -1;
    name->data = v.data + start;
    name->len = i - start;
    if (i < v.len && v.data[i] == '/') {
        size_t vstart = ++i;
        while (i < v.len && px_tunnel_tchar((unsigned char)v.data[i]))
            i++;
        if (i == vstart)
            return -1;
    }
    while (i < v.len && (v.data[i] == ' ' || v.data[i] == '\t'))
        i++;
    if (i < v.len && v.data[i] != ',')
        return -1;
    *pos = i;
    return 1;
}

static int px_tunnel_route_allows(const px_conf_route_t *r, px_str_t name)
{
    for (size_t i = 0; i < r->nupgrades; i++) {
        if (px_header_name_eq(name.data, name.len, r->upgrades[i], strlen(r->upgrades[i])))
            return 1;
    }
    return 0;
}

/* Does one of the request's Upgrade fields name protocol `name`? */
static int px_tunnel_asked(const px_txn_t *t, px_str_t name)
{
    for (size_t i = 0; i < t->req.nheaders; i++) {
        const px_header_t *h = &t->req.headers[i];
        if (!PX_H1_TOKEN_EQ(h->name, "upgrade"))
            continue;
        size_t pos = 0;
        px_str_t p;
        while (px_tunnel_next_protocol(h->value, &pos, &p) > 0) {
            if (px_header_name_eq(p.data, p.len, name.data, name.len))
                return 1;
        }
    }
    return 0;
}

int px_tunnel_wanted(const px_txn_t *t)
{
    const px_h1_request_t *r = &t->req;
    unsigned need = PX_H1_CONN_UPGRADE | PX_H1_HAS_UPGRADE;
    if ((r->flags & need) != need || (r->version != 11 && !t->ext_connect) ||
        r->body != PX_BODY_NONE || r->method_id != PX_METHOD_GET ||
        t->route->action != PX_ACTION_UPSTREAM || t->route->nupgrades == 0)
        return 0;
    unsigned n = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        const px_header_t *h = &r->headers[i];
        if (!PX_H1_TOKEN_EQ(h->name, "upgrade"))
            continue;
        size_t pos = 0;
        px_str_t p;
        int rc;
        while ((rc = px_tunnel_next_protocol(h->value, &pos, &p)) > 0) {
            if (!px_tunnel_route_allows(t->route, p))
                return 0;
            n++;
        }
        if (rc < 0)
            return 0;
    }
    return n > 0;
}

/* RFC 6455 section 4.2.2: the accept value is base64(SHA-1(key "258EAFA5-...")). */
#define PX_TUNNEL_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

int px_tunnel_ws_key(px_txn_t *t)
{
    unsigned char raw[16];
    char *key = px_pnalloc(t->pool, 25);
    if (key == NULL || RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
    t->ws_key.data = key;
    t->ws_key.len = 24;
    return 0;
}

/* Exactly one Sec-WebSocket-Accept, and the one t->ws_key asks for. */
static int px_tunnel_accept_ok(const px_txn_t *t, const px_h1_response_t *resp)
{
    char buf[24 + sizeof(PX_TUNNEL_WS_GUID)], want[29];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    memcpy(buf, t->ws_key.data, 24);
    memcpy(buf + 24, PX_TUNNEL_WS_GUID, sizeof(PX_TUNNEL_WS_GUID) - 1);
    if (t->ws_key.len != 24 ||
        EVP_Digest(buf, 24 + sizeof(PX_TUNNEL_WS_GUID) - 1, md, &mdlen, EVP_sha1(), NULL) != 1 ||
        mdlen != 20)
        return 0;
    EVP_EncodeBlock((unsigned char *)want, md, 20); /* 28 characters and a NUL */
    const px_header_t *acc = NULL;
    for (size_t i = 0; i < resp->nheaders; i++) {
        if (!PX_H1_TOKEN_EQ(resp->headers[i].name, "sec-websocket-accept"))
            continue;
        if (acc != NULL)
            return 0;
        acc = &resp->headers[i];
    }
    return acc != NULL && acc->value.len == 28 && memcmp(acc->value.data, want, 28) == 0;
}

const char *px_tunnel_accept_101(px_txn_t *t, const px_h1_response_t *resp)
{
    if (!t->upgrading)
        return "upstream switched protocols without an upgrade asked";
    const px_header_t *up = NULL;
    for (size_t i = 0; i < resp->nheaders; i++) {
        if (!PX_H1_TOKEN_EQ(resp->headers[i].name, "upgrade"))
            continue;
        if (up != NULL)
            return "invalid upstream 101: several Upgrade fields";
        up = &resp->headers[i];
    }
    if (up == NULL)
        return "invalid upstream 101: no Upgrade field";
    size_t pos = 0, n = 0;
    px_str_t p;
    int rc;
    while ((rc = px_tunnel_next_protocol(up->value, &pos, &p)) > 0) {
        if (!px_tunnel_asked(t, p))
            return "upstream switched to a protocol the client did not ask for";
        n++;
    }
    if (rc < 0 || n == 0)
        return "invalid upstream 101: malformed Upgrade field";
    if (t->ws_key.len > 0 && !px_tunnel_accept_ok(t, resp))
        return "invalid upstream 101: Sec-WebSocket-Accept does not match the key";
    t->resp_upgrade = up->value;
    t->switching = 1;
    return NULL;
}

/* ---- the relay ----------------------------------------------------------------------------- */

static void px_tunnel_arm(px_tunnel_t *tn, uint64_t now);

/* The tunnel is over: one log line, both sides closed, the txn freed. */
static void px_tunnel_end(px_tunnel_t *tn, const char *cause)
{
    px_txn_t *t = tn->t;
    px_down_t *d = tn->d;
    evtimer_del(tn->timer);
    px_log_debug("%s %s: tunnel closed (%s): %llu bytes to the upstream, %llu to the client",
                 t->route->name, d->peer_text, cause ? cause : "both sides done",
                 (unsigned long long)tn->up_bytes, (unsigned long long)t->resp_body.moved);
    t->error = cause;
    px_proxy_detach(t, 0);
    d->ops->detach(d);
    px_txn_finish(t); /* tn is pool memory: gone from here */
    d->ops->close(d);
}

/* Both directions are done once each side sent its EOF and everything reached the other. */
static int px_tunnel_check_done(px_tunnel_t *tn)
{
    if (tn->client_eof && tn->upstream_eof &&
        evbuffer_get_length(tn->d->ops->body_out(tn->d)) == 0 &&
        evbuffer_get_length(px_io_output(tn->uio)) == 0) {
        px_tunnel_end(tn, NULL);
        return 1;
    }
    return 0;
}

/* Stop or resume reading one side. */
static void px_tunnel_read(px_tunnel_t *tn, int client, int on)
{
    if (client)
        tn->d->ops->read(tn->d, on);
    else if (on)
        px_io_read_enable(tn->uio);
    else
        px_io_read_disable(tn->uio);
}

/* Move what one side read to the other's output; stop reading it while the other is backed
 * up (the other's writable resumes it). */
static void px_tunnel_move(px_tunnel_t *tn, int from_client)
{
    struct evbuffer *cin = tn->d->ops->body_in(tn->d), *cout = tn->d->ops->body_out(tn->d);
    struct evbuffer *in = from_client ? cin : px_io_input(tn->uio);
    struct evbuffer *out = from_client ? px_io_output(tn->uio) : cout;
    size_t n = evbuffer_get_length(in);
    if (n > 0) {
        evbuffer_add_buffer(out, in);
        tn->last = px_time_ms();
        if (from_client)
            tn->up_bytes += n;
        else
            tn->t->resp_body.moved += n;
    }
    if (evbuffer_get_length(out) >= PX_TUNNEL_HIGH)
        px_tunnel_read(tn, from_client, 0);
    else if (!(from_client ? tn->client_eof : tn->upstream_eof))
        px_tunnel_read(tn, from_client, 1);
}

/* One side's output drained to the low mark: the other side may read again. */
static void px_tunnel_drained(px_tunnel_t *tn, int to_client)
{
    tn->last = px_time_ms();
    if (px_tunnel_check_done(tn))
        return;
    if (!to_client && !tn->client_eof)
        px_tunnel_read(tn, 1, 1);
    else if (to_client && !tn->upstream_eof)
        px_tunnel_read(tn, 0, 1);
}

/* The upstream sent EOF: pass it on to the client once its bytes are out. */
static void px_tunnel_upstream_eof(px_tunnel_t *tn)
{
    px_io_read_disable(tn->uio);
    tn->d->ops->shutdown(tn->d);
    px_tunnel_check_done(tn);
}

void px_tunnel_client_readable(px_txn_t *t)
{
    px_tunnel_move(t->tunnel, 1);
}

void px_tunnel_client_writable(px_txn_t *t)
{
    px_tunnel_drained(t->tunnel, 1);
}

void px_tunnel_client_eof(px_txn_t *t)
{
    px_tunnel_t *tn = t->tunnel;
    tn->client_eof = 1;
    px_tunnel_move(tn, 1); /* what came before the EOF */
    tn->d->ops->read(tn->d, 0);
    px_io_shutdown_write(tn->uio);
    px_io_set_write_low(tn->uio, 0); /* so that the end of the flush is seen */
    px_tunnel_check_done(tn);
}

void px_tunnel_client_failed(px_txn_t *t, const char *cause)
{
    px_tunnel_end(t->tunnel, cause);
}

static void px_tunnel_up_readable(void *owner)
{
    px_tunnel_move(((px_txn_t *)owner)->tunnel, 0);
}

static void px_tunnel_up_writable(void *owner)
{
    px_tunnel_drained(((px_txn_t *)owner)->tunnel, 0);
}

static void px_tunnel_up_event(void *owner, short what)
{
    px_txn_t *t = owner;
    px_tunnel_t *tn = t->tunnel;
    if (what & PX_IO_EOF) {
        tn->upstream_eof = 1;
        t->uconn->eof = 1;
        px_tunnel_upstream_eof(tn);
        return;
    }
    if (what & PX_IO_ERROR) {
        const char *why = px_io_tls_error(tn->uio);
        if (why == NULL)
            why = strerror(px_io_error(tn->uio));
        px_tunnel_end(tn, px_pcause(t->pool, "upstream connection failed", why));
    }
}

static const px_uconn_ops_t px_tunnel_up_ops = {
    .readable = px_tunnel_up_readable,
    .writable = px_tunnel_up_writable,
    .event = px_tunnel_up_event,
};

static void px_tunnel_timer(evutil_socket_t fd, short what, void *arg)
{
    px_tunnel_t *tn = arg;
    uint64_t now = px_time_ms();
    if (tn->deadline > 0 && now >= tn->deadline) {
        px_tunnel_end(tn, "tunnel closed: pyxis is draining");
        return;
    }
    if (tn->idle_ms > 0 && now - tn->last >= tn->idle_ms) {
        px_tunnel_end(tn, "tunnel idle timeout");
        return;
    }
    px_tunnel_arm(tn, now);
}

/* The timer fires at the idle deadline or the drain deadline, whichever comes first; at the
 * idle one it looks at the last progress and sleeps again for the rest. */
static void px_tunnel_arm(px_tunnel_t *tn, uint64_t now)
{
    uint64_t next = UINT64_MAX;
    if (tn->idle_ms > 0)
        next = tn->last + tn->idle_ms > now ? tn->last + tn->idle_ms - now : 0;
    if (tn->deadline > 0) {
        uint64_t d = tn->deadline > now ? tn->deadline - now : 0;
        if (d < next)
            next = d;
    }
    if (next == UINT64_MAX)
        return;
    struct timeval tv = {(time_t)(next / 1000), (suseconds_t)((next % 1000) * 1000)};
    evtimer_add(tn->timer, &tv);
}

static void px_tunnel_timer_cleanup(void *ev)
{
    event_del(ev);
}

void px_tunnel_drain(px_txn_t *t, uint64_t ms)
{
    px_tunnel_t *tn = t->tunnel;
    uint64_t now = px_time_ms();
    if (tn == NULL || (tn->deadline > 0 && tn->deadline <= now + ms))
        return;
    tn->deadline = now + (ms > 0 ? ms : 1);
    px_tunnel_arm(tn, now);
}

void px_tunnel_start(px_txn_t *t)
{
    if (t->status != 101) {
        px_proxy_detach(t, 0);
        px_txn_fail(t, 500, "a response filter changed the status of 101 Switching Protocols");
        return;
    }
    px_tunnel_t *tn = px_pcalloc(t->pool, sizeof(*tn));
    struct event *ev = px_palloc(t->pool, event_get_struct_event_size());
    if (tn == NULL || ev == NULL ||
        event_assign(ev, t->worker->base, -1, 0, px_tunnel_timer, tn) < 0 ||
        px_pool_cleanup_add(t->pool, px_tunnel_timer_cleanup, ev) < 0) {
        px_proxy_detach(t, 0);
        px_txn_fail(t, 500, "out of memory");
        return;
    }
    tn->t = t;
    tn->d = t->down;
    tn->uio = t->uconn->io;
    tn->timer = ev;
    tn->idle_ms = t->route->tunnel_idle_timeout_ms;
    tn->last = px_time_ms();
    tn->upstream_eof = t->uconn->eof;
    t->tunnel = tn;
    if (tn->d->ops->tunnel(tn->d, t) < 0) {
        t->tunnel = NULL;
        px_proxy_detach(t, 0);
        px_txn_fail(t, 500, "out of memory");
        return;
    }
    /* From here on the exchange is the tunnel: no route timeout, no retry, no reuse. */
    t->resp_head_sent = 1;
    if (t->timer != NULL)
        evtimer_del(t->timer);
    t->resp_state = PX_TXN_RESP_BODY;
    t->close_client = 1;
    t->resp_body.moved = 0;

    t->uconn->ops = &px_tunnel_up_ops;
    tn->d->ops->timeouts(tn->d, 0, 0);
    tn->d->ops->write_low(tn->d, PX_TUNNEL_LOW);
    px_io_set_timeouts(tn->uio, 0, 0);
    px_io_set_read_high(tn->uio, 0);
    px_io_set_write_low(tn->uio, PX_TUNNEL_LOW);
    if (t->worker->draining)
        px_tunnel_drain(t, t->wgen->gen->conf->drain_timeout_ms);
    else
        px_tunnel_arm(tn, tn->last);
    /* Bytes that came with the 101, and any the client sent right after its request, belong
     * to the new protocol. */
    px_tunnel_move(tn, 0);
    px_tunnel_move(tn, 1);
    if (tn->upstream_eof)
        px_tunnel_upstream_eof(tn);
}
