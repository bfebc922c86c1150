/*
 * px_h1_body.c: moving an HTTP/1.1 message body between evbuffers.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "px_h1_body.h"
#include "px_http1.h"
#include "px_pool.h"

void px_h1_body_init(px_h1_body_t *b, px_body_kind_t in, uint64_t content_length,
                     px_body_kind_t out)
{
    b->in = in;
    b->out = out;
    b->remaining = in == PX_BODY_LENGTH ? content_length : 0;
    px_h1_chunked_init(&b->chunked, 0, 0);
    b->moved = 0;
    b->limit = 0;
    b->trailers = NULL;
    b->pool = NULL;
    b->max_trailer_fields = 0;
    b->tr_raw = NULL;
    b->tr_len = 0;
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

void px_h1_body_write_last(struct evbuffer *dst, const px_headers_t *trailers)
{
    evbuffer_add(dst, "0\r\n", 3);
    for (size_t i = 0; trailers != NULL && i < trailers->n; i++) {
        const px_header_t *h = &trailers->items[i];
        evbuffer_add(dst, h->name.data, h->name.len);
        evbuffer_add(dst, ": ", 2);
        evbuffer_add(dst, h->value.data, h->value.len);
        evbuffer_add(dst, "\r\n", 2);
    }
    evbuffer_add(dst, "\r\n", 2);
}

/* Keep the trailer bytes the decoder just consumed. They fit: the decoder fails a section
 * longer than max_trailers, the size of the buffer. */
static int px_h1_body_keep_trailer(px_h1_body_t *b, const char *p, size_t n)
{
    if (b->tr_raw == NULL) {
        size_t cap = b->chunked.max_trailers ? b->chunked.max_trailers : PX_H1_DEFAULT_MAX_TRAILERS;
        b->tr_raw = px_pnalloc(b->pool, cap);
        if (b->tr_raw == NULL)
            return -1;
    }
    memcpy(b->tr_raw + b->tr_len, p, n);
    b->tr_len += n;
    return 0;
}

/* The whole trailer section is in tr_raw: parse it into b->trailers, without the fields that
 * must not travel. */
static px_status_t px_h1_body_parse_trailers(px_h1_body_t *b, px_h1_error_t *err)
{
    px_headers_t *t = b->trailers;
    size_t max = b->max_trailer_fields ? b->max_trailer_fields : PX_H1_DEFAULT_MAX_HEADERS;
    t->n = 0;
    if (b->tr_len <= 2)
        return PX_OK; /* no field: the final CRLF alone */
    /* A field line takes at least 4 bytes ("a:\r\n"): no more than that many fields. */
    size_t most = b->tr_len / 4 < max ? b->tr_len / 4 : max;
    px_header_t *items = px_palloc(b->pool, most * sizeof(px_header_t));
    size_t n = 0;
    if (items == NULL) {
        err->reason = "out of memory";
        return PX_ERROR;
    }
    if (px_h1_parse_trailers(b->tr_raw, b->tr_len, items, most, &n, err) != PX_H1_DONE)
        return PX_ERROR;
    px_headers_init(t, items, 0);
    t->cap = most;
    for (size_t i = 0; i < n; i++) {
        if (!px_h1_trailer_dropped(items[i].name))
            items[t->n++] = items[i];
    }
    return PX_OK;
}

static px_status_t px_h1_body_finish(px_h1_body_t *b, struct evbuffer *dst)
{
    if (b->out == PX_BODY_CHUNKED)
        px_h1_body_write_last(dst, b->trailers);
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
            if (trailer > 0 && b->trailers != NULL &&
                px_h1_body_keep_trailer(b, (const char *)vec.iov_base + consumed - trailer,
                                        trailer) < 0) {
                err->reason = "out of memory";
                return PX_ERROR;
            }
            evbuffer_drain(src, consumed);
            if (rc == PX_H1_CHUNK_DONE) {
                if (b->trailers != NULL && px_h1_body_parse_trailers(b, err) != PX_OK)
                    return PX_ERROR;
                return px_h1_body_finish(b, dst);
            }
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
                              struct evbuffer *dst, int last, const px_headers_t *trailers)
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
            px_h1_body_write_last(dst, trailers);
        return PX_OK;
    case PX_BODY_NONE:
        if (n > 0)
            return PX_ERROR;
        return PX_OK;
    default: evbuffer_add_buffer(dst, chunk); return PX_OK;
    }
}
