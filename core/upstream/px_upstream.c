/*
 * px_upstream.c: endpoint choice (smooth weighted round robin), connecting, and per-worker
 * keep-alive pools.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "px_io.h"
#include "px_log.h"
#include "px_proxy.h"
#include "px_upstream.h"
#include "px_worker.h"

static void px_upstream_readcb(px_io_t *io, void *arg);
static void px_upstream_writecb(px_io_t *io, void *arg);
static void px_upstream_eventcb(px_io_t *io, short what, void *arg);

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
            p->upstream = up;
            p->endpoint = &up->endpoints[e];
            p->idle.next = p->idle.prev = &p->idle;
            p->nidle = 0;
            p->current_weight = 0;
        }
    }
}

/* Smooth weighted round robin (each endpoint chosen in proportion to its weight, interleaved).
 * `avoid` is skipped when another endpoint exists (a retry prefers a different one). */
static px_upool_t *px_upstream_pick(px_wgen_t *wg, const px_conf_upstream_t *up,
                                    const px_upool_t *avoid)
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

static void px_upstream_free(px_uconn_t *uc)
{
    if (uc->state == PX_UCONN_IDLE) {
        px_link_remove(&uc->link);
        uc->pool->nidle--;
    }
    if (uc->io != NULL)
        px_io_free(uc->io);
    free(uc);
}

static px_uconn_t *px_upstream_connect(px_txn_t *t, px_upool_t *p, const char **cause)
{
    const px_conf_endpoint_t *ep = p->endpoint;
    int fd = socket(ep->addr.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *cause = strerror(errno);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    px_uconn_t *uc = calloc(1, sizeof(*uc));
    if (uc == NULL) {
        close(fd);
        *cause = "out of memory";
        return NULL;
    }
    uc->link.next = uc->link.prev = &uc->link;
    uc->pool = p;
    uc->wgen = t->wgen;
    uc->state = PX_UCONN_CONNECTING;
    uc->io = px_io_new(t->worker->base, fd);
    if (uc->io == NULL) {
        close(fd);
        free(uc);
        *cause = "out of memory";
        return NULL;
    }
    px_io_setcb(uc->io, px_upstream_readcb, px_upstream_writecb, px_upstream_eventcb, uc);
    /* While connecting, the write timeout is the connect timeout. */
    px_io_set_timeouts(uc->io, 0, p->upstream->connect_timeout_ms);
    if (px_io_connect(uc->io, (const struct sockaddr *)&ep->addr.sa, ep->addr.salen) < 0) {
        *cause = strerror(errno);
        px_upstream_free(uc);
        return NULL;
    }
    return uc;
}

px_status_t px_upstream_attach(px_txn_t *t, int fresh, const char **cause)
{
    const px_conf_upstream_t *up = t->upstream;
    const px_upool_t *avoid = t->uconn_pool_tried;
    px_upool_t *p = px_upstream_pick(t->wgen, up, avoid);
    if (p == NULL) {
        *cause = "no endpoints";
        return PX_ERROR;
    }
    t->endpoint = p->endpoint;
    t->uconn_pool_tried = p;
    if (!fresh && p->nidle > 0) {
        px_uconn_t *uc = (px_uconn_t *)p->idle.next;
        px_link_remove(&uc->link);
        p->nidle--;
        uc->state = PX_UCONN_ACTIVE;
        uc->txn = t;
        uc->reused = 1;
        px_io_set_timeouts(uc->io, 0, 0);
        t->uconn = uc;
        return PX_OK;
    }
    px_uconn_t *uc = px_upstream_connect(t, p, cause);
    if (uc == NULL)
        return PX_ERROR;
    uc->txn = t;
    t->uconn = uc;
    return PX_AGAIN;
}

void px_upstream_release(px_uconn_t *uc, int reusable)
{
    px_upool_t *p = uc->pool;
    const px_conf_upstream_t *up = p->upstream;
    px_worker_t *w = uc->wgen->worker;
    uc->txn = NULL;
    uc->requests++;
    if (!reusable || uc->eof || w->draining || uc->wgen != w->cur ||
        p->nidle >= up->keepalive_max_idle ||
        (up->keepalive_max_requests > 0 && uc->requests >= up->keepalive_max_requests) ||
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
    /* Idle: any byte or EOF makes it unusable (readcb/eventcb close it); the read timeout is
     * the idle timeout. */
    px_io_set_read_high(uc->io, 0);
    px_io_set_write_low(uc->io, 0);
    px_io_read_enable(uc->io);
    px_io_set_timeouts(uc->io, up->keepalive_idle_timeout_ms, 0);
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
}

static void px_upstream_readcb(px_io_t *io, void *arg)
{
    px_uconn_t *uc = arg;
    if (uc->state == PX_UCONN_IDLE) {
        px_log_debug("upstream %s: idle connection received data; closed",
                     uc->pool->endpoint->addr.text);
        px_upstream_free(uc);
        return;
    }
    px_proxy_upstream_readable(uc->txn);
}

static void px_upstream_writecb(px_io_t *io, void *arg)
{
    px_uconn_t *uc = arg;
    if (uc->state == PX_UCONN_ACTIVE)
        px_proxy_upstream_writable(uc->txn);
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
    px_proxy_upstream_event(uc->txn, what);
}
