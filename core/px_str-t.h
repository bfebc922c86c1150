/*
 * px_str-t.h: a borrowed byte string (pointer + length, not NUL-terminated).
 *
 * A px_str_t never owns its bytes: whoever fills one says in its own comment where the bytes
 * live and for how long (a parser's input buffer, a txn pool, a config snapshot).
 */
#ifndef PX_STR_T_H
#define PX_STR_T_H

#include <stddef.h>

typedef struct {
    const char *data;
    size_t len;
} px_str_t;

/* A px_str_t from a string literal, usable in static initializers. */
#define PX_STR(lit)                                                                                \
    {                                                                                              \
        (lit), sizeof(lit) - 1                                                                     \
    }
#define PX_NULL_STR                                                                                \
    {                                                                                              \
        NULL, 0                                                                                    \
    }

#endif
