/*
 * test_callout.c: HTTP/1.1 call-outs (core/upstream/px_callout.c) against in-process loopback
 * servers, on a real event loop with a hand-built worker and view.
 *
 * Each test reads: a request, what the server saw, the outcome fn got. The servers answer by
 * path (see srv_answer). Every wait is bounded by a timer, so a bug fails a test instead of
 * hanging the run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "px_callout.h"
#include "px_conf.h"
#include "px_pool.h"
#include "px_tap.h"
#include "px_tls.h"
#include "px_endpoint.h"
#include "px_upstream.h"
#include "px_worker.h"

static struct event_base *base;

/* ---- loopback test servers ------------------------------------------------------------------ */

typedef struct srv_s srv_t;

typedef struct sconn_s {
    srv_t *s;
    struct bufferevent *bev; /* NULL once closed */
    int nreq;                /* requests seen on this connection */
    int closing;             /* close once the output is flushed */
    struct sconn_s *next;
} sconn_t;

struct srv_s {
    struct evconnlistener *l;
    unsigned port;
    int accepts;     /* connections accepted */
    int requests;    /* requests read */
    int closed;      /* connections the client closed */
    char last[8192]; /* the last request: head and body */
    sconn_t *conns;
};

static void sconn_close(sconn_t *sc)
{
    if (sc->bev != NULL)
        bufferevent_free(sc->bev);
    sc->bev = NULL;
}

static void srv_send(sconn_t *sc, const char *s)
{
    bufferevent_write(sc->bev, s, strlen(s));
}

/* Answer one request. Returns 0 to go on reading, 1 when the connection is gone. */
static int srv_answer(sconn_t *sc, const char *method, const char *path, const char *body,
                      size_t body_len)
{
    char buf[4096];
    int head = strcmp(method, "HEAD") == 0;
    if (strcmp(path, "/ok") == 0) {
        srv_send(sc, head ? "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: yes\r\n\r\n"
                          : "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: yes\r\n\r\nhello");
    } else if (strcmp(path, "/echo") == 0) {
        snprintf(buf, sizeof(buf), "HTTP/1.1 201 Created\r\nContent-Length: %zu\r\n\r\n", body_len);
        srv_send(sc, buf);
        bufferevent_write(sc->bev, body, body_len);
    } else if (strcmp(path, "/chunked") == 0) {
        srv_send(sc, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    } else if (strcmp(path, "/close") == 0) {
        srv_send(sc, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close");
        sc->closing = 1;
    } else if (strcmp(path, "/interim") == 0) {
        srv_send(sc, "HTTP/1.1 100 Continue\r\n\r\n"
                     "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    } else if (strcmp(path, "/204") == 0) {
        srv_send(sc, "HTTP/1.1 204 No Content\r\n\r\n");
    } else if (strcmp(path, "/slow") == 0) {
        /* never answers */
    } else if (strcmp(path, "/reset") == 0) {
        struct linger lg = {1, 0};
        setsockopt(bufferevent_getfd(sc->bev), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        sconn_close(sc);
        return 1;
    } else if (strcmp(path, "/big") == 0) {
        srv_send(sc, "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n");
        memset(buf, 'x', 2000);
        bufferevent_write(sc->bev, buf, 2000);
    } else if (strcmp(path, "/bigchunked") == 0) {
        srv_send(sc, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        memset(buf, 'x', 1000);
        for (int i = 0; i < 3; i++) {
            srv_send(sc, "3e8\r\n");
            bufferevent_write(sc->bev, buf, 1000);
            srv_send(sc, "\r\n");
        }
        srv_send(sc, "0\r\n\r\n");
    } else if (strcmp(path, "/barelf") == 0) {
        srv_send(sc, "HTTP/1.1 200 OK\nContent-Length: 0\n\n");
    } else if (strcmp(path, "/truncated") == 0) {
        srv_send(sc, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        sc->closing = 1;
    } else if (strcmp(path, "/stale") == 0) {
        /* The first request of a connection is answered (keep-alive); a later one finds the
         * connection closed without an answer, as when the server's idle timeout won the race
         * against our request. */
        if (sc->nreq > 1) {
            sconn_close(sc);
            return 1;
        }
        srv_send(sc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\ns1");
    } else {
        srv_send(sc, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
    return 0;
}

static void srv_read(struct bufferevent *bev, void *arg)
{
    sconn_t *sc = arg;
    srv_t *s = sc->s;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (sc->bev != NULL && !sc->closing) {
        struct evbuffer_ptr pe = evbuffer_search(in, "\r\n\r\n", 4, NULL);
        if (pe.pos < 0)
            return;
        size_t hlen = (size_t)pe.pos + 4;
        char head[4096];
        if (hlen >= sizeof(head))
            return;
        evbuffer_copyout(in, head, hlen);
        head[hlen] = '\0';
        size_t cl = 0;
        const char *p = strcasestr(head, "\r\ncontent-length:");
        if (p != NULL)
            cl = strtoul(p + 17, NULL, 10);
        if (evbuffer_get_length(in) < hlen + cl || hlen + cl >= sizeof(s->last))
            return;
        evbuffer_copyout(in, s->last, hlen + cl);
        s->last[hlen + cl] = '\0';
        evbuffer_drain(in, hlen + cl);
        sc->nreq++;
        s->requests++;
        char method[16] = "", path[256] = "";
        sscanf(head, "%15s %255s", method, path);
        path[strcspn(path, "?")] = '\0'; /* answers depend on the path only */
        if (srv_answer(sc, method, path, s->last + hlen, cl))
            return;
    }
}

static void srv_write(struct bufferevent *bev, void *arg)
{
    sconn_t *sc = arg;
    if (sc->closing)
        sconn_close(sc);
}

static void srv_event(struct bufferevent *bev, short what, void *arg)
{
    sconn_t *sc = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        sc->s->closed++;
        sconn_close(sc);
    }
}

static void srv_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                       void *arg)
{
    srv_t *s = arg;
    sconn_t *sc = calloc(1, sizeof(*sc));
    sc->s = s;
    sc->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    sc->next = s->conns;
    s->conns = sc;
    s->accepts++;
    bufferevent_setcb(sc->bev, srv_read, srv_write, srv_event, sc);
    bufferevent_enable(sc->bev, EV_READ | EV_WRITE);
}

/* A server on 127.0.0.1 (or ::1 when v6) port 0. Returns -1 when it cannot listen. */
static int srv_start(srv_t *s, int v6)
{
    memset(s, 0, sizeof(*s));
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*a);
    }
    s->l = evconnlistener_new_bind(base, srv_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                   16, (struct sockaddr *)&ss, (int)len);
    if (s->l == NULL)
        return -1;
    len = sizeof(ss);
    getsockname(evconnlistener_get_fd(s->l), (struct sockaddr *)&ss, &len);
    s->port =
        ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

static void srv_stop(srv_t *s)
{
    if (s->l != NULL)
        evconnlistener_free(s->l);
    s->l = NULL;
    while (s->conns != NULL) {
        sconn_t *next = s->conns->next;
        sconn_close(s->conns);
        free(s->conns);
        s->conns = next;
    }
}

/* A loopback port nobody listens on. */
static unsigned closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- the worker, the view, and waiting --------------------------------------------------------
 */

static px_worker_t W;
static px_gen_t G;
static px_wgen_t *WG;

static void view_setup(px_conf_t *conf)
{
    memset(&W, 0, sizeof(W));
    W.base = base;
    W.conns.next = W.conns.prev = &W.conns;
    memset(&G, 0, sizeof(G));
    G.conf = conf;
    G.refs = 1;
    G.nworkers = 1;
    WG = calloc(1, sizeof(*WG));
    WG->gen = &G;
    WG->worker = &W;
    if (px_uprt_init(&G, NULL) < 0 || px_upstream_views_init(WG) < 0)
        abort();
    W.cur = WG;
}

static void view_teardown(void)
{
    px_callout_worker_exit(&W);
    px_upstream_close_idle(WG);
    px_tls_worker_exit(&W);
    px_upstream_views_free(WG);
    px_uprt_free(&G);
    free(WG);
}

static int deadline_hit;

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    deadline_hit = 1;
}

/* Run the loop until *flag is set or ms pass; returns *flag. */
static int run_until(const int *flag, int ms)
{
    struct event *t = evtimer_new(base, on_deadline, NULL);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    deadline_hit = 0;
    evtimer_add(t, &tv);
    while (!*flag && !deadline_hit)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(t);
    return *flag;
}

/* Run the loop for ms whatever happens. */
static void run_for(int ms)
{
    static const int never = 0;
    run_until(&never, ms);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* ---- call-outs and their outcome ------------------------------------------------------------ */

typedef struct {
    int done;  /* fn ran */
    int calls; /* how many times */
    int inside_start;
    int status;
    char error[256];
    char body[8192];
    size_t body_len;
    size_t nheaders;
    char xtest[64]; /* the X-Test field, if any */
} result_t;

static int in_start;

static void on_result(const pyxis_callout_resp_t *r, void *arg)
{
    result_t *res = arg;
    res->calls++;
    res->done = 1;
    res->inside_start = in_start;
    res->status = r->status;
    snprintf(res->error, sizeof(res->error), "%s", r->error ? r->error : "");
    res->body_len = r->body.len < sizeof(res->body) ? r->body.len : sizeof(res->body) - 1;
    if (res->body_len > 0)
        memcpy(res->body, r->body.data, res->body_len);
    res->body[res->body_len] = '\0';
    res->nheaders = r->nheaders;
    for (size_t i = 0; i < r->nheaders; i++) {
        if (r->headers[i].name.len == 6 && strncasecmp(r->headers[i].name.data, "x-test", 6) == 0)
            snprintf(res->xtest, sizeof(res->xtest), "%.*s", (int)r->headers[i].value.len,
                     r->headers[i].value.data);
    }
}

static pyxis_callout_req_t req_upstream(const char *upstream, const char *path)
{
    pyxis_callout_req_t r;
    memset(&r, 0, sizeof(r));
    r.size = sizeof(r);
    r.upstream = upstream;
    r.path = (pyxis_str_t){path, strlen(path)};
    r.timeout_ms = 3000;
    return r;
}

static pyxis_callout_req_t req_url(const char *url)
{
    pyxis_callout_req_t r;
    memset(&r, 0, sizeof(r));
    r.size = sizeof(r);
    r.url = url;
    r.timeout_ms = 3000;
    return r;
}

static px_callout_t *start(const pyxis_callout_req_t *r, result_t *res, px_pool_t *owner,
                           const char **err)
{
    memset(res, 0, sizeof(*res));
    *err = NULL;
    in_start = 1;
    px_callout_t *c = px_callout_start(&W, WG, owner, r, on_result, res, err);
    in_start = 0;
    return c;
}

/* Start r and wait for its outcome. */
static void call(const pyxis_callout_req_t *r, result_t *res)
{
    const char *err;
    px_callout_t *c = start(r, res, NULL, &err);
    if (c == NULL) {
        res->status = -1;
        snprintf(res->error, sizeof(res->error), "refused at start: %s", err);
        return;
    }
    run_until(&res->done, 5000);
}

static srv_t A, B;
static unsigned refused_port;

/* ---- the tests ------------------------------------------------------------------------------ */

/* Start from empty pools, so connection counts are exact. */
static void pools_empty(void)
{
    px_upstream_close_idle(WG);
    run_for(20);
}

static void test_get(void)
{
    result_t res;
    pyxis_callout_req_t r = req_upstream("app", "/ok?x=1");
    call(&r, &res);
    is_int(res.calls, 1, "GET /ok: fn ran once");
    is_int(res.inside_start, 0, "GET /ok: not from inside px_callout_start");
    is_int(res.status, 200, "GET /ok: 200");
    is_str(res.body, "hello", "GET /ok: the body");
    is_str(res.xtest, "yes", "GET /ok: response headers");
    is_str(res.error, "", "GET /ok: no error");
    char host[64];
    snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%u\r\n", A.port);
    ok(strncmp(A.last, "GET /ok?x=1 HTTP/1.1\r\n", 22) == 0, "the request line as given");
    ok(strstr(A.last, host) != NULL, "Host from the endpoint");
    ok(strcasestr(A.last, "content-length") == NULL, "no Content-Length on a GET without body");
    is_int(A.accepts, 1, "one connection");

    call(&r, &res);
    is_int(res.status, 200, "second GET: 200");
    is_int(A.accepts, 1, "second GET reused the keep-alive connection");
    is_int(A.requests, 2, "two requests on it");

    r.method = (pyxis_str_t){"HEAD", 4};
    call(&r, &res);
    is_int(res.status, 200, "HEAD: 200");
    is_int(res.body_len, 0, "HEAD: no body despite Content-Length");
    is_int(A.accepts, 1, "HEAD: still the same connection");
    call(&r, &res); /* the connection is still in step: the next answer parses */
    is_int(res.status, 200, "after HEAD the connection is still usable");

    r = req_upstream("app", "/204");
    call(&r, &res);
    is_int(res.status, 204, "204: status");
    is_int(res.body_len, 0, "204: no body");
    is_int(A.accepts, 1, "204: kept alive");
}

static void test_balance(void)
{
    int a0 = A.accepts, ra0 = A.requests, rb0 = B.requests;
    result_t res;
    pyxis_callout_req_t r = req_upstream("pair", "/ok");
    for (int i = 0; i < 4; i++)
        call(&r, &res);
    is_int(res.status, 200, "pair: 200");
    is_int(A.requests - ra0, 2, "pair: half the call-outs to the first endpoint");
    is_int(B.requests - rb0, 2, "pair: half to the second");
    is_int(A.accepts - a0, 1, "pair: one connection to the first (its own pool)");
    is_int(B.accepts, 1, "pair: one connection to the second");
}

static void test_post(void)
{
    result_t res;
    pyxis_header_t hs[] = {
        {PYXIS_STR("X-A"), PYXIS_STR("1")},
        {PYXIS_STR("Connection"), PYXIS_STR("close")},
        {PYXIS_STR("Transfer-Encoding"), PYXIS_STR("chunked")},
        {PYXIS_STR("Content-Length"), PYXIS_STR("99")},
        {PYXIS_STR("host"), PYXIS_STR("custom.example")},
    };
    pyxis_callout_req_t r = req_upstream("app", "/echo");
    r.method = (pyxis_str_t)PYXIS_STR("POST");
    r.headers = hs;
    r.nheaders = sizeof(hs) / sizeof(hs[0]);
    r.body = (pyxis_str_t)PYXIS_STR("ping");
    call(&r, &res);
    is_int(res.status, 201, "POST /echo: 201");
    is_str(res.body, "ping", "POST /echo: the body went and came back");
    ok(strncmp(A.last, "POST /echo HTTP/1.1\r\n", 21) == 0, "POST: request line");
    ok(strstr(A.last, "\r\nContent-Length: 4\r\n") != NULL, "POST: Content-Length from the body");
    ok(strstr(A.last, "Content-Length: 99") == NULL, "POST: the caller's Content-Length dropped");
    ok(strcasestr(A.last, "transfer-encoding") == NULL, "POST: Transfer-Encoding dropped");
    ok(strcasestr(A.last, "connection:") == NULL, "POST: Connection dropped");
    ok(strstr(A.last, "\r\nhost: custom.example\r\n") != NULL, "POST: the caller's Host kept");
    ok(strstr(A.last, "127.0.0.1:") == NULL, "POST: no second Host");
    ok(strstr(A.last, "\r\nX-A: 1\r\n") != NULL, "POST: other fields kept");

    r.headers = NULL;
    r.nheaders = 0;
    r.body = (pyxis_str_t){NULL, 0};
    call(&r, &res);
    is_int(res.status, 201, "POST without body: 201");
    ok(strstr(A.last, "\r\nContent-Length: 0\r\n") != NULL, "POST without body: Content-Length: 0");
}

static void test_framing(void)
{
    result_t res;
    pyxis_callout_req_t r = req_upstream("app", "/chunked");
    call(&r, &res);
    is_int(res.status, 200, "chunked: 200");
    is_str(res.body, "hello world", "chunked: decoded, extensions and trailers dropped");

    pools_empty();
    int a0 = A.accepts;
    r = req_upstream("app", "/close");
    call(&r, &res);
    is_int(res.status, 200, "close-delimited: 200");
    is_str(res.body, "until close", "close-delimited: the body up to EOF");
    r = req_upstream("app", "/ok");
    call(&r, &res);
    is_int(A.accepts - a0, 2, "a close-delimited connection is not pooled");

    r = req_upstream("app", "/interim");
    call(&r, &res);
    is_int(res.status, 200, "100 and 103 skipped: the final status");
    is_str(res.body, "ok", "interim: the final body");
}

static void test_failures(void)
{
    result_t res;
    pyxis_callout_req_t r = req_upstream("app", "/slow");
    r.timeout_ms = 200;
    double t0 = now_ms();
    call(&r, &res);
    double took = now_ms() - t0;
    is_int(res.status, 0, "slow: status 0");
    is_str(res.error, "timeout", "slow: timeout");
    ok(took >= 150 && took < 2000, "slow: after about timeout_ms (%.0f ms)", took);

    r = req_upstream("refused", "/");
    call(&r, &res);
    is_int(res.status, 0, "refused port: status 0");
    is_str(res.error, "connection refused", "refused port: connection refused");

    r = req_upstream("app", "/reset");
    call(&r, &res);
    is_int(res.status, 0, "reset: status 0");
    is_str(res.error, "connection reset", "reset: connection reset");

    r = req_upstream("app", "/big");
    r.max_body = 1000;
    call(&r, &res);
    is_int(res.status, 0, "2000-byte body, max_body 1000: fails");
    is_str(res.error, "response body too large", "content-length over max_body");
    r = req_upstream("app", "/bigchunked");
    r.max_body = 1000;
    call(&r, &res);
    is_str(res.error, "response body too large", "chunked body over max_body");
    r = req_upstream("app", "/big");
    r.max_body = 2000;
    call(&r, &res);
    is_int(res.status, 200, "a body of exactly max_body passes");
    is_int(res.body_len, 2000, "all of it");

    r = req_upstream("app", "/barelf");
    call(&r, &res);
    is_int(res.status, 0, "bare LF: fails");
    is_str(res.error, "invalid response: bare LF in head", "bare LF: refused");

    r = req_upstream("app", "/truncated");
    call(&r, &res);
    is_int(res.status, 0, "truncated body: fails");
    is_str(res.error, "connection closed before the end of the response",
           "truncated body: never looks complete");
}

static void test_stale_retry(void)
{
    result_t res;
    pools_empty();
    pyxis_callout_req_t r = req_upstream("app", "/stale");
    r.method = (pyxis_str_t)PYXIS_STR("POST");
    r.body = (pyxis_str_t)PYXIS_STR("once");
    int a0 = A.accepts;
    call(&r, &res);
    is_int(res.status, 200, "stale: first answer");
    is_int(A.accepts - a0, 1, "stale: on a new connection (the pool held none for /stale yet)");
    call(&r, &res);
    is_int(res.status, 200, "stale: the pooled connection failed, the replay succeeded");
    is_str(res.body, "s1", "stale: the answer of the new connection");
    is_int(A.accepts - a0, 2, "stale: replayed on a second connection");
    ok(strstr(A.last, "\r\n\r\nonce") != NULL, "stale: the POST body was sent again");
}

static void test_cancel(void)
{
    result_t res;
    const char *err;
    int r0 = A.requests;
    pyxis_callout_req_t r = req_upstream("app", "/slow");
    px_callout_t *c = start(&r, &res, NULL, &err);
    ok(c != NULL, "cancel: started");
    run_for(50);
    is_int(A.requests - r0, 1, "cancel: the request reached the server");
    px_callout_cancel(c);
    run_for(100);
    is_int(res.calls, 0, "cancelled: fn never called");

    px_pool_t *owner = px_pool_create(1024);
    c = start(&r, &res, owner, &err);
    ok(c != NULL, "owned: started");
    run_for(50);
    px_pool_destroy(owner);
    run_for(100);
    is_int(res.calls, 0, "owner pool destroyed: fn never called");

    owner = px_pool_create(1024);
    r = req_upstream("app", "/ok");
    c = start(&r, &res, owner, &err);
    run_until(&res.done, 3000);
    is_int(res.status, 200, "owned and completed: 200");
    px_pool_destroy(owner); /* its cleanup finds nothing to cancel */
    ok(1, "owner destroyed after completion: nothing to cancel");
    is_int(WG->active, 0, "no call-out holds the view any more");
}

static void test_url(void)
{
    result_t res;
    char url[128];
    int a0 = A.accepts;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/ok", A.port);
    pyxis_callout_req_t r = req_url(url);
    call(&r, &res);
    is_int(res.status, 200, "URL with an IPv4 literal: 200");
    is_str(res.body, "hello", "URL: the body");
    char host[64];
    snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%u\r\n", A.port);
    ok(strstr(A.last, host) != NULL, "URL: Host is the authority");
    call(&r, &res);
    is_int(A.accepts - a0, 1, "URL: the second call-out reused the connection");

    snprintf(url, sizeof(url), "http://127.0.0.1:%u?q=1#frag", A.port);
    r = req_url(url);
    call(&r, &res);
    is_int(res.status, 404, "URL without a path: reaches the server");
    ok(strncmp(A.last, "GET /?q=1 HTTP/1.1\r\n", 20) == 0, "target \"/?q=1\", fragment dropped");

    /* The view retires: its idle URL connections close. */
    int closed0 = A.closed;
    px_upstream_close_idle(WG);
    run_for(100);
    ok(A.closed > closed0, "close_idle closed the pooled URL connection");
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/ok", A.port);
    r = req_url(url);
    a0 = A.accepts;
    call(&r, &res);
    is_int(A.accepts - a0, 1, "after close_idle a new connection");

    srv_t v6;
    if (srv_start(&v6, 1) == 0) {
        snprintf(url, sizeof(url), "http://[::1]:%u/ok", v6.port);
        r = req_url(url);
        call(&r, &res);
        is_int(res.status, 200, "URL with [::1]: 200");
        snprintf(host, sizeof(host), "\r\nHost: [::1]:%u\r\n", v6.port);
        ok(strstr(v6.last, host) != NULL, "[::1]: Host keeps the brackets");
        px_upstream_close_idle(WG);
        srv_stop(&v6);
    } else {
        ok(1, "URL with [::1] # skip no IPv6 loopback");
        ok(1, "[::1] Host # skip no IPv6 loopback");
    }

    /* localhost comes from /etc/hosts (evdns reads it), synchronously. */
    FILE *f = fopen("/etc/hosts", "r");
    int have = 0;
    char line[512];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (line[0] != '#' && strstr(line, "localhost") != NULL)
            have = 1;
    }
    if (f != NULL)
        fclose(f);
    if (have) {
        snprintf(url, sizeof(url), "http://localhost:%u/ok", A.port);
        r = req_url(url);
        a0 = A.accepts;
        call(&r, &res);
        is_int(res.status, 200, "URL with localhost (evdns, /etc/hosts): 200");
        is_int(A.accepts - a0, 1, "localhost: its own pool (localhost:port)");
        snprintf(host, sizeof(host), "\r\nHost: localhost:%u\r\n", A.port);
        ok(strstr(A.last, host) != NULL, "localhost: Host as written");
    } else {
        ok(1, "URL with localhost # skip localhost is not in /etc/hosts");
        ok(1, "localhost pool # skip localhost is not in /etc/hosts");
        ok(1, "localhost Host # skip localhost is not in /etc/hosts");
    }

    /* A name no resolver knows: a "dns: ..." failure or, when no server answers in time,
     * the deadline; either way it ends, and the resolver request is cleaned up. */
    r = req_url("http://pyxis-callout-test.invalid/x");
    r.timeout_ms = 300;
    call(&r, &res);
    is_int(res.status, 0, "unresolvable host: fails");
    ok(strncmp(res.error, "dns: ", 5) == 0 || strcmp(res.error, "timeout") == 0,
       "unresolvable host: dns error or timeout (%s)", res.error);
}

/* https:// URLs start (the TLS handshakes themselves are t/084-callouts-tls.t's). */
static void test_https(void)
{
    result_t res;
    char url[64];
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/", refused_port);
    pyxis_callout_req_t r = req_url(url);
    call(&r, &res);
    is_int(res.status, 0, "https to a closed port: fails");
    is_str(res.error, "connection refused", "https to a closed port: connection refused");
    ok(W.tls_client != NULL, "https: the worker's client context exists");

    /* A plain server on an https URL: the handshake fails (or the deadline passes); no pool
     * is left behind, and the plain pool to the same host:port is another one. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/ok", A.port);
    r = req_url(url);
    call(&r, &res);
    is_int(res.status, 200, "http to the test server: 200");
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/ok", A.port);
    r = req_url(url);
    r.timeout_ms = 500;
    call(&r, &res);
    is_int(res.status, 0, "https to a plain server: fails (%s)", res.error);
    char key[64];
    snprintf(key, sizeof(key), "https://127.0.0.1:%u", A.port);
    ok(px_upstream_url_pool(WG, key, NULL, 0) == NULL, "https: no pool left after a failure");
    snprintf(key, sizeof(key), "127.0.0.1:%u", A.port);
    px_upool_t *p = px_upstream_url_pool(WG, key, NULL, 0);
    ok(p != NULL && p->tls_host == NULL && p->nidle == 1, "http: its pool kept its connection");
}

static void test_refused_at_start(void)
{
    static const struct {
        const char *upstream, *url, *path, *method, *hname, *hvalue, *want;
    } cases[] = {
        {"nope", NULL, "/", NULL, NULL, NULL, "unknown upstream"},
        {NULL, NULL, NULL, NULL, NULL, NULL, "no upstream or url"},
        {NULL, "https://u@example.com/", NULL, NULL, NULL, NULL,
         "invalid URL: credentials in a URL are not supported"},
        {NULL, "https://[::1]x/", NULL, NULL, NULL, NULL, "invalid URL: bad authority"},
        {NULL, "ftp://example.com/", NULL, NULL, NULL, NULL,
         "unsupported URL scheme (only http:// and https:// are known)"},
        {NULL, "example.com/x", NULL, NULL, NULL, NULL, "invalid URL: no scheme"},
        {NULL, "http:///x", NULL, NULL, NULL, NULL, "invalid URL: no host"},
        {NULL, "http://h:99999/", NULL, NULL, NULL, NULL, "invalid URL: bad port"},
        {NULL, "http://h:/", NULL, NULL, NULL, NULL, "invalid URL: bad port"},
        {NULL, "http://u:p@h/", NULL, NULL, NULL, NULL,
         "invalid URL: credentials in a URL are not supported"},
        {NULL, "http://[::1/", NULL, NULL, NULL, NULL, "invalid URL: unterminated [IPv6 address]"},
        {NULL, "http://a b/", NULL, NULL, NULL, NULL, "invalid URL: bad host name"},
        {NULL, "http://h/a b", NULL, NULL, NULL, NULL, "invalid URL: bad characters in the path"},
        {"app", NULL, "nope", NULL, NULL, NULL,
         "invalid path (must start with \"/\"; no spaces, controls or \"#\")"},
        {"app", NULL, "/a\r\nX: y", NULL, NULL, NULL,
         "invalid path (must start with \"/\"; no spaces, controls or \"#\")"},
        {"app", NULL, "/", "G T", NULL, NULL, "invalid method"},
        {"app", NULL, "/", "CONNECT", NULL, NULL, "CONNECT call-outs are not supported"},
        {"app", NULL, "/", NULL, "Bad Name", "v", "invalid header name"},
        {"app", NULL, "/", NULL, "", "v", "invalid header name"},
        {"app", NULL, "/", NULL, "X-Ok", "a\r\nX-Injected: 1",
         "invalid header value (CR, LF or NUL)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pyxis_callout_req_t r;
        memset(&r, 0, sizeof(r));
        r.size = sizeof(r);
        r.upstream = cases[i].upstream;
        r.url = cases[i].url;
        if (cases[i].path != NULL)
            r.path = (pyxis_str_t){cases[i].path, strlen(cases[i].path)};
        if (cases[i].method != NULL)
            r.method = (pyxis_str_t){cases[i].method, strlen(cases[i].method)};
        pyxis_header_t h;
        if (cases[i].hname != NULL) {
            h.name = (pyxis_str_t){cases[i].hname, strlen(cases[i].hname)};
            h.value = (pyxis_str_t){cases[i].hvalue, strlen(cases[i].hvalue)};
            r.headers = &h;
            r.nheaders = 1;
        }
        result_t res;
        const char *err;
        px_callout_t *c = start(&r, &res, NULL, &err);
        ok(c == NULL, "refused: %s", cases[i].want);
        is_str(err, cases[i].want, "  with its reason");
    }
    pyxis_header_t two[] = {{PYXIS_STR("Host"), PYXIS_STR("a")},
                            {PYXIS_STR("host"), PYXIS_STR("b")}};
    pyxis_callout_req_t r = req_upstream("app", "/");
    r.headers = two;
    r.nheaders = 2;
    result_t res;
    const char *err;
    ok(start(&r, &res, NULL, &err) == NULL, "two Host fields: refused");
    is_str(err, "more than one Host header", "  with its reason");

    memset(&r, 0, sizeof(r));
    r.upstream = "app";
    ok(start(&r, &res, NULL, &err) == NULL, "size 0: refused");
    is_str(err, "pyxis_callout_req_t.size is not set", "  with its reason");
    run_for(20);
    is_int(res.calls, 0, "no fn for a refused call-out");

    /* A module built for a shorter struct: the fields it lacks count as 0. */
    r = req_upstream("app", "/ok");
    r.size = (uint32_t)offsetof(pyxis_callout_req_t, headers);
    r.timeout_ms = 12345678; /* past the declared size: not read */
    call(&r, &res);
    is_int(res.status, 200, "a shorter pyxis_callout_req_t works");
}

/* fn starts the next call-out: the connection the first one just gave back serves it. */
static result_t chained;
static void on_first(const pyxis_callout_resp_t *r, void *arg)
{
    result_t *first = arg;
    on_result(r, first);
    pyxis_callout_req_t next = req_upstream("app", "/ok");
    const char *err;
    memset(&chained, 0, sizeof(chained));
    if (px_callout_start(&W, WG, NULL, &next, on_result, &chained, &err) == NULL)
        snprintf(chained.error, sizeof(chained.error), "%s", err);
}

static void test_chained(void)
{
    pools_empty();
    result_t first;
    memset(&first, 0, sizeof(first));
    pyxis_callout_req_t r = req_upstream("app", "/ok");
    const char *err;
    int a0 = A.accepts;
    ok(px_callout_start(&W, WG, NULL, &r, on_first, &first, &err) != NULL, "chain: started");
    run_until(&chained.done, 3000);
    is_int(first.status, 200, "chain: first 200");
    is_int(chained.status, 200, "chain: the call-out started from fn: 200");
    is_int(A.accepts - a0, 1, "chain: both on one connection");
}

/* A failure found inside px_callout_start (here: no descriptor left for the socket) still
 * reaches fn from the loop. */
static void test_failure_at_start(void)
{
    struct rlimit old, low;
    int fd = dup(0);
    if (fd < 0 || getrlimit(RLIMIT_NOFILE, &old) < 0) {
        ok(1, "failure at start # skip cannot probe descriptors");
        return;
    }
    close(fd);
    low = old;
    low.rlim_cur = (rlim_t)fd; /* every descriptor below fd is taken: socket() fails */
    result_t res;
    const char *err;
    pyxis_callout_req_t r = req_upstream("refused", "/");
    setrlimit(RLIMIT_NOFILE, &low);
    px_callout_t *c = start(&r, &res, NULL, &err);
    setrlimit(RLIMIT_NOFILE, &old);
    ok(c != NULL, "failure at start: a call-out is returned");
    is_int(res.calls, 0, "failure at start: fn not called inside px_callout_start");
    run_until(&res.done, 3000);
    is_int(res.calls, 1, "failure at start: fn called once, from the loop");
    is_int(res.status, 0, "failure at start: status 0");
    ok(res.error[0] != '\0', "failure at start: an error (%s)", res.error);
}

static void test_worker_exit(void)
{
    /* Call-outs still running when the worker exits are cancelled without fn: one waiting
     * for an answer, one for the resolver. */
    result_t r1, r2;
    const char *err;
    pyxis_callout_req_t r = req_upstream("app", "/slow");
    ok(start(&r, &r1, NULL, &err) != NULL, "exit: a slow call-out started");
    run_for(30); /* its request is sent */
    pyxis_callout_req_t u = req_url("http://pyxis-callout-test2.invalid/");
    ok(start(&u, &r2, NULL, &err) != NULL, "exit: a resolving call-out started");
    px_callout_worker_exit(&W); /* before any answer could come */
    is_int(r1.calls + r2.calls, 0, "exit: fn never called");
    is_int(WG->active, 0, "exit: the view is free of call-outs");
    ok(W.callouts == NULL, "exit: the per-worker state is gone");
}

int main(void)
{
    plan_no_plan();
    signal(SIGPIPE, SIG_IGN); /* as pyxis does: a peer gone mid-write is an error, not a signal */
    base = event_base_new();
    if (srv_start(&A, 0) < 0 || srv_start(&B, 0) < 0) {
        printf("Bail out! cannot listen on 127.0.0.1\n");
        return 1;
    }
    refused_port = closed_port();

    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "listeners:\n"
             "  - listen: 127.0.0.1:1\n"
             "    routes: [ { respond: { body: hi } } ]\n"
             "upstreams:\n"
             "  app: { endpoints: [ 127.0.0.1:%u ] }\n"
             "  pair: { endpoints: [ 127.0.0.1:%u, 127.0.0.1:%u ] }\n"
             "  refused: { endpoints: [ 127.0.0.1:%u ] }\n",
             A.port, A.port, B.port, refused_port);
    px_conf_error_t errs[4];
    size_t nerrs = 0;
    px_conf_t *conf = px_conf_load_string("t.yaml", yaml, strlen(yaml), 0, errs, 4, &nerrs);
    if (!ok(conf != NULL, "config with upstreams loads")) {
        char buf[1200];
        for (size_t i = 0; i < nerrs; i++) {
            px_conf_error_format(&errs[i], buf, sizeof(buf));
            printf("#   %s\n", buf);
        }
        return done_testing();
    }
    view_setup(conf);

    test_get();
    test_balance();
    test_post();
    test_framing();
    test_failures();
    test_stale_retry();
    test_cancel();
    test_url();
    test_https();
    test_refused_at_start();
    test_chained();
    test_failure_at_start();
    test_worker_exit();

    view_teardown();
    srv_stop(&A);
    srv_stop(&B);
    px_conf_release(conf);
    event_base_free(base);
    return done_testing();
}
