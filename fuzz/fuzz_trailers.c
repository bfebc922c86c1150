/*
 * fuzz_trailers.c: libFuzzer target for the trailer section parser.
 *
 * Input: byte 0 picks the field limit (1..16), the rest is a trailer section. Checks: every
 * field parsed lies inside the input and has a non-empty token name, a value without CR, LF or
 * surrounding whitespace; a parse that succeeds ends with CRLF and reports at most the limit;
 * a failure has status 400 and an offset inside the input. The same input fed to the chunked
 * decoder after "0\r\n" must be accepted by it whenever the parser accepts it (what the body
 * pump relies on: the decoder's bytes are what the parser sees).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "px_fuzz.h"
#include "px_http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    px_header_t hs[16];
    px_h1_error_t err = {0, NULL, 0};
    size_t n = 0;

    if (size < 1)
        return 0;
    size_t max = 1 + (data[0] & 15);
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    char *copy = malloc(len ? len : 1); /* exact size: ASan sees any read past the end */
    if (copy == NULL)
        return 0;
    memcpy(copy, in, len);
    px_h1_rc_t rc = px_h1_parse_trailers(copy, len, hs, max, &n, &err);
    PX_CHECK(n <= max);
    if (rc == PX_H1_DONE) {
        PX_CHECK(len >= 2 && memcmp(copy + len - 2, "\r\n", 2) == 0);
        for (size_t i = 0; i < n; i++) {
            const px_header_t *h = &hs[i];
            PX_CHECK(h->name.len > 0 && h->name.data >= copy &&
                     h->name.data + h->name.len <= copy + len);
            PX_CHECK(h->value.data >= copy && h->value.data + h->value.len <= copy + len);
            PX_CHECK(memchr(h->value.data, '\r', h->value.len) == NULL);
            PX_CHECK(memchr(h->value.data, '\n', h->value.len) == NULL);
            PX_CHECK(h->value.len == 0 || (h->value.data[0] != ' ' && h->value.data[0] != '\t' &&
                                           h->value.data[h->value.len - 1] != ' ' &&
                                           h->value.data[h->value.len - 1] != '\t'));
            PX_CHECK(memchr(h->name.data, ':', h->name.len) == NULL);
        }
        /* The decoder accepts what the parser accepts. */
        px_h1_chunked_t c;
        size_t consumed = 0;
        px_h1_chunked_init(&c, 0, 0);
        PX_CHECK(px_h1_chunked_feed(&c, "0\r\n", 3, &consumed, NULL) == PX_H1_CHUNK_TRAILERS);
        if (len <= 16 * 1024)
            PX_CHECK(px_h1_chunked_feed(&c, copy, len, &consumed, NULL) == PX_H1_CHUNK_DONE &&
                     consumed == len);
    } else {
        PX_CHECK(rc == PX_H1_INVALID && err.status == 400 && err.reason != NULL);
        PX_CHECK(err.offset <= len);
    }
    free(copy);
    return 0;
}
