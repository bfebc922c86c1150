/*
 * px_h1_body.h: moving an HTTP/1.1 message body from one evbuffer to another, decoding the
 * framing it arrived with and encoding the framing it leaves with.
 *
 * Body bytes are moved (evbuffer_remove_buffer), never copied; only chunk-size lines are
 * written. The pump stops when the destination holds `high` bytes, which is how backpressure
 * reaches the reading side: the caller stops reading the source until the destination drains.
 */
#ifndef PX_H1_BODY_H
#define PX_H1_BODY_H

#include <stdint.h>

#include "px_headers.h"
#include "px_http1-t.h"
#include "px_pool-t.h"
#include "px_status-t.h"

struct evbuffer;

typedef struct {
    px_body_kind_t in;       /* how the source delimits the body */
    px_body_kind_t out;      /* LENGTH or CLOSE: bytes as they are; CHUNKED: re-chunked */
    uint64_t remaining;      /* in == LENGTH: bytes still to come */
    px_h1_chunked_t chunked; /* in == CHUNKED: decoder state */
    uint64_t moved;          /* body bytes moved so far */
    uint64_t limit;          /* most body bytes allowed to move; 0 = no limit */
    unsigned done : 1;       /* the whole body has moved (and the last chunk is written) */
    /* Trailers. NULL: a chunked source's trailer section is dropped and a chunked output gets
     * none. Else the list the source's trailer fields are put in (parsed when the section is
     * complete, px_h1_trailer_dropped() fields left out, from `pool`) and the one written after
     * a chunked output's last chunk. Both are set by the caller after px_h1_body_init(). */
    px_headers_t *trailers;
    px_pool_t *pool;
    size_t max_trailer_fields; /* more trailer fields fail the body; 0 = 100 */
    char *tr_raw;              /* the trailer section as received (pool), while it arrives */
    size_t tr_len;
} px_h1_body_t;

/* Prepare to move a body of kind `in` (content_length for LENGTH) with output framing `out`.
 * Set b->limit afterwards to cap the body size, b->trailers and b->pool to keep trailers. */
void px_h1_body_init(px_h1_body_t *b, px_body_kind_t in, uint64_t content_length,
                     px_body_kind_t out);

/*
 * Move body bytes from src to dst while dst holds fewer than `high` bytes.
 * PX_OK: the body is complete (bytes after it stay in src). PX_AGAIN: src ran dry or dst is
 * full; call again on more input or when dst drains. PX_ERROR: bad chunked framing; err says
 * why (status 400; also a trailer section that does not parse or has too many fields, or no
 * memory to keep it). PX_DECLINED: the body is longer than b->limit; nothing past the limit was
 * moved and the body was not completed in dst.
 */
px_status_t px_h1_body_pump(px_h1_body_t *b, struct evbuffer *src, struct evbuffer *dst,
                            size_t high, px_h1_error_t *err);

/* The source reached EOF. For in == CLOSE this completes the body (PX_OK, writing the last
 * chunk when out == CHUNKED); for any other framing the body is truncated (PX_ERROR). */
px_status_t px_h1_body_eof(px_h1_body_t *b, struct evbuffer *dst);

/*
 * Frame and move all of `chunk` (plain body bytes) to dst: LENGTH moves them as they are while
 * they fit in *left (the length the head announced); CHUNKED writes them as one chunk and, when
 * `last`, the last chunk and `trailers` (may be NULL); CLOSE moves them as they are. PX_ERROR,
 * moving nothing, when the bytes overrun *left, or `last` comes with *left above 0, or NONE
 * gets bytes: the framing would lie.
 */
px_status_t px_h1_body_encode(px_body_kind_t out, uint64_t *left, struct evbuffer *chunk,
                              struct evbuffer *dst, int last, const px_headers_t *trailers);

/* Write the last chunk, then `trailers` (may be NULL) as a trailer section, then the final
 * CRLF. */
void px_h1_body_write_last(struct evbuffer *dst, const px_headers_t *trailers);

#endif
