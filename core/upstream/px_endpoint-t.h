/*
 * px_endpoint-t.h: upstream endpoints and their state, shared by every worker.
 *
 * Three levels:
 *  - px_ep_t, one endpoint (an address) of one upstream, with the verdicts every worker reads
 *    when it picks an endpoint: the outlier detector's and the health checks'. An
 *    endpoint is shared by the host sets that list it, and by the generations whose upstream
 *    of the same name lists the same address, so its state survives a reload. Refcounted.
 *  - px_hostset_t, an upstream's endpoints at one moment, immutable once published: the config's
 *    list, or what discovery found. Refcounted: a worker holds the set it picks from.
 *  - px_uprt_t, one upstream of one generation at run time: its current host set (swapped by
 *    the main thread under `lock`; a worker takes the lock only when `version` says the set
 *    changed, never per request) and the circuit breakers' counters.
 *
 * Hot-path reads are relaxed atomic loads of fields the main thread or other workers write;
 * nothing on the request path takes a lock.
 */
#ifndef PX_ENDPOINT_T_H
#define PX_ENDPOINT_T_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "px_conf-t.h"

typedef struct px_ep_s {
    _Atomic unsigned refs;
    char *upstream;      /* the upstream's name (owned) */
    px_conf_addr_t addr; /* addr.text owned: "10.0.0.7:8080" as written or found */
    /* The verdicts, read on every pick (usable: not ejected and not unhealthy): */
    _Atomic uint64_t ejected_until; /* outlier ejection end (px_time_ms); 0 = not ejected */
    _Atomic unsigned unhealthy;     /* 1: failed its active health checks; written by the main
                                       thread only (px_health.c) */
    /* Outlier detection: consecutive failures (reset by a success), ejections so far (the
     * next lasts base x (n + 1), capped), when the last one ended. */
    _Atomic unsigned consec_5xx, consec_gw, consec_connect;
    _Atomic unsigned ejections;
    _Atomic uint64_t returned_at;
} px_ep_t;

typedef struct {
    px_ep_t *ep; /* one reference per entry */
    unsigned weight;
    const char *tls_host; /* upstream TLS: the name sent as SNI and verified (the config's);
                             NULL without TLS */
} px_hostset_entry_t;

/* Entries of a Maglev lookup table (a prime). */
#define PX_MAGLEV_SIZE 65537

typedef struct px_hostset_s {
    _Atomic unsigned refs;
    size_t n;
    uint16_t *maglev; /* balance hash: PX_MAGLEV_SIZE entry indexes; else NULL */
    char *names;      /* discovery: the tls_host strings of the entries (malloc'd, freed
                         with the set); NULL when they belong to the config */
    px_hostset_entry_t e[];
} px_hostset_t;

typedef struct px_uprt_s {
    const px_conf_upstream_t *conf;
    _Atomic uint64_t version; /* incremented with each published host set */
    pthread_mutex_t lock;     /* guards `hosts` while it is swapped or a reference taken */
    px_hostset_t *hosts;      /* one reference */
    /* Circuit breakers, counted only for the limits configured (conf->breakers): */
    _Atomic uint64_t conns;    /* open connections */
    _Atomic uint64_t pending;  /* requests waiting for a connection */
    _Atomic uint64_t requests; /* requests in flight */
    _Atomic uint64_t retries;  /* retries in flight */
} px_uprt_t;

/* What an attempt's outcome says about its endpoint (outlier detection). */
typedef enum {
    PX_EP_SUCCESS = 0,     /* a response below 500 */
    PX_EP_5XX,             /* a 5xx other than 502-504 */
    PX_EP_GATEWAY_ERROR,   /* 502, 503, 504, or reset / closed / timed out before a response */
    PX_EP_CONNECT_FAILURE, /* could not connect */
} px_ep_outcome_t;

#endif
