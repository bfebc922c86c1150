/*
 * px_discovery.c: service discovery on the main thread: DNS A/AAAA and SRV lookups (c-ares,
 * driven by the main thread's libevent loop: its sockets through the socket-state callback, its
 * retransmissions through a timer on ares_timeout) and endpoints files (stat() polled).
 *
 * One watcher per upstream with `discovery`, each with its own c-ares channel (so stopping a
 * watcher cancels exactly its queries). A lookup round that succeeds gives a sorted list of
 * endpoints; when it differs from the last one, a new host set is built (endpoints that stay
 * keep their px_ep_t, so their outlier state, and workers keep their pools) and published. A
 * round that fails keeps the last list and retries with a backoff. Nothing here blocks:
 * c-ares' sockets are non-blocking, and an endpoints file is read only when stat() says it
 * changed (a local file, small and bounded).
 */
#include <ares.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "px_discovery.h"
#include "px_endpoint.h"
#include "px_log.h"
#include "px_worker-t.h"

/* Failed lookups are retried after 1 s, 2 s, 4 s, ... up to this. */
#define PX_DISC_RETRY_MAX_MS (30 * 1000)

typedef struct px_dwatch_s px_dwatch_t;

/* One SRV record of a round, its target being resolved. */
typedef struct {
    px_dwatch_t *w;
    unsigned priority, weight;
    unsigned short port;
    char host[PX_DISC_HOST];
} px_dtarget_t;

typedef struct {
    ares_socket_t fd;
    struct event *ev;
} px_dsock_t;

struct px_dwatch_s {
    px_disc_t *disc;
    px_uprt_t *rt;
    const px_conf_upstream_t *up;
    const px_conf_discovery_t *dc;
    char what[320];    /* "dns api.internal" for logs */
    px_disc_ep_t *cur; /* the last endpoints found (sorted), NULL before the first */
    size_t ncur;
    struct event *timer; /* the next lookup or file check */
    /* DNS */
    ares_channel ch;
    int ch_ok;
    struct event *ares_timer;
    px_dsock_t *socks;
    size_t nsocks;
    unsigned failures;   /* consecutive failed rounds */
    char last_err[160];  /* the last failure logged */
    int busy;            /* a round is running */
    unsigned pending;    /* its lookups not answered yet */
    px_disc_ep_t *found; /* its endpoints so far */
    size_t nfound, capfound;
    uint64_t ttl_ms;       /* the smallest TTL seen in the round */
    char err[160];         /* why the round failed ("" = it did not) */
    char soft_err[160];    /* SRV: a target that did not resolve (fails only an empty round) */
    px_dtarget_t *targets; /* SRV: its targets */
    /* file */
    struct stat st; /* of the last read (or attempt) */
    int have_st;
    int st_errno; /* the last stat() failure logged, 0 = none */
};

struct px_disc_s {
    struct event_base *base;
    px_gen_t *gen;
    px_dwatch_t *w;
    size_t n;
};

/* ---- publishing --------------------------------------------------------------------------- */

static int px_disc_same(const px_disc_ep_t *a, size_t na, const px_disc_ep_t *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++) {
        if (px_disc_ep_cmp(&a[i], &b[i]) != 0 || a[i].weight != b[i].weight ||
            strcmp(a[i].host, b[i].host) != 0)
            return 0;
    }
    return 1;
}

/* Log what changed between the last list and eps[0..n): "+A -B ~C" (at most a few). */
static void px_disc_log_change(px_dwatch_t *w, const px_disc_ep_t *eps, size_t n)
{
    char buf[1024];
    size_t len = 0, shown = 0, more = 0;
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: entries of the new list (added or reweighted); pass 1: of the old (removed) */
        const px_disc_ep_t *a = pass == 0 ? eps : w->cur, *b = pass == 0 ? w->cur : eps;
        size_t na = pass == 0 ? n : w->ncur, nb = pass == 0 ? w->ncur : n;
        for (size_t i = 0, j = 0; i < na; i++) {
            while (j < nb && px_disc_ep_cmp(&b[j], &a[i]) < 0)
                j++;
            int both = j < nb && px_disc_ep_cmp(&b[j], &a[i]) == 0;
            if (both && (pass == 1 || b[j].weight == a[i].weight))
                continue;
            if (shown++ >= 8) {
                more++;
                continue;
            }
            int l =
                both ? snprintf(buf + len, sizeof(buf) - len, " ~%s (weight %u -> %u)", a[i].text,
                                b[j].weight, a[i].weight)
                     : snprintf(buf + len, sizeof(buf) - len, " %c%s", pass ? '-' : '+', a[i].text);
            len += (size_t)l < sizeof(buf) - len ? (size_t)l : 0;
        }
    }
    if (more > 0)
        snprintf(buf + len, sizeof(buf) - len, " and %zu more", more);
    px_log_info("upstream %s: discovery (%s): %zu endpoint%s:%s", w->up->name, w->what, n,
                n == 1 ? "" : "s", buf);
}

/* The endpoint of rt's upstream at e: the current set's, else prev's (the replaced
 * generation's), else a new one. One reference. */
static px_ep_t *px_disc_ep_for(px_dwatch_t *w, const px_gen_t *prev, const px_disc_ep_t *e)
{
    px_conf_addr_t a;
    memset(&a, 0, sizeof(a));
    a.sa = e->sa;
    a.salen = e->salen;
    a.text = (char *)e->text;
    px_ep_t *ep = px_uprt_find_old(w->disc->gen, w->up->name, &a);
    if (ep == NULL)
        ep = px_uprt_find_old(prev, w->up->name, &a);
    if (ep != NULL) {
        px_ep_retain(ep);
        return ep;
    }
    return px_ep_new(w->up->name, &a);
}

/* Make eps[0..n) (sorted) w's endpoints: a new host set, published, when they changed. */
static void px_disc_apply(px_dwatch_t *w, const px_gen_t *prev, const px_disc_ep_t *eps, size_t n)
{
    if (w->cur != NULL && px_disc_same(w->cur, w->ncur, eps, n))
        return;
    const px_tls_upstream_t *tls = w->up->tls;
    size_t nlen = 0;
    for (size_t i = 0; tls != NULL && tls->server_name == NULL && i < n; i++)
        nlen += strlen(eps[i].host) + 1;
    px_disc_ep_t *copy = malloc(n * sizeof(*copy) + 1);
    px_hostset_t *hs = px_hostset_new(n);
    char *names = nlen ? malloc(nlen) : NULL;
    if (copy == NULL || hs == NULL || (nlen && names == NULL))
        goto oom;
    hs->names = names;
    names = NULL;
    for (size_t i = 0, off = 0; i < n; i++) {
        if ((hs->e[i].ep = px_disc_ep_for(w, prev, &eps[i])) == NULL) {
            hs->n = i;
            goto oom;
        }
        hs->e[i].weight = eps[i].weight;
        if (tls != NULL && tls->server_name != NULL) {
            hs->e[i].tls_host = tls->server_name;
        } else if (tls != NULL) {
            size_t l = strlen(eps[i].host) + 1;
            hs->e[i].tls_host = memcpy(hs->names + off, eps[i].host, l);
            off += l;
        }
    }
    if (px_hostset_seal(w->rt, hs) < 0)
        goto oom;
    if (prev != NULL)
        px_log_info("upstream %s: discovery (%s): %zu endpoint%s kept across the reload",
                    w->up->name, w->what, n, n == 1 ? "" : "s");
    else
        px_disc_log_change(w, eps, n);
    memcpy(copy, eps, n * sizeof(*copy));
    free(w->cur);
    w->cur = copy;
    w->ncur = n;
    px_uprt_publish(w->rt, hs);
    return;
oom:
    px_log_error("upstream %s: discovery (%s): out of memory, keeping %zu endpoints", w->up->name,
                 w->what, w->ncur);
    free(copy);
    free(names);
    px_hostset_release(hs);
}

/* ---- c-ares on the event loop -------------------------------------------------------------- */

static void px_dwatch_arm(px_dwatch_t *w)
{
    struct timeval tv, *t = ares_timeout(w->ch, NULL, &tv);
    if (t != NULL)
        evtimer_add(w->ares_timer, t);
    else
        evtimer_del(w->ares_timer);
}

static void px_dwatch_ares_timeout(evutil_socket_t fd, short what, void *arg)
{
    px_dwatch_t *w = arg;
    ares_process_fd(w->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    px_dwatch_arm(w);
}

static void px_dwatch_sock_ready(evutil_socket_t fd, short what, void *arg)
{
    px_dwatch_t *w = arg;
    ares_process_fd(w->ch, what & EV_READ ? fd : ARES_SOCKET_BAD,
                    what & EV_WRITE ? fd : ARES_SOCKET_BAD);
    px_dwatch_arm(w);
}

/* c-ares opens, changes or closes a socket: follow it with an event. */
static void px_dwatch_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    px_dwatch_t *w = data;
    size_t i = 0;
    while (i < w->nsocks && w->socks[i].fd != fd)
        i++;
    if (i < w->nsocks && w->socks[i].ev != NULL) {
        event_free(w->socks[i].ev);
        w->socks[i].ev = NULL;
    }
    if (!readable && !writable) {
        if (i < w->nsocks)
            w->socks[i] = w->socks[--w->nsocks];
        return;
    }
    if (i == w->nsocks) {
        px_dsock_t *s = realloc(w->socks, (w->nsocks + 1) * sizeof(*s));
        if (s == NULL) {
            px_log_error("upstream %s: discovery: out of memory", w->up->name);
            return; /* the query times out */
        }
        w->socks = s;
        w->socks[w->nsocks++] = (px_dsock_t){fd, NULL};
    }
    short ev = (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0) | EV_PERSIST);
    w->socks[i].ev = event_new(w->disc->base, fd, ev, px_dwatch_sock_ready, w);
    if (w->socks[i].ev != NULL)
        event_add(w->socks[i].ev, NULL);
}

static int px_dwatch_channel(px_dwatch_t *w)
{
    const px_conf_resolver_t *r = w->dc->resolver;
    struct ares_options o;
    memset(&o, 0, sizeof(o));
    int mask = ARES_OPT_SOCK_STATE_CB;
    o.sock_state_cb = px_dwatch_sock_state;
    o.sock_state_cb_data = w;
    char lookups[] = "b";
    if (r != NULL) {
        /* Only the listed servers: no hosts file, no search domains. */
        o.timeout = (int)(r->timeout_ms > 600000 ? 600000 : r->timeout_ms);
        o.tries = (int)r->attempts;
        o.lookups = lookups;
        o.domains = NULL;
        o.ndomains = 0;
        mask |= ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS | ARES_OPT_DOMAINS;
    }
    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
        return -1;
    int rc = ares_init_options(&w->ch, &o, mask);
    if (rc == ARES_SUCCESS && r != NULL &&
        (rc = ares_set_servers_ports_csv(w->ch, r->servers)) != ARES_SUCCESS)
        ares_destroy(w->ch);
    if (rc != ARES_SUCCESS) {
        ares_library_cleanup();
        px_log_error("upstream %s: discovery: cannot start a resolver: %s", w->up->name,
                     ares_strerror(rc));
        return -1;
    }
    w->ch_ok = 1;
    return 0;
}

/* ---- lookup rounds ------------------------------------------------------------------------- */

static void px_dwatch_schedule(px_dwatch_t *w, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(w->timer, &tv);
}

static void px_dwatch_failed(px_dwatch_t *w, const char *err)
{
    w->failures++;
    uint64_t delay = 1000;
    for (unsigned i = 1; i < w->failures && delay < PX_DISC_RETRY_MAX_MS; i++)
        delay *= 2;
    if (delay > PX_DISC_RETRY_MAX_MS)
        delay = PX_DISC_RETRY_MAX_MS;
    /* Not flooding: the first failure, a different error, and every 10th. */
    if (w->failures == 1 || strcmp(err, w->last_err) != 0 || w->failures % 10 == 0)
        px_log_warn("upstream %s: discovery (%s) failed: %s; keeping %zu endpoint%s, retrying "
                    "in %llums (failure %u)",
                    w->up->name, w->what, err, w->ncur, w->ncur == 1 ? "" : "s",
                    (unsigned long long)delay, w->failures);
    snprintf(w->last_err, sizeof(w->last_err), "%s", err);
    px_dwatch_schedule(w, delay);
}

static void px_dwatch_succeeded(px_dwatch_t *w)
{
    if (w->failures > 0)
        px_log_info("upstream %s: discovery (%s) answers again after %u failure%s", w->up->name,
                    w->what, w->failures, w->failures == 1 ? "" : "s");
    w->failures = 0;
    w->last_err[0] = '\0';
}

static void px_dwatch_add_found(px_dwatch_t *w, const struct sockaddr *sa, unsigned weight,
                                unsigned priority, const char *host, int ttl)
{
    if (ttl >= 0 && (uint64_t)ttl * 1000 < w->ttl_ms)
        w->ttl_ms = (uint64_t)ttl * 1000;
    if (w->nfound == w->capfound) {
        size_t cap = w->capfound ? w->capfound * 2 : 8;
        px_disc_ep_t *f =
            cap <= PX_EPFILE_MAX_ENDPOINTS ? realloc(w->found, cap * sizeof(*f)) : NULL;
        if (f == NULL) {
            snprintf(w->err, sizeof(w->err), "out of memory or too many addresses");
            return;
        }
        w->found = f;
        w->capfound = cap;
    }
    px_disc_ep_t *e = &w->found[w->nfound++];
    memset(e, 0, sizeof(*e));
    e->salen = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    memcpy(&e->sa, sa, e->salen);
    e->weight = weight;
    e->priority = priority;
    px_disc_addr_text(sa, e->text);
    snprintf(e->host, sizeof(e->host), "%s", host);
}

/* The round is over: apply what it found, or keep the last list. */
static void px_dwatch_round_done(px_dwatch_t *w)
{
    w->busy = 0;
    free(w->targets);
    w->targets = NULL;
    if (w->err[0] == '\0' && w->nfound == 0)
        snprintf(w->err, sizeof(w->err), "%s", w->soft_err[0] ? w->soft_err : "no address found");
    if (w->err[0] != '\0') {
        px_dwatch_failed(w, w->err);
        return;
    }
    /* SRV: the lowest priority group that resolved (RFC 2782); the others stand by. */
    unsigned prio = UINT32_MAX;
    for (size_t i = 0; i < w->nfound; i++)
        prio = w->found[i].priority < prio ? w->found[i].priority : prio;
    qsort(w->found, w->nfound, sizeof(*w->found), px_disc_ep_cmp);
    size_t out = 0; /* the same address twice (two SRV records): keep the larger weight */
    for (size_t i = 0; i < w->nfound; i++) {
        if (w->found[i].priority != prio)
            continue;
        if (out > 0 && px_disc_ep_cmp(&w->found[out - 1], &w->found[i]) == 0) {
            if (w->found[i].weight > w->found[out - 1].weight)
                w->found[out - 1].weight = w->found[i].weight;
            continue;
        }
        w->found[out++] = w->found[i];
    }
    px_dwatch_succeeded(w);
    px_disc_apply(w, NULL, w->found, out);
    uint64_t ms = w->ttl_ms;
    if (ms < w->dc->min_ttl_ms)
        ms = w->dc->min_ttl_ms;
    if (ms > w->dc->max_ttl_ms)
        ms = w->dc->max_ttl_ms;
    px_dwatch_schedule(w, ms);
}

static void px_dwatch_lookup_done(px_dwatch_t *w)
{
    if (--w->pending == 0)
        px_dwatch_round_done(w);
}

/* An A/AAAA answer for name: its addresses join the round, or its error is noted in err
 * (the round's, or soft_err for an SRV target). res is freed. */
static void px_dwatch_addrinfo(px_dwatch_t *w, int status, struct ares_addrinfo *res,
                               unsigned weight, unsigned priority, const char *name, char *err)
{
    if (status != ARES_SUCCESS) {
        if (err[0] == '\0')
            snprintf(err, sizeof(w->err), "%s: %s", name, ares_strerror(status));
    } else {
        for (struct ares_addrinfo_node *n = res ? res->nodes : NULL; n != NULL; n = n->ai_next) {
            if (n->ai_family == AF_INET || n->ai_family == AF_INET6)
                px_dwatch_add_found(w, n->ai_addr, weight, priority, name, n->ai_ttl);
        }
    }
    if (res != NULL)
        ares_freeaddrinfo(res);
}

static void px_dwatch_dns_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    px_dwatch_t *w = arg;
    if (status == ARES_EDESTRUCTION) {
        if (res != NULL)
            ares_freeaddrinfo(res);
        return;
    }
    px_dwatch_addrinfo(w, status, res, 1, 0, w->dc->name, w->err);
    px_dwatch_lookup_done(w);
}

/* A target that does not resolve does not fail the round: its priority group may have
 * others, or a higher one may serve. Its error is the round's only when nothing resolved.
 * RFC 2782 weight 0 ("very small chance") becomes weight 1, the smallest pyxis has. */
static void px_dwatch_target_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    px_dtarget_t *t = arg;
    if (status == ARES_EDESTRUCTION) {
        if (res != NULL)
            ares_freeaddrinfo(res);
        return;
    }
    px_dwatch_addrinfo(t->w, status, res, t->weight ? t->weight : 1, t->priority, t->host,
                       t->w->soft_err);
    px_dwatch_lookup_done(t->w);
}

static void px_dwatch_getaddrinfo(px_dwatch_t *w, const char *name, unsigned port,
                                  ares_addrinfo_callback cb, void *arg)
{
    char service[8];
    snprintf(service, sizeof(service), "%u", port);
    struct ares_addrinfo_hints hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = w->dc->family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = ARES_AI_NUMERICSERV | ARES_AI_NOSORT;
    w->pending++;
    ares_getaddrinfo(w->ch, name, service, &hints, cb, arg);
}

/* The smallest TTL of the answer section of a DNS message, or -1. */
static long px_dwatch_answer_ttl(const unsigned char *m, int len)
{
    if (len < 12)
        return -1;
    unsigned qd = (unsigned)(m[4] << 8 | m[5]), an = (unsigned)(m[6] << 8 | m[7]);
    const unsigned char *p = m + 12, *end = m + len;
    long ttl = -1;
    for (unsigned i = 0; i < qd + an; i++) {
        while (p < end && *p != 0 && (*p & 0xc0) != 0xc0)
            p += 1 + *p;
        if (p >= end)
            return ttl;
        p += (*p & 0xc0) == 0xc0 ? 2 : 1;
        if (i < qd) {
            p += 4;
            continue;
        }
        if (end - p < 10)
            return ttl;
        long t = (long)((unsigned long)p[4] << 24 | (unsigned long)p[5] << 16 |
                        (unsigned long)p[6] << 8 | p[7]) &
                 0x7fffffffL;
        if (ttl < 0 || t < ttl)
            ttl = t;
        p += 10 + (p[8] << 8 | p[9]);
    }
    return ttl;
}

/* The SRV answer: resolve the targets of every record (the group is chosen at the end). */
static void px_dwatch_srv_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    px_dwatch_t *w = arg;
    if (status == ARES_EDESTRUCTION)
        return;
    struct ares_srv_reply *srv = NULL;
    if (status == ARES_SUCCESS)
        status = ares_parse_srv_reply(abuf, alen, &srv);
    if (status != ARES_SUCCESS || srv == NULL) {
        snprintf(w->err, sizeof(w->err), "%s: %s", w->dc->name,
                 status != ARES_SUCCESS ? ares_strerror(status) : "no SRV record");
        px_dwatch_lookup_done(w);
        return;
    }
    long ttl = px_dwatch_answer_ttl(abuf, alen);
    if (ttl >= 0 && (uint64_t)ttl * 1000 < w->ttl_ms)
        w->ttl_ms = (uint64_t)ttl * 1000;
    size_t n = 0;
    for (struct ares_srv_reply *r = srv; r != NULL; r = r->next)
        n++;
    w->targets = calloc(n, sizeof(*w->targets));
    if (w->targets == NULL) {
        ares_free_data(srv);
        snprintf(w->err, sizeof(w->err), "out of memory");
        px_dwatch_lookup_done(w);
        return;
    }
    size_t i = 0;
    for (struct ares_srv_reply *r = srv; r != NULL; r = r->next, i++) {
        px_dtarget_t *t = &w->targets[i];
        t->w = w;
        t->priority = r->priority;
        t->weight = r->weight;
        t->port = r->port;
        snprintf(t->host, sizeof(t->host), "%s", r->host);
    }
    ares_free_data(srv);
    /* Every target is resolved; each address keeps its record's priority, and the group is
     * chosen once every answer is in. */
    for (i = 0; i < n; i++) {
        px_dtarget_t *t = &w->targets[i];
        if (t->port == 0 || strcmp(t->host, ".") == 0 || t->host[0] == '\0')
            continue; /* "." : the service is decidedly not available at this name */
        px_dwatch_getaddrinfo(w, t->host, t->port, px_dwatch_target_answer, t);
    }
    px_dwatch_lookup_done(w); /* the SRV query's own share */
}

static void px_dwatch_round(px_dwatch_t *w)
{
    if (w->busy)
        return;
    w->busy = 1;
    w->nfound = 0;
    w->err[0] = '\0';
    w->soft_err[0] = '\0';
    w->ttl_ms = UINT64_MAX;
    w->pending = 1; /* the round's own share, released below */
    if (w->dc->kind == PX_DISC_DNS) {
        px_dwatch_getaddrinfo(w, w->dc->name, w->dc->port, px_dwatch_dns_answer, w);
    } else {
        w->pending++;
        ares_query(w->ch, w->dc->name, 1 /* C_IN */, 33 /* T_SRV */, px_dwatch_srv_answer, w);
    }
    px_dwatch_arm(w);
    px_dwatch_lookup_done(w);
}

/* ---- endpoints files ----------------------------------------------------------------------- */

static void px_dwatch_file(px_dwatch_t *w)
{
    const char *path = w->dc->name;
    struct stat st;
    char err[512];
    err[0] = '\0';
    if (stat(path, &st) < 0) {
        int e = errno;
        if (w->have_st && w->st_errno == e)
            return; /* logged already */
        w->have_st = 1;
        w->st_errno = e;
        px_log_warn("upstream %s: discovery: %s: %s; keeping %zu endpoint%s", w->up->name, path,
                    strerror(e), w->ncur, w->ncur == 1 ? "" : "s");
        return;
    }
    if (w->have_st && w->st_errno == 0 && st.st_ino == w->st.st_ino && st.st_dev == w->st.st_dev &&
        st.st_size == w->st.st_size && st.st_mtim.tv_sec == w->st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == w->st.st_mtim.tv_nsec)
        return; /* unchanged */
    w->st = st;
    w->have_st = 1;
    w->st_errno = 0;
    char *buf = NULL;
    ssize_t len = 0;
    if (err[0] == '\0') {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0 || (buf = malloc(PX_EPFILE_MAX_SIZE + 1)) == NULL)
            snprintf(err, sizeof(err), "%s: %s", path, strerror(errno));
        for (ssize_t got = 1; buf != NULL && got > 0 && len <= PX_EPFILE_MAX_SIZE; len += got) {
            got = read(fd, buf + len, (size_t)(PX_EPFILE_MAX_SIZE + 1 - len));
            if (got < 0) {
                snprintf(err, sizeof(err), "%s: %s", path, strerror(errno));
                break;
            }
            if (got == 0)
                break;
        }
        if (fd >= 0)
            close(fd);
    }
    px_disc_ep_t *eps = NULL;
    long n = -1;
    if (err[0] == '\0') {
        px_epfile_error_t pe;
        n = px_epfile_parse(buf, (size_t)len, &eps, &pe);
        if (n < 0)
            snprintf(err, sizeof(err), "%s:%u:%u: %s", path, pe.line, pe.col, pe.msg);
    }
    free(buf);
    if (n < 0) {
        /* Logged once per state of the file: the next change is read again. */
        px_log_warn("upstream %s: discovery: %s; keeping %zu endpoint%s", w->up->name, err, w->ncur,
                    w->ncur == 1 ? "" : "s");
        return;
    }
    px_disc_apply(w, NULL, eps, (size_t)n);
    free(eps);
}

static void px_dwatch_fire(evutil_socket_t fd, short what, void *arg)
{
    px_dwatch_t *w = arg;
    if (w->dc->kind == PX_DISC_FILE) {
        px_dwatch_file(w);
        px_dwatch_schedule(w, w->dc->interval_ms);
    } else {
        px_dwatch_round(w);
    }
}

/* ---- generations --------------------------------------------------------------------------- */

static const char *const px_disc_kind_names[] = {"", "dns", "srv", "file"};

/* Does a's source equal b's (same upstream name, same kind, name, port and family)? */
static int px_disc_same_source(const px_dwatch_t *a, const px_dwatch_t *b)
{
    return strcmp(a->up->name, b->up->name) == 0 && a->dc->kind == b->dc->kind &&
           strcmp(a->dc->name, b->dc->name) == 0 && a->dc->port == b->dc->port &&
           a->dc->family == b->dc->family;
}

static void px_dwatch_stop(px_dwatch_t *w)
{
    if (w->ch_ok) {
        ares_destroy(w->ch); /* callbacks run with ARES_EDESTRUCTION; sockets are closed */
        ares_library_cleanup();
        w->ch_ok = 0;
    }
    for (size_t i = 0; i < w->nsocks; i++) {
        if (w->socks[i].ev != NULL)
            event_free(w->socks[i].ev);
    }
    free(w->socks);
    if (w->timer != NULL)
        event_free(w->timer);
    if (w->ares_timer != NULL)
        event_free(w->ares_timer);
    free(w->targets);
    free(w->found);
    free(w->cur);
}

void px_disc_free(px_disc_t *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n; i++)
        px_dwatch_stop(&d->w[i]);
    free(d->w);
    free(d);
}

px_disc_t *px_disc_start(struct event_base *base, px_gen_t *gen, px_disc_t *prev)
{
    const px_conf_t *conf = gen->conf;
    px_disc_t *d = calloc(1, sizeof(*d));
    size_t n = 0;
    for (size_t u = 0; u < conf->nupstreams; u++)
        n += conf->upstreams[u].discovery.kind != PX_DISC_NONE;
    if (d == NULL || (d->w = calloc(n + 1, sizeof(*d->w))) == NULL) {
        free(d);
        return NULL;
    }
    d->base = base;
    d->gen = gen;
    for (size_t u = 0; u < conf->nupstreams; u++) {
        const px_conf_upstream_t *up = &conf->upstreams[u];
        if (up->discovery.kind == PX_DISC_NONE)
            continue;
        px_dwatch_t *w = &d->w[d->n++];
        w->disc = d;
        w->rt = &gen->uprt[u];
        w->up = up;
        w->dc = &up->discovery;
        snprintf(w->what, sizeof(w->what), "%s %s", px_disc_kind_names[w->dc->kind], w->dc->name);
        w->timer = evtimer_new(base, px_dwatch_fire, w);
        w->ares_timer = evtimer_new(base, px_dwatch_ares_timeout, w);
        if (w->timer == NULL || w->ares_timer == NULL ||
            (w->dc->kind != PX_DISC_FILE && px_dwatch_channel(w) < 0)) {
            px_disc_free(d);
            return NULL;
        }
    }
    /* Hand over: what the replaced generation found is this one's until it finds otherwise. */
    for (size_t i = 0; prev != NULL && i < d->n; i++) {
        px_dwatch_t *w = &d->w[i];
        for (size_t j = 0; j < prev->n; j++) {
            const px_dwatch_t *o = &prev->w[j];
            if (o->cur != NULL && px_disc_same_source(w, o)) {
                px_disc_apply(w, prev->gen, o->cur, o->ncur);
                break;
            }
        }
    }
    px_disc_free(prev);
    for (size_t i = 0; i < d->n; i++)
        px_dwatch_fire(-1, 0, &d->w[i]);
    return d;
}
