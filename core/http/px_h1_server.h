/*
 * px_h1_server.h: downstream HTTP/1.x connections.
 *
 * A connection reads request heads, hands each to a new transaction, and serves them one at a
 * time in order: pipelined requests wait in the input buffer until the response before them
 * has been queued, so responses always leave in request order. Between requests the connection
 * may switch to the worker's newest configuration generation.
 */
#ifndef PX_H1_SERVER_H
#define PX_H1_SERVER_H

#include <sys/socket.h>

#include "px_txn-t.h"
#include "px_worker-t.h"

typedef struct px_io_s px_io_t;

typedef enum {
    PX_CONN_HEAD = 0,  /* waiting for (the rest of) a request head */
    PX_CONN_KEEPALIVE, /* idle between requests: nothing of the next one received */
    PX_CONN_TXN,       /* a transaction is in progress */
    PX_CONN_CLOSING,   /* flushing the last response, then lingering until EOF */
} px_h1_conn_state_t;

struct px_h1_conn_s {
    px_link_t link; /* in worker->conns (must stay first) */
    px_down_t down; /* what the current txn sees of this connection */
    struct px_h2_session_s *h2; /* HTTP/2 (px_h2_server.c): the session has the streams */
    px_worker_t *worker;
    px_wgen_t *wgen; /* counted in wgen->active */
    size_t listener; /* index in wgen->gen->conf->listeners */
    const px_conf_listener_t *lconf;
    px_io_t *io;
    struct event *timer; /* header, keep-alive and lingering-close timeouts */
    px_h1_conn_state_t state;
    px_txn_t *txn;
    size_t scanned;           /* head-end scan progress over the input buffer */
    unsigned requests;        /* requests started on this connection */
    unsigned peer_eof : 1;    /* the client closed its sending side */
    unsigned handshaking : 1; /* TLS: the handshake has not completed yet */
    struct sockaddr_storage peer;
    char peer_text[64]; /* client address without port, for logs and X-Forwarded-For */
};

/* Take over an accepted socket (non-blocking) on listener `listener` of view wg. */
void px_h1_conn_accept(px_worker_t *w, px_wgen_t *wg, size_t listener, int fd,
                       const struct sockaddr *sa, socklen_t salen);

/* The current txn has queued its whole response (or given up): log it, free it and go on with
 * the next request, keep-alive wait, or close, as the txn and connection state say. */
void px_h1_conn_txn_done(px_h1_conn_t *c);

/* The response in progress cannot be completed: send what is already queued, then close
 * (never completing the message). The txn must already be detached (c->txn == NULL). */
void px_h1_conn_abort(px_h1_conn_t *c);

/* Close the connection now, aborting any transaction on it. */
void px_h1_conn_close(px_h1_conn_t *c);

/* Drain: close idle connections now; others close after their current response. HTTP/2:
 * graceful GOAWAY. */
void px_h1_conn_drain(px_h1_conn_t *c);

/* A new generation is active. HTTP/2 connections say GOAWAY (graceful), so their clients open
 * new connections, served on the new generation; HTTP/1 ones switch between requests. */
void px_h1_conn_new_gen(px_h1_conn_t *c);

/* The HTTP/1 connection behind a txn's downstream, or NULL when it is an HTTP/2 stream (an
 * upgrade takes over the connection's socket: only HTTP/1 has one to give). */
px_h1_conn_t *px_h1_conn_of(px_down_t *d);

#endif
