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
#include "px_down-t.h"
#include "px_h1_body.h"
#include "px_headers.h"
#include "px_http1-t.h"
#include "px_module-t.h"
#include "px_pool-t.h"
#include "px_worker-t.h"

struct event;
typedef struct px_uconn_s px_uconn_t;

/* Endpoints a request remembers having tried (retry.attempts is at most 10). */
#define PX_TXN_MAX_TRIED 10

typedef enum {
    PX_TXN_REQ_BODY = 0, /* reading (and forwarding) the request body */
    PX_TXN_REQ_DONE,     /* request body complete (or none) */
} px_txn_req_state_t;

typedef enum {
    PX_TXN_RESP_NONE = 0, /* nothing sent to the client yet */
    PX_TXN_RESP_BODY,     /* head sent; body streaming */
    PX_TXN_RESP_DONE,     /* the whole response is in the client's output buffer */
} px_txn_resp_state_t;

/* One filter of the route, for this request. */
typedef struct {
    const px_conf_filter_t *f;
    void *ctx;             /* what attach() made (default: the filter's conf) */
    unsigned attached : 1; /* attach() succeeded: detach() is owed */
    unsigned reached : 1;  /* the request phase got to it: its response callbacks apply */
} px_txn_filter_t;

typedef enum {
    PX_FPHASE_NONE = 0,
    PX_FPHASE_REQ_HEADERS,
    PX_FPHASE_REQ_BODY,
    PX_FPHASE_RESP_HEADERS,
    PX_FPHASE_RESP_BODY,
} px_fphase_t;

struct px_txn_s;
/* Where a phase goes on once it completes or resumes. */
typedef void (*px_fcont_t)(struct px_txn_s *t);

/* Progress of one direction (request or response) through the filter chain. */
typedef struct {
    px_fphase_t phase;
    unsigned pos;            /* how many filters of the phase have run (in phase order) */
    px_fcont_t cont;         /* called when a paused phase resumes */
    int resume_status;       /* pyxis_filter_status_t given to resume_with() */
    unsigned paused : 1;     /* a filter returned PAUSE; resume() not yet called */
    unsigned resumed : 1;    /* resume() called; cont runs from the event loop */
    unsigned in_call : 1;    /* a callback of this direction is running */
    unsigned has_result : 1; /* resumed: resume_status is the paused filter's outcome */
    unsigned body_last : 1;  /* body phases: the chunk being filtered ends the body */
} px_fcursor_t;

/* A per-request named value (pyxis_api_t.var_set). */
typedef struct px_txn_var_s {
    px_str_t name;
    px_str_t value;
    struct px_txn_var_s *next;
} px_txn_var_t;

typedef struct px_txn_s {
    px_pool_t *pool;
    px_worker_t *worker;
    px_wgen_t *wgen; /* the generation this request runs on (counted) */
    px_down_t *down; /* the client side (px_down-t.h), borrowed until detach() */
    const px_conf_listener_t *listener;
    size_t listener_index;        /* in wgen->gen->conf->listeners */
    const px_conf_route_t *route; /* NULL until matched */
    uint64_t id;                  /* per-worker sequence, with the worker id: request id */

    px_h1_request_t req;      /* strings point into the pool copy of the head */
    px_str_t host;            /* Host/authority without port, lowercased, for routing */
    px_headers_t req_headers; /* what will be sent upstream (normalized) */
    px_h1_body_t req_body;    /* client -> upstream */
    /* The request's trailer fields (a chunked body's), sent on when the upstream framing can
     * carry them. */
    px_headers_t req_trailers;
    px_txn_req_state_t req_state;

    int status;                    /* response status sent to the client (0 = none yet) */
    px_headers_t resp_headers;     /* proxied response fields sent to the client */
    px_body_kind_t resp_body_kind; /* upstream's framing */
    px_h1_body_t resp_body;        /* upstream -> client */
    /* The response's trailer fields, sent on to the client (HTTP/1.1: after the last chunk;
     * HTTP/2: a trailers HEADERS frame). */
    px_headers_t resp_trailers;
    px_txn_resp_state_t resp_state;
    int resp_keepalive; /* upstream allows reusing its connection */

    px_uconn_t *uconn;                  /* upstream connection while attached */
    struct px_ep_s *ep;                 /* endpoint of the current (last) attempt, for logs */
    struct px_upool_s *upool;           /* its pool, counting this request in pool->active */
    struct px_ep_s *tried[PX_TXN_MAX_TRIED]; /* endpoints tried: a retry prefers others */
    unsigned ntried;
    unsigned attempts;
    const char *overflow;    /* the circuit breaker that tripped (x-pyxis-overflow), or NULL */
    struct px_wup_s *wup;    /* the worker's view of t->upstream while proxying (counted) */
    struct event *try_timer; /* per_try_timeout, then the backoff before a retry (pool) */
    unsigned counted_request : 1; /* in wup->active and circuit_breakers.max_requests */
    unsigned counted_retry : 1;   /* in wup->retrying and circuit_breakers.max_retries */
    unsigned backing_off : 1;     /* try_timer is the backoff before the next attempt */
    struct event *timer; /* route total timeout (pool memory, event_assign) */
    struct timespec start;

    const px_conf_upstream_t *upstream; /* where the request goes: the route's, or a filter's
                                           choice (set_upstream) */

    /* filters (see px_filter.h) */
    px_txn_filter_t *filters; /* the route's filters; NULL when it has none */
    unsigned nfilters;
    unsigned nreached;  /* filters[0..nreached) had their request phase */
    unsigned nlog;      /* filters[0..nlog) get on_log (nreached, plus one that answered) */
    px_fcursor_t freq;  /* request direction */
    px_fcursor_t fresp; /* response direction */
    struct event *resume_ev;
    px_txn_var_t *vars;
    struct evbuffer *req_chunk; /* request body bytes being filtered */
    struct evbuffer *req_full;  /* the whole request body, read by req_body_read() */
    uint64_t req_full_max;      /* its limit (0: the listener's max_body_size) */
    struct evbuffer *req_ahead; /* a chunked body read ahead for replay that went on past
                                   retry.buffer: sent first, then the rest streams (req_full's
                                   evbuffer, moved here: freed with the pool) */
    pyxis_body_fn body_done;    /* the filter that asked for it, told when it is read */
    void *body_done_arg;
    const struct px_module_s *body_done_module;
    struct evbuffer *resp_chunk; /* response body bytes being filtered */
    px_body_kind_t req_out;      /* framing of the body sent upstream */
    px_body_kind_t resp_out;     /* framing of the body sent to the client */
    uint64_t resp_out_left;      /* resp_out == LENGTH: bytes the client still expects */
    uint64_t req_out_left;       /* req_out == LENGTH: bytes the upstream still expects */
    int reply_status;            /* respond(): the local reply to send */
    px_str_t reply_body;
    px_str_t new_target;           /* a rewritten request target (path?query), or empty */
    px_str_t log_target;           /* log_set_target(): the access log's target, or empty */
    px_str_t resp_reason;          /* the upstream's reason phrase */
    uint64_t resp_content_length;  /* the upstream's Content-Length */
    unsigned status_changed : 1;   /* a filter set the status: the standard reason goes out */
    unsigned target_changed : 1;   /* path or query rewritten: new_target is what is sent */
    unsigned log_target_set : 1;   /* log_target replaces the received target in the log */
    unsigned replying : 1;         /* respond() was called */
    unsigned req_body_change : 1;  /* body_will_change(REQUEST) */
    unsigned resp_body_change : 1; /* body_will_change(RESPONSE) */
    unsigned req_head_sent : 1;    /* the request head is written upstream */
    unsigned resp_head_sent : 1;   /* the response head is written to the client */
    unsigned in_local_reply : 1;   /* the response is a local reply */
    unsigned filter_failed : 1;    /* a filter returned ERROR: no more filter calls but
                                      on_log/detach */
    unsigned body_read_asked : 1;  /* req_body_read() was called in this callback */
    unsigned body_reading : 1;     /* the whole request body is being read into req_full */
    unsigned body_read_ahead : 1;  /* ... by the proxy, up to req_full_max: a longer body goes
                                      on streaming (px_txn_read_whole_body) */

    const char *error;          /* cause of a local error reply, for the log */
    unsigned close_client : 1;  /* close the downstream connection after this txn */
    unsigned grpc : 1;          /* a gRPC request: local errors are gRPC statuses (px_grpc.h) */
    unsigned deadline_hit : 1;  /* the request's deadline (route timeout, grpc-timeout) passed */
    unsigned grpc_reply : 1;    /* the local reply is HTTP/2 trailers-only: no body at all */
    unsigned timer_grpc : 1;    /* the deadline timer is the request's grpc-timeout */
    unsigned continue_sent : 1; /* "100 Continue" was written */

    /* HTTP/1.1 Upgrade (px_tunnel.h) */
    unsigned upgrading : 1;     /* the request's Upgrade goes upstream, with Connection: upgrade */
    unsigned switching : 1;     /* the upstream answered 101 Switching Protocols */
    unsigned ext_connect : 1;   /* HTTP/2 extended CONNECT (RFC 8441) made into an upgrade */
    px_str_t ws_key;            /* ext_connect: the Sec-WebSocket-Key pyxis sent (pool) */
    px_str_t resp_upgrade;      /* the 101's Upgrade value, sent on to the client */
    struct px_tunnel_s *tunnel; /* once the 101 went out: relaying bytes both ways (pool) */
} px_txn_t;

#endif
