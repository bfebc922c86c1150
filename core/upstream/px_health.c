/*
 * px_health.c: active health checks. Contract in px_health.h; behaviour and defaults in
 * docs/resilience.md.
 *
 * A checker is either waiting (its timer is the next check) or running a check (io is set and
 * the timer is the check's deadline). A check ends in px_hc_done(), which updates the counts,
 * flips ep->unhealthy when a threshold is reached (logged), and arms the next check after
 * interval plus a random jitter: checks never overlap.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "px_endpoint.h"
#include "px_health.h"
#include "px_http1.h"
#include "px_io.h"
#include "px_log.h"
#include "px_tls.h"

typedef struct px_hc_s px_hc_t;

struct px_hc_s {
    px_hc_t *next;
    px_health_t *h;
    px_ep_t *ep;                  /* one reference */
    const px_conf_upstream_t *up; /* in h->gen's config, updated by each sync */
    const char *tls_host;         /* the host set entry's (h->gen's config); NULL: plain */
    struct event *timer;          /* the next check, or the running check's deadline */
    px_io_t *io;                  /* the running check; NULL between checks */
    unsigned passes, failures;    /* checks passed / failed in a row */
    unsigned checked : 1;         /* a check has ended since the checker was made */
    unsigned seen : 1;            /* px_health_sync: still wanted */
};

struct px_health_s {
    struct event_base *base;
    px_gen_t *gen;      /* synced last (not a reference: the caller's) */
    uint64_t *versions; /* per upstream of gen: the host set version synced */
    int stale;          /* a sync ran out of memory: the next one starts over */
    px_hc_t *list;
    uint64_t rng;
};

/* ---- the status line ------------------------------------------------------------------------ */

int px_health_status_line(const char *buf, size_t len, const char **why)
{
    if (len > PX_HEALTH_MAX_LINE)
        len = PX_HEALTH_MAX_LINE;
    const char *nl = memchr(buf, '\n', len);
    if (nl == NULL) {
        if (len < PX_HEALTH_MAX_LINE)
            return 0;
        *why = "status line too long";
        return -1;
    }
    /* The line alone: the parser stops after it, wanting fields that are not looked at. */
    px_h1_response_t resp;
    px_h1_error_t err;
    if (px_h1_parse_response(buf, (size_t)(nl - buf) + 1, &resp, NULL, 0, NULL, &err) ==
        PX_H1_INVALID) {
        *why = err.reason;
        return -1;
    }
    return resp.status;
}

/* ---- one check ------------------------------------------------------------------------------ */

static uint64_t px_health_random(px_health_t *h)
{
    /* xorshift64*: spreading checks needs no better */
    h->rng ^= h->rng >> 12;
    h->rng ^= h->rng << 25;
    h->rng ^= h->rng >> 27;
    return h->rng * 0x2545f4914f6cdd1dULL;
}

static void px_hc_arm(px_hc_t *c, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(c->timer, &tv);
}

/* The next check: after `base` ms plus a random share of the jitter. */
static void px_hc_schedule(px_hc_t *c, uint64_t base)
{
    uint64_t j = c->up->health.jitter_ms;
    px_hc_arm(c, base + (j > 0 ? px_health_random(c->h) % (j + 1) : 0));
}

static void px_hc_stop(px_hc_t *c)
{
    if (c->io != NULL) {
        px_io_free(c->io);
        c->io = NULL;
    }
    evtimer_del(c->timer);
}

static int px_hc_expected(const px_conf_health_t *hc, int status)
{
    for (size_t i = 0; i < hc->nstatuses; i++) {
        if (status >= hc->statuses[i].lo && status <= hc->statuses[i].hi)
            return 1;
    }
    return 0;
}

/* The check ended: pass or fail for the reason `fmt`. */
static void px_hc_done(px_hc_t *c, int pass, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void px_hc_done(px_hc_t *c, int pass, const char *fmt, ...)
{
    char why[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap); /* before px_io_free: fmt's strings may be io's */
    va_end(ap);
    px_hc_stop(c);
    const px_conf_health_t *hc = &c->up->health;
    const char *up = c->up->name, *ep = c->ep->addr.text;
    unsigned unhealthy = atomic_load_explicit(&c->ep->unhealthy, memory_order_relaxed);
    if (pass) {
        c->failures = 0;
        c->passes++;
        if (unhealthy && c->passes >= hc->healthy_threshold) {
            atomic_store_explicit(&c->ep->unhealthy, 0, memory_order_relaxed);
            px_log_info("upstream %s: endpoint %s is healthy again after %u passed health "
                        "check%s (%s)",
                        up, ep, c->passes, c->passes == 1 ? "" : "s", why);
        }
    } else {
        c->passes = 0;
        c->failures++;
        /* The first check of a new checker decides alone: a fresh endpoint is trusted until
         * then, but not for unhealthy_threshold intervals. */
        if (!unhealthy && (c->failures >= hc->unhealthy_threshold || !c->checked)) {
            atomic_store_explicit(&c->ep->unhealthy, 1, memory_order_relaxed);
            px_log_warn("upstream %s: endpoint %s is unhealthy after %u failed health check%s "
                        "(%s)",
                        up, ep, c->failures, c->failures == 1 ? "" : "s", why);
        } else {
            px_log_debug("upstream %s: endpoint %s: health check failed (%s)", up, ep, why);
        }
    }
    c->checked = 1;
    px_hc_schedule(c, hc->interval_ms);
}

static void px_hc_readcb(px_io_t *io, void *arg)
{
    px_hc_t *c = arg;
    struct evbuffer *in = px_io_input(io);
    size_t n = evbuffer_get_length(in);
    if (n == 0)
        return;
    if (n > PX_HEALTH_MAX_LINE)
        n = PX_HEALTH_MAX_LINE;
    const char *why = NULL;
    int status = px_health_status_line((const char *)evbuffer_pullup(in, (ev_ssize_t)n), n, &why);
    if (status < 0)
        px_hc_done(c, 0, "invalid response: %s", why);
    else if (status > 0)
        px_hc_done(c, px_hc_expected(&c->up->health, status), "status %d", status);
}

static void px_hc_eventcb(px_io_t *io, short what, void *arg)
{
    px_hc_t *c = arg;
    const px_conf_health_t *hc = &c->up->health;
    if (what & PX_IO_CONNECTED) {
        if (hc->type == PX_HEALTH_TCP) {
            px_hc_done(c, 1, "connected");
            return;
        }
        const char *host = hc->host != NULL ? hc->host : c->ep->addr.text;
        if (evbuffer_add_printf(px_io_output(io),
                                "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
                                "User-Agent: pyxis-health-check\r\n\r\n",
                                hc->path, host) < 0) {
            px_hc_done(c, 0, "out of memory");
            return;
        }
        px_io_set_read_high(io, PX_HEALTH_MAX_LINE);
        px_io_read_enable(io);
        return;
    }
    if (what & PX_IO_EOF) {
        px_hc_done(c, 0, "connection closed before the status line");
    } else if (what & PX_IO_ERROR) {
        const char *tls = px_io_tls_error(io);
        int e = px_io_error(io);
        if (tls != NULL)
            px_hc_done(c, 0, "%s", tls);
        else if (e == ECONNREFUSED)
            px_hc_done(c, 0, "connection refused");
        else
            px_hc_done(c, 0, "%s", e != 0 ? strerror(e) : "connection error");
    }
}

static void px_hc_writecb(px_io_t *io, void *arg) {}

static void px_hc_start(px_hc_t *c)
{
    const px_conf_addr_t *a = &c->ep->addr;
    const px_conf_upstream_t *up = c->up;
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        px_hc_done(c, 0, "socket: %s", strerror(errno));
        return;
    }
    if ((c->io = px_io_new(c->h->base, fd)) == NULL) {
        close(fd);
        px_hc_done(c, 0, "out of memory");
        return;
    }
    /* A TCP check only connects, TLS or not. */
    if (up->health.type == PX_HEALTH_HTTP && up->tls != NULL && c->tls_host != NULL) {
        const char *err = "out of memory";
        SSL *ssl = px_tls_client_new(NULL, up->tls, c->tls_host, &err);
        if (ssl == NULL || px_io_start_tls(c->io, ssl) < 0) {
            if (ssl != NULL)
                SSL_free(ssl);
            px_hc_done(c, 0, "TLS: %s", err);
            return;
        }
    }
    px_io_setcb(c->io, px_hc_readcb, px_hc_writecb, px_hc_eventcb, c);
    if (px_io_connect(c->io, (const struct sockaddr *)&a->sa, a->salen) < 0) {
        int e = errno;
        px_hc_done(c, 0, "%s", e == ECONNREFUSED ? "connection refused" : strerror(e));
        return;
    }
    px_hc_arm(c, up->health.timeout_ms);
}

/* The timer: the next check is due, or the running one took too long. */
static void px_hc_timer(evutil_socket_t fd, short what, void *arg)
{
    px_hc_t *c = arg;
    if (c->io != NULL)
        px_hc_done(c, 0, "timeout");
    else
        px_hc_start(c);
}

/* ---- the set of checkers -------------------------------------------------------------------- */

px_health_t *px_health_new(struct event_base *base)
{
    px_health_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->base = base;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h->rng = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^
             ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)h;
    if (h->rng == 0)
        h->rng = 0x9e3779b97f4a7c15ULL;
    return h;
}

static void px_hc_free(px_hc_t *c)
{
    px_hc_stop(c);
    event_free(c->timer);
    px_ep_release(c->ep);
    free(c);
}

/* Stop and free every checker. */
static void px_health_clear(px_health_t *h)
{
    for (px_hc_t *c = h->list, *next; c != NULL; c = next) {
        next = c->next;
        px_hc_free(c);
    }
    h->list = NULL;
}

void px_health_free(px_health_t *h)
{
    if (h == NULL)
        return;
    px_health_clear(h);
    free(h->versions);
    free(h);
}

static int px_health_str_differ(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* Would a check under b be made or judged differently from one under a? */
static int px_health_changed(const px_conf_upstream_t *ua, const px_conf_upstream_t *ub)
{
    const px_conf_health_t *a = &ua->health, *b = &ub->health;
    return a->type != b->type || px_health_str_differ(a->path, b->path) ||
           px_health_str_differ(a->host, b->host) || a->interval_ms != b->interval_ms ||
           a->timeout_ms != b->timeout_ms || a->jitter_ms != b->jitter_ms ||
           a->healthy_threshold != b->healthy_threshold ||
           a->unhealthy_threshold != b->unhealthy_threshold || a->nstatuses != b->nstatuses ||
           memcmp(a->statuses, b->statuses, a->nstatuses * sizeof(*a->statuses)) != 0 ||
           (ua->tls == NULL) != (ub->tls == NULL);
}

static px_hc_t *px_health_find(px_health_t *h, const px_ep_t *ep)
{
    for (px_hc_t *c = h->list; c != NULL; c = c->next) {
        if (c->ep == ep)
            return c;
    }
    return NULL;
}

static px_hc_t *px_hc_new(px_health_t *h, px_ep_t *ep)
{
    px_hc_t *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->timer = evtimer_new(h->base, px_hc_timer, c)) == NULL) {
        free(c);
        return NULL;
    }
    c->h = h;
    c->ep = ep;
    px_ep_retain(ep);
    c->next = h->list;
    h->list = c;
    return c;
}

/* Has any upstream of gen published a host set since the last sync? */
static int px_health_moved(const px_health_t *h, px_gen_t *gen)
{
    for (size_t u = 0; u < gen->conf->nupstreams; u++) {
        if (atomic_load_explicit(&gen->uprt[u].version, memory_order_relaxed) != h->versions[u])
            return 1;
    }
    return 0;
}

void px_health_sync(px_health_t *h, px_gen_t *gen)
{
    if (h == NULL || gen->uprt == NULL)
        return;
    size_t nup = gen->conf->nupstreams;
    if (gen == h->gen && !h->stale && !px_health_moved(h, gen))
        return;
    if (gen != h->gen) {
        uint64_t *v = calloc(nup + 1, sizeof(*v));
        if (v == NULL) {
            /* The checkers' config may go with the old generation: stop them all, and try
             * again at the next sync. */
            px_log_error("health checks: out of memory: stopped until the next try");
            px_health_clear(h);
            h->gen = NULL;
            return;
        }
        free(h->versions);
        h->versions = v;
    }
    h->stale = 0;
    for (px_hc_t *c = h->list; c != NULL; c = c->next)
        c->seen = 0;
    for (size_t u = 0; u < nup; u++) {
        px_uprt_t *rt = &gen->uprt[u];
        const px_conf_upstream_t *up = rt->conf;
        /* The main thread is the only writer of rt->hosts. */
        h->versions[u] = atomic_load_explicit(&rt->version, memory_order_relaxed);
        const px_hostset_t *hs = rt->hosts;
        for (size_t i = 0; i < hs->n; i++) {
            px_ep_t *ep = hs->e[i].ep;
            if (!up->health.enabled) {
                if (atomic_exchange_explicit(&ep->unhealthy, 0, memory_order_relaxed))
                    px_log_info("upstream %s: endpoint %s takes requests again: health checks "
                                "are off",
                                up->name, ep->addr.text);
                continue;
            }
            px_hc_t *c = px_health_find(h, ep);
            if (c != NULL && c->seen)
                continue; /* the same address listed twice */
            if (c == NULL) {
                if ((c = px_hc_new(h, ep)) == NULL) {
                    px_log_error("upstream %s: endpoint %s: out of memory: not health checked",
                                 up->name, ep->addr.text);
                    h->stale = 1;
                    continue;
                }
                c->up = up;
                px_hc_schedule(c, 0);
            } else if (px_health_changed(c->up, up)) {
                /* New settings apply from a new check; the verdict and counts stay. */
                px_hc_stop(c);
                c->up = up;
                px_hc_schedule(c, 0);
            }
            c->up = up;
            c->tls_host = hs->e[i].tls_host;
            c->seen = 1;
        }
    }
    for (px_hc_t **pc = &h->list; *pc != NULL;) {
        px_hc_t *c = *pc;
        if (c->seen) {
            pc = &c->next;
            continue;
        }
        *pc = c->next;
        px_hc_free(c);
    }
    h->gen = gen;
}
