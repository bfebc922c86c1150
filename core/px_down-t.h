/*
 * px_down-t.h: the downstream seam, what a transaction knows of the client side.
 *
 * A txn talks to its client through a px_down_t: the HTTP/1 connection (px_h1_server.c) is
 * one, an HTTP/2 stream (px_h2_server.c) is another. The txn and the proxy never see the wire
 * protocol: they start the response with a status and header list, move body bytes into
 * body_out() and take request body bytes from body_in(), and say when the exchange is over.
 *
 * Body bytes cross the seam in HTTP/1 framing terms (px_h1_body.h), which is what the proxy's
 * pumps speak: the request body in body_in() is framed as t->req.body says, and
 * start_response() tells the caller which framing the response body must be encoded with
 * before it is moved into body_out(). An HTTP/1 connection hands over its socket buffers as
 * they are; an HTTP/2 stream frames nothing (LENGTH or CLOSE: the bytes as they are) except a
 * request body of unknown length, which it presents chunked.
 *
 * The px_down_t is owned by the codec and outlives the txn: the txn must not use it after
 * detach().
 */
#ifndef PX_DOWN_T_H
#define PX_DOWN_T_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "px_http1-t.h"
#include "px_str-t.h"

struct evbuffer;
struct px_txn_s;
typedef struct px_io_s px_io_t;
typedef struct px_down_s px_down_t;

/*
 * The operations of a downstream. Every call is made by the txn on the worker thread; none may
 * call back into the txn synchronously except where said.
 *
 * start_response: queue the response head of t (t->status, `reason`, t->resp_headers, then
 *   the `extra` fields pyxis adds) announcing a body of kind `body`: NONE (no body), LENGTH
 *   (`length` bytes; also a HEAD or 304 answer's representation length), CHUNKED or CLOSE
 *   (length unknown). *out: the framing the body bytes must be encoded with before they are
 *   moved into body_out (px_h1_body_encode). May set t->close_client. 0, or -1 when out of
 *   memory.
 * send_continue: tell the client to send its body (HTTP/1.1 "100 Continue").
 * body_in / body_out: the request body source and the response body destination. Their
 *   lengths are the backpressure signal: the txn stops moving when body_out holds enough and
 *   waits for px_txn_client_writable(); it takes from body_in on px_txn_client_readable().
 * read: on = 1: tell the txn (px_txn_client_readable) when more request body is there, and
 *   notice the client going away; 0: stop (request-side backpressure).
 * timeouts: the client's idle timeouts while the txn reads the body (read_ms) or writes the
 *   response (write_ms); 0 = none.
 * write_low: body_out has drained when it holds at most `low` bytes (px_txn_client_writable).
 * done: the whole response is queued (or the txn gave up with close_client set): the codec
 *   finishes the txn (px_txn_finish) and goes on.
 * detach: the txn is going away on its own (px_txn_finish follows): forget it.
 * abort: after detach, the response in progress cannot be completed: end it so the client
 *   cannot take it for complete (HTTP/1: close after what is queued; HTTP/2: reset the stream).
 * close: after detach, the client is gone: drop the exchange (HTTP/1: close the connection;
 *   HTTP/2: reset the stream only, unless both sides of it ended and only our END_STREAM is
 *   left to send).
 * tunnel: the upstream switched protocols and the response filters let its 101 through
 *   (px_tunnel.h): tell the client (HTTP/1.1: the 101 head with Connection: upgrade and
 *   Upgrade: t->resp_upgrade; HTTP/2: :status 200 on the extended CONNECT stream, RFC 8441
 *   section 5) and from now on report the client's events to px_tunnel_client_*() instead of
 *   the txn: readable (body_in has bytes, while read is on), writable (body_out drained to the
 *   write_low mark), eof (the client sends no more) and failed. 0, or -1 (out of memory).
 * shutdown: a tunnel sends the client nothing after what body_out holds (HTTP/1: a half-close,
 *   shutdown(SHUT_WR) or close_notify; HTTP/2: END_STREAM). writable follows once body_out is
 *   empty.
 */
typedef struct {
    int (*start_response)(px_down_t *d, struct px_txn_s *t, px_str_t reason,
                          const px_header_t *extra, size_t nextra, px_body_kind_t body,
                          uint64_t length, px_body_kind_t *out);
    void (*send_continue)(px_down_t *d);
    struct evbuffer *(*body_in)(px_down_t *d);
    struct evbuffer *(*body_out)(px_down_t *d);
    void (*read)(px_down_t *d, int on);
    void (*timeouts)(px_down_t *d, uint64_t read_ms, uint64_t write_ms);
    void (*write_low)(px_down_t *d, size_t low);
    void (*done)(px_down_t *d);
    void (*detach)(px_down_t *d);
    void (*abort)(px_down_t *d);
    void (*close)(px_down_t *d);
    int (*tunnel)(px_down_t *d, struct px_txn_s *t);
    void (*shutdown)(px_down_t *d);
} px_down_ops_t;

/* A downstream as the txn sees it. The facts are borrowed from the connection and stay valid
 * while the txn is attached. */
struct px_down_s {
    const px_down_ops_t *ops;
    px_io_t *io;                         /* the client's socket: TLS facts (px_io_ssl) */
    const char *peer_text;               /* client address without port */
    const struct sockaddr_storage *peer; /* client address and port */
};

#endif
