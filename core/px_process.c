/*
 * px_process.c: the main thread. Loads configuration into generations, owns the listening
 * sockets, starts the workers, and handles signals: SIGHUP reloads, SIGTERM/SIGINT drain and
 * exit, SIGUSR1 reopens the log files.
 *
 * Reloads are serialized: a new generation is posted to the workers only once every worker has
 * applied the previous one, and "generation N active" is logged only then, so a request sent
 * after that line is served by the new configuration.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "px_conf.h"
#include "px_discovery.h"
#include "px_endpoint.h"
#include "px_health.h"
#include "px_log.h"
#include "px_process.h"
#include "px_tls.h"
#include "px_worker.h"

/* The listening sockets of one address: one per worker (SO_REUSEPORT). */
typedef struct {
    struct sockaddr_storage sa;
    socklen_t salen;
    int *fds;
} px_lsock_t;

typedef struct {
    struct event_base *base;
    const char *file;
    px_gen_t *gen;       /* newest generation (the main thread's reference) */
    px_disc_t *disc;     /* discovery of gen's upstreams (freed before gen is released) */
    px_health_t *health; /* active health checks, following gen */
    unsigned next_generation;
    unsigned nworkers;
    px_worker_t **workers;
    int notify_fd; /* workers write here */
    struct event *notify_ev;
    struct event *drain_timer;
    struct event *ticket_timer; /* TLS session ticket keys: the next period's made ahead */
    px_lsock_t *socks;
    size_t nsocks;
    int publishing;   /* waiting for workers to apply gen */
    int reload_again; /* a SIGHUP came while publishing */
    int reopen_again; /* a SIGUSR1 came while publishing */
    int draining;
    unsigned exited;
} px_process_t;

static px_lsock_t *px_process_find_sock(px_process_t *p, const px_conf_addr_t *a)
{
    for (size_t i = 0; i < p->nsocks; i++) {
        if (p->socks[i].salen == a->salen && memcmp(&p->socks[i].sa, &a->sa, a->salen) == 0)
            return &p->socks[i];
    }
    return NULL;
}

static int px_process_listen_one(const px_conf_listener_t *l, char *err, size_t errlen)
{
    int fd = socket(l->listen.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "%s: socket: %s", l->listen.text, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (l->listen.sa.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&l->listen.sa, l->listen.salen) < 0 ||
        listen(fd, l->backlog) < 0) {
        snprintf(err, errlen, "listener %s: cannot listen on %s: %s", l->name, l->listen.text,
                 strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * Build a generation for conf: reuse the sockets of addresses already listened on, open the
 * others. On failure nothing changes (new sockets are closed) and err says why.
 */
static px_gen_t *px_process_gen_create(px_process_t *p, px_conf_t *conf, char *err, size_t errlen)
{
    size_t nl = conf->nlisteners, nw = p->nworkers;
    px_gen_t *gen = calloc(1, sizeof(*gen));
    int *fresh = calloc(nl, sizeof(int));
    if (gen == NULL || fresh == NULL)
        goto oom;
    gen->conf = conf;
    gen->nworkers = (unsigned)nw;
    gen->listen_fds = malloc(nl * nw * sizeof(int));
    gen->access_fds = malloc(nl * sizeof(int));
    if (gen->listen_fds == NULL || gen->access_fds == NULL)
        goto oom;
    for (size_t i = 0; i < nl; i++)
        gen->access_fds[i] = -1;
    if (px_uprt_init(gen, p->gen) < 0)
        goto oom;

    for (size_t i = 0; i < nl; i++) {
        const px_conf_listener_t *l = &conf->listeners[i];
        px_lsock_t *s = px_process_find_sock(p, &l->listen);
        for (size_t w = 0; w < nw; w++) {
            int fd = s ? s->fds[w] : px_process_listen_one(l, err, errlen);
            if (fd < 0)
                goto fail;
            gen->listen_fds[i * nw + w] = fd;
            if (s == NULL)
                fresh[i]++;
        }
        if (s != NULL) {
            for (size_t w = 0; w < nw; w++)
                listen(s->fds[w], l->backlog); /* a changed backlog applies at once */
        }
        if (l->access_log.format != PX_ACCESS_LOG_OFF) {
            gen->access_fds[i] = px_log_open_access(l->access_log.path);
            if (gen->access_fds[i] < 0) {
                snprintf(err, errlen, "listener %s: cannot open access log %s: %s", l->name,
                         l->access_log.path, strerror(errno));
                goto fail;
            }
        }
    }
    /* Commit: the socket table now describes this generation's listeners. */
    px_lsock_t *socks = calloc(nl ? nl : 1, sizeof(*socks));
    if (socks == NULL)
        goto oom;
    for (size_t i = 0; i < nl; i++) {
        const px_conf_listener_t *l = &conf->listeners[i];
        px_lsock_t *old = px_process_find_sock(p, &l->listen);
        socks[i].sa = l->listen.sa;
        socks[i].salen = l->listen.salen;
        if (old != NULL) {
            socks[i].fds = old->fds;
            old->fds = NULL;
        } else {
            socks[i].fds = malloc(nw * sizeof(int));
            if (socks[i].fds == NULL) {
                for (size_t j = 0; j < i; j++) {
                    if (socks[j].fds != NULL &&
                        px_process_find_sock(p, &conf->listeners[j].listen) == NULL)
                        free(socks[j].fds);
                }
                free(socks);
                goto oom;
            }
            memcpy(socks[i].fds, &gen->listen_fds[i * nw], nw * sizeof(int));
        }
    }
    /* Sockets of dropped addresses are closed by each worker as it leaves the old generation;
     * before any worker runs (first generation) there are none. */
    for (size_t i = 0; i < p->nsocks; i++)
        free(p->socks[i].fds);
    free(p->socks);
    p->socks = socks;
    p->nsocks = nl;
    free(fresh);
    gen->generation = ++p->next_generation;
    conf->generation = gen->generation;
    atomic_store(&gen->refs, 1);
    return gen;

oom:
    snprintf(err, errlen, "out of memory");
fail:
    if (gen != NULL && gen->listen_fds != NULL && fresh != NULL) {
        for (size_t i = 0; i < nl; i++) {
            for (int w = 0; w < fresh[i]; w++)
                close(gen->listen_fds[i * nw + (size_t)w]);
        }
    }
    if (gen != NULL && gen->access_fds != NULL) {
        for (size_t i = 0; i < nl; i++) {
            if (gen->access_fds[i] > 2)
                close(gen->access_fds[i]);
        }
    }
    if (gen != NULL) {
        px_uprt_free(gen);
        free(gen->listen_fds);
        free(gen->access_fds);
    }
    free(gen);
    free(fresh);
    return NULL;
}

static void px_process_log_errors(const char *prefix, const px_conf_error_t *errs, size_t n)
{
    char line[1200];
    for (size_t i = 0; i < n; i++) {
        px_conf_error_format(&errs[i], line, sizeof(line));
        px_log_error("%s%s", prefix, line);
    }
}

/* Start discovery for gen, the generation about to replace p->gen: the last endpoints found
 * are handed over, then the old discovery stops. */
static void px_process_discovery(px_process_t *p, px_gen_t *gen)
{
    px_disc_t *d = px_disc_start(p->base, gen, p->disc);
    if (d == NULL) {
        px_log_error("cannot start discovery (out of memory or no resolver): upstreams with "
                     "discovery have no endpoints");
        px_disc_free(p->disc);
    }
    p->disc = d;
}

static void px_process_publish(px_process_t *p)
{
    p->publishing = 1;
    for (unsigned i = 0; i < p->nworkers; i++) {
        atomic_fetch_add(&p->gen->refs, 1);
        px_worker_post_gen(p->workers[i], p->gen);
    }
}

static void px_process_reload(px_process_t *p)
{
    if (p->draining)
        return;
    if (p->publishing) {
        p->reload_again = 1;
        return;
    }
    px_log_info("reload: loading %s", p->file);
    px_conf_error_t errs[16];
    size_t nerrs = 0;
    px_conf_t *conf = px_conf_load(p->file, errs, 16, &nerrs);
    char prefix[96];
    snprintf(prefix, sizeof(prefix), "reload failed, keeping generation %u: ", p->gen->generation);
    if (conf == NULL) {
        px_process_log_errors(prefix, errs, nerrs);
        return;
    }
    if (conf->workers != p->nworkers)
        px_log_warn("reload: workers changed from %u to %u; this takes a restart", p->nworkers,
                    conf->workers);
    char err[512];
    px_gen_t *gen = px_process_gen_create(p, conf, err, sizeof(err));
    if (gen == NULL) {
        px_log_error("%s%s", prefix, err);
        px_conf_release(conf);
        return;
    }
    if (px_log_open(conf->error_log_path, conf->error_log_level) < 0)
        px_log_error("reload: cannot open error log %s: %s (keeping the current one)",
                     conf->error_log_path, strerror(errno));
    px_process_discovery(p, gen);
    px_health_sync(p->health, gen); /* while the old generation's config is still alive */
    px_gen_release(p->gen);
    p->gen = gen;
    px_process_publish(p);
}

/* Reopen the logs: the error log here, access logs through a new generation of the same
 * snapshot (workers switch to it like to a reload, so no request loses its log line). */
static void px_process_reopen(px_process_t *p)
{
    if (p->draining)
        return;
    if (p->publishing) {
        p->reopen_again = 1;
        return;
    }
    px_conf_t *conf = p->gen->conf;
    if (px_log_open(conf->error_log_path, conf->error_log_level) < 0)
        px_log_error("cannot reopen error log %s: %s", conf->error_log_path, strerror(errno));
    char err[512];
    px_conf_retain(conf);
    px_gen_t *gen = px_process_gen_create(p, conf, err, sizeof(err));
    if (gen == NULL) {
        px_log_error("cannot reopen access logs: %s", err);
        px_conf_release(conf);
        return;
    }
    px_log_info("logs reopened");
    px_process_discovery(p, gen);
    px_health_sync(p->health, gen);
    px_gen_release(p->gen);
    p->gen = gen;
    px_process_publish(p);
}

static void px_process_tick(evutil_socket_t fd, short what, void *arg)
{
    px_process_t *p = arg;
    px_uprt_tick(p->gen);
    px_health_sync(p->health, p->gen); /* host sets that changed without a reload */
}

static void px_process_notified(evutil_socket_t fd, short what, void *arg)
{
    px_process_t *p = arg;
    uint64_t n;
    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        return;
    unsigned exited = 0, applied = 0;
    for (unsigned i = 0; i < p->nworkers; i++) {
        exited += atomic_load(&p->workers[i]->exited) ? 1 : 0;
        applied += atomic_load(&p->workers[i]->applied) == p->gen->generation ? 1 : 0;
    }
    if (exited == p->nworkers) {
        event_base_loopexit(p->base, NULL);
        return;
    }
    if (p->publishing && applied == p->nworkers) {
        p->publishing = 0;
        if (p->gen->generation == 1)
            px_log_info("pyxis %s started: %u workers, generation 1", PACKAGE_VERSION, p->nworkers);
        else
            px_log_info("reload: generation %u active", p->gen->generation);
        if (p->reload_again) {
            p->reload_again = 0;
            px_process_reload(p);
        } else if (p->reopen_again) {
            p->reopen_again = 0;
            px_process_reopen(p);
        }
    }
}

static void px_process_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    px_process_t *p = arg;
    px_log_warn("drain timeout: closing the remaining connections");
    for (unsigned i = 0; i < p->nworkers; i++)
        px_worker_post_cmd(p->workers[i], PX_WORKER_CMD_STOP);
}

static void px_process_ticket_keys(evutil_socket_t fd, short what, void *arg)
{
    if (px_tls_ticket_rotate(px_tls_ticket_clock()) < 0)
        px_log_error("TLS: cannot make session ticket keys (no randomness): no new tickets");
}

static void px_process_signal(evutil_socket_t sig, short what, void *arg)
{
    px_process_t *p = arg;
    switch (sig) {
    case SIGHUP: px_process_reload(p); break;
    case SIGUSR1: px_process_reopen(p); break;
    case SIGTERM:
    case SIGINT:
        if (p->draining) {
            px_process_drain_timeout(-1, 0, p); /* second signal: stop now */
            break;
        }
        p->draining = 1;
        uint64_t ms = p->gen->conf->drain_timeout_ms;
        px_log_info("draining: %s received, finishing in-flight requests (up to %llu ms)",
                    sig == SIGTERM ? "SIGTERM" : "SIGINT", (unsigned long long)ms);
        for (unsigned i = 0; i < p->nworkers; i++)
            px_worker_post_cmd(p->workers[i], PX_WORKER_CMD_DRAIN);
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
        evtimer_add(p->drain_timer, &tv);
        break;
    }
}

static int px_process_write_pid(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f);
}

int px_process_run(const char *file)
{
    px_conf_t *conf = px_conf_load_or_report(file, stderr);
    if (conf == NULL)
        return 1;
    if (px_log_open(conf->error_log_path, conf->error_log_level) < 0) {
        fprintf(stderr, "cannot open error log %s: %s\n", conf->error_log_path, strerror(errno));
        px_conf_release(conf);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    px_process_t p = {0};
    p.file = file;
    p.nworkers = conf->workers;
    unsigned want = conf->workers; /* conf may be released by a reload before we return */
    p.base = event_base_new();
    p.notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    p.workers = calloc(p.nworkers, sizeof(px_worker_t *));
    if (p.base == NULL || p.notify_fd < 0 || p.workers == NULL) {
        px_log_error("cannot start: %s", strerror(errno));
        return 1;
    }
    char err[512];
    p.gen = px_process_gen_create(&p, conf, err, sizeof(err));
    if (p.gen == NULL) {
        px_log_error("cannot start: %s", err);
        px_conf_release(conf);
        return 1;
    }
    /* Discovery starts now and workers do not wait for its first answers: until then an
     * upstream with discovery answers 503 (docs/resilience.md). */
    px_process_discovery(&p, p.gen);
    p.health = px_health_new(p.base);
    if (p.health == NULL) {
        px_log_error("cannot start: out of memory");
        px_gen_release(p.gen);
        return 1;
    }
    px_health_sync(p.health, p.gen);
    if (conf->pid_file != NULL && px_process_write_pid(conf->pid_file) < 0)
        px_log_warn("cannot write pid file %s: %s", conf->pid_file, strerror(errno));

    p.notify_ev = event_new(p.base, p.notify_fd, EV_READ | EV_PERSIST, px_process_notified, &p);
    p.drain_timer = evtimer_new(p.base, px_process_drain_timeout, &p);
    /* Before any worker can make a ticket; then every minute (keys are made a period ahead). */
    px_process_ticket_keys(-1, 0, &p);
    p.ticket_timer = event_new(p.base, -1, EV_PERSIST, px_process_ticket_keys, &p);
    struct timeval minute = {60, 0};
    event_add(p.ticket_timer, &minute);
    struct event *sigs[5];
    int signums[5] = {SIGHUP, SIGTERM, SIGINT, SIGUSR1, 0};
    for (int i = 0; signums[i] != 0; i++) {
        sigs[i] = evsignal_new(p.base, signums[i], px_process_signal, &p);
        event_add(sigs[i], NULL);
    }
    event_add(p.notify_ev, NULL);
    /* Upstream bookkeeping once a second: ejections that ended, ejection counts that decay,
     * host sets the health checks follow. */
    struct event *tick = event_new(p.base, -1, EV_PERSIST, px_process_tick, &p);
    struct timeval second = {1, 0};
    if (tick != NULL)
        event_add(tick, &second);

    p.publishing = 1;
    for (unsigned i = 0; i < p.nworkers; i++) {
        atomic_fetch_add(&p.gen->refs, 1);
        p.workers[i] = px_worker_start(i, p.gen, p.notify_fd);
        if (p.workers[i] == NULL) {
            px_log_error("cannot start worker %u", i);
            px_gen_release(p.gen);
            p.nworkers = i;
            for (unsigned j = 0; j < i; j++)
                px_worker_post_cmd(p.workers[j], PX_WORKER_CMD_STOP);
            break;
        }
    }
    if (p.nworkers == want)
        event_base_dispatch(p.base);

    for (unsigned i = 0; i < p.nworkers; i++)
        px_worker_join(p.workers[i]);
    for (int i = 0; signums[i] != 0; i++)
        event_free(sigs[i]);
    event_free(p.notify_ev);
    if (tick != NULL)
        event_free(tick);
    px_health_free(p.health);
    event_free(p.drain_timer);
    event_free(p.ticket_timer);
    px_disc_free(p.disc);
    event_base_free(p.base);
    close(p.notify_fd);
    /* Each worker closed its own listening sockets; only the table is left. */
    for (size_t i = 0; i < p.nsocks; i++)
        free(p.socks[i].fds);
    free(p.socks);
    if (p.gen->conf->pid_file != NULL)
        unlink(p.gen->conf->pid_file);
    int status = p.nworkers == want ? 0 : 1;
    px_gen_release(p.gen);
    free(p.workers);
    px_log_info("exiting");
    return status;
}
