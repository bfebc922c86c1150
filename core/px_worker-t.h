/*
 * px_worker-t.h: worker threads and configuration generations.
 *
 * A generation (px_gen_t) is the process-wide runtime around one config snapshot: its
 * listening sockets (one SO_REUSEPORT socket per listener per worker) and access log fds. The
 * main thread creates it; each worker builds its own view of it (px_wgen_t: accept events,
 * upstream pools, balancer cursors) when it switches to it, between requests. A worker keeps
 * an old view alive while connections or transactions still use it, then frees it and drops
 * its reference on the generation.
 */
#ifndef PX_WORKER_T_H
#define PX_WORKER_T_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "px_conf-t.h"
#include "px_http1-t.h"

struct event_base;
struct evbuffer;
struct event;
struct evconnlistener;

typedef struct px_worker_s px_worker_t;
typedef struct px_wgen_s px_wgen_t;
typedef struct px_upool_s px_upool_t;
typedef struct px_h1_conn_s px_h1_conn_t;
struct px_callout_worker_s;

typedef struct px_gen_s {
    px_conf_t *conf; /* one reference, released with the generation */
    unsigned generation;
    _Atomic int refs; /* the main thread's + one per worker view */
    unsigned nworkers;
    int *listen_fds; /* [listener * nworkers + worker]; fd i is owned by worker i once
                        the worker has taken the generation (it closes the fds of
                        listeners that a later generation drops) */
    int *access_fds; /* per listener: -1 = off; closed with the generation unless 1/2 */
    struct px_uprt_s *uprt; /* per upstream: endpoints and breakers (px_endpoint.h) */
} px_gen_t;

/* A doubly linked list node (connections of a worker, idle upstream connections). */
typedef struct px_link_s {
    struct px_link_s *prev, *next;
} px_link_t;

/* What an accept event needs to know: its view and which listener it is. */
typedef struct {
    px_wgen_t *wgen;
    size_t index;
} px_wlistener_t;

struct px_wgen_s {
    px_gen_t *gen;
    px_worker_t *worker;
    unsigned active;                   /* connections and transactions still using this view */
    struct evconnlistener **listeners; /* per conf listener; freed when the worker moves on */
    px_wlistener_t *largs;             /* per conf listener: the accept callback's argument */
    struct px_wup_s *ups; /* per upstream of gen->conf: endpoint pools, balancer state */
    void **module_data;  /* per module of gen->conf->modules: what worker_init made */
    px_link_t timers;    /* worker timers modules made for this view */
    px_link_t url_pools; /* call-out pools per "host:port" (px_upstream.c), each freed with
                            its last connection */
    unsigned url_nidle;  /* idle connections in all of url_pools */
    px_wgen_t *next_old; /* worker's list of retired views */
    unsigned modules_exited : 1; /* its timers cancelled and modules' worker_exit run */
};

enum {
    PX_WORKER_CMD_DRAIN = 1 << 0, /* stop accepting, finish in-flight, then exit the loop */
    PX_WORKER_CMD_STOP = 1 << 1,  /* exit the loop now (drain timeout passed) */
};

struct px_worker_s {
    unsigned id;
    pthread_t thread;
    struct event_base *base;
    int notify_fd; /* eventfd the main thread writes to after posting below */
    struct event *notify_ev;
    _Atomic(px_gen_t *) pending; /* a generation to switch to (set by main, taken by worker) */
    _Atomic unsigned commands;   /* PX_WORKER_CMD_* */
    _Atomic unsigned applied;    /* generation number the worker has switched to */
    _Atomic int exited;          /* the loop has ended */
    int main_notify_fd;          /* eventfd of the main thread: "applied" or "exited" changed */

    px_wgen_t *cur;  /* generation new connections and requests use */
    px_wgen_t *old;  /* retired views still in use */
    px_link_t conns; /* every downstream connection of this worker */
    unsigned nconns;
    int draining;
    int listen_closed; /* this worker closed its listening sockets (drain or exit) */

    time_t date_sec; /* cached IMF-fixdate for Date headers */
    char date[40];
    px_header_t *scratch; /* parse array sized for the largest max_headers */
    size_t scratch_cap;
    uint64_t seq;             /* request counter, for request ids */
    void *match_data;         /* pcre2_match_data for route regexes, reused */
    struct evbuffer *log_buf; /* access-log line being formatted, reused */
    /* Call-outs in flight and the resolver (px_callout.c); NULL until the first call-out. */
    struct px_callout_worker_s *callouts;
    /* The client SSL_CTX of https call-outs (px_tls.c); NULL until the first one. */
    struct ssl_ctx_st *tls_client;
};

#endif
