/*
 * test_api_key.c: the api_key filter's parsers (modules/api_key/api_key_parse.c): keys as
 * written in the config, keys-file lines, and query parameters found, removed and masked.
 */
#include <stdio.h>
#include <string.h>

#include "api_key_parse.h"
#include "px_tap.h"

#define HEX64 "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"

static void test_keys(void)
{
    ak_key_kind_t kind = AK_KEY_PLAIN;
    unsigned char d[32];
    static const struct {
        const char *key, *err; /* err NULL: accepted */
    } cases[] = {
        {"0123456789abcdef", NULL},
        {"k3y-with+symbols/=~!", NULL},
        {"sha256:" HEX64, NULL},
        {"0123456789abcde", "shorter than 16"},
        {"0123456789 abcdef", "printable ASCII without spaces"},
        {"0123456789abcdef\x7f", "printable ASCII without spaces"},
        {"0123456789abcd\xc3\xa9", "printable ASCII without spaces"},
        {"sha256:" HEX64 "0", "64 hex digits"},
        {"sha256:0011", "64 hex digits"},
        {"sha256:zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
         "64 hex digits"},
        {"", "shorter than 16"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *err = ak_key_check(cases[i].key, strlen(cases[i].key), &kind, d);
        if (cases[i].err == NULL)
            ok(err == NULL, "key '%s' is accepted (%s)", cases[i].key, err ? err : "ok");
        else
            ok(err != NULL && strstr(err, cases[i].err) != NULL, "key '%s': %s", cases[i].key,
               cases[i].err);
    }
    static char longkey[AK_MAX_KEY + 2];
    memset(longkey, 'k', AK_MAX_KEY + 1);
    ok(ak_key_check(longkey, AK_MAX_KEY, &kind, d) == NULL && kind == AK_KEY_PLAIN,
       "a key of %d characters is accepted", AK_MAX_KEY);
    ok(ak_key_check(longkey, AK_MAX_KEY + 1, &kind, d) != NULL, "one more is refused");
    ok(ak_key_check("sha256:" HEX64, 71, &kind, d) == NULL && kind == AK_KEY_SHA256 &&
           d[0] == 0x00 && d[1] == 0x11 && d[15] == 0xff && d[31] == 0xff,
       "sha256:HEX decodes to the digest, either case");

    ok(ak_consumer_ok("ci-bot.v2_x@acme", 16), "consumer names: letters, digits, . _ - @");
    ok(!ak_consumer_ok("", 0) && !ak_consumer_ok("a b", 3) && !ak_consumer_ok("a:b", 3),
       "... not empty, no space or ':'");
    ok(!ak_param_name_ok("api key", 7) && ak_param_name_ok("api_key~.-", 10),
       "parameter names: unreserved characters");
}

static void test_lines(void)
{
    ak_line_t l;
    static const struct {
        const char *line;
        au_line_rc_t rc;
        const char *a; /* ENTRY: the consumer; ERROR: a piece of the message */
        const char *key;
        size_t col; /* ENTRY: of the key; ERROR: of the error */
    } cases[] = {
        {"ci: 0123456789abcdef", AU_LINE_ENTRY, "ci", "0123456789abcdef", 5},
        {"ci:0123456789abcdef\r", AU_LINE_ENTRY, "ci", "0123456789abcdef", 4},
        {"ci:\t 0123456789abcdef  ", AU_LINE_ENTRY, "ci", "0123456789abcdef", 6},
        {"billing: sha256:" HEX64, AU_LINE_ENTRY, "billing", "sha256:" HEX64, 10},
        {"", AU_LINE_SKIP, NULL, NULL, 0},
        {" \t ", AU_LINE_SKIP, NULL, NULL, 0},
        {"# ci: 0123456789abcdef", AU_LINE_SKIP, NULL, NULL, 0},
        {" ci: 0123456789abcdef", AU_LINE_ERROR, "starts with the consumer", NULL, 1},
        {"ci 0123456789abcdef", AU_LINE_ERROR, "consumer: key", NULL, 1},
        {"c i: 0123456789abcdef", AU_LINE_ERROR, "consumer name", NULL, 1},
        {": 0123456789abcdef", AU_LINE_ERROR, "consumer name", NULL, 1},
        {"ci:", AU_LINE_ERROR, "no key", NULL, 3},
        {"ci: short", AU_LINE_ERROR, "shorter than 16", NULL, 5},
        {"ci: 0123456789 abcdef", AU_LINE_ERROR, "without spaces", NULL, 5},
        {"ci: sha256:00", AU_LINE_ERROR, "64 hex digits", NULL, 5},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *s = cases[i].line;
        au_line_rc_t rc = ak_key_line(s, strlen(s), &l);
        is_int(rc, cases[i].rc, "keys line %zu -> %d", i, (int)cases[i].rc);
        if (rc != cases[i].rc)
            continue;
        if (rc == AU_LINE_ENTRY) {
            is_mem(l.consumer, l.consumer_len, cases[i].a, "... consumer '%s'", cases[i].a);
            is_mem(l.key, l.key_len, cases[i].key, "... key '%s'", cases[i].key);
            is_int(l.key_col, cases[i].col, "... key at column %zu", cases[i].col);
        } else if (rc == AU_LINE_ERROR) {
            ok(strstr(l.err.error, cases[i].a) != NULL, "... '%s' (got '%s')", cases[i].a,
               l.err.error);
            is_int(l.err.col, cases[i].col, "... at column %zu", cases[i].col);
        }
    }
}

static void test_query(void)
{
    static const struct {
        const char *q;
        size_t n;          /* parameters named api_key */
        const char *first; /* the first one's raw value */
        const char *removed, *masked;
    } cases[] = {
        {"a=1&api_key=xyz&b=2", 1, "xyz", "a=1&b=2", "a=1&api_key=X&b=2"},
        {"api_key=xyz", 1, "xyz", "", "api_key=X"},
        {"api_key=1&a=2", 1, "1", "a=2", "api_key=X&a=2"},
        {"a=2&api_key=1", 1, "1", "a=2", "a=2&api_key=X"},
        {"api_key=x&api_key=y", 2, "x", "", "api_key=X&api_key=X"},
        {"api%5Fkey=z%2B1", 1, "z%2B1", "", "api%5Fkey=X"},
        {"api_key", 1, "", "", "api_key=X"},
        {"&&api_key=&", 1, "", "&&", "&&api_key=X&"},
        {"api_keyx=1&xapi_key=2&api_key%=3", 0, NULL, "api_keyx=1&xapi_key=2&api_key%=3",
         "api_keyx=1&xapi_key=2&api_key%=3"},
        {"a=1&&b", 0, NULL, "a=1&&b", "a=1&&b"},
        {"", 0, NULL, "", ""},
        {"x=api_key=1", 0, NULL, "x=api_key=1", "x=api_key=1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *q = cases[i].q, *v = NULL;
        size_t vlen = 0, ql = strlen(q);
        char out[128];
        size_t n = ak_query_find(q, ql, "api_key", 7, &v, &vlen);
        is_int(n, cases[i].n, "'%s': %zu api_key parameters", q, cases[i].n);
        if (cases[i].first != NULL && n > 0)
            is_mem(v, vlen, cases[i].first, "... the first is '%s'", cases[i].first);
        size_t len = ak_query_rewrite(q, ql, "api_key", 7, NULL, 0, out);
        is_mem(out, len, cases[i].removed, "... removed: '%s'", cases[i].removed);
        ok(len <= ql, "... no longer than the query");
        len = ak_query_rewrite(q, ql, "api_key", 7, "X", 1, out);
        is_mem(out, len, cases[i].masked, "... masked: '%s'", cases[i].masked);
        ok(len <= ql + n * 2, "... within the room promised");
    }
}

static void test_pct(void)
{
    static const struct {
        const char *in, *want; /* want NULL: refused */
    } cases[] = {
        {"abc%2Bdef", "abc+def"},
        {"a+b", "a+b"},
        {"%41%42", "AB"},
        {"%4a%4A", "JJ"},
        {"", ""},
        {"%zz", NULL},
        {"%4", NULL},
        {"%", NULL},
        {"a%", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[32];
        size_t n = 0;
        int rc = ak_pct_decode(cases[i].in, strlen(cases[i].in), out, &n);
        if (cases[i].want == NULL) {
            is_int(rc, -1, "percent-decoding '%s' is refused", cases[i].in);
        } else {
            is_int(rc, 0, "'%s' percent-decodes", cases[i].in);
            is_mem(out, rc == 0 ? n : 0, cases[i].want, "... to '%s'", cases[i].want);
        }
    }
}

int main(void)
{
    plan_no_plan();
    test_keys();
    test_lines();
    test_query();
    test_pct();
    return done_testing();
}
