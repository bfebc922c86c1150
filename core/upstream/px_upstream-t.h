/*
 * px_upstream-t.h: upstream connections and per-worker keep-alive pools.
 *
 * A pool holds the idle keep-alive connections to one place in one worker view (px_wgen_t); it
 * is only touched by that worker, so it needs no lock. There are two kinds:
 *  - endpoint pools, one per endpoint of each upstream's host set (px_endpoint-t.h), held by
 *    the view's px_wup_t of that upstream; an endpoint that leaves the set (discovery) has its
 *    pool retired: idle connections closed, the pool freed with its last use;
 *  - call-out URL pools, one per "host:port" (plain) or "https://host:port" (TLS) that
 *    call-outs to URLs reached (wg->url_pools), created on the first connection and freed with
 *    their last one. The scheme is in the key, so plain and TLS connections never mix.
 * An idle connection keeps its read event armed: bytes or EOF from the peer while idle mean it
 * is unusable, and it is closed at once, so a connection the peer has closed is never handed
 * out. Idle connections also close after the pool's idle timeout.
 *
 * While a connection is attached (CONNECTING or ACTIVE) it belongs to an owner (a txn being
 * proxied, a call-out) and its events go to the owner's px_uconn_ops_t.
 */
#ifndef PX_UPSTREAM_T_H
#define PX_UPSTREAM_T_H

#include <stdint.h>

#include "px_conf-t.h"
#include "px_http1-t.h"
#include "px_up-t.h"
#include "px_worker-t.h"

typedef struct px_io_s px_io_t;
struct event;

/* Where the events of an attached connection go. `owner` is what the connection was attached
 * with. Called from the connection's px_io callbacks: the owner may release the connection
 * (px_upstream_release) from any of them. */
typedef struct {
    void (*readable)(void *owner);          /* input arrived (px_io readcb) */
    void (*writable)(void *owner);          /* output drained to the low mark (ACTIVE only) */
    void (*event)(void *owner, short what); /* PX_IO_CONNECTED, EOF, ERROR or TIMEOUT */
} px_uconn_ops_t;

struct px_wup_s;

struct px_upool_s {
    px_wgen_t *wgen;                    /* the view the pool belongs to */
    const px_conf_upstream_t *upstream; /* endpoint pools; NULL for a URL pool */
    struct px_ep_s *ep;                 /* endpoint pools: the endpoint (one reference) */
    struct px_wup_s *wup;               /* endpoint pools: the worker's view of the upstream */
    const char *name;                   /* for logs: "10.0.0.7:8080", "example.com:80" */
    uint64_t max_idle;                  /* idle connections kept */
    uint64_t idle_timeout_ms;
    uint64_t max_requests; /* per connection; 0 = unlimited */
    uint64_t connect_timeout_ms;
    px_link_t idle; /* idle connections, most recently used first */
    unsigned nidle;
    unsigned nconns;     /* connections of this pool in any state */
    unsigned active;     /* requests of this worker whose current attempt uses it */
    unsigned weight;     /* endpoint pools: the endpoint's weight in the host set */
    long current_weight; /* smooth weighted round robin state (endpoint pools) */
    unsigned gone : 1;   /* its endpoint left the host set: freed with its last use */
    px_link_t h2;        /* endpoint pools of HTTP/2 upstreams: the sessions
                            (px_h2_client.h), each owning one of nconns */
    unsigned nh2;
    px_link_t link;       /* URL pools: in wgen->url_pools */
    const char *tls_host; /* TLS pools (https:// call-outs, upstreams with tls): the name
                             its connections send as SNI and verify (no brackets); the
                             context is the upstream's, or the worker's default for a URL
                             pool; NULL: plain TCP */
};

/* A worker's view of one upstream: the host set it picks from (switched when the upstream's
 * version moves on), one pool per endpoint, and what this worker has in flight. */
typedef struct px_wup_s {
    struct px_uprt_s *rt;
    px_wgen_t *wgen;
    uint64_t version;           /* of rt's host set that `hosts` is */
    struct px_hostset_s *hosts; /* one reference */
    px_upool_t **pools;         /* [hosts->n]: pools[i] is hosts->e[i]'s */
    uint64_t rng;               /* random and least_request draws */
    unsigned active;            /* requests in flight to this upstream (retry budget) */
    unsigned retrying;          /* of them, in a retry (retry budget) */
} px_wup_t;

/* What a pick avoids or follows. */
typedef struct {
    struct px_ep_s *const *tried; /* endpoints tried already: others are preferred */
    size_t ntried;
    uint64_t hash; /* balance hash: the key's hash, when has_hash */
    unsigned has_hash : 1;
} px_pick_t;

typedef enum {
    PX_UCONN_CONNECTING = 0,
    PX_UCONN_ACTIVE, /* attached to an owner */
    PX_UCONN_IDLE,   /* in its pool */
} px_uconn_state_t;

typedef struct px_uconn_s {
    px_link_t link; /* in pool->idle while idle (must stay first) */
    px_upool_t *pool;
    px_wgen_t *wgen; /* the view whose pool it returns to (idle ones are closed when
                        the view is retired) */
    px_io_t *io;
    px_uconn_state_t state;
    const px_uconn_ops_t *ops; /* while ACTIVE or CONNECTING */
    void *owner;               /* while ACTIVE or CONNECTING */
    const px_up_ops_t *up;     /* attached to a proxied txn: its codec (px_up-t.h) */
    uint64_t requests;         /* requests sent on this connection */
    uint64_t sent_before;      /* px_io_sent() when the current request began: while it is
                                  unchanged, not one byte of the request has left pyxis */
    size_t scanned;            /* response head scan progress */
    unsigned interim;          /* interim (1xx) responses seen for the current request */
    unsigned reused : 1;       /* taken from the pool for the current request */
    unsigned head_done : 1;    /* final response head parsed for the current request */
    unsigned req_written : 1;  /* the whole request is in the output buffer */
    unsigned answered : 1;     /* a response byte arrived: the request is not retryable */
    unsigned eof : 1;          /* the upstream closed its side */
    unsigned counted : 1;      /* counted in its upstream's circuit_breakers.max_connections */
    unsigned pending : 1;      /* connecting, counted in circuit_breakers.max_pending */
} px_uconn_t;

#endif
