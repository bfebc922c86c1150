/*
 * px_up_h1.c: the HTTP/1.1 codec behind the upstream seam: the request head is written into
 * the connection's output buffer, the body follows it there in its HTTP/1 framing, and the
 * response head is found and parsed in the input buffer (px_h1_parse_response), whose bytes
 * after the head are the body.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "px_h1_write.h"
#include "px_http1.h"
#include "px_io.h"
#include "px_pool.h"
#include "px_txn.h"
#include "px_up_h1.h"
#include "px_upstream.h"
#include "px_worker.h"

static int px_up_h1_send_head(px_uconn_t *uc, px_txn_t *t, px_str_t target, px_body_kind_t *framing)
{
    char extra[48];
    int n = 0;
    if (*framing == PX_BODY_LENGTH)
        n = snprintf(extra, sizeof(extra), "Content-Length: %llu\r\n",
                     (unsigned long long)t->req_out_left);
    else if (*framing == PX_BODY_CHUNKED)
        n = snprintf(extra, sizeof(extra), "Transfer-Encoding: chunked\r\n");
    else if (t->upgrading)
        n = snprintf(extra, sizeof(extra), "Connection: upgrade\r\n");
    const px_str_t line[] = {t->req.method, PX_STR(" "), target, PX_STR(" HTTP/1.1\r\n")};
    return px_h1_write_head(px_io_output(uc->io), line, 4, &t->req_headers, extra, (size_t)n);
}

static struct evbuffer *px_up_h1_body_out(px_uconn_t *uc)
{
    return px_io_output(uc->io);
}

static void px_up_h1_end(px_uconn_t *uc, px_txn_t *t)
{
    (void)uc, (void)t; /* the framing carried the end, and a chunked body's trailers */
}

static px_h1_rc_t px_up_h1_read_head(px_uconn_t *uc, px_txn_t *t, px_h1_response_t *resp,
                                     px_h1_error_t *err)
{
    struct evbuffer *in = px_io_input(uc->io);
    size_t len = evbuffer_get_length(in);
    if (len == 0)
        return PX_H1_AGAIN;
    size_t max = (size_t)t->listener->limits.max_head;
    size_t n = len < max ? len : max;
    const char *buf = (const char *)evbuffer_pullup(in, (ssize_t)n);
    size_t head = px_h1_find_head_end(buf, n, &uc->scanned);
    if (head == PX_H1_HEAD_BARE_LF) {
        err->reason = "invalid upstream response: bare LF in head";
        return PX_H1_INVALID;
    }
    if (head == 0) {
        if (n < max)
            return PX_H1_AGAIN;
        err->reason = "upstream response head too large";
        return PX_H1_INVALID;
    }
    char *copy = px_pmemdup(t->pool, buf, head);
    evbuffer_drain(in, head);
    uc->scanned = 0;
    px_h1_limits_t lim = {max, (size_t)t->listener->limits.max_headers, 0};
    if (copy == NULL || px_h1_parse_response(copy, head, resp, t->worker->scratch,
                                             t->worker->scratch_cap, &lim, err) != PX_H1_DONE) {
        err->reason = px_pcause(t->pool, "invalid upstream response",
                                err->reason ? err->reason : "unparsable head");
        return PX_H1_INVALID;
    }
    return PX_H1_DONE;
}

static struct evbuffer *px_up_h1_body_in(px_uconn_t *uc)
{
    return px_io_input(uc->io);
}

static void px_up_h1_read(px_uconn_t *uc, int on)
{
    if (on)
        px_io_read_enable(uc->io);
    else
        px_io_read_disable(uc->io);
}

static void px_up_h1_timeouts(px_uconn_t *uc, uint64_t read_ms, uint64_t write_ms)
{
    px_io_set_timeouts(uc->io, read_ms, write_ms);
}

static void px_up_h1_write_low(px_uconn_t *uc, size_t low)
{
    px_io_set_write_low(uc->io, low);
}

static int px_up_h1_never_sent(const px_uconn_t *uc)
{
    return px_io_sent(uc->io) == uc->sent_before;
}

static const char *px_up_h1_cause(px_uconn_t *uc, px_pool_t *pool)
{
    (void)pool;
    const char *tls = px_io_tls_error(uc->io);
    return tls != NULL ? tls : strerror(px_io_error(uc->io));
}

const px_up_ops_t px_up_h1_ops = {
    .send_head = px_up_h1_send_head,
    .body_out = px_up_h1_body_out,
    .end = px_up_h1_end,
    .read_head = px_up_h1_read_head,
    .body_in = px_up_h1_body_in,
    .read = px_up_h1_read,
    .timeouts = px_up_h1_timeouts,
    .write_low = px_up_h1_write_low,
    .never_sent = px_up_h1_never_sent,
    .cause = px_up_h1_cause,
    .release = px_upstream_release,
};
