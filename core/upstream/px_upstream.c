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

#include "px_io.h"
#include "px_log.h"
#include "px_proxy.h"
#include "px_tls.h"
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

void px_upstream_pools_init(px_wgen_t *wg)
{
    const px_conf_t *conf = wg->gen->conf;
    for (size_t u = 0; u < conf->nupstreams; u++) {
        const px_conf_upstream_t *up = &conf->upstreams[u];
        for (size_t e = 0; e < up->nendpoints; e++) {
            px_upool_t *p = &wg->pools[wg->pool_base[u] + e];
            memset(p, 0, sizeof(*p));
            p->wgen = wg;
            p->upstream = up;
            p->endpoint = &up->endpoints[e];
            p->name = p->endpoint->addr.text;
            p->max_idle = up->keepalive_max_idle;
            p->idle_timeout_ms = up->keepalive_idle_timeout_ms;
            p->max_requests = up->keepalive_max_requests;
            p->connect_timeout_ms = up->connect_timeout_ms;
            p->tls_host = up->tls != NULL ? up->tls->hosts[e] : NULL;
            px_link_init(&p->idle);
            px_link_init(&p->link);
        }
    }
    px_link_init(&wg->url_pools);
    wg->url_nidle = 0;
}

px_upool_t *px_upstream_pick(px_wgen_t *wg, const px_conf_upstream_t *up, const px_upool_t *avoid)
{
    px_upool_t *pools = &wg->pools[wg->pool_base[up->index]];
    px_upool_t *best = NULL;
    long total = 0;
    for (size_t e = 0; e < up->nendpoints; e++) {
        px_upool_t *p = &pools[e];
        if (p == avoid && up->nendpoints > 1)
            continue;
        p->current_weight += p->endpoint->weight;
        total += p->endpoint->weight;
        if (best == NULL || p->current_weight > best->current_weight)
            best = p;
    }
    if (best != NULL)
        best->current_weight -= total;
    return best;
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
    px_link_push(&wg->url_pools, &p->link);
    return p;
}

/* A URL pool goes with its last connection. */
static void px_upstream_url_pool_put(px_upool_t *p)
{
    if (p->upstream != NULL || p->nconns > 0)
        return;
    px_link_remove(&p->link);
    free(p);
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
    free(uc);
    p->nconns--;
    px_upstream_url_pool_put(p);
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
        px_upstream_url_pool_put(p);
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
    px_io_set_timeouts(uc->io, 0, 0);
    return uc;
}

int (*px_upstream_connect_hook)(const px_upool_t *p);

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

px_status_t px_upstream_attach(px_txn_t *t, int fresh, const char **cause)
{
    const px_conf_upstream_t *up = t->upstream;
    px_upool_t *p = px_upstream_pick(t->wgen, up, t->uconn_pool_tried);
    if (p == NULL) {
        *cause = "no endpoints";
        return PX_ERROR;
    }
    t->endpoint = p->endpoint;
    t->uconn_pool_tried = p;
    px_uconn_t *uc = fresh ? NULL : px_upstream_take(p, &px_upstream_proxy_ops, t);
    if (uc != NULL) {
        t->uconn = uc;
        return PX_OK;
    }
    const px_conf_addr_t *a = &p->endpoint->addr;
    if (px_upstream_connect_hook != NULL)
        uc = px_upstream_connect_fd(p, px_upstream_connect_hook(p), NULL, 0, &px_upstream_proxy_ops,
                                    t, cause);
    else
        uc = px_upstream_connect(p, (const struct sockaddr *)&a->sa, a->salen,
                                 &px_upstream_proxy_ops, t, cause);
    if (uc == NULL)
        return PX_ERROR;
    t->uconn = uc;
    return PX_AGAIN;
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
    px_io_read_enable(uc->io);
    px_io_set_timeouts(uc->io, p->idle_timeout_ms, 0);
}

void px_upstream_close_idle(px_wgen_t *wg)
{
    const px_conf_t *conf = wg->gen->conf;
    size_t n = conf->nupstreams ? wg->pool_base[conf->nupstreams - 1] +
                                      conf->upstreams[conf->nupstreams - 1].nendpoints
                                : 0;
    for (size_t i = 0; i < n; i++) {
        px_upool_t *p = &wg->pools[i];
        while (p->nidle > 0)
            px_upstream_free((px_uconn_t *)p->idle.next);
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
        uc->state = PX_UCONN_ACTIVE;
        px_io_set_timeouts(io, 0, 0);
    }
    uc->ops->event(uc->owner, what);
}
