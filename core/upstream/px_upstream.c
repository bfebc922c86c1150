/*
 * px_upstream.c: endpoint choice (smooth weighted round robin), connecting, and per-worker
 * keep-alive pools (endpoint pools and call-out URL pools).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "px_endpoint.h"
#include "px_h2_client.h"
#include "px_hash.h"
#include "px_io.h"
#include "px_log.h"
#include "px_proxy.h"
#include "px_time.h"
#include "px_txn.h"
#include "px_tls.h"
#include "px_up_h1.h"
#include "px_upstream.h"
#include "px_worker.h"

static void px_upstream_readcb(px_io_t *io, void *arg);
static void px_upstream_writecb(px_io_t *io, void *arg);
static void px_upstream_eventcb(px_io_t *io, short what, void *arg);

static void px_link_init(px_link_t *l)
{
    l->next = l->prev = l;
}

static void px_link_remove(px_link_t *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->next = l->prev = l;
}

static void px_link_push(px_link_t *head, px_link_t *l)
{
    l->next = head->next;
    l->prev = head;
    head->next->prev = l;
    head->next = l;
}

/* ---- endpoint pools and the worker's view of each upstream ---------------------------------- */

static px_upool_t *px_upstream_pool_new(px_wup_t *u, px_wgen_t *wg, const px_hostset_entry_t *e)
{
    const px_conf_upstream_t *up = u->rt->conf;
    px_upool_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->wgen = wg;
    p->upstream = up;
    p->ep = e->ep;
    px_ep_retain(e->ep);
    p->wup = u;
    p->name = e->ep->addr.text;
    p->weight = e->weight;
    p->max_idle = up->keepalive_max_idle;
    p->idle_timeout_ms = up->keepalive_idle_timeout_ms;
    p->max_requests = up->keepalive_max_requests;
    p->connect_timeout_ms = up->connect_timeout_ms;
    p->tls_host = e->tls_host;
    px_link_init(&p->idle);
    px_link_init(&p->link);
    px_link_init(&p->h2);
    return p;
}

static void px_upstream_pool_free(px_upool_t *p)
{
    px_ep_release(p->ep);
    free(p);
}

/* A pool goes with its last use once nothing will hand it out again: a URL pool when its last
 * connection closes, an endpoint pool whose endpoint left the host set (or whose view is
 * freed) when its last connection closes and no request counts on it. */
static void px_upstream_pool_put(px_upool_t *p)
{
    if (p->nconns > 0 || p->active > 0)
        return;
    if (p->upstream == NULL) {
        px_link_remove(&p->link);
        free(p);
    } else if (p->gone) {
        px_upstream_pool_free(p);
    }
}

static void px_upstream_free(px_uconn_t *uc);

/* p is no longer in its view's table: close its idle connections, free it with its last use.
 * now: HTTP/2 sessions without streams close at once too (else from the loop: a stream of
 * theirs may be running, px_h2_client.h). */
static void px_upstream_pool_retire(px_upool_t *p, int now)
{
    p->gone = 1;
    p->nconns++; /* keep p while its idle connections go */
    while (p->nidle > 0)
        px_upstream_free((px_uconn_t *)p->idle.next);
    if (p->nh2 > 0)
        px_h2c_close_idle(p, now);
    p->nconns--;
    px_upstream_pool_put(p);
}

/* The index in u's current host set of ep's pool, or -1. */
static long px_upstream_pool_index(const px_wup_t *u, const px_ep_t *ep)
{
    for (size_t j = 0; u->hosts != NULL && j < u->hosts->n; j++) {
        if (u->pools[j]->ep == ep)
            return (long)j;
    }
    return -1;
}

/* Switch u to its upstream's current host set: endpoints that stay keep their pools (and idle
 * connections), new ones get pools, the pools of those that left are retired. Nothing changes
 * when memory runs out (the next pick tries again). */
static void px_upstream_refresh(px_wup_t *u)
{
    uint64_t version;
    px_hostset_t *hs = px_uprt_hosts(u->rt, &version);
    size_t nold = u->hosts != NULL ? u->hosts->n : 0;
    px_upool_t **pools = calloc(hs->n + 1, sizeof(*pools));
    char *kept = calloc(nold + 1, 1); /* kept[j]: old pool j moves to the new table */
    int failed = pools == NULL || kept == NULL;
    for (size_t i = 0; !failed && i < hs->n; i++) {
        long j = px_upstream_pool_index(u, hs->e[i].ep);
        if (j >= 0) {
            pools[i] = u->pools[j];
            kept[j] = 1;
        } else if ((pools[i] = px_upstream_pool_new(u, u->wgen, &hs->e[i])) == NULL) {
            failed = 1;
        }
    }
    if (failed) {
        for (size_t i = 0; pools != NULL && i < hs->n; i++) {
            if (pools[i] != NULL && px_upstream_pool_index(u, pools[i]->ep) < 0)
                px_upstream_pool_free(pools[i]); /* made here, never used */
        }
        free(pools);
        free(kept);
        px_hostset_release(hs);
        return;
    }
    for (size_t i = 0; i < hs->n; i++)
        pools[i]->weight = hs->e[i].weight;
    for (size_t j = 0; j < nold; j++) {
        if (!kept[j])
            px_upstream_pool_retire(u->pools[j], 0);
    }
    free(kept);
    free(u->pools);
    px_hostset_release(u->hosts);
    u->pools = pools;
    u->hosts = hs;
    u->version = version;
}

int px_upstream_views_init(px_wgen_t *wg)
{
    const px_conf_t *conf = wg->gen->conf;
    px_link_init(&wg->url_pools);
    wg->url_nidle = 0;
    wg->ups = calloc(conf->nupstreams + 1, sizeof(*wg->ups));
    if (wg->ups == NULL)
        return -1;
    for (size_t i = 0; i < conf->nupstreams; i++) {
        px_wup_t *u = &wg->ups[i];
        u->rt = &wg->gen->uprt[i];
        u->wgen = wg;
        u->rng = 0x9e3779b97f4a7c15ULL * (wg->worker->id + 1) ^ (uint64_t)(uintptr_t)u;
        px_upstream_refresh(u);
        if (u->hosts == NULL) {
            px_upstream_views_free(wg);
            return -1;
        }
    }
    return 0;
}

void px_upstream_views_free(px_wgen_t *wg)
{
    if (wg->ups == NULL)
        return;
    for (size_t i = 0; i < wg->gen->conf->nupstreams; i++) {
        px_wup_t *u = &wg->ups[i];
        for (size_t j = 0; u->hosts != NULL && j < u->hosts->n; j++)
            px_upstream_pool_retire(u->pools[j], 1);
        free(u->pools);
        px_hostset_release(u->hosts);
    }
    free(wg->ups);
    wg->ups = NULL;
}

/* ---- choosing an endpoint ------------------------------------------------------------------- */

uint64_t px_upstream_random(px_wup_t *u)
{
    /* xorshift64*: plenty for spreading load, and per worker, so no lock and no shared line */
    uint64_t x = u->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    u->rng = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* May entry i serve this pick? */
static int px_upstream_eligible(const px_wup_t *u, size_t i, const px_pick_t *k, uint64_t now,
                                int avoid_tried)
{
    px_ep_t *ep = u->hosts->e[i].ep;
    if (!px_ep_usable(ep, now))
        return 0;
    for (size_t j = 0; avoid_tried && j < k->ntried; j++) {
        if (k->tried[j] == ep)
            return 0;
    }
    return 1;
}

static long px_upstream_choose(px_wup_t *u, const px_pick_t *k, uint64_t now, int avoid)
{
    size_t n = u->hosts->n, m = 0;
    long best = -1;
    switch (u->rt->conf->balance) {
    case PX_BALANCE_ROUND_ROBIN: {
        long total = 0;
        for (size_t i = 0; i < n; i++) {
            if (!px_upstream_eligible(u, i, k, now, avoid))
                continue;
            px_upool_t *p = u->pools[i];
            p->current_weight += p->weight;
            total += p->weight;
            if (best < 0 || p->current_weight > u->pools[best]->current_weight)
                best = (long)i;
        }
        if (best >= 0)
            u->pools[best]->current_weight -= total;
        return best;
    }
    case PX_BALANCE_HASH:
        if (k->has_hash && u->hosts->maglev != NULL) {
            /* The key's slot, then a few rehashes of it, then the next eligible entry. */
            for (uint64_t salt = 0; salt <= 4; salt++) {
                uint64_t h = salt == 0 ? k->hash : px_hash64(&k->hash, sizeof(k->hash), salt);
                size_t i = u->hosts->maglev[h % PX_MAGLEV_SIZE];
                if (px_upstream_eligible(u, i, k, now, avoid))
                    return (long)i;
                best = (long)i;
            }
            for (size_t d = 1; d < n; d++) {
                size_t i = ((size_t)best + d) % n;
                if (px_upstream_eligible(u, i, k, now, avoid))
                    return (long)i;
            }
            return -1;
        }
        /* no key: spread like random */
        /* fall through */
    case PX_BALANCE_RANDOM: {
        uint64_t total = 0;
        for (size_t i = 0; i < n; i++)
            total += px_upstream_eligible(u, i, k, now, avoid) ? u->pools[i]->weight : 0;
        if (total == 0)
            return -1;
        uint64_t r = px_upstream_random(u) % total;
        for (size_t i = 0; i < n; i++) {
            if (!px_upstream_eligible(u, i, k, now, avoid))
                continue;
            if (r < u->pools[i]->weight)
                return (long)i;
            r -= u->pools[i]->weight;
        }
        return -1;
    }
    case PX_BALANCE_LEAST_REQUEST: {
        for (size_t i = 0; i < n; i++)
            m += px_upstream_eligible(u, i, k, now, avoid);
        if (m == 0)
            return -1;
        /* Two distinct eligible entries at random; the one with fewer requests in flight for
         * its weight wins. */
        size_t a = px_upstream_random(u) % m, b = m > 1 ? px_upstream_random(u) % (m - 1) : a;
        if (m > 1 && b >= a)
            b++;
        long ia = -1, ib = -1;
        for (size_t i = 0, j = 0; i < n; i++) {
            if (!px_upstream_eligible(u, i, k, now, avoid))
                continue;
            if (j == a)
                ia = (long)i;
            if (j == b)
                ib = (long)i;
            j++;
        }
        const px_upool_t *pa = u->pools[ia], *pb = u->pools[ib];
        return (uint64_t)(pa->active + 1) * pb->weight <= (uint64_t)(pb->active + 1) * pa->weight
                   ? ia
                   : ib;
    }
    }
    return -1;
}

px_upool_t *px_upstream_pick(px_wup_t *u, const px_pick_t *k)
{
    static const px_pick_t none = {NULL, 0, 0, 0};
    if (k == NULL)
        k = &none;
    if (atomic_load_explicit(&u->rt->version, memory_order_acquire) != u->version)
        px_upstream_refresh(u);
    if (u->hosts->n == 0)
        return NULL;
    uint64_t now = px_time_ms();
    /* Prefer endpoints not tried yet; else any usable one, tried or not. */
    for (int avoid = k->ntried > 0; avoid >= 0; avoid--) {
        long i = px_upstream_choose(u, k, now, avoid);
        if (i >= 0)
            return u->pools[i];
    }
    return NULL;
}

px_upool_t *px_upstream_url_pool(px_wgen_t *wg, const char *key, const char *tls_host, int create)
{
    for (px_link_t *l = wg->url_pools.next; l != &wg->url_pools; l = l->next) {
        px_upool_t *p = (px_upool_t *)((char *)l - offsetof(px_upool_t, link));
        if (strcmp(p->name, key) == 0)
            return p;
    }
    if (!create)
        return NULL;
    size_t len = strlen(key), tlen = tls_host != NULL ? strlen(tls_host) + 1 : 0;
    px_upool_t *p = calloc(1, sizeof(*p) + len + 1 + tlen);
    if (p == NULL)
        return NULL;
    char *name = (char *)(p + 1);
    memcpy(name, key, len + 1);
    if (tls_host != NULL) {
        memcpy(name + len + 1, tls_host, tlen);
        p->tls_host = name + len + 1;
    }
    p->wgen = wg;
    p->name = name;
    p->max_idle = PX_UPSTREAM_URL_MAX_IDLE;
    p->idle_timeout_ms = PX_UPSTREAM_URL_IDLE_TIMEOUT;
    p->connect_timeout_ms = 0; /* the call-out's own deadline bounds the connect */
    px_link_init(&p->idle);
    px_link_init(&p->h2);
    px_link_push(&wg->url_pools, &p->link);
    return p;
}

static void px_upstream_free(px_uconn_t *uc)
{
    px_upool_t *p = uc->pool;
    if (uc->state == PX_UCONN_IDLE) {
        px_link_remove(&uc->link);
        p->nidle--;
        if (p->upstream == NULL)
            p->wgen->url_nidle--;
    }
    if (uc->io != NULL)
        px_io_free(uc->io);
    if (uc->counted || uc->pending) {
        px_uprt_t *rt = p->wup->rt;
        if (uc->counted)
            atomic_fetch_sub_explicit(&rt->conns, 1, memory_order_relaxed);
        if (uc->pending)
            atomic_fetch_sub_explicit(&rt->pending, 1, memory_order_relaxed);
    }
    free(uc);
    p->nconns--;
    px_upstream_pool_put(p);
}

px_uconn_t *px_upstream_connect(px_upool_t *p, const struct sockaddr *sa, socklen_t salen,
                                const px_uconn_ops_t *ops, void *owner, const char **cause)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return px_upstream_connect_fd(p, fd, sa, salen, ops, owner, cause);
}

px_uconn_t *px_upstream_connect_fd(px_upool_t *p, int fd, const struct sockaddr *sa,
                                   socklen_t salen, const px_uconn_ops_t *ops, void *owner,
                                   const char **cause)
{
    px_uconn_t *uc = fd < 0 ? NULL : calloc(1, sizeof(*uc));
    if (uc == NULL) {
        *cause = fd < 0 ? strerror(errno) : "out of memory";
        if (fd >= 0)
            close(fd);
        px_upstream_pool_put(p);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    px_link_init(&uc->link);
    uc->pool = p;
    uc->wgen = p->wgen;
    uc->state = PX_UCONN_CONNECTING;
    uc->ops = ops;
    uc->owner = owner;
    p->nconns++;
    uc->io = px_io_new(p->wgen->worker->base, fd);
    if (uc->io == NULL) {
        close(fd);
        *cause = "out of memory";
        px_upstream_free(uc);
        return NULL;
    }
    /* test-filter's sockets (px_upstream_connect_hook) speak plain HTTP whatever the pool. */
    if (p->tls_host != NULL && !(px_upstream_connect_hook != NULL && p->upstream != NULL)) {
        const px_tls_upstream_t *tls = p->upstream != NULL ? p->upstream->tls : NULL;
        SSL *ssl = px_tls_client_new(p->wgen->worker, tls, p->tls_host, cause);
        if (ssl == NULL || px_io_start_tls(uc->io, ssl) < 0) {
            if (ssl != NULL) {
                SSL_free(ssl);
                *cause = "out of memory";
            }
            px_upstream_free(uc);
            return NULL;
        }
    }
    px_io_setcb(uc->io, px_upstream_readcb, px_upstream_writecb, px_upstream_eventcb, uc);
    /* While connecting, the write timeout is the connect timeout. */
    px_io_set_timeouts(uc->io, 0, p->connect_timeout_ms);
    if (px_io_connect(uc->io, sa, salen) < 0) {
        *cause = strerror(errno);
        px_upstream_free(uc);
        return NULL;
    }
    return uc;
}

px_uconn_t *px_upstream_take(px_upool_t *p, const px_uconn_ops_t *ops, void *owner)
{
    if (p->nidle == 0)
        return NULL;
    px_uconn_t *uc = (px_uconn_t *)p->idle.next;
    px_link_remove(&uc->link);
    p->nidle--;
    if (p->upstream == NULL)
        p->wgen->url_nidle--;
    uc->state = PX_UCONN_ACTIVE;
    uc->ops = ops;
    uc->owner = owner;
    uc->reused = 1;
    uc->sent_before = px_io_sent(uc->io);
    px_io_set_timeouts(uc->io, 0, 0);
    return uc;
}

int (*px_upstream_connect_hook)(const px_upool_t *p);
int px_upstream_idle_unwatched;

/* ---- the proxy's connections ---------------------------------------------------------------- */

static void px_upstream_proxy_readable(void *owner)
{
    px_proxy_upstream_readable(owner);
}
static void px_upstream_proxy_writable(void *owner)
{
    px_proxy_upstream_writable(owner);
}
static void px_upstream_proxy_event(void *owner, short what)
{
    px_proxy_upstream_event(owner, what);
}

static const px_uconn_ops_t px_upstream_proxy_ops = {
    .readable = px_upstream_proxy_readable,
    .writable = px_upstream_proxy_writable,
    .event = px_upstream_proxy_event,
};

/* The balance hash key of t, hashed: the client address, a header, or a cookie. 0 when the
 * request has none (then the pick spreads like random). */
static int px_upstream_hash_key(const px_txn_t *t, const px_conf_upstream_t *up, uint64_t *out)
{
    if (up->hash_on == PX_HASH_CLIENT_ADDRESS) {
        const char *a = t->down->peer_text;
        *out = px_hash64(a, strlen(a), 0);
        return 1;
    }
    const char *want = up->hash_on == PX_HASH_HEADER ? up->hash_name : "cookie";
    size_t nl = strlen(up->hash_name);
    const px_headers_t *h = &t->req_headers;
    for (long i = px_headers_find(h, want, strlen(want), 0); i >= 0;
         i = px_headers_find(h, want, strlen(want), (size_t)i + 1)) {
        px_str_t v = h->items[i].value;
        if (up->hash_on == PX_HASH_HEADER) {
            *out = px_hash64(v.data, v.len, 0);
            return 1;
        }
        /* Cookie: name=value; name2=value2 (RFC 6265 section 4.2.1) */
        const char *c = v.data, *end = v.data + v.len;
        while (c < end) {
            while (c < end && (*c == ' ' || *c == ';'))
                c++;
            const char *eq = memchr(c, '=', (size_t)(end - c));
            const char *semi = memchr(c, ';', (size_t)(end - c));
            if (semi == NULL)
                semi = end;
            if (eq != NULL && eq < semi && (size_t)(eq - c) == nl &&
                memcmp(c, up->hash_name, nl) == 0) {
                *out = px_hash64(eq + 1, (size_t)(semi - eq - 1), 0);
                return 1;
            }
            c = semi;
        }
    }
    return 0;
}

/* Take one from a circuit breaker counter unless it is at its limit (0: none, not counted). */
static int px_upstream_breaker_take(_Atomic uint64_t *c, uint64_t limit)
{
    if (limit == 0)
        return 1;
    if (atomic_fetch_add_explicit(c, 1, memory_order_relaxed) < limit)
        return 1;
    atomic_fetch_sub_explicit(c, 1, memory_order_relaxed);
    return 0;
}

/* px_upstream_attach() on an HTTP/2 pool: a stream of a session with room (unless `fresh`: a
 * stream the server refused goes to a new connection), else of a new connection; the
 * connection counts in max_connections, a stream waiting for one in max_pending. */
static px_status_t px_upstream_attach_h2(px_txn_t *t, px_upool_t *p, int fresh, int *status,
                                         const char **cause)
{
    px_uprt_t *rt = p->wup->rt;
    const px_conf_breakers_t *b = &t->upstream->breakers;
    px_h2c_t *c = fresh ? NULL : px_h2c_find(p);
    if (c == NULL) {
        if (!px_upstream_breaker_take(&rt->conns, b->max_connections)) {
            *status = 503;
            *cause = "circuit breaker: max_connections";
            t->overflow = "max_connections";
            return PX_ERROR;
        }
        c = px_h2c_open(p, cause);
        if (c == NULL) {
            if (b->max_connections > 0)
                atomic_fetch_sub_explicit(&rt->conns, 1, memory_order_relaxed);
            return PX_ERROR;
        }
        if (b->max_connections > 0)
            px_h2c_counted(c);
    }
    int ready = px_h2c_ready(c);
    if (!ready && !px_upstream_breaker_take(&rt->pending, b->max_pending)) {
        *status = 503;
        *cause = "circuit breaker: max_pending";
        t->overflow = "max_pending";
        return PX_ERROR; /* a connection opened for nothing closes when idle */
    }
    px_uconn_t *uc = px_h2c_stream(c, t, !ready && b->max_pending > 0);
    if (uc == NULL) {
        if (!ready && b->max_pending > 0)
            atomic_fetch_sub_explicit(&rt->pending, 1, memory_order_relaxed);
        *status = 500;
        *cause = "out of memory";
        return PX_ERROR;
    }
    t->uconn = uc;
    return ready ? PX_OK : PX_AGAIN;
}

px_status_t px_upstream_attach(px_txn_t *t, int fresh, int *status, const char **cause)
{
    const px_conf_upstream_t *up = t->upstream;
    px_wup_t *u = &t->wgen->ups[up->index];
    px_pick_t k = {t->tried, t->ntried, 0, 0};
    if (up->balance == PX_BALANCE_HASH)
        k.has_hash = px_upstream_hash_key(t, up, &k.hash) != 0;
    *status = 502;
    px_upool_t *p = px_upstream_pick(u, &k);
    if (p == NULL) {
        *status = 503;
        *cause = u->hosts->n > 0                      ? "no healthy endpoint"
                 : up->discovery.kind != PX_DISC_NONE ? "no endpoints: discovery has found none yet"
                                                      : "no endpoints";
        return PX_ERROR;
    }
    t->ep = p->ep;
    if (t->ntried < PX_TXN_MAX_TRIED)
        t->tried[t->ntried++] = p->ep;
    if (t->upool != p) {
        px_upstream_pool_hold(p);
        if (t->upool != NULL)
            px_upstream_pool_drop(t->upool);
        t->upool = p;
    }
    if (up->protocol == PX_UPROTO_HTTP2 || up->protocol == PX_UPROTO_H2C ||
        (up->protocol == PX_UPROTO_AUTO && p->nh2 > 0))
        return px_upstream_attach_h2(t, p, fresh, status, cause);
    px_uconn_t *uc = fresh ? NULL : px_upstream_take(p, &px_upstream_proxy_ops, t);
    if (uc != NULL) {
        uc->up = &px_up_h1_ops;
        t->uconn = uc;
        return PX_OK;
    }
    px_uprt_t *rt = u->rt;
    const px_conf_breakers_t *b = &up->breakers;
    if (!px_upstream_breaker_take(&rt->conns, b->max_connections)) {
        *status = 503;
        *cause = "circuit breaker: max_connections";
        t->overflow = "max_connections";
        return PX_ERROR;
    }
    if (!px_upstream_breaker_take(&rt->pending, b->max_pending)) {
        if (b->max_connections > 0)
            atomic_fetch_sub_explicit(&rt->conns, 1, memory_order_relaxed);
        *status = 503;
        *cause = "circuit breaker: max_pending";
        t->overflow = "max_pending";
        return PX_ERROR;
    }
    const px_conf_addr_t *a = &p->ep->addr;
    if (px_upstream_connect_hook != NULL)
        uc = px_upstream_connect_fd(p, px_upstream_connect_hook(p), NULL, 0, &px_upstream_proxy_ops,
                                    t, cause);
    else
        uc = px_upstream_connect(p, (const struct sockaddr *)&a->sa, a->salen,
                                 &px_upstream_proxy_ops, t, cause);
    if (uc == NULL) {
        if (b->max_connections > 0)
            atomic_fetch_sub_explicit(&rt->conns, 1, memory_order_relaxed);
        if (b->max_pending > 0)
            atomic_fetch_sub_explicit(&rt->pending, 1, memory_order_relaxed);
        return PX_ERROR;
    }
    uc->counted = b->max_connections > 0;
    uc->pending = b->max_pending > 0;
    uc->up = &px_up_h1_ops;
    t->uconn = uc;
    return PX_AGAIN;
}

void px_upstream_unpend(px_uconn_t *uc)
{
    if (uc->pending) {
        uc->pending = 0;
        atomic_fetch_sub_explicit(&uc->pool->wup->rt->pending, 1, memory_order_relaxed);
    }
}

void px_upstream_pool_hold(px_upool_t *p)
{
    p->active++;
}

void px_upstream_pool_drop(px_upool_t *p)
{
    p->active--;
    px_upstream_pool_put(p);
}

void px_upstream_txn_done(px_txn_t *t)
{
    if (t->upool != NULL) {
        px_upstream_pool_drop(t->upool);
        t->upool = NULL;
    }
}

/* ---- giving back, and idle connections ------------------------------------------------------ */

void px_upstream_release(px_uconn_t *uc, int reusable)
{
    px_upool_t *p = uc->pool;
    px_worker_t *w = p->wgen->worker;
    int url = p->upstream == NULL;
    uc->ops = NULL;
    uc->owner = NULL;
    uc->requests++;
    if (!reusable || uc->eof || w->draining || p->wgen != w->cur || p->nidle >= p->max_idle ||
        (url && p->wgen->url_nidle >= PX_UPSTREAM_URL_MAX_IDLE_TOTAL) ||
        (p->max_requests > 0 && uc->requests >= p->max_requests) ||
        evbuffer_get_length(px_io_input(uc->io)) > 0 ||
        evbuffer_get_length(px_io_output(uc->io)) > 0) {
        px_upstream_free(uc);
        return;
    }
    uc->state = PX_UCONN_IDLE;
    uc->reused = 0;
    uc->head_done = 0;
    uc->req_written = 0;
    uc->answered = 0;
    uc->interim = 0;
    uc->scanned = 0;
    px_link_push(&p->idle, &uc->link);
    p->nidle++;
    if (url)
        p->wgen->url_nidle++;
    /* Idle: any byte or EOF makes it unusable (readcb/eventcb close it); the read timeout is
     * the idle timeout. */
    px_io_set_read_high(uc->io, 0);
    px_io_set_write_low(uc->io, 0);
    if (px_upstream_idle_unwatched) {
        px_io_read_disable(uc->io); /* a test hook (px_upstream.h): nothing is noticed */
        return;
    }
    px_io_read_enable(uc->io);
    px_io_set_timeouts(uc->io, p->idle_timeout_ms, 0);
}

void px_upstream_close_idle(px_wgen_t *wg)
{
    for (size_t i = 0; wg->ups != NULL && i < wg->gen->conf->nupstreams; i++) {
        px_wup_t *u = &wg->ups[i];
        for (size_t j = 0; u->hosts != NULL && j < u->hosts->n; j++) {
            px_upool_t *p = u->pools[j];
            while (p->nidle > 0)
                px_upstream_free((px_uconn_t *)p->idle.next);
            if (p->nh2 > 0) {
                p->nconns++; /* keep p (a retired endpoint's) while its sessions go */
                px_h2c_close_idle(p, 1);
                p->nconns--;
            }
        }
    }
    /* A URL pool is freed with its last connection: step to the next one first. */
    for (px_link_t *l = wg->url_pools.next, *next; l != &wg->url_pools; l = next) {
        next = l->next;
        px_upool_t *p = (px_upool_t *)((char *)l - offsetof(px_upool_t, link));
        for (unsigned k = p->nidle; k > 0; k--)
            px_upstream_free((px_uconn_t *)p->idle.next); /* the last may free p */
    }
}

static void px_upstream_readcb(px_io_t *io, void *arg)
{
    px_uconn_t *uc = arg;
    if (uc->state == PX_UCONN_IDLE) {
        px_log_debug("upstream %s: idle connection received data; closed", uc->pool->name);
        px_upstream_free(uc);
        return;
    }
    uc->ops->readable(uc->owner);
}

static void px_upstream_writecb(px_io_t *io, void *arg)
{
    px_uconn_t *uc = arg;
    if (uc->state == PX_UCONN_ACTIVE)
        uc->ops->writable(uc->owner);
}

static void px_upstream_eventcb(px_io_t *io, short what, void *arg)
{
    px_uconn_t *uc = arg;
    if (uc->state == PX_UCONN_IDLE) {
        px_upstream_free(uc); /* closed by the upstream, error, or idle timeout */
        return;
    }
    if (what & PX_IO_CONNECTED) {
        px_upstream_unpend(uc);
        uc->state = PX_UCONN_ACTIVE;
        px_io_set_timeouts(io, 0, 0);
        /* protocol auto: a server that chose h2 gets a session, the request its first stream */
        if (uc->up == &px_up_h1_ops && uc->pool->upstream->protocol == PX_UPROTO_AUTO &&
            px_h2c_alpn_h2(io) && px_h2c_adopt(uc) == 0)
            return;
    }
    uc->ops->event(uc->owner, what);
}
