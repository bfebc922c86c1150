/*
 * fuzz_api_key.c: libFuzzer target for the api_key filter's parsers
 * (modules/api_key/api_key_parse.c). Every input goes to ak_key_line and ak_key_check, to
 * ak_pct_decode, and as a query string to ak_query_find and ak_query_rewrite (removing and
 * masking the parameter "api_key"). Seeds: fuzz/corpus/api_key/.
 *
 * Besides "no crash, no overrun": an entry's consumer and key lie inside the line, the consumer
 * is a valid name and the key passes ak_key_check; decoding never grows; a query without the
 * parameter comes out of the rewrite unchanged, with it removed it has none left, and masked it
 * has as many, each valued "X", within the room the header promises.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_key_parse.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static void check_line(const char *line, size_t len)
{
    ak_line_t l;
    ak_key_kind_t kind;
    unsigned char d[32];
    switch (ak_key_line(line, len, &l)) {
    case AU_LINE_SKIP: break;
    case AU_LINE_ENTRY:
        CHECK(l.consumer == line && l.consumer_len < len);
        CHECK(ak_consumer_ok(l.consumer, l.consumer_len));
        CHECK(l.key > line && l.key_len > 0 && l.key + l.key_len <= line + len);
        CHECK(l.key_col == (size_t)(l.key - line) + 1);
        CHECK(ak_key_check(l.key, l.key_len, &kind, d) == NULL && kind == l.kind);
        CHECK(l.kind != AK_KEY_SHA256 || memcmp(d, l.digest, 32) == 0);
        break;
    case AU_LINE_ERROR: CHECK(l.err.error != NULL && l.err.col >= 1 && l.err.col <= len + 1); break;
    default: abort();
    }
}

static void check_query(const char *q, size_t len)
{
    const char *v = NULL;
    size_t vlen = 0;
    size_t n = ak_query_find(q, len, "api_key", 7, &v, &vlen);
    char *out = malloc(len + n * 2 + 1);
    CHECK(out != NULL);
    if (n > 0)
        CHECK(v >= q && v + vlen <= q + len);

    size_t rl = ak_query_rewrite(q, len, "api_key", 7, NULL, 0, out);
    CHECK(rl <= len);
    CHECK(ak_query_find(out, rl, "api_key", 7, &v, &vlen) == 0);
    if (n == 0)
        CHECK(rl == len && memcmp(out, q, len) == 0);

    rl = ak_query_rewrite(q, len, "api_key", 7, "X", 1, out);
    CHECK(rl <= len + n * 2);
    CHECK(ak_query_find(out, rl, "api_key", 7, &v, &vlen) == n);
    if (n > 0)
        CHECK(vlen == 1 && v[0] == 'X');
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    ak_key_kind_t kind;
    unsigned char d[32];
    check_line(s, size);
    (void)ak_key_check(s, size, &kind, d);
    char *out = malloc(size + 1);
    size_t n = 0;
    CHECK(out != NULL);
    if (ak_pct_decode(s, size, out, &n) == 0)
        CHECK(n <= size);
    free(out);
    check_query(s, size);
    return 0;
}
