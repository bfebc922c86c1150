/*
 * test_grpc.c: gRPC content types, grpc-timeout values, status mapping and grpc-message
 * encoding (core/px_grpc.c).
 */
#include <string.h>

#include "px_grpc.h"
#include "px_tap.h"

static px_str_t S(const char *s)
{
    return (px_str_t){s, strlen(s)};
}

static void test_content_type(void)
{
    ok(px_grpc_content_type(S("application/grpc")), "application/grpc");
    ok(px_grpc_content_type(S("application/grpc+proto")), "application/grpc+proto");
    ok(px_grpc_content_type(S("Application/GRPC;charset=x")), "case and parameters");
    ok(!px_grpc_content_type(S("application/grpc-web")), "not grpc-web");
    ok(!px_grpc_content_type(S("application/grpcx")), "not application/grpcx");
    ok(!px_grpc_content_type(S("application/json")), "not json");
    ok(!px_grpc_content_type(S("")), "not empty");
}

static void test_timeout(void)
{
    static const struct {
        const char *in;
        uint64_t ms;
    } good[] = {
        {"1H", 3600000}, {"2M", 120000},
        {"3S", 3000},    {"250m", 250},
        {"1u", 1},       {"1000u", 1},
        {"1001u", 2},    {"1n", 1},
        {"0m", 0},       {"99999999H", 99999999ull * 3600000},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t ms = 7;
        is_int(px_grpc_timeout_ms(S(good[i].in), &ms), PX_OK, "grpc-timeout %zu parses", i);
        ok(ms == good[i].ms, "... to %llu ms", (unsigned long long)good[i].ms);
    }
    static const char *const bad[] = {"",    "m",   "10",  "100000000m", "1x",
                                      "-1m", " 1m", "1m ", "1.5S",       "1 m"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ms = 0;
        is_int(px_grpc_timeout_ms(S(bad[i]), &ms), PX_ERROR, "grpc-timeout bad %zu refused", i);
    }
}

static void test_status(void)
{
    is_int(px_grpc_status_of(502, 0), PX_GRPC_UNAVAILABLE, "502 -> UNAVAILABLE");
    is_int(px_grpc_status_of(503, 0), PX_GRPC_UNAVAILABLE, "503 -> UNAVAILABLE");
    is_int(px_grpc_status_of(504, 0), PX_GRPC_UNAVAILABLE, "504 (upstream timeout) -> UNAVAILABLE");
    is_int(px_grpc_status_of(504, 1), PX_GRPC_DEADLINE_EXCEEDED, "504 (deadline) -> DEADLINE");
    is_int(px_grpc_status_of(404, 0), PX_GRPC_UNIMPLEMENTED, "404 -> UNIMPLEMENTED");
    is_int(px_grpc_status_of(400, 0), PX_GRPC_INTERNAL, "400 -> INTERNAL");
    is_int(px_grpc_status_of(401, 0), PX_GRPC_UNAUTHENTICATED, "401 -> UNAUTHENTICATED");
    is_int(px_grpc_status_of(403, 0), PX_GRPC_PERMISSION_DENIED, "403 -> PERMISSION_DENIED");
    is_int(px_grpc_status_of(429, 0), PX_GRPC_UNAVAILABLE, "429 -> UNAVAILABLE");
    is_int(px_grpc_status_of(500, 0), PX_GRPC_UNKNOWN, "500 -> UNKNOWN");
}

static void test_message(void)
{
    char out[16];
    size_t n = px_grpc_message("a b%\n\xc3\xa9", out, sizeof(out));
    is_mem(out, n, "a b%25%0A%C3%A9", "percent-encoded");
    n = px_grpc_message("abcdefghijklmn\n", out, 16);
    is_mem(out, n, "abcdefghijklmn", "cut before an escape that does not fit");
}

int main(void)
{
    plan_no_plan();
    test_content_type();
    test_timeout();
    test_status();
    test_message();
    return done_testing();
}
