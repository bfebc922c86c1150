/*
 * px_upstream-t.h: upstream connections and per-worker keep-alive pools.
 *
 * A pool holds the idle keep-alive connections of one endpoint in one worker view (px_wgen_t);
 * it is only touched by that worker, so it needs no lock. An idle connection keeps its read
 * event armed: bytes or EOF from the upstream while idle mean it is unusable, and it is closed
 * at once, so a connection the upstream has closed is never handed out. Idle connections also
 * close after keepalive.idle_timeout.
 */
#ifndef PX_UPSTREAM_T_H
#define PX_UPSTREAM_T_H

#include <stdint.h>

#include "px_conf-t.h"
#include "px_http1-t.h"
#include "px_worker-t.h"

typedef struct px_io_s px_io_t;
struct event;
typedef struct px_txn_s px_txn_t;

struct px_upool_s {
    const px_conf_upstream_t *upstream;
    const px_conf_endpoint_t *endpoint;
    px_link_t idle; /* idle connections, most recently used first */
    unsigned nidle;
    long current_weight; /* smooth weighted round robin state */
};

typedef enum {
    PX_UCONN_CONNECTING = 0,
    PX_UCONN_ACTIVE, /* attached to a txn */
    PX_UCONN_IDLE,   /* in its pool */
} px_uconn_state_t;

typedef struct px_uconn_s {
    px_link_t link; /* in pool->idle while idle (must stay first) */
    px_upool_t *pool;
    px_wgen_t *wgen; /* the view whose pool it returns to (idle ones are closed when
                        the view is retired) */
    px_io_t *io;
    px_uconn_state_t state;
    px_txn_t *txn;            /* while ACTIVE or CONNECTING */
    uint64_t requests;        /* requests sent on this connection */
    size_t scanned;           /* response head scan progress */
    unsigned interim;         /* interim (1xx) responses seen for the current request */
    unsigned reused : 1;      /* taken from the pool for the current request */
    unsigned head_done : 1;   /* final response head parsed for the current request */
    unsigned req_written : 1; /* the whole request is in the output buffer */
    unsigned answered : 1;    /* a response byte arrived: the request is not retryable */
    unsigned eof : 1;         /* the upstream closed its side */
} px_uconn_t;

#endif
