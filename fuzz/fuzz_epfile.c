/*
 * fuzz_epfile.c: libFuzzer target for the endpoints file parser (core/upstream/px_epfile.c).
 * Seeds: fuzz/corpus/epfile/.
 *
 * Besides "no crash, no overrun": an accepted file has 1..PX_EPFILE_MAX_ENDPOINTS entries,
 * sorted and distinct, each with an IPv4 or IPv6 address, a port, a weight in 1..10000 and a
 * text that the parser accepts again as a file of its own with the same address; a refused one
 * has a message and a position inside the input (the column may be one past a line's end).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px_discovery.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    px_disc_ep_t *eps;
    px_epfile_error_t err;
    long n = px_epfile_parse((const char *)data, size, &eps, &err);
    if (n < 0) {
        CHECK(eps == NULL);
        CHECK(err.msg[0] != '\0');
        CHECK(err.line >= 1 && err.col >= 1);
        CHECK(err.line <= size + 1 && err.col <= size + 1);
        return 0;
    }
    CHECK(n >= 1 && n <= PX_EPFILE_MAX_ENDPOINTS && eps != NULL);
    for (long i = 0; i < n; i++) {
        const px_disc_ep_t *e = &eps[i];
        CHECK(e->sa.ss_family == AF_INET || e->sa.ss_family == AF_INET6);
        CHECK(e->weight >= 1 && e->weight <= 10000);
        CHECK(i == 0 || px_disc_ep_cmp(&eps[i - 1], e) < 0);
        char line[PX_DISC_ADDR_TEXT + 2];
        snprintf(line, sizeof(line), "%s\n", e->text);
        px_disc_ep_t *again;
        px_epfile_error_t err2;
        CHECK(px_epfile_parse(line, strlen(line), &again, &err2) == 1);
        CHECK(px_disc_ep_cmp(again, e) == 0);
        free(again);
    }
    free(eps);
    return 0;
}
