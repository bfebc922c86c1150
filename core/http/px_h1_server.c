/*
 * px_h1_server.c: downstream HTTP/1.x connections.
 *
 * Timeouts: client_header_timeout runs from the accept (or from the first byte of a later
 * request) until the head is complete, and is absolute so a client trickling bytes cannot
 * stretch it; keepalive_timeout runs while the connection is idle between requests;
 * client_body_timeout and send_timeout are idle timeouts on the socket (px_io) while a
 * transaction reads the body or writes the response.
 *
 * On a TLS listener the connection starts with the server side of the handshake
 * (px_io_accept_tls); the header timeout, armed at the accept, bounds the handshake and the
 * first request head together. A failed handshake is logged at info and closes the
 * connection.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "px_h1_server.h"
#include "px_h1_write.h"
#include "px_h2_server.h"
#include "px_io.h"
#include "px_http1.h"
#include "px_log.h"
#include "px_pool.h"
#include "px_tls.h"
#include "px_tls_vars.h"
#include "px_tunnel.h"
#include "px_txn.h"
#include "px_worker.h"

/* How long a closing connection waits for the client's EOF after the last response, so the
 * response is not destroyed by a reset caused by unread request bytes (lingering close). */
#define PX_H1_LINGER_MS 2000
/* Read at most this much beyond a request head while a transaction runs (pipelining). */
#define PX_H1_PIPELINE_SLACK (64 * 1024)
/* Extra empty lines tolerated before a request line (RFC 9112 section 2.2). */
#define PX_H1_MAX_LEADING_CRLF 4

static void px_h1_conn_readcb(px_io_t *io, void *arg);
static void px_h1_conn_writecb(px_io_t *io, void *arg);
static void px_h1_conn_eventcb(px_io_t *io, short what, void *arg);
static void px_h1_conn_timercb(evutil_socket_t fd, short what, void *arg);
static const px_down_ops_t px_h1_down_ops;

static void px_h1_conn_arm(px_h1_conn_t *c, uint64_t ms)
{
    if (ms == 0) {
        evtimer_del(c->timer);
        return;
    }
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(c->timer, &tv);
}

static void px_h1_conn_free(px_h1_conn_t *c)
{
    px_worker_t *w = c->worker;
    if (c->h2 != NULL)
        px_h2_session_free(c->h2);
    if (c->txn != NULL)
        px_txn_abort(c->txn);
    if (c->io != NULL)
        px_io_free(c->io);
    if (c->timer != NULL)
        event_free(c->timer);
    c->link.prev->next = c->link.next;
    c->link.next->prev = c->link.prev;
    w->nconns--;
    px_worker_wgen_put(w, c->wgen);
    free(c);
    px_worker_check_drained(w);
}

void px_h1_conn_accept(px_worker_t *w, px_wgen_t *wg, size_t listener, int fd,
                       const struct sockaddr *sa, socklen_t salen)
{
    px_h1_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return;
    }
    c->worker = w;
    c->wgen = wg;
    wg->active++;
    c->listener = listener;
    c->lconf = &wg->gen->conf->listeners[listener];
    c->down.ops = &px_h1_down_ops;
    c->down.peer_text = c->peer_text;
    c->down.peer = &c->peer;
    memcpy(&c->peer, sa, salen < sizeof(c->peer) ? salen : sizeof(c->peer));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, c->peer_text, sizeof(c->peer_text));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, c->peer_text, sizeof(c->peer_text));
    } else {
        strcpy(c->peer_text, "unknown");
    }
    c->link.next = w->conns.next;
    c->link.prev = &w->conns;
    w->conns.next->prev = &c->link;
    w->conns.next = &c->link;
    w->nconns++;

    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->io = px_io_new(w->base, fd);
    c->down.io = c->io;
    c->timer = evtimer_new(w->base, px_h1_conn_timercb, c);
    if (c->io == NULL || c->timer == NULL) {
        if (c->io == NULL)
            close(fd);
        px_h1_conn_free(c);
        return;
    }
    px_io_setcb(c->io, px_h1_conn_readcb, px_h1_conn_writecb, px_h1_conn_eventcb, c);
    /* A TLS listener's connections start with the handshake, bounded by the header timeout
     * armed below. Not on a local worker's socketpair (test-filter): it speaks plain HTTP. */
    if (c->lconf->tls != NULL && wg->gen->listen_fds != NULL) {
        SSL *ssl = px_tls_server_new(c->lconf->tls);
        if (ssl == NULL || px_io_accept_tls(c->io, ssl) < 0) {
            SSL_free(ssl);
            px_h1_conn_free(c);
            return;
        }
        c->handshaking = 1;
    }
    px_io_set_read_high(c->io, c->lconf->limits.max_head + PX_H1_PIPELINE_SLACK);
    px_io_read_enable(c->io);
    c->state = PX_CONN_HEAD;
    px_h1_conn_arm(c, c->lconf->client_header_timeout_ms);
}

/* Answer a request whose head could not be parsed, then close. */
static void px_h1_conn_reject(px_h1_conn_t *c, const px_h1_error_t *err)
{
    px_txn_t *t = px_txn_create(&c->down, c->worker, c->wgen, c->listener);
    if (t == NULL) {
        px_h1_conn_close(c);
        return;
    }
    c->txn = t;
    c->state = PX_CONN_TXN;
    evtimer_del(c->timer);
    t->req_state = PX_TXN_REQ_DONE;
    t->close_client = 1;
    px_txn_local_reply(t, err->status, err->reason);
}

/* Between requests: move to the worker's current generation if it changed. Returns 0 when the
 * connection may go on, -1 when its listener no longer exists (the caller closes). */
static int px_h1_conn_switch_gen(px_h1_conn_t *c)
{
    px_wgen_t *cur = c->worker->cur;
    if (cur == c->wgen)
        return 0;
    long idx = px_worker_find_listener(cur, &c->lconf->listen);
    if (idx < 0)
        return -1;
    /* A listener that changed between plain and TLS, or now requires a client certificate
     * this connection's handshake did not verify, takes new connections only. */
    const px_tls_listener_t *tls = cur->gen->conf->listeners[idx].tls;
    if ((tls != NULL) != px_io_is_tls(c->io) ||
        (tls != NULL && tls->verify_client == PX_TLS_VERIFY_REQUIRE &&
         !px_tls_client_verified(px_io_ssl(c->io))))
        return -1;
    px_wgen_t *old = c->wgen;
    c->wgen = cur;
    cur->active++;
    c->listener = (size_t)idx;
    c->lconf = &cur->gen->conf->listeners[idx];
    px_io_set_read_high(c->io, c->lconf->limits.max_head + PX_H1_PIPELINE_SLACK);
    px_worker_wgen_put(c->worker, old);
    return 0;
}

/* Try to read a request head from the input buffer and start its transaction. */
static void px_h1_conn_read_head(px_h1_conn_t *c)
{
    struct evbuffer *in = px_io_input(c->io);
    size_t len = evbuffer_get_length(in);
    if (len == 0)
        return;

    if (c->state == PX_CONN_KEEPALIVE) {
        /* The first byte of the next request: the header timeout starts now. */
        c->state = PX_CONN_HEAD;
        px_h1_conn_arm(c, c->lconf->client_header_timeout_ms);
    }
    if (c->lconf->http2.enabled && c->requests == 0 && c->scanned == 0) {
        /* HTTP/2 with prior knowledge: the connection preface instead of a request line. */
        size_t n = len < PX_H2_PREFACE_LEN ? len : PX_H2_PREFACE_LEN;
        const char *p = (const char *)evbuffer_pullup(in, (ssize_t)n);
        if (memcmp(p, PX_H2_PREFACE, n) == 0) {
            if (n == PX_H2_PREFACE_LEN && px_h2_session_start(c) < 0)
                px_h1_conn_close(c);
            return; /* else wait for the rest of it */
        }
    }
    if (c->scanned == 0) {
        /* Tolerate a few empty lines before the request line (RFC 9112 section 2.2). */
        for (int i = 0; i < PX_H1_MAX_LEADING_CRLF && len >= 2; i++) {
            const char *p = (const char *)evbuffer_pullup(in, 2);
            if (p[0] != '\r' || p[1] != '\n')
                break;
            evbuffer_drain(in, 2);
            len -= 2;
        }
        if (len == 0)
            return;
    }

    const px_conf_limits_t *lim = &c->lconf->limits;
    size_t max = (size_t)lim->max_head;
    size_t n = len < max ? len : max;
    const char *buf = (const char *)evbuffer_pullup(in, (ssize_t)n);
    size_t head = px_h1_find_head_end(buf, n, &c->scanned);
    px_h1_limits_t plim = {(size_t)lim->max_head, (size_t)lim->max_headers, (size_t)lim->max_uri};
    px_h1_error_t err = {0, NULL, 0};

    if (head == PX_H1_HEAD_BARE_LF) {
        err.status = 400;
        err.reason = "bare LF in request head";
        px_h1_conn_reject(c, &err);
        return;
    }
    if (head == 0) {
        if (n < max)
            return; /* wait for more; the header timeout bounds the wait */
        /* Over the limit without an end: let the parser say 414, 431 or 400. */
        px_h1_request_t req;
        px_h1_rc_t rc = px_h1_parse_request(buf, n, &req, c->worker->scratch,
                                            c->worker->scratch_cap, &plim, &err);
        if (rc != PX_H1_INVALID) {
            err.status = 431;
            err.reason = "request head too large";
        }
        px_h1_conn_reject(c, &err);
        return;
    }

    /* A new request: it runs on the newest configuration generation. */
    if (px_h1_conn_switch_gen(c) < 0) {
        px_h1_conn_close(c); /* its listener is gone */
        return;
    }
    px_txn_t *t = px_txn_create(&c->down, c->worker, c->wgen, c->listener);
    if (t == NULL) {
        px_h1_conn_close(c);
        return;
    }
    char *copy = px_pmemdup(t->pool, buf, head);
    evbuffer_drain(in, head);
    c->scanned = 0;
    if (copy == NULL) {
        px_txn_free(t);
        px_h1_conn_close(c);
        return;
    }
    px_h1_rc_t rc = px_h1_parse_request(copy, head, &t->req, c->worker->scratch,
                                        c->worker->scratch_cap, &plim, &err);
    if (rc != PX_H1_DONE) {
        px_txn_free(t);
        if (rc == PX_H1_AGAIN) {
            err.status = 400;
            err.reason = "incomplete request head";
        }
        px_h1_conn_reject(c, &err);
        return;
    }
    /* The parser filled the worker's scratch array; the txn keeps its own copy. */
    px_header_t *hs = px_palloc(t->pool, t->req.nheaders * sizeof(*hs) + 1);
    if (hs != NULL)
        memcpy(hs, t->req.headers, t->req.nheaders * sizeof(*hs));
    if (hs == NULL) {
        px_txn_free(t);
        px_h1_conn_close(c);
        return;
    }
    t->req.headers = hs;
    c->txn = t;
    c->state = PX_CONN_TXN;
    c->requests++;
    /* The last request pyxis will take on this connection says so (RFC 9112 section 9.6). */
    uint64_t max_req = c->lconf->max_requests_per_conn;
    if ((max_req > 0 && c->requests >= max_req) || c->lconf->keepalive_timeout_ms == 0)
        t->close_client = 1;
    evtimer_del(c->timer);
    px_txn_start(t);
}

static void px_h1_conn_start_closing(px_h1_conn_t *c)
{
    c->state = PX_CONN_CLOSING;
    px_io_set_timeouts(c->io, 0, 0);
    px_io_set_write_low(c->io, 0);
    px_io_read_disable(c->io);
    /* Flushing is bounded by send_timeout; lingering by PX_H1_LINGER_MS (see writecb). */
    px_h1_conn_arm(c, c->lconf->send_timeout_ms);
    if (evbuffer_get_length(px_io_output(c->io)) == 0)
        px_h1_conn_writecb(c->io, c);
    /* else writecb continues once the output is flushed */
}

void px_h1_conn_txn_done(px_h1_conn_t *c)
{
    px_txn_t *t = c->txn;
    struct evbuffer *in = px_io_input(c->io);
    int close_it =
        t->close_client || c->worker->draining || (c->peer_eof && evbuffer_get_length(in) == 0);
    c->txn = NULL;
    px_txn_finish(t);
    px_io_set_timeouts(c->io, 0, 0);

    if (close_it) {
        px_h1_conn_start_closing(c);
        return;
    }
    c->state = PX_CONN_KEEPALIVE;
    px_h1_conn_arm(c, c->lconf->keepalive_timeout_ms);
    px_io_read_enable(c->io);
    /* A pipelined request may be waiting already. Answer it from the event loop, not from
     * here (no recursion however many are queued), and only once this response is mostly
     * flushed (else writecb does it), so a client that does not read cannot make us queue
     * responses without end. */
    if (evbuffer_get_length(in) > 0 &&
        evbuffer_get_length(px_io_output(c->io)) < PX_H1_PIPELINE_SLACK)
        px_io_schedule_read(c->io);
}

void px_h1_conn_close(px_h1_conn_t *c)
{
    px_h1_conn_free(c);
}

void px_h1_conn_abort(px_h1_conn_t *c)
{
    px_h1_conn_start_closing(c);
}

void px_h1_conn_new_gen(px_h1_conn_t *c)
{
    if (c->h2 != NULL && c->state != PX_CONN_CLOSING)
        px_h2_goaway(c->h2);
}

void px_h1_conn_drain(px_h1_conn_t *c)
{
    if (c->h2 != NULL) {
        if (c->state != PX_CONN_CLOSING) {
            px_h2_goaway(c->h2);
            px_h2_drain_tunnels(c->h2, c->wgen->gen->conf->drain_timeout_ms);
        }
        return;
    }
    if (c->state == PX_CONN_TXN) {
        if (c->txn != NULL) {
            c->txn->close_client = 1;
            /* A tunnel has no response end to wait for: it closes at drain_timeout. */
            px_tunnel_drain(c->txn, c->wgen->gen->conf->drain_timeout_ms);
        }
        return;
    }
    if (c->state != PX_CONN_CLOSING)
        px_h1_conn_free(c);
}

static void px_h1_conn_readcb(px_io_t *io, void *arg)
{
    px_h1_conn_t *c = arg;
    if (c->h2 != NULL && c->state != PX_CONN_CLOSING) {
        px_h2_readable(c->h2);
        return;
    }
    switch (c->state) {
    case PX_CONN_HEAD:
    case PX_CONN_KEEPALIVE: px_h1_conn_read_head(c); break;
    case PX_CONN_TXN:
        if (c->txn->req_state == PX_TXN_REQ_BODY)
            px_txn_client_readable(c->txn);
        /* else: a pipelined request waits in the buffer until this one is answered */
        break;
    case PX_CONN_CLOSING:
        evbuffer_drain(px_io_input(io), evbuffer_get_length(px_io_input(io)));
        break;
    }
}

static void px_h1_conn_writecb(px_io_t *io, void *arg)
{
    px_h1_conn_t *c = arg;
    if (c->h2 != NULL && c->state != PX_CONN_CLOSING) {
        px_h2_writable(c->h2);
        return;
    }
    switch (c->state) {
    case PX_CONN_TXN: px_txn_client_writable(c->txn); break;
    case PX_CONN_KEEPALIVE:
        /* Output drained: a pipelined request may now be served. */
        px_h1_conn_read_head(c);
        break;
    case PX_CONN_HEAD: break;
    case PX_CONN_CLOSING:
        if (evbuffer_get_length(px_io_output(io)) > 0)
            break;
        if (c->peer_eof) {
            px_h1_conn_free(c);
            break;
        }
        /* Lingering close: stop sending, read and discard until EOF or the linger time. */
        px_io_shutdown_write(io);
        px_io_set_read_high(io, 0);
        px_io_read_enable(io);
        evbuffer_drain(px_io_input(io), evbuffer_get_length(px_io_input(io)));
        px_h1_conn_arm(c, PX_H1_LINGER_MS);
        break;
    }
}

/* A TLS handshake that did not complete: one line at info (clients that give up, scanners,
 * plain HTTP sent to a TLS port are routine; a connection that never sent a byte, a TCP
 * health check, only at debug), then close. */
static void px_h1_conn_handshake_failed(px_h1_conn_t *c, const char *why)
{
    px_log(px_io_tls_heard(c->io) ? PX_LOG_INFO : PX_LOG_DEBUG, "%s %s: %s", c->lconf->name,
           c->peer_text, why);
    px_h1_conn_free(c);
}

static void px_h1_conn_eventcb(px_io_t *io, short what, void *arg)
{
    px_h1_conn_t *c = arg;
    if (what & PX_IO_CONNECTED) {
        c->handshaking = 0; /* the TLS handshake is done */
        if (c->lconf->http2.enabled && px_tls_alpn_h2(px_io_ssl(io)) && c->h2 == NULL &&
            px_h2_session_start(c) < 0)
            px_h1_conn_free(c);
        return;
    }
    if (c->h2 != NULL && c->state != PX_CONN_CLOSING) {
        px_h1_conn_free(c); /* EOF, error: the streams end with the connection */
        return;
    }
    if (c->handshaking && (what & PX_IO_ERROR)) {
        const char *why = px_io_tls_error(io);
        char buf[160];
        if (why == NULL) {
            snprintf(buf, sizeof(buf), "TLS handshake failed: %s", strerror(px_io_error(io)));
            why = buf;
        }
        px_h1_conn_handshake_failed(c, why);
        return;
    }
    if (what & PX_IO_EOF) {
        c->peer_eof = 1;
        switch (c->state) {
        case PX_CONN_TXN:
            /* A client that closes before any response byte is gone as far as pyxis can
             * tell (a half-close looks the same until a write fails): stop the exchange so
             * the upstream is not kept busy for nobody. Once the response streams, a client
             * that is really gone shows up as a write error. */
            if (c->txn->req_state == PX_TXN_REQ_BODY) {
                px_txn_client_gone(c->txn, "client closed the connection during the body");
                return;
            }
            if (c->txn->resp_state == PX_TXN_RESP_NONE) {
                px_txn_client_gone(c->txn, "client closed the connection before the response");
                return;
            }
            px_io_read_disable(io);
            return;
        case PX_CONN_CLOSING:
            if (evbuffer_get_length(px_io_output(io)) == 0)
                px_h1_conn_free(c);
            return;
        default: px_h1_conn_free(c); return;
        }
    }
    if (what & PX_IO_TIMEOUT) {
        if (c->state == PX_CONN_TXN) {
            px_txn_client_timeout(c->txn, (what & PX_IO_READING) != 0);
            return;
        }
        px_h1_conn_free(c);
        return;
    }
    if (what & PX_IO_ERROR) {
        if (c->state == PX_CONN_TXN)
            px_txn_client_gone(c->txn, strerror(px_io_error(io)));
        else
            px_h1_conn_free(c);
    }
}

static void px_h1_conn_timercb(evutil_socket_t fd, short what, void *arg)
{
    px_h1_conn_t *c = arg;
    if (c->h2 != NULL && c->state != PX_CONN_CLOSING) {
        px_h2_timeout(c->h2);
        return;
    }
    switch (c->state) {
    case PX_CONN_HEAD: {
        if (c->handshaking) {
            px_h1_conn_handshake_failed(c, "TLS handshake timed out (client_header_timeout)");
            return;
        }
        size_t got = evbuffer_get_length(px_io_input(c->io));
        if (got == 0 && c->requests == 0) {
            px_h1_conn_free(c); /* connected and never said anything: just close */
            return;
        }
        px_h1_error_t err = {408, "client header timeout", 0};
        px_h1_conn_reject(c, &err);
        return;
    }
    case PX_CONN_KEEPALIVE:
    case PX_CONN_CLOSING:
    case PX_CONN_TXN: px_h1_conn_free(c); return;
    }
}

/* ---- the downstream seam (px_down-t.h) ------------------------------------------------------ */

#define PX_H1_CONN(d) ((px_h1_conn_t *)((char *)(d)-offsetof(px_h1_conn_t, down)))

px_h1_conn_t *px_h1_conn_of(px_down_t *d)
{
    return d->ops == &px_h1_down_ops ? PX_H1_CONN(d) : NULL;
}

/* Append "name: value" CRLF to buf[*n..cap); 0, or -1 when it does not fit. */
static int px_h1_put_field(char *buf, size_t cap, size_t *n, px_str_t name, px_str_t value)
{
    if (*n + name.len + value.len + 4 > cap)
        return -1;
    memcpy(buf + *n, name.data, name.len);
    memcpy(buf + *n + name.len, ": ", 2);
    memcpy(buf + *n + name.len + 2, value.data, value.len);
    memcpy(buf + *n + name.len + 2 + value.len, "\r\n", 2);
    *n += name.len + value.len + 4;
    return 0;
}

static int px_h1_down_start_response(px_down_t *d, px_txn_t *t, px_str_t reason,
                                     const px_header_t *extra, size_t nextra, px_body_kind_t body,
                                     uint64_t length, px_body_kind_t *out)
{
    px_h1_conn_t *c = PX_H1_CONN(d);
    px_body_kind_t fout = body;
    if (body == PX_BODY_CHUNKED || body == PX_BODY_CLOSE) {
        if (t->req.version == 11) {
            fout = PX_BODY_CHUNKED;
        } else {
            fout = PX_BODY_CLOSE; /* an HTTP/1.0 client reads until we close */
            t->close_client = 1;
        }
    }
    char buf[256];
    size_t n = 0;
    for (size_t i = 0; i < nextra; i++) {
        if (px_h1_put_field(buf, sizeof(buf) - 96, &n, extra[i].name, extra[i].value) < 0)
            return -1;
    }
    /* The 96 bytes kept free above hold the longest of what follows. */
    if (fout == PX_BODY_LENGTH)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "Content-Length: %llu\r\n",
                              (unsigned long long)length);
    else if (fout == PX_BODY_CHUNKED)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "Transfer-Encoding: chunked\r\n");
    if (t->close_client || c->worker->draining)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "Connection: close\r\n");
    else if (t->req.version == 10)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "Connection: keep-alive\r\n");

    int st = t->status;
    char code[4] = {(char)('0' + st / 100 % 10), (char)('0' + st / 10 % 10), (char)('0' + st % 10),
                    '\0'};
    const px_str_t line[] = {PX_STR("HTTP/1.1 "), {code, 3}, PX_STR(" "), reason, PX_STR("\r\n")};
    if (px_h1_write_head(px_io_output(c->io), line, 5, &t->resp_headers, buf, n) < 0)
        return -1;
    *out = fout;
    return 0;
}

static void px_h1_down_send_continue(px_down_t *d)
{
    evbuffer_add(px_io_output(PX_H1_CONN(d)->io), "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

static struct evbuffer *px_h1_down_body_in(px_down_t *d)
{
    return px_io_input(PX_H1_CONN(d)->io);
}

static struct evbuffer *px_h1_down_body_out(px_down_t *d)
{
    return px_io_output(PX_H1_CONN(d)->io);
}

static void px_h1_down_read(px_down_t *d, int on)
{
    if (on)
        px_io_read_enable(PX_H1_CONN(d)->io);
    else
        px_io_read_disable(PX_H1_CONN(d)->io);
}

static void px_h1_down_timeouts(px_down_t *d, uint64_t read_ms, uint64_t write_ms)
{
    px_io_set_timeouts(PX_H1_CONN(d)->io, read_ms, write_ms);
}

static void px_h1_down_write_low(px_down_t *d, size_t low)
{
    px_io_set_write_low(PX_H1_CONN(d)->io, low);
}

static void px_h1_down_done(px_down_t *d)
{
    px_h1_conn_txn_done(PX_H1_CONN(d));
}

static void px_h1_down_detach(px_down_t *d)
{
    PX_H1_CONN(d)->txn = NULL;
}

static void px_h1_down_abort(px_down_t *d)
{
    px_h1_conn_abort(PX_H1_CONN(d));
}

static void px_h1_down_close(px_down_t *d)
{
    px_h1_conn_close(PX_H1_CONN(d));
}

/* The connection is a tunnel's client side (px_tunnel.h): its events go to the tunnel. */
static void px_h1_tunnel_readcb(px_io_t *io, void *arg)
{
    px_tunnel_client_readable(((px_h1_conn_t *)arg)->txn);
}

static void px_h1_tunnel_writecb(px_io_t *io, void *arg)
{
    px_tunnel_client_writable(((px_h1_conn_t *)arg)->txn);
}

static void px_h1_tunnel_eventcb(px_io_t *io, short what, void *arg)
{
    px_h1_conn_t *c = arg;
    if (what & PX_IO_EOF) {
        c->peer_eof = 1;
        px_tunnel_client_eof(c->txn);
        return;
    }
    if (what & PX_IO_ERROR) {
        const char *why = px_io_tls_error(io);
        if (why == NULL)
            why = strerror(px_io_error(io));
        px_tunnel_client_failed(c->txn, px_pcause(c->txn->pool, "client connection failed", why));
    }
}

/* The 101 head: the upstream's fields as the filters left them, then the connection fields
 * pyxis owns. */
static int px_h1_down_tunnel(px_down_t *d, px_txn_t *t)
{
    px_h1_conn_t *c = PX_H1_CONN(d);
    size_t cap = t->resp_upgrade.len + 48;
    char *extra = px_pnalloc(t->pool, cap);
    if (extra == NULL)
        return -1;
    int n = snprintf(extra, cap, "Connection: upgrade\r\nUpgrade: %.*s\r\n",
                     (int)t->resp_upgrade.len, t->resp_upgrade.data);
    px_str_t reason = t->resp_reason;
    if (t->status_changed || reason.len == 0) {
        reason.data = px_http_reason(101);
        reason.len = strlen(reason.data);
    }
    const px_str_t line[] = {PX_STR("HTTP/1.1 101 "), reason, PX_STR("\r\n")};
    if (px_h1_write_head(px_io_output(c->io), line, 3, &t->resp_headers, extra, (size_t)n) < 0)
        return -1;
    px_io_setcb(c->io, px_h1_tunnel_readcb, px_h1_tunnel_writecb, px_h1_tunnel_eventcb, c);
    px_io_set_read_high(c->io, 0);
    return 0;
}

static void px_h1_down_shutdown(px_down_t *d)
{
    px_h1_conn_t *c = PX_H1_CONN(d);
    px_io_shutdown_write(c->io);
    px_io_set_write_low(c->io, 0); /* so that the end of the flush is seen */
}

static const px_down_ops_t px_h1_down_ops = {
    .start_response = px_h1_down_start_response,
    .send_continue = px_h1_down_send_continue,
    .body_in = px_h1_down_body_in,
    .body_out = px_h1_down_body_out,
    .read = px_h1_down_read,
    .timeouts = px_h1_down_timeouts,
    .write_low = px_h1_down_write_low,
    .done = px_h1_down_done,
    .detach = px_h1_down_detach,
    .abort = px_h1_down_abort,
    .close = px_h1_down_close,
    .tunnel = px_h1_down_tunnel,
    .shutdown = px_h1_down_shutdown,
};
