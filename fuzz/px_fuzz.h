/*
 * px_fuzz.h: checks shared by the HTTP/1.1 fuzz targets.
 */
#ifndef PX_FUZZ_H
#define PX_FUZZ_H

#include <stdlib.h>

#include "px_str-t.h"

/* Crash (so libFuzzer records the input) when an invariant does not hold. */
#define PX_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Does s point inside buf[0..len)? */
static inline int px_fuzz_inside(px_str_t s, const char *buf, size_t len)
{
    return s.len == 0 || (s.data >= buf && s.len <= len && s.data <= buf + len - s.len);
}

#endif
