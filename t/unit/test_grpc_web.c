/*
 * test_grpc_web.c: the grpc_web filter's byte transforms (modules/grpc_web/gw_codec.c): content
 * types, base64 decoded in pieces with padding inside the stream, base64 encoded per piece,
 * and the trailers frame.
 */
#include <stdlib.h>
#include <string.h>

#include "gw_codec.h"
#include "px_tap.h"

static void test_content_types(void)
{
    static const struct {
        const char *v;
        gw_mode_t mode;
        const char *sub;
    } cases[] = {
        {"application/grpc-web", GW_BINARY, ""},
        {"application/grpc-web+proto", GW_BINARY, "proto"},
        {"Application/GRPC-Web+json; charset=utf-8", GW_BINARY, "json"},
        {"  application/grpc-web-text", GW_TEXT, ""},
        {"application/grpc-web-text+proto ;x=y", GW_TEXT, "proto"},
        {"application/grpc", GW_NONE, NULL},
        {"application/grpc+proto", GW_NONE, NULL},
        {"application/grpc-webx", GW_NONE, NULL},
        {"application/grpc-web-text-base64", GW_NONE, NULL},
        {"application/grpc-web+", GW_NONE, NULL},
        {"application/grpc-web+pro/to", GW_NONE, NULL},
        {"text/plain", GW_NONE, NULL},
        {"", GW_NONE, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *sub = NULL;
        size_t sublen = 0;
        gw_mode_t m = gw_content_type(cases[i].v, strlen(cases[i].v), &sub, &sublen);
        is_int(m, cases[i].mode, "content type \"%s\"", cases[i].v);
        if (cases[i].sub != NULL && m == cases[i].mode)
            is_mem(sub, sublen, cases[i].sub, "... subtype \"%s\"", cases[i].sub);
    }
    const char *acc = "text/html, application/grpc-web-text+proto;q=0.9";
    ok(gw_accepts_text(acc, strlen(acc)), "Accept listing grpc-web-text");
    acc = "application/grpc-web, */*";
    ok(!gw_accepts_text(acc, strlen(acc)), "Accept without grpc-web-text");
}

/* Decode s split at every pair of cut points; each must give want (wlen bytes) or fail. */
static int decode_pieces(const char *s, const char *want, size_t wlen)
{
    size_t n = strlen(s);
    unsigned char out[256];
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b++) {
            gw_b64dec_t d = {{0}, 0};
            size_t o = 0;
            const size_t cut[4] = {0, a, b, n};
            for (int k = 0; k < 3; k++) {
                ssize_t got = gw_b64_decode(&d, s + cut[k], cut[k + 1] - cut[k], out + o);
                if (got < 0)
                    return -1;
                o += (size_t)got;
            }
            if (gw_b64_decode_end(&d) < 0 || o != wlen || memcmp(out, want, wlen) != 0)
                return -1;
        }
    }
    return 0;
}

static void test_b64_decode(void)
{
    is_int(decode_pieces("", "", 0), 0, "empty");
    is_int(decode_pieces("aGVsbG8=", "hello", 5), 0, "one padded quantum end, in any pieces");
    is_int(decode_pieces("aGk=aGVsbG8=d29ybGQ=", "hihelloworld", 12), 0,
           "padding in the middle: chunks encoded one by one");
    is_int(decode_pieces("AAAAAAU=aGVsbG8=", "\0\0\0\0\5hello", 10), 0,
           "a gRPC frame header and its message flushed apart");
    is_int(decode_pieces("/+8=", "\xff\xef", 2), 0, "the last two characters of the alphabet");
    static const char *const bad[] = {
        "aGVsbG8",                         /* cut: an incomplete quantum at the end */
        "aGVs bG8=", "aGVs\nbG8=",         /* whitespace */
        "aGVsbG8-",  "aGVsbG8_",           /* base64url characters */
        "=GVs",      "a===",       "aG=s", /* padding in the wrong place */
        "aGF=",      "aGVsbG9=",           /* non-zero bits under the padding */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        is_int(decode_pieces(bad[i], "", 0), -1, "refused: bad input %zu", i);
}

static void test_b64_encode(void)
{
    char out[64];
    static const struct {
        const char *in, *want;
    } cases[] = {{"", ""}, {"h", "aA=="}, {"hi", "aGk="}, {"hey", "aGV5"}, {"hello", "aGVsbG8="}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = gw_b64_encode((const unsigned char *)cases[i].in, strlen(cases[i].in), out);
        is_mem(out, n, cases[i].want, "encode \"%s\"", cases[i].in);
        is_int(n, GW_B64_ENCODED_LEN(strlen(cases[i].in)), "... of the announced length");
    }
    /* Every byte value survives a round trip. */
    unsigned char all[256], back[256];
    char enc[GW_B64_ENCODED_LEN(256)];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    size_t n = gw_b64_encode(all, sizeof(all), enc);
    gw_b64dec_t d = {{0}, 0};
    ok(gw_b64_decode(&d, enc, n, back) == 256 && memcmp(all, back, 256) == 0,
       "all 256 byte values round-trip");
}

static void test_trailers(void)
{
    gw_field_t f[] = {
        {"Grpc-Status", 11, "0", 1},
        {"grpc-message", 12, "", 0},
        {"X-Trace", 7, "a b", 3},
    };
    size_t size = gw_trailer_frame_size(f, 3);
    static const char block[] = "grpc-status: 0\r\ngrpc-message: \r\nx-trace: a b\r\n";
    is_int(size, 5 + sizeof(block) - 1, "frame size: header and block");
    unsigned char out[128];
    is_int(gw_trailer_frame(f, 3, out), size, "frame written");
    ok(out[0] == 0x80 && out[1] == 0 && out[2] == 0 && out[3] == 0 && out[4] == sizeof(block) - 1,
       "flag 0x80 and the big-endian length");
    is_mem(out + 5, size - 5, block, "lowercase names, \"name: value\" CRLF");
    is_int(gw_trailer_frame_size(NULL, 0), 5, "no fields: an empty trailers frame");
}

int main(void)
{
    plan_no_plan();
    test_content_types();
    test_b64_decode();
    test_b64_encode();
    test_trailers();
    return done_testing();
}
