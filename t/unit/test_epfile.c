/*
 * test_epfile.c: the endpoints file parser (core/upstream/px_epfile.c): the accepted forms,
 * sorting, weights and comments, and every refusal with its line and column.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px_discovery.h"
#include "px_tap.h"

static void test_accepted(void)
{
    static const char file[] = "# endpoints of api\n"
                               "\n"
                               "10.0.0.8:8080 weight=3   # the big one\n"
                               "  10.0.0.7:8080\t\r\n"
                               "[::1]:9090 weight=2\n"
                               "10.0.0.7:80\n";
    px_disc_ep_t *eps;
    px_epfile_error_t err;
    long n = px_epfile_parse(file, sizeof(file) - 1, &eps, &err);
    is_int(n, 4, "four endpoints");
    if (n != 4)
        return;
    /* Sorted: IPv4 before IPv6, then by address bytes, then port. */
    is_str(eps[0].text, "10.0.0.7:80", "sorted by address then port");
    is_str(eps[1].text, "10.0.0.7:8080", "... 10.0.0.7:8080");
    is_str(eps[2].text, "10.0.0.8:8080", "... 10.0.0.8:8080");
    is_str(eps[3].text, "[::1]:9090", "IPv6 text in brackets");
    is_int(eps[1].weight, 1, "weight defaults to 1");
    is_int(eps[2].weight, 3, "weight=3");
    is_int(eps[3].weight, 2, "IPv6 weight=2");
    is_str(eps[3].host, "::1", "host is the address (for TLS), no brackets");
    is_int(eps[3].sa.ss_family, AF_INET6, "IPv6 family");
    is_int(eps[0].priority, 0, "no priority in a file");
    free(eps);
}

static void test_refused(void)
{
    static const struct {
        const char *in;
        unsigned line, col;
        const char *msg; /* a part of the message */
    } cases[] = {
        {"", 1, 1, "no endpoints"},
        {"# only a comment\n\n", 2, 1, "no endpoints"},
        {"10.0.0.7:8080", 1, 14, "no newline"},
        {"10.0.0.7:8080\n10.0.0.8:80", 2, 12, "no newline"},
        {"10.0.0.7\n", 1, 1, "expected ADDRESS:PORT"},
        {"api.internal:80\n", 1, 1, "not host names"},
        {"10.0.0.300:80\n", 1, 1, "invalid IPv4"},
        {"10.0.0.7:0\n", 1, 10, "invalid port"},
        {"10.0.0.7:65536\n", 1, 10, "invalid port"},
        {"10.0.0.7:080\n", 1, 10, "invalid port"},
        {"10.0.0.7:\n", 1, 10, "invalid port"},
        {"::1:80\n", 1, 1, "brackets"},
        {"[::1]80\n", 1, 1, "expected [IPv6]:PORT"},
        {"[::g]:80\n", 1, 1, "invalid IPv6"},
        {"[10.0.0.1]:80\n", 1, 1, "invalid IPv6"},
        {"10.0.0.7:80 weight=0\n", 1, 20, "invalid weight"},
        {"10.0.0.7:80 weight=10001\n", 1, 20, "invalid weight"},
        {"10.0.0.7:80 weight=\n", 1, 13, "unexpected"},
        {"10.0.0.7:80 weight=1 weight=2\n", 1, 22, "weight given twice"},
        {"10.0.0.7:80 backup\n", 1, 13, "unexpected \"backup\""},
        {"10.0.0.7:80\n\n  10.0.0.7:80 weight=2\n", 3, 1,
         "duplicate endpoint 10.0.0.7:80 "
         "(first on line 1)"},
        {"10.0.0.7:80\x01\n", 1, 12, "control character 0x01"},
        {"10.0.0.7:80 # \x7f\n", 1, 15, "control character 0x7f"},
        {"10.0.0.7:80\0\n", 1, 12, "control character 0x00"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].in);
        if (i == sizeof(cases) / sizeof(cases[0]) - 1)
            len = 13; /* the NUL case */
        px_disc_ep_t *eps = (px_disc_ep_t *)1;
        px_epfile_error_t err;
        long n = px_epfile_parse(cases[i].in, len, &eps, &err);
        is_int(n, -1, "case %zu is refused", i);
        ok(eps == NULL, "... with no entries");
        is_int(err.line, cases[i].line, "... at line %u", cases[i].line);
        is_int(err.col, cases[i].col, "... column %u", cases[i].col);
        if (!ok(strstr(err.msg, cases[i].msg) != NULL, "... saying \"%s\"", cases[i].msg))
            printf("#          got: '%s'\n", err.msg);
    }
}

static void test_limits(void)
{
    /* The largest weight, the most endpoints, and one too many. */
    size_t cap = (PX_EPFILE_MAX_ENDPOINTS + 1) * 32;
    char *buf = malloc(cap);
    size_t len = 0;
    for (unsigned i = 0; i < PX_EPFILE_MAX_ENDPOINTS; i++)
        len += (size_t)snprintf(buf + len, cap - len, "10.%u.%u.1:80 weight=10000\n", i / 256,
                                i % 256);
    px_disc_ep_t *eps;
    px_epfile_error_t err;
    is_int(px_epfile_parse(buf, len, &eps, &err), PX_EPFILE_MAX_ENDPOINTS, "10000 endpoints");
    free(eps);
    len += (size_t)snprintf(buf + len, cap - len, "10.200.0.1:80\n");
    is_int(px_epfile_parse(buf, len, &eps, &err), -1, "one more is refused");
    is_int(err.line, PX_EPFILE_MAX_ENDPOINTS + 1, "... on its line");
    free(buf);
    is_int(px_epfile_parse("", PX_EPFILE_MAX_SIZE + 1, &eps, &err), -1, "a file over 1 MiB");
}

int main(void)
{
    plan_no_plan();
    test_accepted();
    test_refused();
    test_limits();
    return done_testing();
}
