/*
 * px_callout.c: asynchronous HTTP/1.1 call-outs. See px_callout.h for the contract and
 * docs/internals.md ("Call-outs") for the rules.
 *
 * Life of a call-out: px_callout_start() checks and copies the request into the call-out's
 * pool (the serialized head and the body, kept for a replay), picks the target's pool and arms
 * one timer for the whole exchange. px_callout_go() takes an idle pooled connection or opens a
 * new one (resolving a hostname first); the request is queued by reference, the response head
 * is parsed with px_h1_parse_response() and the body decoded by px_h1_body_pump() into a memory
 * buffer. px_callout_finish() gives the connection back (pooled only when the response was
 * complete and keep-alive), calls fn and frees everything.
 *
 * A failure found while px_callout_start() is still running is not reported from there: it is
 * parked in c->error and delivered by activating the timer event, from the loop.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "px_callout.h"
#include "px_h1_body.h"
#include "px_http1.h"
#include "px_io.h"
#include "px_log.h"
#include "px_pool.h"
#include "px_endpoint-t.h"
#include "px_upstream.h"
#include "px_worker.h"

/* A resolver request. evdns calls back even for a cancelled request (later, from the loop),
 * so this lives apart from the call-out and is freed by the callback. */
typedef struct px_callout_dns_s {
    struct px_callout_s *c; /* NULL once nobody waits for the answer */
    struct px_callout_worker_s *cw;
    int sync;   /* 1 while inside evdns_getaddrinfo(); 2 when it answered in there */
    int result; /* the answer's error code when it came synchronously */
} px_callout_dns_t;

/* Per worker, created with its first call-out, freed by px_callout_worker_exit(). */
struct px_callout_worker_s {
    struct evdns_base *dns; /* created with the first hostname to resolve */
    px_link_t inflight;     /* call-outs started and not yet ended */
    unsigned dns_pending;   /* resolver requests whose callback has not run yet */
};
typedef struct px_callout_worker_s px_callout_worker_t;

struct px_callout_s {
    px_link_t link; /* in the worker's inflight list (must stay first) */
    px_pool_t *pool;
    px_worker_t *worker;
    px_wgen_t *wgen; /* counted in wgen->active */
    pyxis_callout_fn fn;
    void *arg;
    struct px_callout_s **owner_slot; /* in the owner's pool; its cleanup cancels through it */

    /* target */
    const px_conf_upstream_t *upstream; /* a named upstream, or NULL for a URL */
    px_upool_t *upool;                  /* upstream: the endpoint's pool */
    char *host;                         /* URL: the host to resolve (no brackets) */
    char *key;        /* URL: pool key, "host:port" lowercased ("https://host:port" for https) */
    uint16_t port;    /* URL */
    unsigned tls : 1; /* URL: https:// */
    struct sockaddr_storage addrs[PX_CALLOUT_MAX_ADDRS];
    socklen_t addrlens[PX_CALLOUT_MAX_ADDRS];
    unsigned naddrs, addr_next; /* URL: addresses known, the one tried now */
    px_callout_dns_t *dns;      /* resolving */
    struct evdns_getaddrinfo_request *dns_req;

    /* request: serialized once, queued by reference on each attempt */
    px_method_t method;
    char *head;
    size_t head_len;
    char *body;
    size_t body_len;

    /* exchange */
    px_uconn_t *uc;
    struct event *timer; /* the whole exchange's deadline (pool memory) */
    const char *error;   /* a failure found inside px_callout_start, delivered by the timer */
    uint64_t max_body;
    unsigned starting : 1;   /* inside px_callout_start */
    unsigned retried : 1;    /* the one replay after a stale pooled connection was used */
    unsigned delivering : 1; /* fn is running */
    unsigned keepalive : 1;  /* the response allows reusing the connection */
    unsigned owns_arg : 1;   /* px_callout_owns_arg(): a cancel frees arg */

    /* response */
    int status;
    pyxis_header_t *headers; /* pool memory; strings point into the pool copy of the head */
    size_t nheaders;
    px_h1_body_t body_dec;
    struct evbuffer *resp_body;
};

static void px_callout_go(px_callout_t *c, int fresh);
static void px_callout_readable(void *owner);
static void px_callout_writable(void *owner);
static void px_callout_event(void *owner, short what);

static const px_uconn_ops_t px_callout_ops = {
    .readable = px_callout_readable,
    .writable = px_callout_writable,
    .event = px_callout_event,
};

#define PX_LIT(s) ((px_str_t){(s), sizeof(s) - 1})

static void px_callout_link_remove(px_link_t *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->next = l->prev = l;
}

/* ---- checking and copying the request ------------------------------------------------------ */

static int px_callout_alnum(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int px_callout_tchar(unsigned char ch)
{
    return px_callout_alnum(ch) || (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int px_callout_token(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!px_callout_tchar((unsigned char)p[i]))
            return 0;
    }
    return 1;
}

static int px_callout_value_ok(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
            return 0;
    }
    return 1;
}

/* An origin-form target: "/", then visible ASCII but '#' (a fragment is never sent). */
static int px_callout_target_ok(const char *p, size_t n)
{
    if (n == 0 || p[0] != '/')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '#')
            return 0;
    }
    return 1;
}

/* Fields the core writes itself (framing) or that manage one connection: the caller's are
 * dropped. */
static int px_callout_dropped(pyxis_str_t n)
{
    static const px_str_t names[] = {
        PX_STR("connection"),        PX_STR("keep-alive"),
        PX_STR("proxy-connection"),  PX_STR("te"),
        PX_STR("upgrade"),           PX_STR("trailer"),
        PX_STR("transfer-encoding"), PX_STR("expect"),
        PX_STR("content-length"),
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (n.len == names[i].len && strncasecmp(n.data, names[i].data, n.len) == 0)
            return 1;
    }
    return 0;
}

static int px_callout_is_host(pyxis_str_t n)
{
    return n.len == 4 && strncasecmp(n.data, "host", 4) == 0;
}

/* Split "http[s]://host[:port]/path?query" into c->host, c->port, c->key, c->tls, the Host
 * value and the target. Returns NULL or a static error. */
static const char *px_callout_parse_url(px_callout_t *c, const char *url, px_str_t *authority,
                                        px_str_t *target)
{
    const char *sep = strstr(url, "://");
    if (sep == NULL)
        return "invalid URL: no scheme";
    size_t slen = (size_t)(sep - url);
    if (slen == 5 && strncasecmp(url, "https", 5) == 0)
        c->tls = 1;
    else if (slen != 4 || strncasecmp(url, "http", 4) != 0)
        return "unsupported URL scheme (only http:// and https:// are known)";
    const char *a = sep + 3, *end = a + strcspn(a, "/?#");
    if (memchr(a, '@', (size_t)(end - a)) != NULL)
        return "invalid URL: credentials in a URL are not supported";
    *authority = (px_str_t){a, (size_t)(end - a)};

    const char *h = a, *hend, *p;
    if (*a == '[') {
        hend = memchr(a, ']', (size_t)(end - a));
        if (hend == NULL)
            return "invalid URL: unterminated [IPv6 address]";
        h = a + 1;
        p = hend + 1;
        if (p < end && *p != ':')
            return "invalid URL: bad authority";
    } else {
        p = memchr(a, ':', (size_t)(end - a));
        hend = p != NULL ? p : end;
        if (p == NULL)
            p = end;
    }
    size_t hlen = (size_t)(hend - h);
    if (hlen == 0)
        return "invalid URL: no host";
    if (hlen > 253)
        return "invalid URL: host name too long";
    unsigned long port = c->tls ? 443 : 80;
    if (p < end) { /* ":port" */
        if (p + 1 == end || (size_t)(end - p - 1) > 5)
            return "invalid URL: bad port";
        port = 0;
        for (const char *d = p + 1; d < end; d++) {
            if (*d < '0' || *d > '9')
                return "invalid URL: bad port";
            port = port * 10 + (unsigned long)(*d - '0');
        }
        if (port == 0 || port > 65535)
            return "invalid URL: bad port";
    }
    c->port = (uint16_t)port;
    if ((c->host = px_pstrndup(c->pool, h, hlen)) == NULL)
        return "out of memory";

    /* An IP literal needs no resolver. */
    struct sockaddr_in *sin = (struct sockaddr_in *)&c->addrs[0];
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&c->addrs[0];
    memset(&c->addrs[0], 0, sizeof(c->addrs[0]));
    if (*a == '[') {
        if (inet_pton(AF_INET6, c->host, &sin6->sin6_addr) != 1)
            return "invalid URL: bad IPv6 address";
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(c->port);
        c->addrlens[0] = sizeof(*sin6);
        c->naddrs = 1;
    } else if (inet_pton(AF_INET, c->host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(c->port);
        c->addrlens[0] = sizeof(*sin);
        c->naddrs = 1;
    } else {
        for (char *q = c->host; *q; q++) {
            if (!px_callout_alnum((unsigned char)*q) && *q != '-' && *q != '.' && *q != '_')
                return "invalid URL: bad host name";
        }
    }

    /* Pool key: the host as written in the URL (brackets kept), lowercased, and the port;
     * "https://" first for TLS, so plain and TLS connections never share a pool. */
    size_t klen = (size_t)(hend - a) + (*a == '[' ? 1 : 0), skip = c->tls ? 8 : 0;
    c->key = px_pnalloc(c->pool, skip + klen + 7);
    if (c->key == NULL)
        return "out of memory";
    memcpy(c->key, "https://", skip);
    for (size_t i = 0; i < klen; i++)
        c->key[skip + i] = (char)tolower((unsigned char)a[i]);
    snprintf(c->key + skip + klen, 7, ":%u", (unsigned)c->port);

    /* Target: the path and query; the fragment is the client's business. */
    size_t tlen = strcspn(end, "#");
    if (tlen == 0) {
        *target = PX_LIT("/");
    } else if (*end == '?') {
        char *t = px_pnalloc(c->pool, tlen + 1);
        if (t == NULL)
            return "out of memory";
        t[0] = '/';
        memcpy(t + 1, end, tlen);
        *target = (px_str_t){t, tlen + 1};
    } else {
        *target = (px_str_t){end, tlen};
    }
    if (!px_callout_target_ok(target->data, target->len))
        return "invalid URL: bad characters in the path";
    return NULL;
}

static char *px_callout_put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* Check req and copy what the exchange needs into c->pool: the target, the serialized head and
 * the body. Returns NULL or a static error. */
static const char *px_callout_prepare(px_callout_t *c, px_wgen_t *wg, const pyxis_callout_req_t *r)
{
    px_str_t method = r->method.len > 0 ? (px_str_t){r->method.data, r->method.len} : PX_LIT("GET");
    if (!px_callout_token(method.data, method.len))
        return "invalid method";
    c->method = px_h1_method_id(method.data, method.len);
    if (c->method == PX_METHOD_CONNECT)
        return "CONNECT call-outs are not supported";

    px_str_t host = PX_NULL_STR, target;
    if (r->upstream != NULL) {
        const px_conf_t *conf = wg->gen->conf;
        for (size_t i = 0; i < conf->nupstreams && c->upstream == NULL; i++) {
            if (strcmp(conf->upstreams[i].name, r->upstream) == 0)
                c->upstream = &conf->upstreams[i];
        }
        if (c->upstream == NULL)
            return "unknown upstream";
        if (c->upstream->protocol != PX_UPROTO_HTTP1)
            return "the upstream speaks HTTP/2: call-outs are HTTP/1.1 only";
        target = r->path.len > 0 ? (px_str_t){r->path.data, r->path.len} : PX_LIT("/");
        if (!px_callout_target_ok(target.data, target.len))
            return "invalid path (must start with \"/\"; no spaces, controls or \"#\")";
    } else if (r->url != NULL) {
        const char *e = px_callout_parse_url(c, r->url, &host, &target);
        if (e != NULL)
            return e;
    } else {
        return "no upstream or url";
    }

    /* Head size: request line, Host, the caller's fields, Content-Length, the empty line. */
    size_t need = method.len + 1 + target.len + 11 + 2;
    int caller_host = 0;
    if (r->nheaders > 0 && r->headers == NULL)
        return "invalid headers";
    for (size_t i = 0; i < r->nheaders; i++) {
        const pyxis_header_t *h = &r->headers[i];
        if ((h->name.len > 0 && h->name.data == NULL) ||
            !px_callout_token(h->name.data, h->name.len))
            return "invalid header name";
        if ((h->value.len > 0 && h->value.data == NULL) ||
            !px_callout_value_ok(h->value.data, h->value.len))
            return "invalid header value (CR, LF or NUL)";
        if (px_callout_is_host(h->name) && caller_host++ > 0)
            return "more than one Host header";
        if (!px_callout_dropped(h->name))
            need += h->name.len + 2 + h->value.len + 2;
    }
    if (r->body.len > 0 && r->body.data == NULL)
        return "invalid body";
    int with_length = r->body.len > 0 || c->method == PX_METHOD_POST ||
                      c->method == PX_METHOD_PUT || c->method == PX_METHOD_PATCH;
    char cl[48];
    int cl_len = with_length ? snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", r->body.len) : 0;
    need += (size_t)cl_len;
    if (c->upstream != NULL) {
        /* The endpoint is picked last, so a refused request does not move the balancer. */
        c->upool = px_upstream_pick(&wg->ups[c->upstream->index], NULL);
        if (c->upool == NULL)
            return "upstream has no usable endpoint";
        px_upstream_pool_hold(c->upool);
        host = (px_str_t){c->upool->ep->addr.text, strlen(c->upool->ep->addr.text)};
    }
    if (!caller_host)
        need += 6 + host.len + 2;

    char *p = c->head = px_pnalloc(c->pool, need);
    if (p == NULL)
        return "out of memory";
    p = px_callout_put(p, method.data, method.len);
    p = px_callout_put(p, " ", 1);
    p = px_callout_put(p, target.data, target.len);
    p = px_callout_put(p, " HTTP/1.1\r\n", 11);
    if (!caller_host) {
        p = px_callout_put(p, "Host: ", 6);
        p = px_callout_put(p, host.data, host.len);
        p = px_callout_put(p, "\r\n", 2);
    }
    for (size_t i = 0; i < r->nheaders; i++) {
        const pyxis_header_t *h = &r->headers[i];
        if (px_callout_dropped(h->name))
            continue;
        p = px_callout_put(p, h->name.data, h->name.len);
        p = px_callout_put(p, ": ", 2);
        if (h->value.len > 0)
            p = px_callout_put(p, h->value.data, h->value.len);
        p = px_callout_put(p, "\r\n", 2);
    }
    p = px_callout_put(p, cl, (size_t)cl_len);
    p = px_callout_put(p, "\r\n", 2);
    c->head_len = (size_t)(p - c->head);

    if (r->body.len > 0) {
        if ((c->body = px_pmemdup(c->pool, r->body.data, r->body.len)) == NULL)
            return "out of memory";
        c->body_len = r->body.len;
    }
    c->max_body = r->max_body > 0 ? r->max_body : PX_CALLOUT_MAX_BODY;
    return NULL;
}

/* ---- ending ------------------------------------------------------------------------------- */

static const char *px_callout_errno(int err)
{
    switch (err) {
    case ECONNREFUSED: return "connection refused";
    case ECONNRESET:
    case EPIPE: return "connection reset";
    case ECONNABORTED: return "connection aborted";
    case ETIMEDOUT: return "connection timed out";
    case EHOSTUNREACH: return "host unreachable";
    case ENETUNREACH: return "network unreachable";
    default: return strerror(err);
    }
}

/* Let go of everything outside the pool: the worker list, the resolver, the connection (to
 * its pool when `reusable`), the timer, the owner's cleanup. */
static void px_callout_end(px_callout_t *c, int reusable)
{
    px_callout_link_remove(&c->link);
    if (c->dns != NULL) {
        c->dns->c = NULL; /* its callback still comes, and frees it */
        evdns_getaddrinfo_cancel(c->dns_req);
        c->dns = NULL;
        c->dns_req = NULL;
    }
    if (c->uc != NULL) {
        px_upstream_release(c->uc, reusable);
        c->uc = NULL;
    }
    event_del(c->timer);
    if (c->owner_slot != NULL) {
        *c->owner_slot = NULL;
        c->owner_slot = NULL;
    }
}

static void px_callout_free(px_callout_t *c)
{
    px_worker_t *w = c->worker;
    px_wgen_t *wg = c->wgen;
    if (c->upool != NULL)
        px_upstream_pool_drop(c->upool);
    evbuffer_free(c->resp_body);
    px_pool_destroy(c->pool);
    px_worker_wgen_put(w, wg);
}

/* Report the outcome (status 0: failed with `error`) and free the call-out. */
static void px_callout_finish(px_callout_t *c, int status, const char *error, int reusable)
{
    px_callout_end(c, reusable);
    pyxis_callout_resp_t resp = {.size = sizeof(resp), .status = status, .error = error};
    resp.body.data = "";
    if (status > 0) {
        size_t n = evbuffer_get_length(c->resp_body);
        const char *b = n > 0 ? (const char *)evbuffer_pullup(c->resp_body, -1) : "";
        if (b == NULL) {
            resp.status = 0;
            resp.error = "out of memory";
        } else {
            resp.headers = c->headers;
            resp.nheaders = c->nheaders;
            resp.body.data = b;
            resp.body.len = n;
        }
    }
    if (resp.status == 0) {
        if (resp.error == NULL)
            resp.error = "failed";
        px_log_debug("call-out to %s: %s", c->upstream ? c->upstream->name : c->key, resp.error);
    }
    c->delivering = 1;
    c->fn(&resp, c->arg);
    px_callout_free(c);
}

/* The call-out failed. Inside px_callout_start the failure waits for the loop. */
static void px_callout_fail(px_callout_t *c, const char *error)
{
    if (c->starting) {
        c->error = error;
        event_active(c->timer, EV_TIMEOUT, 1);
        return;
    }
    px_callout_finish(c, 0, error, 0);
}

static void px_callout_timeout(evutil_socket_t fd, short what, void *arg)
{
    px_callout_t *c = arg;
    px_callout_finish(c, 0, c->error != NULL ? c->error : "timeout", 0);
}

/* ---- connecting and resolving -------------------------------------------------------------- */

static void px_callout_connect(px_callout_t *c)
{
    const char *cause = "out of memory";
    px_upool_t *p;
    const struct sockaddr *sa;
    socklen_t len;
    if (c->upstream != NULL) {
        p = c->upool;
        sa = (const struct sockaddr *)&p->ep->addr.sa;
        len = p->ep->addr.salen;
    } else {
        p = px_upstream_url_pool(c->wgen, c->key, c->tls ? c->host : NULL, 1);
        sa = (const struct sockaddr *)&c->addrs[c->addr_next];
        len = c->addrlens[c->addr_next];
    }
    c->uc = p != NULL ? px_upstream_connect(p, sa, len, &px_callout_ops, c, &cause) : NULL;
    if (c->uc == NULL)
        px_callout_fail(c, cause);
}

static void px_callout_resolved(px_callout_t *c, int result)
{
    if (result != 0) {
        px_callout_fail(c, px_pcause(c->pool, "dns", evutil_gai_strerror(result)));
        return;
    }
    if (c->naddrs == 0) {
        px_callout_fail(c, "dns: no address for the host");
        return;
    }
    c->addr_next = 0;
    px_callout_connect(c);
}

static void px_callout_dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    px_callout_dns_t *d = arg;
    px_callout_t *c = d->c;
    if (c != NULL && result == 0) {
        c->naddrs = 0;
        for (struct evutil_addrinfo *ai = res; ai != NULL && c->naddrs < PX_CALLOUT_MAX_ADDRS;
             ai = ai->ai_next) {
            if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
                ai->ai_addrlen > sizeof(c->addrs[0]))
                continue;
            struct sockaddr_storage *ss = &c->addrs[c->naddrs];
            memset(ss, 0, sizeof(*ss));
            memcpy(ss, ai->ai_addr, ai->ai_addrlen);
            if (ai->ai_family == AF_INET)
                ((struct sockaddr_in *)ss)->sin_port = htons(c->port);
            else
                ((struct sockaddr_in6 *)ss)->sin6_port = htons(c->port);
            c->addrlens[c->naddrs++] = (socklen_t)ai->ai_addrlen;
        }
    }
    if (res != NULL)
        evutil_freeaddrinfo(res);
    if (d->sync) { /* px_callout_resolve() goes on with the answer */
        d->result = result;
        d->sync = 2;
        return;
    }
    d->cw->dns_pending--;
    free(d);
    if (c == NULL)
        return; /* cancelled */
    c->dns = NULL;
    c->dns_req = NULL;
    px_callout_resolved(c, result);
}

static void px_callout_resolve(px_callout_t *c)
{
    px_callout_worker_t *cw = c->worker->callouts;
    if (cw->dns == NULL) {
        /* /etc/resolv.conf for the servers and search domains, /etc/hosts first. */
        cw->dns = evdns_base_new(c->worker->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                                      EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (cw->dns == NULL) {
            px_callout_fail(c, "dns: cannot set up the resolver");
            return;
        }
    }
    px_callout_dns_t *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        px_callout_fail(c, "out of memory");
        return;
    }
    d->c = c;
    d->cw = cw;
    d->sync = 1;
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    struct evdns_getaddrinfo_request *req =
        evdns_getaddrinfo(cw->dns, c->host, NULL, &hints, px_callout_dns_cb, d);
    if (d->sync == 2 || req == NULL) {
        /* Answered at once (/etc/hosts, or an error), or (never seen) neither. */
        int result = d->sync == 2 ? d->result : EVUTIL_EAI_FAIL;
        free(d);
        px_callout_resolved(c, result);
        return;
    }
    d->sync = 0;
    cw->dns_pending++;
    c->dns = d;
    c->dns_req = req;
}

/* ---- the exchange -------------------------------------------------------------------------- */

static void px_callout_send(px_callout_t *c)
{
    px_uconn_t *uc = c->uc;
    struct evbuffer *out = px_io_output(uc->io);
    /* References into the pool: the pool outlives the connection's use of them (a connection
     * goes back to its pool only with an empty output buffer). */
    if (evbuffer_add_reference(out, c->head, c->head_len, NULL, NULL) < 0 ||
        (c->body_len > 0 && evbuffer_add_reference(out, c->body, c->body_len, NULL, NULL) < 0)) {
        px_callout_fail(c, "out of memory");
        return;
    }
    uc->req_written = 1;
    px_io_read_enable(uc->io);
}

/* Parse the response head. 1: the final head is parsed; 0: wait for more; -1: the call-out
 * has ended. */
static int px_callout_read_head(px_callout_t *c)
{
    px_uconn_t *uc = c->uc;
    struct evbuffer *in = px_io_input(uc->io);
    for (;;) {
        size_t len = evbuffer_get_length(in);
        if (len == 0)
            return 0;
        size_t n = len < PX_CALLOUT_MAX_HEAD ? len : PX_CALLOUT_MAX_HEAD;
        const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
        size_t head = px_h1_find_head_end(buf, n, &uc->scanned);
        if (head == PX_H1_HEAD_BARE_LF) {
            px_callout_fail(c, "invalid response: bare LF in head");
            return -1;
        }
        if (head == 0) {
            if (n < PX_CALLOUT_MAX_HEAD)
                return 0;
            px_callout_fail(c, "invalid response: head too large");
            return -1;
        }
        char *copy = px_pmemdup(c->pool, buf, head);
        evbuffer_drain(in, head);
        uc->scanned = 0;
        if (copy == NULL) {
            px_callout_fail(c, "out of memory");
            return -1;
        }
        px_header_t hs[PX_CALLOUT_MAX_HEADERS];
        px_h1_response_t resp;
        px_h1_error_t err = {502, NULL, 0};
        px_h1_limits_t lim = {PX_CALLOUT_MAX_HEAD, PX_CALLOUT_MAX_HEADERS, 0};
        if (px_h1_parse_response(copy, head, &resp, hs, PX_CALLOUT_MAX_HEADERS, &lim, &err) !=
            PX_H1_DONE) {
            px_callout_fail(c, px_pcause(c->pool, "invalid response",
                                         err.reason ? err.reason : "unparsable head"));
            return -1;
        }
        if (resp.status < 200) {
            if (resp.status == 101) {
                px_callout_fail(c, "invalid response: switched protocols");
                return -1;
            }
            /* 100 Continue, 103 Early Hints: skipped; each costs a head copy, so few. */
            if (++uc->interim > PX_CALLOUT_MAX_INTERIM) {
                px_callout_fail(c, "invalid response: too many interim responses");
                return -1;
            }
            continue;
        }
        uc->head_done = 1;
        c->status = resp.status;
        px_body_kind_t kind = px_h1_response_body(&resp, c->method);
        c->keepalive = kind != PX_BODY_CLOSE && !(resp.flags & PX_H1_CONN_CLOSE) &&
                       (resp.version == 11 || (resp.flags & PX_H1_CONN_KEEPALIVE));
        if (kind == PX_BODY_LENGTH && resp.content_length > c->max_body) {
            px_callout_fail(c, "response body too large");
            return -1;
        }
        if (resp.nheaders > 0) {
            c->headers = px_palloc(c->pool, resp.nheaders * sizeof(*c->headers));
            if (c->headers == NULL) {
                px_callout_fail(c, "out of memory");
                return -1;
            }
            for (size_t i = 0; i < resp.nheaders; i++) {
                c->headers[i].name = (pyxis_str_t){hs[i].name.data, hs[i].name.len};
                c->headers[i].value = (pyxis_str_t){hs[i].value.data, hs[i].value.len};
            }
        }
        c->nheaders = resp.nheaders;
        /* Output framing CLOSE: the body's bytes as they are, chunk framing and trailers
         * dropped. */
        px_h1_body_init(&c->body_dec, kind, resp.content_length, PX_BODY_CLOSE);
        c->body_dec.limit = c->max_body;
        return 1;
    }
}

static void px_callout_pump(px_callout_t *c)
{
    px_uconn_t *uc = c->uc;
    struct evbuffer *in = px_io_input(uc->io);
    px_h1_error_t err = {502, NULL, 0};
    switch (px_h1_body_pump(&c->body_dec, in, c->resp_body, SIZE_MAX, &err)) {
    case PX_OK: px_callout_finish(c, c->status, NULL, c->keepalive); return;
    case PX_DECLINED: px_callout_fail(c, "response body too large"); return;
    case PX_ERROR:
        px_callout_fail(c, px_pcause(c->pool, "invalid response",
                                     err.reason ? err.reason : "bad chunked framing"));
        return;
    default: break;
    }
    if (uc->eof && evbuffer_get_length(in) == 0) {
        if (px_h1_body_eof(&c->body_dec, c->resp_body) == PX_OK)
            px_callout_finish(c, c->status, NULL, 0);
        else
            px_callout_fail(c, "connection closed before the end of the response");
    }
}

int (*px_callout_connect_hook)(const char *upstream, const char *key, const char *head,
                               size_t head_len, const char **error);

/* px_callout_connect_hook is set: its socket instead of a pool, a resolver and a connect. */
static void px_callout_hooked(px_callout_t *c)
{
    const char *error = "no connection";
    int fd = px_callout_connect_hook(c->upstream != NULL ? c->upstream->name : NULL, c->key,
                                     c->head, c->head_len, &error);
    if (fd < 0) {
        px_callout_fail(c, error);
        return;
    }
    const char *cause = "out of memory";
    /* No TLS here: the hook's socket speaks plain HTTP whatever the scheme. */
    px_upool_t *p = c->upstream != NULL ? c->upool : px_upstream_url_pool(c->wgen, c->key, NULL, 1);
    if (p == NULL)
        close(fd);
    c->uc = p != NULL ? px_upstream_connect_fd(p, fd, NULL, 0, &px_callout_ops, c, &cause) : NULL;
    if (c->uc == NULL)
        px_callout_fail(c, cause);
}

/* Get a connection: a pooled one unless `fresh`, else a new one. */
static void px_callout_go(px_callout_t *c, int fresh)
{
    if (px_callout_connect_hook != NULL) {
        px_callout_hooked(c);
        return;
    }
    px_upool_t *p = c->upstream != NULL ? c->upool : px_upstream_url_pool(c->wgen, c->key, NULL, 0);
    if (!fresh && p != NULL) {
        c->uc = px_upstream_take(p, &px_callout_ops, c);
        if (c->uc != NULL) {
            px_callout_send(c);
            return;
        }
    }
    if (c->upstream == NULL && c->naddrs == 0) {
        px_callout_resolve(c);
        return;
    }
    px_callout_connect(c);
}

/* The connection failed before a response head. A pooled connection that failed before any
 * response byte was probably closed by the peer while idle: replay once on a new one. */
static void px_callout_failed_early(px_callout_t *c, const char *cause)
{
    px_uconn_t *uc = c->uc;
    if (uc->reused && !uc->answered && !c->retried) {
        px_log_debug("call-out to %s: %s on a reused connection; retrying on a new one",
                     uc->pool->name, cause);
        c->retried = 1;
        px_upstream_release(uc, 0);
        c->uc = NULL;
        px_callout_go(c, 1);
        return;
    }
    px_callout_fail(c, cause);
}

static void px_callout_readable(void *owner)
{
    px_callout_t *c = owner;
    c->uc->answered = 1;
    if (!c->uc->head_done && px_callout_read_head(c) <= 0)
        return;
    px_callout_pump(c);
}

static void px_callout_writable(void *owner)
{
    /* The whole request is queued at once; nothing waits for the output to drain. */
}

static void px_callout_event(void *owner, short what)
{
    px_callout_t *c = owner;
    px_uconn_t *uc = c->uc;
    if (what & PX_IO_CONNECTED) {
        px_callout_send(c);
        return;
    }
    if (uc->state == PX_UCONN_CONNECTING) {
        int timeout = (what & PX_IO_TIMEOUT) != 0;
        const char *tls = timeout ? NULL : px_io_tls_error(uc->io);
        const char *cause = timeout ? "connect timeout"
                            : tls   ? px_pstrdup(c->pool, tls) /* freed with the px_io */
                                    : px_callout_errno(px_io_error(uc->io));
        if (cause == NULL)
            cause = "out of memory";
        px_upstream_release(uc, 0);
        c->uc = NULL;
        /* The next address, unless a TLS server answered: its verdict stands. */
        if (!timeout && tls == NULL && c->upstream == NULL && c->addr_next + 1 < c->naddrs) {
            c->addr_next++; /* the host's next address */
            px_callout_connect(c);
            return;
        }
        px_callout_fail(c, cause);
        return;
    }
    if (what & PX_IO_EOF) {
        uc->eof = 1;
        px_io_read_disable(uc->io);
        if (!uc->head_done)
            px_callout_failed_early(c, "connection closed before the response");
        else
            px_callout_pump(c);
        return;
    }
    if (what & PX_IO_TIMEOUT) { /* no px_io timeout is set while active; the deadline rules */
        px_callout_fail(c, "timeout");
        return;
    }
    const char *tls = px_io_tls_error(uc->io);
    const char *cause =
        tls != NULL ? px_pstrdup(c->pool, tls) : px_callout_errno(px_io_error(uc->io));
    if (cause == NULL)
        cause = "out of memory";
    if (!uc->head_done)
        px_callout_failed_early(c, cause);
    else
        px_callout_fail(c, cause);
}

/* ---- starting, cancelling ------------------------------------------------------------------ */

static void px_callout_owner_gone(void *data)
{
    px_callout_t **slot = data;
    if (*slot != NULL)
        px_callout_cancel(*slot);
}

static px_callout_worker_t *px_callout_worker(px_worker_t *w)
{
    if (w->callouts == NULL) {
        px_callout_worker_t *cw = calloc(1, sizeof(*cw));
        if (cw == NULL)
            return NULL;
        cw->inflight.next = cw->inflight.prev = &cw->inflight;
        w->callouts = cw;
    }
    return w->callouts;
}

px_callout_t *px_callout_start(px_worker_t *w, px_wgen_t *wg, px_pool_t *owner,
                               const pyxis_callout_req_t *req, pyxis_callout_fn fn, void *arg,
                               const char **err)
{
    /* A module built against an older ABI passes a shorter struct: the rest counts as 0. */
    pyxis_callout_req_t r;
    memset(&r, 0, sizeof(r));
    if (req == NULL || fn == NULL) {
        *err = "no request or no callback";
        return NULL;
    }
    if (req->size < offsetof(pyxis_callout_req_t, url) + sizeof(req->url)) {
        *err = "pyxis_callout_req_t.size is not set";
        return NULL;
    }
    memcpy(&r, req, req->size < sizeof(r) ? req->size : sizeof(r));

    px_callout_worker_t *cw = px_callout_worker(w);
    px_pool_t *pool = px_pool_create(PX_POOL_DEFAULT_SIZE);
    px_callout_t *c = pool != NULL ? px_pcalloc(pool, sizeof(*c)) : NULL;
    if (cw == NULL || c == NULL) {
        px_pool_destroy(pool);
        *err = "out of memory";
        return NULL;
    }
    c->pool = pool;
    c->worker = w;
    c->wgen = wg;
    c->fn = fn;
    c->arg = arg;
    const char *e = px_callout_prepare(c, wg, &r);
    if (e == NULL) {
        c->timer = px_palloc(pool, event_get_struct_event_size());
        c->resp_body = evbuffer_new();
        if (c->timer == NULL || c->resp_body == NULL ||
            event_assign(c->timer, w->base, -1, 0, px_callout_timeout, c) < 0)
            e = "out of memory";
    }
    if (e == NULL && owner != NULL) {
        c->owner_slot = px_palloc(owner, sizeof(*c->owner_slot));
        if (c->owner_slot == NULL ||
            px_pool_cleanup_add(owner, px_callout_owner_gone, c->owner_slot) < 0)
            e = "out of memory";
        else
            *c->owner_slot = c;
    }
    if (e != NULL) {
        if (c->owner_slot != NULL)
            *c->owner_slot = NULL;
        if (c->resp_body != NULL)
            evbuffer_free(c->resp_body);
        px_pool_destroy(pool);
        *err = e;
        return NULL;
    }

    /* Committed: from here on the outcome goes to fn. */
    c->link.next = cw->inflight.next;
    c->link.prev = &cw->inflight;
    cw->inflight.next->prev = &c->link;
    cw->inflight.next = &c->link;
    wg->active++;
    uint64_t ms = r.timeout_ms > 0 ? r.timeout_ms : PX_CALLOUT_TIMEOUT_MS;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(c->timer, &tv);
    c->starting = 1;
    px_callout_go(c, 0);
    c->starting = 0;
    return c;
}

void px_callout_owns_arg(px_callout_t *c)
{
    c->owns_arg = 1;
}

void px_callout_cancel(px_callout_t *c)
{
    if (c == NULL || c->delivering)
        return;
    void *arg = c->owns_arg ? c->arg : NULL;
    px_callout_end(c, 0);
    px_callout_free(c);
    free(arg);
}

void px_callout_worker_exit(px_worker_t *w)
{
    px_callout_worker_t *cw = w->callouts;
    if (cw == NULL)
        return;
    /* A cancelled resolver request calls back from the loop, where its memory is freed: give
     * it the loop turns it needs (cancelling again whatever those turns started). */
    for (int i = 0;; i++) {
        while (cw->inflight.next != &cw->inflight)
            px_callout_cancel((px_callout_t *)cw->inflight.next);
        if (cw->dns_pending == 0 || i == 16)
            break;
        event_base_loop(w->base, EVLOOP_NONBLOCK);
    }
    if (cw->dns_pending > 0)
        px_log_debug("worker %u: %u resolver requests still pending at exit", w->id,
                     cw->dns_pending);
    if (cw->dns != NULL)
        evdns_base_free(cw->dns, 0);
    free(cw);
    w->callouts = NULL;
}
