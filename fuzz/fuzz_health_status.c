/*
 * fuzz_health_status.c: libFuzzer target for px_health_status_line(), the health check's reader
 * of a response's status line.
 *
 * Checks memory safety, that the result is "not complete" (0) only while no LF is within the
 * 512-byte bound, a status in 100..599 or -1 with a reason otherwise, and that bytes after the
 * first line never change the verdict.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "px_fuzz.h"
#include "px_health.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data, *why = NULL;
    int rc = px_health_status_line(buf, size, &why);
    size_t seen = size < PX_HEALTH_MAX_LINE ? size : PX_HEALTH_MAX_LINE;
    const char *nl = memchr(buf, '\n', seen);
    PX_CHECK(rc == -1 || rc == 0 || (rc >= 100 && rc <= 599));
    PX_CHECK(rc != -1 || (why != NULL && *why != '\0'));
    PX_CHECK((rc == 0) == (nl == NULL && size < PX_HEALTH_MAX_LINE));
    if (nl != NULL) {
        /* The line alone gives the same verdict. */
        PX_CHECK(px_health_status_line(buf, (size_t)(nl - buf) + 1, &why) == rc);
    }
    return 0;
}
