/*
 * fuzz_chunked.c: libFuzzer target for the chunked decoder.
 *
 * Input: byte 0 picks the limits, bytes 1-2 seed the split points, the rest is a chunked body.
 * The body is decoded three ways (one piece, random pieces, byte by byte), moving data as a
 * caller would; all three must see the same chunks, the same data bytes and the same end
 * (DONE or ERROR at the same absolute byte, or still incomplete). Along the way: consumed never
 * exceeds what was given, DATA always announces a non-empty chunk, and no more data is moved
 * than the input holds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "px_fuzz.h"
#include "px_http1.h"

typedef struct {
    int end;            /* 0: still incomplete, 1: DONE, 2: ERROR */
    size_t end_pos;     /* absolute offset just past DONE, or of the offending byte */
    const char *reason; /* static error text */
    int trailers;       /* TRAILERS was the last answer before the input ran out */
    uint64_t chunks;
    uint64_t data;    /* data bytes moved */
    uint64_t hash;    /* FNV-1a over the chunk sizes */
    uint64_t dhash;   /* FNV-1a over the data bytes moved, in order */
    uint64_t pos_sum; /* sum of the input offsets of the data bytes moved */
    size_t trailer_bytes;
} px_fuzz_result_t;

static uint64_t px_fuzz_mix(uint64_t h, uint64_t v)
{
    int i;

    for (i = 0; i < 8; i++) {
        h = (h ^ ((v >> (i * 8)) & 0xff)) * UINT64_C(0x100000001b3);
    }
    return h;
}

/* xorshift32; returns the next piece length (>= 1) */
static size_t px_fuzz_piece(uint32_t *rng, size_t max_piece)
{
    uint32_t x = *rng;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *rng = x;
    return 1 + x % max_piece;
}

/* Decode in[0..len) in pieces of random length up to max_piece (0: one piece). */
static void px_fuzz_run(const char *in, size_t len, uint32_t seed, size_t max_piece,
                        size_t max_line, size_t max_trailers, px_fuzz_result_t *r)
{
    px_h1_chunked_t c;
    px_h1_error_t err;
    px_h1_chunk_rc_t rc = PX_H1_CHUNK_NEED_MORE;
    size_t pos = 0, piece_end, consumed;
    uint32_t rng = seed | 1;

    memset(r, 0, sizeof(*r));
    r->hash = UINT64_C(0xcbf29ce484222325);
    r->dhash = r->hash;
    px_h1_chunked_init(&c, max_line, max_trailers);
    while (pos < len) {
        piece_end = max_piece == 0 ? len : pos + px_fuzz_piece(&rng, max_piece);
        if (piece_end > len) {
            piece_end = len;
        }
        while (pos < piece_end) {
            if (rc == PX_H1_CHUNK_DATA && c.remaining > 0) {
                uint64_t n = piece_end - pos, i;
                if (n > c.remaining) {
                    n = c.remaining;
                }
                for (i = 0; i < n; i++) {
                    r->dhash = (r->dhash ^ (unsigned char)in[pos + i]) * UINT64_C(0x100000001b3);
                }
                r->pos_sum += n * pos + n * (n - 1) / 2;
                r->data += n;
                px_h1_chunked_data_consumed(&c, n);
                pos += (size_t)n;
                continue;
            }
            rc = px_h1_chunked_feed(&c, in + pos, piece_end - pos, &consumed, &err);
            PX_CHECK(consumed <= piece_end - pos);
            pos += consumed;
            r->trailers = rc == PX_H1_CHUNK_TRAILERS;
            if (rc == PX_H1_CHUNK_DATA) {
                PX_CHECK(c.remaining > 0 && c.remaining <= UINT64_C(0x7fffffffffffffff));
                r->chunks++;
                r->hash = px_fuzz_mix(r->hash, c.remaining);
            } else if (rc == PX_H1_CHUNK_DONE) {
                PX_CHECK(c.trailer_bytes >= 2 && c.trailer_bytes <= pos);
                PX_CHECK(memcmp(in + pos - 2, "\r\n", 2) == 0);
                r->trailer_bytes = c.trailer_bytes;
                r->end = 1;
                r->end_pos = pos;
                return;
            } else if (rc == PX_H1_CHUNK_ERROR) {
                PX_CHECK(err.status == 400 && err.reason != NULL && err.offset == consumed);
                r->end = 2;
                r->end_pos = pos;
                r->reason = err.reason;
                return;
            } else {
                PX_CHECK(consumed == piece_end - (pos - consumed));
            }
        }
    }
    PX_CHECK(r->data <= len);
}

static void px_fuzz_same(const px_fuzz_result_t *a, const px_fuzz_result_t *b)
{
    PX_CHECK(a->end == b->end && a->end_pos == b->end_pos && a->reason == b->reason);
    PX_CHECK(a->chunks == b->chunks && a->data == b->data && a->hash == b->hash);
    PX_CHECK(a->dhash == b->dhash && a->pos_sum == b->pos_sum);
    PX_CHECK(a->trailer_bytes == b->trailer_bytes);
    /* running out of input inside the trailer section does not depend on the splits */
    PX_CHECK(a->end != 0 || a->trailers == b->trailers);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t pieces[] = {1, 3, 7, 16, 64, 512};
    px_fuzz_result_t whole, split, bytes;
    size_t max_line = 0, max_trailers = 0, len;
    const char *in;
    uint32_t seed = 0;

    if (size < 3) {
        return 0;
    }
    if (data[0] & 1) {
        max_line = 1 + (data[0] >> 4);
    }
    if (data[0] & 2) {
        max_trailers = 1 + (size_t)(data[0] >> 2) * 4;
    }
    seed = (uint32_t)data[1] << 8 | data[2];
    in = (const char *)data + 3;
    len = size - 3;

    px_fuzz_run(in, len, seed, 0, max_line, max_trailers, &whole);
    PX_CHECK(whole.data <= len && whole.end_pos <= len);
    px_fuzz_run(in, len, seed, pieces[seed % 6], max_line, max_trailers, &split);
    px_fuzz_same(&whole, &split);
    if (len <= 4096) {
        px_fuzz_run(in, len, seed, 1, max_line, max_trailers, &bytes);
        px_fuzz_same(&whole, &bytes);
    }
    return 0;
}
