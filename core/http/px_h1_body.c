/*
 * px_h1_body.c: moving an HTTP/1.1 message body between evbuffers.
 */
#include <stdint.h>
#include <stdio.h>

#include <event2/buffer.h>

#include "px_h1_body.h"
#include "px_http1.h"

void px_h1_body_init(px_h1_body_t *b, px_body_kind_t in, uint64_t content_length,
                     px_body_kind_t out)
{
    b->in = in;
    b->out = out;
    b->remaining = in == PX_BODY_LENGTH ? content_length : 0;
    px_h1_chunked_init(&b->chunked, 0, 0);
    b->moved = 0;
    b->limit = 0;
    b->last_written = 0;
    b->done = in == PX_BODY_NONE || (in == PX_BODY_LENGTH && content_length == 0);
    if (b->done && out == PX_BODY_CHUNKED)
        b->done = 0; /* still owes the last chunk; the first pump writes it */
}

/* Move n bytes from src to dst, framed as one chunk when the output is chunked. Returns -1,
 * moving nothing, when that would take the body past its limit. */
static int px_h1_body_move(px_h1_body_t *b, struct evbuffer *src, struct evbuffer *dst, size_t n)
{
    if (b->limit > 0 && n > b->limit - b->moved)
        return -1;
    if (b->out == PX_BODY_CHUNKED) {
        char line[24];
        int len = snprintf(line, sizeof(line), "%zx\r\n", n);
        evbuffer_add(dst, line, (size_t)len);
        evbuffer_remove_buffer(src, dst, n);
        evbuffer_add(dst, "\r\n", 2);
    } else {
        evbuffer_remove_buffer(src, dst, n);
    }
    b->moved += n;
    return 0;
}

/* How many body bytes may move now: what src has, what dst has room for below `high`, and at
 * most `left` (what remains of the body or chunk). 0 means wait. */
static size_t px_h1_body_movable(struct evbuffer *src, struct evbuffer *dst, size_t high,
                                 uint64_t left)
{
    size_t avail = evbuffer_get_length(src), held = evbuffer_get_length(dst);
    if (avail == 0 || held >= high)
        return 0;
    size_t n = high - held;
    if (n > avail)
        n = avail;
    if (n > left)
        n = (size_t)left;
    return n;
}

static px_status_t px_h1_body_finish(px_h1_body_t *b, struct evbuffer *dst)
{
    if (b->out == PX_BODY_CHUNKED && !b->last_written)
        evbuffer_add(dst, "0\r\n\r\n", 5);
    b->done = 1;
    return PX_OK;
}

px_status_t px_h1_body_pump(px_h1_body_t *b, struct evbuffer *src, struct evbuffer *dst,
                            size_t high, px_h1_error_t *err)
{
    if (b->done)
        return PX_OK;
    switch (b->in) {
    case PX_BODY_NONE: return px_h1_body_finish(b, dst);

    case PX_BODY_LENGTH:
        while (b->remaining > 0) {
            size_t n = px_h1_body_movable(src, dst, high, b->remaining);
            if (n == 0)
                return PX_AGAIN;
            if (px_h1_body_move(b, src, dst, n) < 0)
                return PX_DECLINED;
            b->remaining -= n;
        }
        return px_h1_body_finish(b, dst);

    case PX_BODY_CLOSE:
        for (;;) {
            size_t n = px_h1_body_movable(src, dst, high, UINT64_MAX);
            if (n == 0)
                return PX_AGAIN;
            if (px_h1_body_move(b, src, dst, n) < 0)
                return PX_DECLINED;
        }

    case PX_BODY_CHUNKED:
        for (;;) {
            if (b->chunked.remaining > 0) {
                size_t n = px_h1_body_movable(src, dst, high, b->chunked.remaining);
                if (n == 0)
                    return PX_AGAIN;
                if (px_h1_body_move(b, src, dst, n) < 0)
                    return PX_DECLINED;
                px_h1_chunked_data_consumed(&b->chunked, n);
                continue;
            }
            /* Framing: feed the first contiguous segment of src to the decoder. */
            struct evbuffer_iovec vec;
            if (evbuffer_peek(src, -1, NULL, &vec, 1) < 1 || vec.iov_len == 0)
                return PX_AGAIN;
            size_t consumed = 0, trailer_before = b->chunked.trailer_bytes;
            px_h1_chunk_rc_t rc =
                px_h1_chunked_feed(&b->chunked, vec.iov_base, vec.iov_len, &consumed, err);
            if (rc == PX_H1_CHUNK_ERROR)
                return PX_ERROR;
            /* The trailer bytes of this call (final CRLF included) end the consumed bytes. */
            size_t trailer = b->chunked.trailer_bytes - trailer_before;
            if (trailer > 0 && b->out == PX_BODY_CHUNKED) {
                if (!b->last_written) {
                    evbuffer_add(dst, "0\r\n", 3);
                    b->last_written = 1;
                }
                evbuffer_add(dst, (const char *)vec.iov_base + consumed - trailer, trailer);
            }
            evbuffer_drain(src, consumed);
            if (rc == PX_H1_CHUNK_DONE)
                return px_h1_body_finish(b, dst);
            /* DATA: loop moves the data; NEED_MORE/TRAILERS: loop peeks again. */
        }
    }
    return PX_ERROR;
}

px_status_t px_h1_body_eof(px_h1_body_t *b, struct evbuffer *dst)
{
    if (b->done)
        return PX_OK;
    if (b->in == PX_BODY_CLOSE)
        return px_h1_body_finish(b, dst);
    return PX_ERROR;
}

px_status_t px_h1_body_encode(px_body_kind_t out, uint64_t *left, struct evbuffer *chunk,
                              struct evbuffer *dst, int last)
{
    size_t n = evbuffer_get_length(chunk);
    switch (out) {
    case PX_BODY_LENGTH:
        if (n > *left || (last && n != *left))
            return PX_ERROR;
        evbuffer_add_buffer(dst, chunk);
        *left -= n;
        return PX_OK;
    case PX_BODY_CHUNKED:
        if (n > 0) {
            char line[24];
            int len = snprintf(line, sizeof(line), "%zx\r\n", n);
            evbuffer_add(dst, line, (size_t)len);
            evbuffer_add_buffer(dst, chunk);
            evbuffer_add(dst, "\r\n", 2);
        }
        if (last)
            evbuffer_add(dst, "0\r\n\r\n", 5);
        return PX_OK;
    case PX_BODY_NONE:
        if (n > 0)
            return PX_ERROR;
        return PX_OK;
    default: evbuffer_add_buffer(dst, chunk); return PX_OK;
    }
}
