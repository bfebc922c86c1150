/*
 * px_up-t.h: the upstream seam, what the proxy knows of the upstream side of one exchange.
 *
 * A proxied txn talks to its upstream through t->uconn, a px_uconn_t whose `up` ops are the
 * codec: an HTTP/1.1 connection of the pool (px_up_h1.c) is one, a stream of a pooled HTTP/2
 * connection (px_h2_client.c) is another. px_proxy.c drives the exchange only through these
 * ops and the exchange flags of px_uconn_t (reused, answered, head_done, req_written, eof);
 * it never sees the wire protocol.
 *
 * Body bytes cross the seam in HTTP/1 framing terms, as on the downstream seam
 * (px_down-t.h): the request body is moved into body_out() encoded as t->req_out, which
 * send_head() may change from what the proxy asked (HTTP/2 frames nothing: CHUNKED becomes
 * CLOSE, and request trailers are sent by end() from t->req_trailers). The response body is
 * taken from body_in() decoded as the head's px_h1_response_t.body says; uc->eof set with
 * body_in() empty is the end of a CLOSE body. An HTTP/2 stream puts the response's trailer
 * fields in t->resp_trailers itself before it sets eof.
 *
 * Events come back as they do for an HTTP/1.1 connection, through px_proxy_upstream_readable,
 * _writable and _event (PX_IO_CONNECTED once the exchange can start, EOF, ERROR, TIMEOUT), never
 * from within an op.
 */
#ifndef PX_UP_T_H
#define PX_UP_T_H

#include <stddef.h>
#include <stdint.h>

#include "px_http1-t.h"
#include "px_pool-t.h"
#include "px_str-t.h"

struct evbuffer;
struct px_txn_s;
typedef struct px_uconn_s px_uconn_t;

/*
 * The ops of an upstream exchange. Called by the proxy on the worker thread.
 *
 * send_head: queue the request head of t (t->req.method, `target`, t->req_headers) announcing
 *   a body framed as *framing (NONE; LENGTH with t->req_out_left bytes; CHUNKED; CLOSE, only
 *   from a codec). The codec may change *framing to what body bytes must be encoded with.
 *   0, or -1 when out of memory.
 * body_out: where the request body goes. Its length is the backpressure signal: the proxy
 *   stops reading the client at PX_PROXY_HIGH and waits for px_proxy_upstream_writable().
 * end: the whole request body is in body_out (and t->req_trailers is final).
 * read_head: the next response head. PX_H1_DONE: *resp is filled (strings borrowed from
 *   t->pool), interim (1xx) heads included; PX_H1_AGAIN: wait for readable(); PX_H1_INVALID:
 *   err->reason (from t->pool or static) says why the response is unusable.
 * body_in: the response body source (see above).
 * read: on = 1: report input (readable) and the upstream going away; 0: stop (response-side
 *   backpressure, or a filter holds the head).
 * timeouts: read_ms: most time without input before PX_IO_TIMEOUT (first byte, then body);
 *   write_ms: the same for output. 0 = none.
 * write_low: writable() comes when body_out holds at most `low` bytes.
 * never_sent: 1 while provably nothing of the request reached the upstream (no byte left
 *   pyxis, or the upstream refused the stream unprocessed): a retry is always safe.
 * cause: why the exchange failed on PX_IO_ERROR, or NULL (static or from `pool`).
 * release: the proxy is done with uc: keep the connection for reuse when `reusable`, else
 *   close it (HTTP/2: reset the stream when it has not ended). uc is gone afterwards.
 */
typedef struct {
    int (*send_head)(px_uconn_t *uc, struct px_txn_s *t, px_str_t target, px_body_kind_t *framing);
    struct evbuffer *(*body_out)(px_uconn_t *uc);
    void (*end)(px_uconn_t *uc, struct px_txn_s *t);
    px_h1_rc_t (*read_head)(px_uconn_t *uc, struct px_txn_s *t, px_h1_response_t *resp,
                            px_h1_error_t *err);
    struct evbuffer *(*body_in)(px_uconn_t *uc);
    void (*read)(px_uconn_t *uc, int on);
    void (*timeouts)(px_uconn_t *uc, uint64_t read_ms, uint64_t write_ms);
    void (*write_low)(px_uconn_t *uc, size_t low);
    int (*never_sent)(const px_uconn_t *uc);
    const char *(*cause)(px_uconn_t *uc, px_pool_t *pool);
    void (*release)(px_uconn_t *uc, int reusable);
} px_up_ops_t;

#endif
