/*
 * px_proxy.c: forwarding a transaction to an upstream over HTTP/1.1 and streaming the
 * response back.
 *
 * Flow: normalize the request head (hop-by-hop fields out, X-Forwarded-* in, Host), attach an
 * upstream connection, write the head, pump the request body client -> upstream, parse the
 * response head, write it to the client, pump the response body upstream -> client. Each pump
 * stops when its destination holds PX_PROXY_HIGH bytes and stops reading its source until the
 * destination drains below PX_PROXY_LOW, so memory per exchange stays bounded whatever the
 * body size. Bodies are moved between evbuffers, never copied.
 *
 * Retry: a request that fails on a connection reused from the pool, before any response byte,
 * is retried once on a new connection when its method is idempotent and it has no body, or
 * when not one byte of it had left (px_io_sent()) and it has no body or one kept for replay;
 * see docs/proxy.md for why exactly these.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "px_endpoint-t.h"
#include "px_endpoint.h"
#include "px_filter.h"
#include "px_http1.h"
#include "px_io.h"
#include "px_log.h"
#include "px_pool.h"
#include "px_proxy.h"
#include "px_tunnel.h"
#include "px_txn.h"
#include "px_upstream.h"
#include "px_worker.h"

#define PX_PROXY_HIGH (256 * 1024)
#define PX_PROXY_LOW  (64 * 1024)
/* Interim (1xx) responses accepted before the final one. */
#define PX_PROXY_MAX_INTERIM 8

static void px_proxy_pump_request(px_txn_t *t);
static void px_proxy_pump_response(px_txn_t *t);

static struct evbuffer *px_client_out(px_txn_t *t)
{
    return t->down->ops->body_out(t->down);
}
static struct evbuffer *px_client_in(px_txn_t *t)
{
    return t->down->ops->body_in(t->down);
}
static void px_client_read(px_txn_t *t, int on)
{
    t->down->ops->read(t->down, on);
}
static void px_client_timeouts(px_txn_t *t, uint64_t read_ms, uint64_t write_ms)
{
    t->down->ops->timeouts(t->down, read_ms, write_ms);
}

/* The upstream side of the exchange, through its codec (px_up-t.h). */
static struct evbuffer *px_up_out(px_txn_t *t)
{
    return t->uconn->up->body_out(t->uconn);
}
static struct evbuffer *px_up_in(px_txn_t *t)
{
    return t->uconn->up->body_in(t->uconn);
}
static void px_up_read(px_txn_t *t, int on)
{
    t->uconn->up->read(t->uconn, on);
}
static void px_up_timeouts(px_txn_t *t, uint64_t read_ms, uint64_t write_ms)
{
    t->uconn->up->timeouts(t->uconn, read_ms, write_ms);
}

/* ---- request head ------------------------------------------------------------------------- */

#define PX_LIT(s)                                                                                  \
    {                                                                                              \
        (s), sizeof(s) - 1                                                                         \
    }

/* Fields that describe one connection, never forwarded (RFC 9110 section 7.6.1), and the ones
 * pyxis regenerates itself (framing, Expect which it answers itself). */
static int px_proxy_hop_by_hop(px_str_t n)
{
    static const px_str_t names[] = {
        PX_LIT("connection"), PX_LIT("keep-alive"),        PX_LIT("proxy-connection"),
        PX_LIT("te"),         PX_LIT("transfer-encoding"), PX_LIT("upgrade"),
        PX_LIT("trailer"),    PX_LIT("content-length"),
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (px_header_name_eq(n.data, n.len, names[i].data, names[i].len))
            return 1;
    }
    return 0;
}

/* The Connection fields of a head, found once so that checking each field against them is
 * not a rescan of the whole head per field. */
typedef struct {
    const px_header_t *fields[8];
    size_t n;
    int overflow; /* more than 8 Connection fields: fall back to scanning all of hs */
    const px_header_t *hs;
    size_t nhs;
} px_proxy_conn_t;

static px_proxy_conn_t px_proxy_conn_fields(const px_header_t *hs, size_t n)
{
    px_proxy_conn_t c = {.n = 0, .overflow = 0, .hs = hs, .nhs = n};
    for (size_t i = 0; i < n; i++) {
        if (!PX_H1_TOKEN_EQ(hs[i].name, "connection"))
            continue;
        if (c.n == sizeof(c.fields) / sizeof(c.fields[0])) {
            c.overflow = 1;
            break;
        }
        c.fields[c.n++] = &hs[i];
    }
    return c;
}

static int px_proxy_token_listed(px_str_t value, px_str_t name)
{
    const char *p = value.data, *end = p + value.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *tok = p;
        while (p < end && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        if (p > tok && px_header_name_eq(tok, (size_t)(p - tok), name.data, name.len))
            return 1;
    }
    return 0;
}

/* Is `name` listed in a Connection field? */
static int px_proxy_conn_listed(const px_proxy_conn_t *c, px_str_t name)
{
    if (c->overflow) {
        for (size_t i = 0; i < c->nhs; i++) {
            if (PX_H1_TOKEN_EQ(c->hs[i].name, "connection") &&
                px_proxy_token_listed(c->hs[i].value, name))
                return 1;
        }
        return 0;
    }
    for (size_t i = 0; i < c->n; i++) {
        if (px_proxy_token_listed(c->fields[i]->value, name))
            return 1;
    }
    return 0;
}

static int px_proxy_cidr_has(const px_conf_cidr_t *c, const struct sockaddr_storage *ss)
{
    const uint8_t *a;
    uint8_t mapped[4];
    if (ss->ss_family == AF_INET) {
        a = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
        if (c->family != AF_INET)
            return 0;
    } else {
        const uint8_t *a6 = (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (c->family == AF_INET && memcmp(a6, v4mapped, 12) == 0) {
            memcpy(mapped, a6 + 12, 4);
            a = mapped;
        } else if (c->family == AF_INET6) {
            a = a6;
        } else {
            return 0;
        }
    }
    unsigned bits = c->prefix, i = 0;
    for (; bits >= 8; bits -= 8, i++) {
        if (a[i] != c->addr[i])
            return 0;
    }
    if (bits == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - bits));
    return (a[i] & mask) == (c->addr[i] & mask);
}

int px_proxy_trusted(const px_txn_t *t)
{
    const px_conf_forwarded_t *f = &t->listener->forwarded;
    for (size_t i = 0; i < f->ntrusted; i++) {
        if (px_proxy_cidr_has(&f->trusted[i], t->down->peer))
            return 1;
    }
    return 0;
}

static px_str_t px_proxy_concat(px_pool_t *pool, px_str_t a, const char *sep, px_str_t b)
{
    size_t sl = strlen(sep);
    char *p = px_pnalloc(pool, a.len + sl + b.len);
    px_str_t r = {p, 0};
    if (p == NULL)
        return r;
    memcpy(p, a.data, a.len);
    memcpy(p + a.len, sep, sl);
    memcpy(p + a.len + sl, b.data, b.len);
    r.len = a.len + sl + b.len;
    return r;
}

int px_proxy_build_request_headers(px_txn_t *t)
{
    static const px_str_t host_name = PX_LIT("Host"), xff_name = PX_LIT("X-Forwarded-For"),
                          xfp_name = PX_LIT("X-Forwarded-Proto"),
                          xfh_name = PX_LIT("X-Forwarded-Host"), http = PX_LIT("http"),
                          https = PX_LIT("https");
    const px_h1_request_t *r = &t->req;
    const px_conf_forwarded_t *fwd = &t->listener->forwarded;
    px_headers_t *out = &t->req_headers;
    int trusted = fwd->mode == PX_XFF_APPEND && px_proxy_trusted(t);
    int keep_xf = fwd->mode == PX_XFF_OFF || trusted;
    int have_xfp = 0, have_xfh = 0;
    px_str_t xff_in = {NULL, 0};

    out->cap = r->nheaders + 4;
    out->n = 0;
    out->items = px_palloc(t->pool, out->cap * sizeof(px_header_t));
    if (out->items == NULL)
        return -1;

    /* An HTTP/1.0 request without Host gets the endpoint's once it is chosen
     * (px_proxy_send). */
    px_str_t host = {NULL, 0};
    if (t->route->host_rewrite != NULL) {
        host.data = t->route->host_rewrite;
        host.len = strlen(host.data);
    } else if (r->authority.len > 0) {
        host = r->authority;
    }
    if (host.len > 0)
        out->items[out->n++] = (px_header_t){host_name, host};

    /* An upgrade the route lets through keeps its Upgrade fields (px_proxy_write_request_head
     * adds Connection: upgrade); any other is dropped with the hop-by-hop fields. */
    t->upgrading = px_tunnel_wanted(t);
    px_proxy_conn_t conn = px_proxy_conn_fields(r->headers, r->nheaders);
    for (size_t i = 0; i < r->nheaders; i++) {
        const px_header_t *h = &r->headers[i];
        if (t->upgrading && PX_H1_TOKEN_EQ(h->name, "upgrade")) {
            out->items[out->n++] = *h;
            continue;
        }
        if (PX_H1_TOKEN_EQ(h->name, "host") || PX_H1_TOKEN_EQ(h->name, "expect") ||
            px_proxy_hop_by_hop(h->name) || px_proxy_conn_listed(&conn, h->name))
            continue;
        if (PX_H1_TOKEN_EQ(h->name, "x-forwarded-for")) {
            if (fwd->mode == PX_XFF_OFF) {
                out->items[out->n++] = *h;
            } else if (trusted) {
                xff_in = xff_in.len ? px_proxy_concat(t->pool, xff_in, ", ", h->value) : h->value;
            }
            continue;
        }
        if (PX_H1_TOKEN_EQ(h->name, "x-forwarded-proto") ||
            PX_H1_TOKEN_EQ(h->name, "x-forwarded-host")) {
            if (!keep_xf)
                continue;
            if (h->name.len == 17)
                have_xfp = 1;
            else
                have_xfh = 1;
        }
        out->items[out->n++] = *h; /* cap: Host + every field fits */
    }
    if (fwd->mode == PX_XFF_OFF)
        return 0;
    px_str_t client = {t->down->peer_text, strlen(t->down->peer_text)};
    px_str_t xff = xff_in.len ? px_proxy_concat(t->pool, xff_in, ", ", client) : client;
    if (px_headers_add(out, t->pool, xff_name, xff) < 0 ||
        (!have_xfp &&
         px_headers_add(out, t->pool, xfp_name, px_io_is_tls(t->down->io) ? https : http) < 0) ||
        (!have_xfh && r->authority.len > 0 &&
         px_headers_add(out, t->pool, xfh_name, r->authority) < 0))
        return -1;
    return 0;
}

/* Queue the request head on the upstream (its codec may change t->req_out, px_up-t.h). */
static int px_proxy_write_request_head(px_txn_t *t)
{
    const px_h1_request_t *r = &t->req;
    px_str_t target = r->target;
    char *built = NULL;
    if (t->target_changed) {
        target = t->new_target;
    } else if (r->target_form == PX_TARGET_ABSOLUTE) {
        size_t n = r->path.len + (r->has_query ? 1 + r->query.len : 0);
        built = px_pnalloc(t->pool, n);
        if (built == NULL)
            return -1;
        memcpy(built, r->path.data, r->path.len);
        if (r->has_query) {
            built[r->path.len] = '?';
            memcpy(built + r->path.len + 1, r->query.data, r->query.len);
        }
        target.data = built;
        target.len = n;
    }
    if (t->uconn->up->send_head(t->uconn, t, target, &t->req_out) < 0)
        return -1;
    t->req_head_sent = 1;
    return 0;
}

/* The endpoint's address as Host, first, for a request that came without one. */
static int px_proxy_default_host(px_txn_t *t)
{
    static const px_str_t host_name = PX_LIT("Host");
    px_headers_t *h = &t->req_headers;
    if (PX_HEADERS_FIND(h, "host") >= 0)
        return 0;
    px_str_t host = {t->ep->addr.text, strlen(t->ep->addr.text)};
    if (px_headers_add(h, t->pool, host_name, host) < 0)
        return -1;
    px_header_t last = h->items[h->n - 1];
    memmove(&h->items[1], &h->items[0], (h->n - 1) * sizeof(px_header_t));
    h->items[0] = last;
    return 0;
}

/* ---- attaching, retrying, detaching -------------------------------------------------------- */

static void px_proxy_send(px_txn_t *t);
static void px_proxy_request_sent(px_txn_t *t);

static const px_conf_retry_t *px_proxy_policy(const px_txn_t *t)
{
    return t->route->retry.configured ? &t->route->retry : &t->upstream->retry;
}

int px_proxy_attempts_header(const px_txn_t *t)
{
    return t->attempts > 0 && t->route != NULL && t->upstream != NULL &&
           px_proxy_policy(t)->attempts_header;
}

/* Tell outlier detection how the attempt on t->ep went. */
static void px_proxy_report(px_txn_t *t, px_ep_outcome_t outcome)
{
    if (t->wup != NULL && t->ep != NULL)
        px_ep_report(t->wup->rt, t->wup->hosts, t->ep, outcome);
}

/* Does the policy retry this failure? cond: PX_RETRY_* of a failure without a response;
 * status: the response's status otherwise. Every condition without a response counts as a 5xx
 * and as a gateway error (pyxis would answer 502 or 504 for it). */
static int px_proxy_retry_on(const px_conf_retry_t *r, unsigned cond, int status)
{
    if (status > 0) {
        if (((r->on & PX_RETRY_5XX) && status >= 500) ||
            ((r->on & PX_RETRY_GATEWAY_ERROR) && status >= 502 && status <= 504))
            return 1;
        for (size_t i = 0; i < r->nstatuses; i++) {
            if (r->statuses[i] == status)
                return 1;
        }
        return 0;
    }
    if (r->on & (cond | PX_RETRY_5XX | PX_RETRY_GATEWAY_ERROR))
        return 1;
    return cond == PX_RETRY_REFUSED && (r->on & PX_RETRY_CONNECT_FAILURE);
}

static void px_proxy_attach(px_txn_t *t, int fresh);

static void px_proxy_try_timer(evutil_socket_t fd, short what, void *arg);

static int px_proxy_arm_try_timer(px_txn_t *t, uint64_t ms)
{
    if (t->try_timer == NULL) {
        t->try_timer = px_palloc(t->pool, event_get_struct_event_size());
        if (t->try_timer == NULL ||
            event_assign(t->try_timer, t->worker->base, -1, 0, px_proxy_try_timer, t) < 0) {
            t->try_timer = NULL;
            return -1;
        }
    }
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(t->try_timer, &tv);
    return 0;
}

static void px_proxy_stop_try_timer(px_txn_t *t)
{
    if (t->try_timer != NULL)
        evtimer_del(t->try_timer);
}

/*
 * The attempt failed (cond, or a response with `status`). When the policy allows another one
 * (attempts left, condition listed, method or "never reached", body replayable, retry budget and
 * circuit breaker), schedule it after a backoff and return 1; else return 0 and the caller
 * answers. never_reached: the request provably never reached the upstream (connect failed, or
 * not one byte of it left: px_proxy_never_sent()).
 */
static int px_proxy_retry(px_txn_t *t, unsigned cond, int status, int never_reached,
                          const char *cause)
{
    const px_conf_retry_t *r = px_proxy_policy(t);
    if (t->attempts >= r->attempts || t->resp_state != PX_TXN_RESP_NONE || t->wup == NULL ||
        !px_proxy_retry_on(r, cond, status))
        return 0;
    const char *no = NULL;
    if (!never_reached && !r->methods_any && !(r->methods & (1u << t->req.method_id)))
        no = "method not retried once the upstream may have seen the request";
    else if (t->req.body != PX_BODY_NONE && t->req_full == NULL)
        no = "request body not kept for replay";
    px_wup_t *u = t->wup;
    uint64_t allowed = (uint64_t)u->active * r->budget_percent / 100;
    if (no == NULL && !t->counted_retry &&
        u->retrying >= (allowed > r->budget_min ? allowed : r->budget_min))
        no = "retry budget exhausted";
    if (no == NULL && !t->counted_retry) {
        uint64_t max = t->upstream->breakers.max_retries;
        if (max > 0 && atomic_fetch_add(&u->rt->retries, 1) >= max) {
            atomic_fetch_sub(&u->rt->retries, 1);
            t->overflow = "max_retries";
            no = "circuit breaker: max_retries";
        }
    }
    if (no != NULL) {
        px_log_info("%s: attempt %u to %s failed (%s); not retried: %s", t->route->name,
                    t->attempts, t->ep ? t->ep->addr.text : "-", cause ? cause : "status", no);
        return 0;
    }
    if (!t->counted_retry) {
        t->counted_retry = 1;
        u->retrying++;
    }
    /* Exponential backoff with full jitter: uniform in [0, min(max, base * 2^(n-1))]. */
    uint64_t cap = r->backoff_base_ms << (t->attempts - 1 < 20 ? t->attempts - 1 : 20);
    if (cap > r->backoff_max_ms)
        cap = r->backoff_max_ms;
    uint64_t delay = px_upstream_random(u) % (cap + 1);
    char what[24];
    if (status > 0)
        snprintf(what, sizeof(what), "status %d", status);
    px_log_info("%s: attempt %u to %s failed (%s); retrying in %llums", t->route->name, t->attempts,
                t->ep ? t->ep->addr.text : "-", status > 0 ? what : cause,
                (unsigned long long)delay);
    if (t->uconn != NULL)
        px_proxy_detach(t, 0);
    t->backing_off = 1;
    if (px_proxy_arm_try_timer(t, delay) < 0) {
        t->backing_off = 0;
        return 0;
    }
    return 1;
}

static void px_proxy_try_timer(evutil_socket_t fd, short what, void *arg)
{
    px_txn_t *t = arg;
    if (t->backing_off) {
        t->backing_off = 0;
        px_proxy_attach(t, 0);
        return;
    }
    /* per_try_timeout: no response head in time. */
    if (t->uconn == NULL || t->uconn->head_done || t->resp_state != PX_TXN_RESP_NONE)
        return;
    px_proxy_report(t, PX_EP_GATEWAY_ERROR);
    if (px_proxy_retry(t, PX_RETRY_PER_TRY_TIMEOUT, 0, 0, "per-try timeout"))
        return;
    px_proxy_detach(t, 0);
    px_txn_fail(t, 504, "upstream per-try timeout");
}

static void px_proxy_attach(px_txn_t *t, int fresh)
{
    const char *cause = NULL;
    int status;
    t->attempts++;
    uint64_t per_try = px_proxy_policy(t)->per_try_timeout_ms;
    if (per_try > 0)
        px_proxy_arm_try_timer(t, per_try);
    switch (px_upstream_attach(t, fresh, &status, &cause)) {
    case PX_OK: px_proxy_send(t); return;
    case PX_AGAIN: return; /* px_proxy_upstream_event() goes on */
    default:
        px_proxy_stop_try_timer(t);
        if (status == 502 && px_proxy_retry(t, PX_RETRY_CONNECT_FAILURE, 0, 1, cause))
            return;
        px_txn_fail(t, status, cause);
        return;
    }
}

void px_proxy_detach(px_txn_t *t, int reusable)
{
    px_uconn_t *uc = t->uconn;
    t->uconn = NULL;
    uc->up->release(uc, reusable);
}

static void px_proxy_body_buffered(pyxis_txn_t *txn, void *arg)
{
    px_txn_t *t = (px_txn_t *)txn;
    if (t->req_state != PX_TXN_REQ_DONE) {
        /* A chunked body longer than retry.buffer: what was read goes first and the rest
         * streams (px_proxy_send); without req_full the request is not retried. */
        t->req_ahead = t->req_full;
        t->req_full = NULL;
    }
    px_proxy_start(t);
}

void px_proxy_start(px_txn_t *t)
{
    px_client_read(t, 0);
    if (t->wup == NULL) {
        px_wup_t *u = &t->wgen->ups[t->upstream->index];
        uint64_t max = t->upstream->breakers.max_requests;
        if (max > 0 && atomic_fetch_add(&u->rt->requests, 1) >= max) {
            atomic_fetch_sub(&u->rt->requests, 1);
            t->overflow = "max_requests";
            px_txn_fail(t, 503, "circuit breaker: max_requests");
            return;
        }
        t->wup = u;
        t->counted_request = 1;
        u->active++;
    }
    /* A body that may have to be sent again is read whole first, within retry.buffer; larger
     * ones stream and are not retried. A chunked body, whose size is unknown, is read up to
     * the buffer: when it ends there it is replayed like a Content-Length body (and sent with
     * one), else what was read goes first and the rest streams (px_proxy_body_buffered). */
    const px_conf_retry_t *r = px_proxy_policy(t);
    if (r->attempts > 1 && t->req_full == NULL && t->req_ahead == NULL &&
        ((t->req.body == PX_BODY_LENGTH && t->req.content_length <= r->buffer) ||
         (t->req.body == PX_BODY_CHUNKED && r->buffer > 0)) &&
        !px_filter_has_body(t, PX_FPHASE_REQ_BODY)) {
        px_txn_read_whole_body(t, r->buffer, px_proxy_body_buffered);
        return;
    }
    px_proxy_attach(t, 0);
}

void px_proxy_txn_done(px_txn_t *t)
{
    px_wup_t *u = t->wup;
    if (t->try_timer != NULL)
        evtimer_del(t->try_timer);
    px_upstream_txn_done(t);
    if (u == NULL)
        return;
    if (t->counted_request) {
        u->active--;
        if (t->upstream->breakers.max_requests > 0)
            atomic_fetch_sub(&u->rt->requests, 1);
    }
    if (t->counted_retry) {
        u->retrying--;
        if (t->upstream->breakers.max_retries > 0)
            atomic_fetch_sub(&u->rt->retries, 1);
    }
    t->wup = NULL;
}

/* Did the connection fail before one byte of the request left pyxis? Then the upstream cannot
 * have seen any of it, whatever the method. */
static int px_proxy_never_sent(const px_txn_t *t)
{
    return t->uconn->up->never_sent(t->uconn);
}

/* Is it safe to send this request again on a new connection to the same endpoint? (The
 * stale keep-alive connection case, docs/proxy.md.) never_sent: px_proxy_never_sent(). */
static int px_proxy_stale_retryable(const px_txn_t *t, int never_sent)
{
    const px_uconn_t *uc = t->uconn;
    if (!uc->reused || uc->answered || t->attempts > 1)
        return 0;
    if (never_sent) /* nothing to undo; a streamed body was consumed from the client, though */
        return t->req.body == PX_BODY_NONE || t->req_full != NULL;
    if (t->req.body != PX_BODY_NONE)
        return 0;
    switch (t->req.method_id) {
    case PX_METHOD_GET:
    case PX_METHOD_HEAD:
    case PX_METHOD_OPTIONS:
    case PX_METHOD_TRACE:
    case PX_METHOD_PUT:
    case PX_METHOD_DELETE: return 1;
    default: return 0;
    }
}

/* The upstream connection failed before a complete response head (reset, closed, invalid
 * head). Retry, answer with `status`, or cut the response short. */
static void px_proxy_upstream_failed(px_txn_t *t, int status, const char *cause)
{
    int never_sent = px_proxy_never_sent(t);
    if (t->resp_state == PX_TXN_RESP_NONE && px_proxy_stale_retryable(t, never_sent)) {
        px_log_debug("%s: %s on a reused connection to %s%s; retrying on a new one", t->route->name,
                     cause, t->ep->addr.text,
                     never_sent ? " before any byte of the request left" : "");
        px_proxy_detach(t, 0);
        if (t->ntried > 0)
            t->ntried--; /* same endpoint is fine: the connection was the problem */
        px_proxy_attach(t, 1);
        return;
    }
    px_proxy_stop_try_timer(t);
    px_proxy_report(t, PX_EP_GATEWAY_ERROR);
    if (px_proxy_retry(t, PX_RETRY_RESET, 0, never_sent, cause))
        return;
    px_proxy_detach(t, 0);
    px_txn_fail(t, status, cause);
}

/* ---- request ------------------------------------------------------------------------------ */

/* A body keeps its trailer fields in `list` (from the txn pool, within the listener's limits):
 * written after the last chunk when it leaves chunked, left on the txn for the client's codec
 * otherwise (HTTP/2). */
static void px_proxy_body_trailers(px_txn_t *t, px_h1_body_t *b, px_headers_t *list)
{
    b->chunked.max_trailers = (size_t)t->listener->limits.max_head;
    b->max_trailer_fields = (size_t)t->listener->limits.max_headers;
    b->trailers = list;
    b->pool = t->pool;
}

static void px_proxy_send(px_txn_t *t)
{
    const px_h1_request_t *r = &t->req;
    if (t->req_full != NULL) {
        /* Read whole and filtered already (req_body_read()): send it as it is now. */
        t->req_out = PX_BODY_LENGTH;
        t->req_out_left = evbuffer_get_length(t->req_full);
        if (px_proxy_default_host(t) < 0 || px_proxy_write_request_head(t) < 0) {
            px_proxy_detach(t, 0);
            px_txn_fail(t, 500, "out of memory");
            return;
        }
        /* Referenced, not moved: a retry, or the reconnect of a request that never left a
         * pooled connection (px_proxy_stale_retryable), sends the same bytes again. */
        if (px_proxy_policy(t)->attempts > t->attempts || t->uconn->reused)
            evbuffer_add_buffer_reference(px_up_out(t), t->req_full);
        else
            evbuffer_add_buffer(px_up_out(t), t->req_full);
        t->uconn->up->write_low(t->uconn, PX_PROXY_LOW);
        px_up_read(t, 1);
        px_proxy_request_sent(t);
        return;
    }
    /* Request body filters see the body decoded; it is framed again on the way out, chunked
     * when a filter said it changes the length. */
    int filtered = r->body != PX_BODY_NONE && px_filter_has_body(t, PX_FPHASE_REQ_BODY);
    t->req_out = r->body;
    if (filtered && t->req_body_change)
        t->req_out = PX_BODY_CHUNKED;
    t->req_out_left = r->body == PX_BODY_LENGTH ? r->content_length : 0;
    if (filtered && t->req_chunk == NULL) {
        t->req_chunk = evbuffer_new();
        if (t->req_chunk == NULL ||
            px_pool_cleanup_add(t->pool, (px_pool_cleanup_fn)evbuffer_free, t->req_chunk) < 0) {
            px_proxy_detach(t, 0);
            px_txn_fail(t, 500, "out of memory");
            return;
        }
    }
    if (px_proxy_default_host(t) < 0 || px_proxy_write_request_head(t) < 0) {
        px_proxy_detach(t, 0);
        px_txn_fail(t, 500, "out of memory");
        return;
    }
    if (t->req_ahead != NULL) {
        /* The decoder goes on where the read ahead stopped; what it read is the first chunk
         * (px_proxy_start: never with body filters). */
        t->req_body.out = t->req_out;
        t->req_body.limit = t->listener->limits.max_body;
        px_proxy_body_trailers(t, &t->req_body, &t->req_trailers);
        px_h1_body_encode(t->req_out, &t->req_out_left, t->req_ahead, px_up_out(t), 0, NULL);
    } else {
        px_h1_body_init(&t->req_body, r->body, r->content_length,
                        filtered ? PX_BODY_CLOSE : t->req_out);
        t->req_body.limit = t->listener->limits.max_body;
        px_proxy_body_trailers(t, &t->req_body, &t->req_trailers);
    }
    if ((r->flags & PX_H1_EXPECT_CONTINUE) && r->body != PX_BODY_NONE && !t->continue_sent) {
        t->down->ops->send_continue(t->down);
        t->continue_sent = 1;
    }
    t->uconn->up->write_low(t->uconn, PX_PROXY_LOW);
    px_up_read(t, 1);
    px_proxy_pump_request(t);
}

static void px_proxy_request_sent(px_txn_t *t)
{
    t->req_state = PX_TXN_REQ_DONE;
    t->uconn->req_written = 1;
    t->uconn->up->end(t->uconn, t);
    /* First-byte timeout: no response byte within this time after the request was sent. */
    if (t->resp_state == PX_TXN_RESP_NONE && !t->uconn->head_done) {
        uint64_t ms = t->route->first_byte_timeout_ms ? t->route->first_byte_timeout_ms
                                                      : t->upstream->first_byte_timeout_ms;
        px_up_timeouts(t, ms, 0);
    }
    px_client_timeouts(t, 0, 0);
    px_client_read(t, 1); /* to notice EOF; pipelined bytes wait */
}

static void px_proxy_pump_request_filtered(px_txn_t *t);

/* The request body failed; answer `status` (or cut the response short). */
static void px_proxy_request_body_failed(px_txn_t *t, int status, const char *cause)
{
    px_proxy_detach(t, 0); /* the upstream never sees the end of this request */
    t->close_client = 1;
    px_txn_fail(t, status, cause);
}

/* Run the request body filters over t->req_chunk and send what they pass on. Returns 1 when the
 * chunk went out, 0 when a filter paused or the txn failed or replied. */
static int px_proxy_request_chunk(px_txn_t *t, int last)
{
    switch (px_filter_body(t, PX_FPHASE_REQ_BODY, last, px_proxy_pump_request_filtered)) {
    case PX_OK: break;
    case PX_AGAIN: px_client_read(t, 0); return 0;
    case PX_DECLINED:
        if (t->resp_state == PX_TXN_RESP_NONE) {
            px_proxy_detach(t, 0);
            t->close_client = 1;
            px_txn_reply_from_filter(t);
            return 0;
        }
        px_proxy_request_body_failed(t, 500, "filter replied after the response started");
        return 0;
    default: px_proxy_request_body_failed(t, 500, "filter failed"); return 0;
    }
    last = t->freq.body_last;
    if (px_h1_body_encode(t->req_out, &t->req_out_left, t->req_chunk, px_up_out(t), last,
                          &t->req_trailers) != PX_OK) {
        px_proxy_request_body_failed(t, 500,
                                     "a filter changed the request body's length without "
                                     "body_will_change()");
        return 0;
    }
    if (last)
        px_proxy_request_sent(t);
    return 1;
}

/* px_proxy_pump_request() when request body filters are on: decode into t->req_chunk, filter,
 * frame again. Also the filters' resume continuation. */
static void px_proxy_pump_request_filtered(px_txn_t *t)
{
    if (t->uconn == NULL || t->uconn->req_written)
        return;
    if (t->freq.phase == PX_FPHASE_REQ_BODY) {
        /* A paused filter holds the chunk: resumed, it goes on from there. */
        if (t->freq.paused || px_proxy_request_chunk(t, t->freq.body_last) == 0 ||
            t->uconn == NULL || t->uconn->req_written)
            return;
    }
    struct evbuffer *up_out = px_up_out(t);
    for (;;) {
        if (evbuffer_get_length(up_out) >= PX_PROXY_HIGH) {
            px_client_read(t, 0); /* writable() resumes */
            return;
        }
        px_h1_error_t err = {400, NULL, 0};
        px_status_t rc =
            px_h1_body_pump(&t->req_body, px_client_in(t), t->req_chunk, PX_PROXY_HIGH, &err);
        if (rc == PX_DECLINED) {
            px_proxy_request_body_failed(t, 413, "request body larger than max_body_size");
            return;
        }
        if (rc == PX_ERROR) {
            px_proxy_request_body_failed(t, 400,
                                         err.reason ? err.reason : "invalid chunked request body");
            return;
        }
        int last = rc == PX_OK;
        if (!last && evbuffer_get_length(t->req_chunk) == 0) {
            px_client_timeouts(t, t->listener->client_body_timeout_ms,
                               t->listener->send_timeout_ms);
            px_client_read(t, 1);
            return;
        }
        if (px_proxy_request_chunk(t, last) == 0 || last)
            return;
    }
}

static void px_proxy_pump_request(px_txn_t *t)
{
    if (t->uconn == NULL || t->uconn->req_written)
        return;
    if (t->req_chunk != NULL) {
        px_proxy_pump_request_filtered(t);
        return;
    }
    struct evbuffer *up_out = px_up_out(t);
    px_h1_error_t err = {400, NULL, 0};
    px_status_t rc = px_h1_body_pump(&t->req_body, px_client_in(t), up_out, PX_PROXY_HIGH, &err);
    if (rc == PX_DECLINED) {
        px_proxy_detach(t, 0); /* the upstream never sees the end of this request */
        t->close_client = 1;
        px_txn_fail(t, 413, "request body larger than max_body_size");
        return;
    }
    if (rc == PX_ERROR) {
        px_proxy_detach(t, 0);
        t->close_client = 1;
        px_txn_fail(t, 400, err.reason ? err.reason : "invalid chunked request body");
        return;
    }
    if (rc == PX_OK) {
        px_proxy_request_sent(t);
        return;
    }
    if (evbuffer_get_length(up_out) >= PX_PROXY_HIGH) {
        px_client_read(t, 0); /* writable() resumes */
        return;
    }
    /* Wait for more body bytes, at most client_body_timeout between two reads. */
    px_client_timeouts(t, t->listener->client_body_timeout_ms, t->listener->send_timeout_ms);
    px_client_read(t, 1);
}

void px_proxy_client_readable(px_txn_t *t)
{
    px_proxy_pump_request(t);
}

void px_proxy_upstream_writable(px_txn_t *t)
{
    px_proxy_pump_request(t);
}

/* ---- response ----------------------------------------------------------------------------- */

/* t->resp_headers from the upstream's head: what the client will receive (hop-by-hop fields
 * out). The upstream's Content-Length stays on HEAD and 304 answers, where it describes the
 * representation. Also keeps what writing the head later needs. */
static int px_proxy_build_response_headers(px_txn_t *t, const px_h1_response_t *resp)
{
    int keep_cl = t->resp_body_kind == PX_BODY_NONE && resp->status != 204 && resp->status >= 200;
    px_headers_t *h = &t->resp_headers;
    h->items = px_palloc(t->pool, (resp->nheaders + 1) * sizeof(px_header_t));
    h->n = 0;
    h->cap = resp->nheaders + 1;
    if (h->items == NULL)
        return -1;
    px_proxy_conn_t conn = px_proxy_conn_fields(resp->headers, resp->nheaders);
    for (size_t i = 0; i < resp->nheaders; i++) {
        const px_header_t *f = &resp->headers[i];
        if ((px_proxy_hop_by_hop(f->name) &&
             !(keep_cl && PX_H1_TOKEN_EQ(f->name, "content-length"))) ||
            px_proxy_conn_listed(&conn, f->name))
            continue;
        h->items[h->n++] = *f;
    }
    t->resp_reason = resp->reason;
    t->resp_content_length = resp->content_length;
    return 0;
}

/* Write the response head to the client; decides the client-side framing. */
static int px_proxy_write_response_head(px_txn_t *t)
{
    px_body_kind_t in = t->resp_body_kind, fout, announce = in;
    int filtered = in != PX_BODY_NONE && px_filter_has_body(t, PX_FPHASE_RESP_BODY);
    if (filtered && t->resp_body_change && in == PX_BODY_LENGTH)
        announce = PX_BODY_CHUNKED; /* the length is not known any more */
    char attempts[12];
    px_header_t extra[2];
    size_t nextra = 0;
    if (px_proxy_attempts_header(t)) {
        extra[nextra].name = (px_str_t)PX_STR("x-pyxis-attempts");
        extra[nextra].value = (px_str_t){attempts, 0};
        extra[nextra++].value.len = (size_t)snprintf(attempts, sizeof(attempts), "%u", t->attempts);
    }
    if (t->overflow != NULL) { /* a breaker (max_retries) kept this answer from being retried */
        extra[nextra].name = (px_str_t)PX_STR("x-pyxis-overflow");
        extra[nextra++].value = (px_str_t){t->overflow, strlen(t->overflow)};
    }
    px_str_t reason = t->resp_reason;
    if (t->status_changed) {
        reason.data = px_http_reason(t->status);
        reason.len = strlen(reason.data);
    }
    px_down_t *d = t->down;
    if (d->ops->start_response(d, t, reason, extra, nextra, announce, t->resp_content_length,
                               &fout) < 0)
        return -1;
    t->resp_head_sent = 1;
    t->resp_out = fout;
    t->resp_out_left = t->resp_content_length;
    if (filtered) {
        t->resp_chunk = evbuffer_new();
        if (t->resp_chunk == NULL ||
            px_pool_cleanup_add(t->pool, (px_pool_cleanup_fn)evbuffer_free, t->resp_chunk) < 0)
            return -1;
    }
    px_h1_body_init(&t->resp_body, in, t->resp_content_length, filtered ? PX_BODY_CLOSE : fout);
    px_proxy_body_trailers(t, &t->resp_body, &t->resp_trailers);
    return 0;
}

/* The response head is ready and the filters let it through: send it, start the body.
 * Returns 1, or -1 when the txn failed (and may be gone) or became a tunnel (px_tunnel.h). */
static int px_proxy_response_go(px_txn_t *t)
{
    if (t->switching) {
        px_tunnel_start(t); /* the exchange continues as a tunnel, or has failed */
        return -1;
    }
    if (px_proxy_write_response_head(t) < 0) {
        px_proxy_detach(t, 0);
        px_txn_fail(t, 500, "out of memory");
        return -1;
    }
    t->resp_state = PX_TXN_RESP_BODY;
    px_up_timeouts(t, t->upstream->read_timeout_ms, 0);
    t->down->ops->write_low(t->down, PX_PROXY_LOW);
    px_client_timeouts(t, 0, t->listener->send_timeout_ms);
    return 1;
}

static void px_proxy_response_filters_resumed(px_txn_t *t);

/* The response-headers phase of the filters. Returns 1 when the head went out, else -1 (a
 * filter holds it, or the txn ended and may be gone). */
static int px_proxy_response_filters(px_txn_t *t)
{
    switch (px_filter_headers(t, PX_FPHASE_RESP_HEADERS, px_proxy_response_filters_resumed)) {
    case PX_OK: break;
    case PX_AGAIN:
        /* Hold the upstream while the filter waits; the route timeout still runs. */
        px_up_read(t, 0);
        px_up_timeouts(t, 0, 0);
        return -1;
    case PX_DECLINED:
        /* A filter replaced the upstream's response with its own. */
        px_proxy_detach(t, 0);
        px_txn_reply_from_filter(t);
        return -1;
    default:
        px_proxy_detach(t, 0);
        px_txn_fail(t, 500, "filter failed");
        return -1;
    }
    return px_proxy_response_go(t);
}

/* A paused response-headers filter resumed: go on, then move what the upstream sent. */
static void px_proxy_response_filters_resumed(px_txn_t *t)
{
    if (px_proxy_response_filters(t) > 0)
        px_proxy_pump_response(t);
}

/* Parse the response head. Returns 1 when the final head was sent on, 0 to wait, -1 when the
 * txn has failed (and may be gone) or a response filter holds the head. */
static int px_proxy_read_response_head(px_txn_t *t)
{
    px_uconn_t *uc = t->uconn;
    for (;;) {
        px_h1_response_t resp;
        px_h1_error_t err = {502, NULL, 0};
        switch (uc->up->read_head(uc, t, &resp, &err)) {
        case PX_H1_DONE: break;
        case PX_H1_AGAIN: return 0;
        default:
            uc->answered = 1; /* not retryable: the upstream did answer */
            px_proxy_upstream_failed(t, 502, err.reason ? err.reason : "invalid upstream response");
            return -1;
        }
        if (resp.status < 200 && resp.status != 101) {
            /* 100 Continue, 103 Early Hints: interim, not forwarded. Each head is copied
             * into the txn pool, so an upstream may not send them without end. */
            if (++uc->interim > PX_PROXY_MAX_INTERIM) {
                px_proxy_upstream_failed(t, 502, "too many interim responses from upstream");
                return -1;
            }
            continue;
        }
        uc->head_done = 1;
        px_proxy_stop_try_timer(t);
        const char *bad101 = resp.status == 101 ? px_tunnel_accept_101(t, &resp) : NULL;
        if (bad101 != NULL) {
            px_proxy_report(t, PX_EP_GATEWAY_ERROR);
            px_proxy_detach(t, 0);
            px_txn_fail(t, 502, bad101);
            return -1;
        }
        px_proxy_report(t, resp.status < 500                          ? PX_EP_SUCCESS
                           : resp.status >= 502 && resp.status <= 504 ? PX_EP_GATEWAY_ERROR
                                                                      : PX_EP_5XX);
        if (resp.status >= 400 && px_proxy_retry(t, 0, resp.status, 0, NULL))
            return -1;
        t->status = resp.status;
        t->resp_body_kind = px_h1_response_body(&resp, t->req.method_id);
        t->resp_keepalive = t->resp_body_kind != PX_BODY_CLOSE &&
                            !(resp.flags & PX_H1_CONN_CLOSE) &&
                            (resp.version == 11 || (resp.flags & PX_H1_CONN_KEEPALIVE)) &&
                            !t->upgrading; /* see docs/proxy.md#websocket */
        if (px_proxy_build_response_headers(t, &resp) < 0) {
            px_proxy_detach(t, 0);
            px_txn_fail(t, 500, "out of memory");
            return -1;
        }
        if (t->nreached > 0 && (t->route->filter_has & PX_FILTER_HAS_RESP_HEADERS))
            return px_proxy_response_filters(t);
        return px_proxy_response_go(t);
    }
}

static void px_proxy_response_done(px_txn_t *t)
{
    px_uconn_t *uc = t->uconn;
    int reusable = t->resp_keepalive && t->req_state == PX_TXN_REQ_DONE && uc->req_written;
    px_proxy_detach(t, reusable);
    if (t->timer != NULL)
        evtimer_del(t->timer);
    t->resp_state = PX_TXN_RESP_DONE;
    if (t->req_state != PX_TXN_REQ_DONE)
        t->close_client = 1;
    t->down->ops->done(t->down);
}

static void px_proxy_pump_response_filtered(px_txn_t *t);

/* Run the response body filters over t->resp_chunk and send what they pass on. Returns 1 when
 * the chunk went out, 0 when a filter paused, or the txn failed or completed. */
static int px_proxy_response_chunk(px_txn_t *t, int last)
{
    switch (px_filter_body(t, PX_FPHASE_RESP_BODY, last, px_proxy_pump_response_filtered)) {
    case PX_OK: break;
    case PX_AGAIN: px_up_read(t, 0); return 0;
    default:
        px_proxy_detach(t, 0);
        px_txn_fail(t, 500, "filter failed");
        return 0;
    }
    last = t->fresp.body_last;
    if (px_h1_body_encode(t->resp_out, &t->resp_out_left, t->resp_chunk, px_client_out(t), last,
                          &t->resp_trailers) != PX_OK) {
        px_proxy_detach(t, 0);
        px_txn_fail(t, 500,
                    "a filter changed the response body's length without body_will_change()");
        return 0;
    }
    if (last) {
        px_proxy_response_done(t);
        return 0;
    }
    return 1;
}

/* px_proxy_pump_response() when response body filters are on (also their resume
 * continuation). */
static void px_proxy_pump_response_filtered(px_txn_t *t)
{
    px_uconn_t *uc = t->uconn;
    if (uc == NULL)
        return;
    if (t->fresp.phase == PX_FPHASE_RESP_BODY &&
        (t->fresp.paused || px_proxy_response_chunk(t, t->fresp.body_last) == 0))
        return;
    struct evbuffer *in = px_up_in(t);
    for (;;) {
        if (evbuffer_get_length(px_client_out(t)) >= PX_PROXY_HIGH) {
            px_up_read(t, 0); /* px_proxy_client_writable() resumes */
            return;
        }
        px_h1_error_t err = {502, NULL, 0};
        px_status_t rc = px_h1_body_pump(&t->resp_body, in, t->resp_chunk, PX_PROXY_HIGH, &err);
        if (rc == PX_ERROR) {
            px_proxy_detach(t, 0);
            px_txn_fail(t, 502, err.reason ? err.reason : "invalid chunked upstream response");
            return;
        }
        int last = rc == PX_OK;
        if (!last && uc->eof && evbuffer_get_length(in) == 0) {
            if (px_h1_body_eof(&t->resp_body, t->resp_chunk) != PX_OK) {
                px_proxy_detach(t, 0);
                px_txn_fail(t, 502, "upstream closed the connection before the end of the body");
                return;
            }
            t->resp_keepalive = 0;
            last = 1;
        }
        if (!last && evbuffer_get_length(t->resp_chunk) == 0) {
            if (!uc->eof)
                px_up_read(t, 1);
            return;
        }
        if (px_proxy_response_chunk(t, last) == 0)
            return;
    }
}

static void px_proxy_pump_response(px_txn_t *t)
{
    px_uconn_t *uc = t->uconn;
    if (t->resp_chunk != NULL) {
        px_proxy_pump_response_filtered(t);
        return;
    }
    struct evbuffer *in = px_up_in(t);
    px_h1_error_t err = {502, NULL, 0};
    px_status_t rc = px_h1_body_pump(&t->resp_body, in, px_client_out(t), PX_PROXY_HIGH, &err);
    if (rc == PX_OK) {
        px_proxy_response_done(t);
        return;
    }
    if (rc == PX_ERROR) {
        px_proxy_detach(t, 0);
        px_txn_fail(t, 502, err.reason ? err.reason : "invalid chunked upstream response");
        return;
    }
    if (uc->eof && evbuffer_get_length(in) == 0) {
        if (px_h1_body_eof(&t->resp_body, px_client_out(t)) == PX_OK) {
            t->resp_keepalive = 0;
            px_proxy_response_done(t);
        } else {
            px_proxy_detach(t, 0);
            px_txn_fail(t, 502, "upstream closed the connection before the end of the body");
        }
        return;
    }
    if (evbuffer_get_length(px_client_out(t)) >= PX_PROXY_HIGH)
        px_up_read(t, 0); /* px_proxy_client_writable() resumes */
    else if (!uc->eof)
        px_up_read(t, 1);
}

void px_proxy_upstream_readable(px_txn_t *t)
{
    px_uconn_t *uc = t->uconn;
    uc->answered = 1;
    if (!uc->head_done && px_proxy_read_response_head(t) <= 0)
        return;
    if (t->resp_state == PX_TXN_RESP_BODY) /* else a response filter holds the head */
        px_proxy_pump_response(t);
}

void px_proxy_client_writable(px_txn_t *t)
{
    if (t->resp_state == PX_TXN_RESP_BODY && t->uconn != NULL)
        px_proxy_pump_response(t);
}

/* A failed TLS handshake with the upstream: OpenSSL's reason and the name verified. */
static const char *px_proxy_tls_cause(px_txn_t *t, const char *reason)
{
    const char *name = t->uconn->pool->tls_host ? t->uconn->pool->tls_host : "-";
    size_t n = strlen(name) + strlen(reason) + 48;
    char *s = px_pnalloc(t->pool, n);
    if (s == NULL)
        return reason;
    snprintf(s, n, "upstream TLS failed (server name %s): %s", name, reason);
    return s;
}

void px_proxy_upstream_event(px_txn_t *t, short what)
{
    px_uconn_t *uc = t->uconn;
    if (what & PX_IO_CONNECTED) {
        px_proxy_send(t);
        return;
    }
    if (uc->state == PX_UCONN_CONNECTING) {
        int timeout = (what & PX_IO_TIMEOUT) != 0;
        int err = timeout ? 0 : px_io_error(uc->io);
        const char *tls = timeout ? NULL : px_io_tls_error(uc->io);
        const char *cause = timeout ? "upstream connect timeout"
                            : tls != NULL
                                ? px_proxy_tls_cause(t, tls)
                                : px_pcause(t->pool, "cannot connect to upstream", strerror(err));
        px_proxy_detach(t, 0);
        px_proxy_stop_try_timer(t);
        px_proxy_report(t, PX_EP_CONNECT_FAILURE);
        if (px_proxy_retry(t, err == ECONNREFUSED ? PX_RETRY_REFUSED : PX_RETRY_CONNECT_FAILURE, 0,
                           1, cause))
            return;
        px_txn_fail(t, timeout ? 504 : 502, cause);
        return;
    }
    if (what & PX_IO_TIMEOUT) {
        if (!uc->head_done) {
            px_proxy_stop_try_timer(t);
            px_proxy_report(t, PX_EP_GATEWAY_ERROR);
            if (px_proxy_retry(t, PX_RETRY_PER_TRY_TIMEOUT, 0, 0, "upstream first byte timeout"))
                return;
            px_proxy_detach(t, 0);
            px_txn_fail(t, 504, "upstream first byte timeout");
        } else {
            px_proxy_detach(t, 0);
            px_txn_fail(t, 504, "upstream read timeout");
        }
        return;
    }
    if (what & PX_IO_EOF) {
        uc->eof = 1;
        px_up_read(t, 0);
        if (!uc->head_done) {
            /* Whatever partial head arrived, there is no complete response. */
            px_proxy_upstream_failed(t, 502, "upstream closed the connection before responding");
            return;
        }
        if (t->resp_state == PX_TXN_RESP_BODY)
            px_proxy_pump_response(t);
        return;
    }
    /* PX_IO_ERROR: reset or other socket error, or a TLS error (a TLS 1.3 server refuses a
     * client certificate after the client's handshake has ended). */
    const char *cause = uc->up->cause(uc, t->pool);
    if (!uc->head_done) {
        px_proxy_upstream_failed(t, 502,
                                 px_pcause(t->pool, "upstream failed before responding", cause));
        return;
    }
    px_proxy_detach(t, 0);
    px_txn_fail(t, 502, px_pcause(t->pool, "upstream failed during the body", cause));
}
