/*
 * px_worker.c: worker threads.
 *
 * A worker owns an event_base created without locks: nothing but the worker touches it. The
 * main thread posts a generation or a command into atomics and wakes the worker through an
 * eventfd; the worker answers through the main thread's eventfd.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "px_callout.h"
#include "px_conf.h"
#include "px_h1_server.h"
#include "px_h2_server.h"
#include "px_log.h"
#include "px_module_api.h"
#include "px_tls.h"
#include "px_tunnel.h"
#include "px_endpoint.h"
#include "px_upstream.h"
#include "px_worker.h"

__thread px_worker_t *px_worker_self;

static void px_eventfd_signal(int fd)
{
    uint64_t one = 1;
    ssize_t r;
    do {
        r = write(fd, &one, sizeof(one));
    } while (r < 0 && errno == EINTR);
}

void px_gen_release(px_gen_t *gen)
{
    if (atomic_fetch_sub(&gen->refs, 1) != 1)
        return;
    for (size_t i = 0; i < gen->conf->nlisteners; i++) {
        if (gen->access_fds[i] > 2)
            close(gen->access_fds[i]);
    }
    free(gen->access_fds);
    free(gen->listen_fds);
    px_uprt_free(gen);
    px_conf_release(gen->conf);
    free(gen);
}

long px_worker_find_listener(const px_wgen_t *wg, const px_conf_addr_t *addr)
{
    const px_conf_t *conf = wg->gen->conf;
    for (size_t i = 0; i < conf->nlisteners; i++) {
        const px_conf_addr_t *a = &conf->listeners[i].listen;
        if (a->salen == addr->salen && memcmp(&a->sa, &addr->sa, a->salen) == 0)
            return (long)i;
    }
    return -1;
}

static void px_worker_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                             int salen, void *arg)
{
    px_wlistener_t *wl = arg;
    px_h1_conn_accept(wl->wgen->worker, wl->wgen, wl->index, fd, sa, (socklen_t)salen);
}

static void px_worker_accept_error(struct evconnlistener *l, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    px_log_error("accept: %s", evutil_socket_error_to_string(err));
    /* EMFILE and friends: the event fires again when a descriptor frees up. */
}

static void px_worker_free_listeners(px_wgen_t *wg)
{
    if (wg->listeners == NULL)
        return;
    for (size_t i = 0; i < wg->gen->conf->nlisteners; i++) {
        if (wg->listeners[i] != NULL)
            evconnlistener_free(wg->listeners[i]);
    }
    free(wg->listeners);
    wg->listeners = NULL;
}

/* The view's worker timers are cancelled and its modules' worker_exit runs (once). */
static void px_wgen_modules_exit(px_wgen_t *wg)
{
    if (wg->modules_exited)
        return;
    wg->modules_exited = 1;
    px_module_cancel_worker_timers(wg);
    px_module_worker_exit(wg);
}

static void px_wgen_free(px_wgen_t *wg)
{
    px_worker_free_listeners(wg);
    px_upstream_close_idle(wg);
    px_wgen_modules_exit(wg);
    free(wg->largs);
    px_upstream_views_free(wg);
    px_gen_release(wg->gen);
    free(wg);
}

static px_wgen_t *px_wgen_create(px_worker_t *w, px_gen_t *gen)
{
    const px_conf_t *conf = gen->conf;
    px_wgen_t *wg = calloc(1, sizeof(*wg));
    if (wg == NULL)
        return NULL;
    wg->gen = gen;
    wg->worker = w;
    wg->listeners = calloc(conf->nlisteners, sizeof(*wg->listeners));
    wg->largs = calloc(conf->nlisteners, sizeof(*wg->largs));
    if (wg->listeners == NULL || wg->largs == NULL || px_upstream_views_init(wg) < 0) {
        free(wg->listeners);
        free(wg->largs);
        free(wg);
        return NULL;
    }
    wg->timers.next = wg->timers.prev = &wg->timers;
    px_module_worker_init(wg);
    /* A generation without listening sockets (a local worker, px_worker_create_local) gets
     * its connections from its owner. */
    for (size_t i = 0; gen->listen_fds != NULL && i < conf->nlisteners; i++) {
        int fd = gen->listen_fds[i * gen->nworkers + w->id];
        wg->largs[i].wgen = wg;
        wg->largs[i].index = i;
        wg->listeners[i] = evconnlistener_new(w->base, px_worker_accept, &wg->largs[i],
                                              LEV_OPT_CLOSE_ON_EXEC, 0, fd);
        if (wg->listeners[i] == NULL) {
            px_log_error("worker %u: cannot watch listener %s", w->id,
                         conf->listeners[i].listen.text);
            continue;
        }
        evconnlistener_set_error_cb(wg->listeners[i], px_worker_accept_error);
    }
    return wg;
}

/* Make sure the parse scratch array fits every listener's max_headers. */
static int px_worker_size_scratch(px_worker_t *w, const px_conf_t *conf)
{
    size_t need = 0;
    for (size_t i = 0; i < conf->nlisteners; i++) {
        if (conf->listeners[i].limits.max_headers > need)
            need = (size_t)conf->listeners[i].limits.max_headers;
    }
    if (need <= w->scratch_cap)
        return 0;
    px_header_t *s = realloc(w->scratch, need * sizeof(*s));
    if (s == NULL)
        return -1;
    w->scratch = s;
    w->scratch_cap = need;
    return 0;
}

static void px_worker_retire(px_worker_t *w, px_wgen_t *old)
{
    /* Tunnels (upgraded connections) would keep the old view as long as they last: they close
     * within the new generation's drain_timeout. */
    for (px_link_t *l = w->conns.next; l != &w->conns; l = l->next) {
        px_h1_conn_t *c = (px_h1_conn_t *)l;
        if (c->wgen == old && c->txn != NULL)
            px_tunnel_drain(c->txn, w->cur->gen->conf->drain_timeout_ms);
        else if (c->wgen == old && c->h2 != NULL)
            px_h2_drain_tunnels(c->h2, w->cur->gen->conf->drain_timeout_ms);
    }
    px_worker_free_listeners(old);
    px_upstream_close_idle(old);
    px_module_cancel_worker_timers(old); /* background jobs stop on reload */
    if (old->active == 0) {
        px_wgen_free(old);
        return;
    }
    old->next_old = w->old;
    w->old = old;
}

static void px_worker_apply(px_worker_t *w, px_gen_t *gen)
{
    px_wgen_t *wg = NULL;
    if (px_worker_size_scratch(w, gen->conf) == 0)
        wg = px_wgen_create(w, gen);
    if (wg == NULL) {
        px_log_error("worker %u: out of memory switching to generation %u; keeping %u", w->id,
                     gen->generation, w->cur ? w->cur->gen->generation : 0);
        px_gen_release(gen);
        atomic_store(&w->applied, gen->generation);
        px_eventfd_signal(w->main_notify_fd);
        return;
    }
    px_wgen_t *old = w->cur;
    w->cur = wg;
    if (old != NULL) {
        /* This worker owns its socket of each listener: close the ones the new generation
         * no longer has (the others are shared with it). */
        const px_conf_t *oc = old->gen->conf;
        for (size_t i = 0; i < oc->nlisteners; i++) {
            if (px_worker_find_listener(wg, &oc->listeners[i].listen) < 0)
                close(old->gen->listen_fds[i * old->gen->nworkers + w->id]);
        }
        px_worker_retire(w, old);
        for (px_link_t *l = w->conns.next, *next; l != &w->conns; l = next) {
            next = l->next;
            px_h1_conn_new_gen((px_h1_conn_t *)l);
        }
    }
    atomic_store(&w->applied, gen->generation);
    px_eventfd_signal(w->main_notify_fd);
}

void px_worker_wgen_put(px_worker_t *w, px_wgen_t *wg)
{
    if (--wg->active > 0 || wg == w->cur)
        return;
    for (px_wgen_t **p = &w->old; *p != NULL; p = &(*p)->next_old) {
        if (*p == wg) {
            *p = wg->next_old;
            px_wgen_free(wg);
            return;
        }
    }
}

void px_worker_check_drained(px_worker_t *w)
{
    if (w->draining && w->nconns == 0)
        event_base_loopexit(w->base, NULL);
}

const char *px_worker_date(px_worker_t *w)
{
    struct timeval tv;
    event_base_gettimeofday_cached(w->base, &tv);
    if (tv.tv_sec != w->date_sec) {
        struct tm tm;
        time_t now = tv.tv_sec;
        gmtime_r(&now, &tm);
        strftime(w->date, sizeof(w->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        w->date_sec = tv.tv_sec;
    }
    return w->date;
}

/* Close this worker's listening sockets of the current generation: the kernel then refuses
 * (or, with other workers still listening, spreads elsewhere) new connections at once. */
static void px_worker_close_listen_fds(px_worker_t *w)
{
    if (w->listen_closed || w->cur == NULL || w->cur->gen->listen_fds == NULL)
        return;
    const px_gen_t *gen = w->cur->gen;
    for (size_t i = 0; i < gen->conf->nlisteners; i++)
        close(gen->listen_fds[i * gen->nworkers + w->id]);
    w->listen_closed = 1;
}

static void px_worker_drain(px_worker_t *w)
{
    if (w->draining)
        return;
    w->draining = 1;
    if (w->cur != NULL) {
        px_worker_free_listeners(w->cur);
        px_worker_close_listen_fds(w);
        px_upstream_close_idle(w->cur);
    }
    for (px_link_t *l = w->conns.next, *next; l != &w->conns; l = next) {
        next = l->next;
        px_h1_conn_drain((px_h1_conn_t *)l);
    }
    px_worker_check_drained(w);
}

static void px_worker_notified(evutil_socket_t fd, short what, void *arg)
{
    px_worker_t *w = arg;
    uint64_t n;
    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        px_log_error("worker %u: eventfd: %s", w->id, strerror(errno));
    px_gen_t *gen = atomic_exchange(&w->pending, NULL);
    if (gen != NULL && !w->draining)
        px_worker_apply(w, gen);
    else if (gen != NULL)
        px_gen_release(gen);
    unsigned cmd = atomic_exchange(&w->commands, 0);
    if (cmd & PX_WORKER_CMD_STOP)
        event_base_loopbreak(w->base);
    else if (cmd & PX_WORKER_CMD_DRAIN)
        px_worker_drain(w);
}

static void px_worker_cleanup(px_worker_t *w)
{
    w->draining = 1;
    while (w->conns.next != &w->conns)
        px_h1_conn_close((px_h1_conn_t *)w->conns.next);
    if (w->cur != NULL) {
        px_worker_free_listeners(w->cur);
        px_worker_close_listen_fds(w);
    }
    /* Modules first: each cancels what it still waits for (its call-outs among them); then
     * the call-outs nobody cancelled, while their views still exist. */
    if (w->cur != NULL)
        px_wgen_modules_exit(w->cur);
    for (px_wgen_t *o = w->old; o != NULL; o = o->next_old)
        px_wgen_modules_exit(o);
    px_callout_worker_exit(w);
    if (w->cur != NULL)
        px_wgen_free(w->cur);
    while (w->old != NULL) {
        px_wgen_t *next = w->old->next_old;
        px_wgen_free(w->old);
        w->old = next;
    }
    w->cur = NULL;
    px_tls_worker_exit(w); /* after the views: their idle connections hold SSL objects */
    event_free(w->notify_ev);
    event_base_free(w->base);
    close(w->notify_fd);
    free(w->scratch);
    pcre2_match_data_free(w->match_data);
    evbuffer_free(w->log_buf);
}

static void *px_worker_main(void *arg)
{
    px_worker_t *w = arg;
    px_worker_self = w;
    /* Signals are the main thread's. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);

    px_gen_t *gen = atomic_exchange(&w->pending, NULL);
    if (gen != NULL)
        px_worker_apply(w, gen);
    event_base_dispatch(w->base);
    px_worker_cleanup(w);
    atomic_store(&w->exited, 1);
    px_eventfd_signal(w->main_notify_fd);
    return NULL;
}

/* A worker's loop and state, without its thread. */
static px_worker_t *px_worker_new(unsigned id, int main_notify_fd)
{
    px_worker_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->id = id;
    w->main_notify_fd = main_notify_fd;
    w->conns.next = w->conns.prev = &w->conns;
    struct event_config *cfg = event_config_new();
    if (cfg != NULL) {
        event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
        /* Coalesce epoll_ctl calls for one fd within a loop iteration: a request disables and
         * re-enables reading on its client within one callback, which then costs nothing. */
        event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        w->base = event_base_new_with_config(cfg);
        event_config_free(cfg);
    }
    w->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->match_data = pcre2_match_data_create(32, NULL);
    w->log_buf = evbuffer_new();
    if (w->base == NULL || w->notify_fd < 0 || w->match_data == NULL || w->log_buf == NULL)
        goto fail;
    w->notify_ev = event_new(w->base, w->notify_fd, EV_READ | EV_PERSIST, px_worker_notified, w);
    if (w->notify_ev == NULL || event_add(w->notify_ev, NULL) < 0)
        goto fail;
    return w;
fail:
    if (w->notify_ev != NULL)
        event_free(w->notify_ev);
    if (w->base != NULL)
        event_base_free(w->base);
    if (w->notify_fd >= 0)
        close(w->notify_fd);
    pcre2_match_data_free(w->match_data);
    if (w->log_buf != NULL)
        evbuffer_free(w->log_buf);
    free(w);
    return NULL;
}

px_worker_t *px_worker_start(unsigned id, px_gen_t *gen, int main_notify_fd)
{
    px_worker_t *w = px_worker_new(id, main_notify_fd);
    if (w == NULL)
        return NULL;
    atomic_store(&w->pending, gen);
    if (pthread_create(&w->thread, NULL, px_worker_main, w) != 0) {
        atomic_store(&w->pending, NULL);
        px_worker_cleanup(w);
        free(w);
        return NULL;
    }
    return w;
}

px_gen_t *px_worker_local_gen(px_conf_t *conf)
{
    px_gen_t *gen = calloc(1, sizeof(*gen));
    int *access = calloc(conf->nlisteners + 1, sizeof(int));
    if (gen == NULL || access == NULL)
        goto fail;
    for (size_t i = 0; i < conf->nlisteners; i++)
        access[i] = -1;
    gen->conf = conf;
    gen->generation = 1;
    gen->nworkers = 1;
    gen->access_fds = access;
    if (px_uprt_init(gen, NULL) < 0)
        goto fail;
    atomic_store(&gen->refs, 1);
    return gen;
fail:
    free(gen);
    free(access);
    px_conf_release(conf);
    return NULL;
}

px_worker_t *px_worker_create_local(px_gen_t *gen)
{
    px_worker_t *w = px_worker_new(0, -1);
    px_wgen_t *wg = NULL;
    if (w != NULL && px_worker_size_scratch(w, gen->conf) == 0) {
        px_worker_self = w;
        wg = px_wgen_create(w, gen);
    }
    if (wg == NULL) {
        px_gen_release(gen);
        if (w != NULL) {
            px_worker_cleanup(w);
            free(w);
        }
        px_worker_self = NULL;
        return NULL;
    }
    w->cur = wg;
    atomic_store(&w->applied, gen->generation);
    return w;
}

void px_worker_free_local(px_worker_t *w)
{
    px_worker_cleanup(w);
    px_worker_self = NULL;
    free(w);
}

void px_worker_post_gen(px_worker_t *w, px_gen_t *gen)
{
    px_gen_t *prev = atomic_exchange(&w->pending, gen);
    if (prev != NULL)
        px_gen_release(prev);
    px_eventfd_signal(w->notify_fd);
}

void px_worker_post_cmd(px_worker_t *w, unsigned cmd)
{
    atomic_fetch_or(&w->commands, cmd);
    px_eventfd_signal(w->notify_fd);
}

void px_worker_join(px_worker_t *w)
{
    pthread_join(w->thread, NULL);
    free(w);
}
