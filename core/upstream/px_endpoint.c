/*
 * px_endpoint.c: endpoints, host sets, upstream runtimes, and outlier detection.
 */
#include <stdlib.h>
#include <string.h>

#include "px_endpoint.h"
#include "px_hash.h"
#include "px_log.h"
#include "px_time.h"

/* ---- endpoints and host sets ---------------------------------------------------------------- */

px_ep_t *px_ep_new(const char *upstream, const px_conf_addr_t *addr)
{
    size_t ul = strlen(upstream) + 1, tl = strlen(addr->text) + 1;
    px_ep_t *ep = calloc(1, sizeof(*ep) + ul + tl);
    if (ep == NULL)
        return NULL;
    atomic_init(&ep->refs, 1);
    ep->upstream = memcpy((char *)(ep + 1), upstream, ul);
    ep->addr = *addr;
    ep->addr.text = memcpy((char *)(ep + 1) + ul, addr->text, tl);
    return ep;
}

void px_ep_retain(px_ep_t *ep)
{
    atomic_fetch_add_explicit(&ep->refs, 1, memory_order_relaxed);
}

void px_ep_release(px_ep_t *ep)
{
    if (ep != NULL && atomic_fetch_sub_explicit(&ep->refs, 1, memory_order_acq_rel) == 1)
        free(ep);
}

px_hostset_t *px_hostset_new(size_t n)
{
    px_hostset_t *hs = calloc(1, sizeof(*hs) + n * sizeof(hs->e[0]));
    if (hs == NULL)
        return NULL;
    atomic_init(&hs->refs, 1);
    hs->n = n;
    return hs;
}

void px_hostset_release(px_hostset_t *hs)
{
    if (hs == NULL || atomic_fetch_sub_explicit(&hs->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < hs->n; i++)
        px_ep_release(hs->e[i].ep);
    free(hs->maglev);
    free(hs->names);
    free(hs);
}

/*
 * Maglev (Eisenbud et al., NSDI 2016): each endpoint walks its own permutation of the table's
 * slots and takes the next free one in turn, so every endpoint ends up with a near-equal share
 * of slots, and adding or removing one moves few keys. Weights: an endpoint takes a turn in a
 * round only once its accumulated weight reaches the largest weight.
 */
static int px_hostset_maglev(px_hostset_t *hs)
{
    size_t n = hs->n;
    if (n == 0 || n > 0xfffe)
        return 0;
    uint16_t *table = malloc(PX_MAGLEV_SIZE * sizeof(*table));
    uint64_t *st = malloc(n * 4 * sizeof(*st)); /* offset, skip, next, credit */
    if (table == NULL || st == NULL) {
        free(table);
        free(st);
        return -1;
    }
    unsigned maxw = 1;
    for (size_t i = 0; i < n; i++) {
        const char *t = hs->e[i].ep->addr.text;
        st[4 * i] = px_hash64(t, strlen(t), 0x6d61676c) % PX_MAGLEV_SIZE;
        st[4 * i + 1] = px_hash64(t, strlen(t), 0x65763031) % (PX_MAGLEV_SIZE - 1) + 1;
        st[4 * i + 2] = 0;
        st[4 * i + 3] = 0;
        if (hs->e[i].weight > maxw)
            maxw = hs->e[i].weight;
    }
    memset(table, 0xff, PX_MAGLEV_SIZE * sizeof(*table));
    size_t filled = 0;
    while (filled < PX_MAGLEV_SIZE) {
        for (size_t i = 0; i < n && filled < PX_MAGLEV_SIZE; i++) {
            uint64_t *s = &st[4 * i];
            s[3] += hs->e[i].weight;
            if (s[3] < maxw)
                continue;
            s[3] -= maxw;
            uint64_t c;
            do {
                c = (s[0] + s[2] * s[1]) % PX_MAGLEV_SIZE;
                s[2]++;
            } while (table[c] != 0xffff);
            table[c] = (uint16_t)i;
            filled++;
        }
    }
    free(st);
    hs->maglev = table;
    return 0;
}

int px_hostset_seal(const px_uprt_t *rt, px_hostset_t *hs)
{
    if (rt->conf->balance == PX_BALANCE_HASH)
        return px_hostset_maglev(hs);
    return 0;
}

/* ---- upstream runtimes ---------------------------------------------------------------------- */

px_ep_t *px_uprt_find_old(const px_gen_t *old, const char *upstream, const px_conf_addr_t *addr)
{
    if (old == NULL || old->uprt == NULL)
        return NULL;
    for (size_t u = 0; u < old->conf->nupstreams; u++) {
        const px_hostset_t *hs = old->uprt[u].hosts;
        if (strcmp(old->conf->upstreams[u].name, upstream) != 0 || hs == NULL)
            continue;
        for (size_t i = 0; i < hs->n; i++) {
            const px_conf_addr_t *a = &hs->e[i].ep->addr;
            if (a->salen == addr->salen && memcmp(&a->sa, &addr->sa, a->salen) == 0)
                return hs->e[i].ep;
        }
    }
    return NULL;
}

int px_uprt_init(px_gen_t *gen, const px_gen_t *old)
{
    const px_conf_t *conf = gen->conf;
    gen->uprt = calloc(conf->nupstreams + 1, sizeof(*gen->uprt));
    if (gen->uprt == NULL)
        return -1;
    for (size_t u = 0; u < conf->nupstreams; u++) {
        const px_conf_upstream_t *up = &conf->upstreams[u];
        px_uprt_t *rt = &gen->uprt[u];
        rt->conf = up;
        pthread_mutex_init(&rt->lock, NULL);
        px_hostset_t *hs = px_hostset_new(up->nendpoints);
        for (size_t e = 0; hs != NULL && e < up->nendpoints; e++) {
            px_ep_t *ep = px_uprt_find_old(old, up->name, &up->endpoints[e].addr);
            if (ep != NULL)
                px_ep_retain(ep);
            else
                ep = px_ep_new(up->name, &up->endpoints[e].addr);
            if (ep == NULL) {
                hs->n = e;
                px_hostset_release(hs);
                hs = NULL;
                break;
            }
            hs->e[e].ep = ep;
            hs->e[e].weight = up->endpoints[e].weight;
            hs->e[e].tls_host = up->tls != NULL ? up->tls->hosts[e] : NULL;
        }
        if (hs == NULL || px_hostset_seal(rt, hs) < 0) {
            px_hostset_release(hs);
            for (size_t k = 0; k <= u; k++) {
                px_hostset_release(gen->uprt[k].hosts);
                pthread_mutex_destroy(&gen->uprt[k].lock);
            }
            free(gen->uprt);
            gen->uprt = NULL;
            return -1;
        }
        rt->hosts = hs;
    }
    return 0;
}

void px_uprt_free(px_gen_t *gen)
{
    if (gen->uprt == NULL)
        return;
    for (size_t u = 0; u < gen->conf->nupstreams; u++) {
        px_hostset_release(gen->uprt[u].hosts);
        pthread_mutex_destroy(&gen->uprt[u].lock);
    }
    free(gen->uprt);
    gen->uprt = NULL;
}

void px_uprt_publish(px_uprt_t *rt, px_hostset_t *hs)
{
    pthread_mutex_lock(&rt->lock);
    px_hostset_t *old = rt->hosts;
    rt->hosts = hs;
    atomic_fetch_add_explicit(&rt->version, 1, memory_order_release);
    pthread_mutex_unlock(&rt->lock);
    px_hostset_release(old);
}

px_hostset_t *px_uprt_hosts(px_uprt_t *rt, uint64_t *version)
{
    pthread_mutex_lock(&rt->lock);
    px_hostset_t *hs = rt->hosts;
    atomic_fetch_add_explicit(&hs->refs, 1, memory_order_relaxed);
    *version = atomic_load_explicit(&rt->version, memory_order_relaxed);
    pthread_mutex_unlock(&rt->lock);
    return hs;
}

/* ---- outlier detection ---------------------------------------------------------------------- */

static void px_ep_eject(px_uprt_t *rt, const px_hostset_t *hs, px_ep_t *ep, unsigned count,
                        const char *what)
{
    const px_conf_outlier_t *o = &rt->conf->outlier;
    uint64_t now = px_time_ms();
    uint64_t until = atomic_load(&ep->ejected_until);
    if (until > now)
        return;
    size_t ejected = 0;
    for (size_t i = 0; i < hs->n; i++)
        ejected += atomic_load_explicit(&hs->e[i].ep->ejected_until, memory_order_relaxed) > now;
    if ((ejected + 1) * 100 > (size_t)o->max_ejection_percent * hs->n) {
        px_log_info("upstream %s: endpoint %s failed %u times in a row (%s) but stays: "
                    "max_ejection_percent (%u%%) reached",
                    rt->conf->name, ep->addr.text, count, what, o->max_ejection_percent);
        return;
    }
    unsigned n = atomic_load(&ep->ejections) + 1;
    uint64_t ms = o->base_ejection_ms * n;
    if (ms > o->max_ejection_ms || ms / n != o->base_ejection_ms)
        ms = o->max_ejection_ms;
    if (!atomic_compare_exchange_strong(&ep->ejected_until, &until, now + ms))
        return; /* another worker ejected it first */
    atomic_store(&ep->ejections, n);
    atomic_store(&ep->consec_5xx, 0);
    atomic_store(&ep->consec_gw, 0);
    atomic_store(&ep->consec_connect, 0);
    px_log_warn("upstream %s: endpoint %s ejected for %llums after %u consecutive %s "
                "(ejection %u)",
                rt->conf->name, ep->addr.text, (unsigned long long)ms, count, what, n);
}

static void px_ep_zero(_Atomic unsigned *c)
{
    if (atomic_load_explicit(c, memory_order_relaxed) != 0)
        atomic_store_explicit(c, 0, memory_order_relaxed);
}

void px_ep_report(px_uprt_t *rt, const px_hostset_t *hs, px_ep_t *ep, px_ep_outcome_t outcome)
{
    const px_conf_outlier_t *o = &rt->conf->outlier;
    if (!o->enabled)
        return;
    unsigned c;
    switch (outcome) {
    case PX_EP_SUCCESS:
        px_ep_zero(&ep->consec_5xx);
        px_ep_zero(&ep->consec_gw);
        px_ep_zero(&ep->consec_connect);
        return;
    case PX_EP_CONNECT_FAILURE:
        c = atomic_fetch_add(&ep->consec_connect, 1) + 1;
        if (c == o->consecutive_connect_failures)
            px_ep_eject(rt, hs, ep, c, "connect failures");
        return;
    case PX_EP_GATEWAY_ERROR:
        px_ep_zero(&ep->consec_connect);
        c = atomic_fetch_add(&ep->consec_gw, 1) + 1;
        if (c == o->consecutive_gateway_errors) {
            px_ep_eject(rt, hs, ep, c, "gateway errors");
            return;
        }
        break;
    case PX_EP_5XX:
        px_ep_zero(&ep->consec_connect);
        px_ep_zero(&ep->consec_gw);
        break;
    }
    c = atomic_fetch_add(&ep->consec_5xx, 1) + 1;
    if (c == o->consecutive_5xx)
        px_ep_eject(rt, hs, ep, c, "5xx responses");
}

void px_uprt_tick(px_gen_t *gen)
{
    uint64_t now = px_time_ms();
    for (size_t u = 0; gen->uprt != NULL && u < gen->conf->nupstreams; u++) {
        px_uprt_t *rt = &gen->uprt[u];
        const px_conf_outlier_t *o = &rt->conf->outlier;
        if (!o->enabled)
            continue;
        const px_hostset_t *hs = rt->hosts; /* the main thread is its only writer */
        for (size_t i = 0; i < hs->n; i++) {
            px_ep_t *ep = hs->e[i].ep;
            uint64_t until = atomic_load(&ep->ejected_until);
            if (until != 0 && until <= now &&
                atomic_compare_exchange_strong(&ep->ejected_until, &until, 0)) {
                atomic_store(&ep->returned_at, now);
                px_log_info("upstream %s: endpoint %s returns after its ejection", rt->conf->name,
                            ep->addr.text);
            } else if (until == 0 && atomic_load(&ep->ejections) > 0 &&
                       now - atomic_load(&ep->returned_at) >= o->base_ejection_ms) {
                atomic_fetch_sub(&ep->ejections, 1);
                atomic_store(&ep->returned_at, now);
            }
        }
    }
}
