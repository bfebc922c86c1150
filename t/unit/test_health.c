/*
 * test_health.c: the health check's status line reader (px_health_status_line): what passes,
 * what is not complete yet, what is refused, and the 512-byte bound.
 */
#include <string.h>

#include "px_health.h"
#include "px_tap.h"

static void test_status_lines(void)
{
    static const struct {
        const char *in;
        int want; /* status, 0 = not complete, -1 = invalid */
    } cases[] = {
        {"HTTP/1.1 200 OK\r\n", 200},
        {"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", 503},
        {"HTTP/1.0 302 Found\r\nLocation: /\r\n", 302},
        {"HTTP/1.1 204 \r\n", 204},
        {"HTTP/1.1 204\r\n", 204}, /* no reason, no second SP */
        {"HTTP/1.1 599 x\r\n", 599},
        {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 100}, /* the first line decides */
        {"", 0},
        {"HTTP/1.1 200 OK", 0},
        {"HTTP/1.1 200 OK\r", 0},
        {"HTTP/1.1 200 OK\n", -1}, /* bare LF */
        {"HTTP/1.1 200 O\rK\r\n", -1},
        {"HTTP/2 200 OK\r\n", -1},
        {"HTTP/1.1 20 OK\r\n", -1},
        {"HTTP/1.1 2000 OK\r\n", -1},
        {"HTTP/1.1 099 x\r\n", -1},
        {"HTTP/1.1 600 x\r\n", -1},
        {"HTTP/1.1  200 OK\r\n", -1},
        {"http/1.1 200 OK\r\n", -1},
        {"SSH-2.0-OpenSSH\r\n", -1},
        {"\r\n", -1},
        {"\n", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = NULL;
        int got = px_health_status_line(cases[i].in, strlen(cases[i].in), &why);
        int shown = (int)strcspn(cases[i].in, "\r\n");
        is_int(got, cases[i].want, "%zu: \"%.*s\" -> %d", i, shown, cases[i].in, cases[i].want);
        if (got < 0)
            ok(why != NULL && *why != '\0', "%zu: ... with a reason (%s)", i, why ? why : "");
    }
}

static void test_bound(void)
{
    char buf[PX_HEALTH_MAX_LINE + 64];
    memset(buf, 'x', sizeof(buf));
    memcpy(buf, "HTTP/1.1 200 ", 13);
    const char *why = NULL;
    is_int(px_health_status_line(buf, PX_HEALTH_MAX_LINE - 1, &why), 0,
           "a long line below the bound: not complete yet");
    is_int(px_health_status_line(buf, PX_HEALTH_MAX_LINE, &why), -1, "at the bound: invalid");
    is_str(why, "status line too long", "... status line too long");
    memcpy(buf + PX_HEALTH_MAX_LINE + 2, "\r\n", 2);
    is_int(px_health_status_line(buf, sizeof(buf), &why), -1,
           "a CRLF beyond the bound is not looked for");
    memcpy(buf + PX_HEALTH_MAX_LINE - 2, "\r\n", 2);
    is_int(px_health_status_line(buf, sizeof(buf), &why), 200, "a line of exactly the bound");
}

int main(void)
{
    plan_no_plan();
    test_status_lines();
    test_bound();
    return done_testing();
}
