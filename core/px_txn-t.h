/*
 * px_txn-t.h: a transaction, one request/response exchange.
 *
 * A txn is created when a complete request head has been read and freed when the response has
 * been written (or the exchange failed). Everything it allocates comes from txn->pool, freed
 * with it; its timer and upstream connection are released by px_txn_free(). The request head
 * bytes are copied into the pool once, so every px_str_t in req and the header lists stays
 * valid for the txn's whole life.
 */
#ifndef PX_TXN_T_H
#define PX_TXN_T_H

#include <stdint.h>
#include <time.h>

#include "px_conf-t.h"
#include "px_h1_body.h"
#include "px_headers.h"
#include "px_http1-t.h"
#include "px_pool-t.h"
#include "px_worker-t.h"

struct event;
typedef struct px_uconn_s px_uconn_t;

typedef enum {
    PX_TXN_REQ_BODY = 0, /* reading (and forwarding) the request body */
    PX_TXN_REQ_DONE,     /* request body complete (or none) */
} px_txn_req_state_t;

typedef enum {
    PX_TXN_RESP_NONE = 0, /* nothing sent to the client yet */
    PX_TXN_RESP_BODY,     /* head sent; body streaming */
    PX_TXN_RESP_DONE,     /* the whole response is in the client's output buffer */
} px_txn_resp_state_t;

typedef struct px_txn_s {
    px_pool_t *pool;
    px_worker_t *worker;
    px_wgen_t *wgen;    /* the generation this request runs on (counted) */
    px_h1_conn_t *conn; /* the downstream connection */
    const px_conf_listener_t *listener;
    const px_conf_route_t *route; /* NULL until matched */
    uint64_t id;                  /* per-worker sequence, with the worker id: request id */

    px_h1_request_t req;      /* strings point into the pool copy of the head */
    px_str_t host;            /* Host/authority without port, lowercased, for routing */
    px_headers_t req_headers; /* what will be sent upstream (normalized) */
    px_h1_body_t req_body;    /* client -> upstream */
    px_txn_req_state_t req_state;

    int status;                    /* response status sent to the client (0 = none yet) */
    px_headers_t resp_headers;     /* proxied response fields sent to the client */
    px_body_kind_t resp_body_kind; /* upstream's framing */
    px_h1_body_t resp_body;        /* upstream -> client */
    px_txn_resp_state_t resp_state;
    int resp_keepalive; /* upstream allows reusing its connection */

    px_uconn_t *uconn;                   /* upstream connection while attached */
    const px_conf_endpoint_t *endpoint;  /* last endpoint tried, for logs */
    struct px_upool_s *uconn_pool_tried; /* its pool: a retry prefers another endpoint */
    unsigned attempts;
    struct event *timer; /* route total timeout (pool memory, event_assign) */
    struct timespec start;

    const char *error;          /* cause of a local error reply, for the log */
    unsigned close_client : 1;  /* close the downstream connection after this txn */
    unsigned continue_sent : 1; /* "100 Continue" was written */
} px_txn_t;

#endif
