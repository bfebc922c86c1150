/*
 * px_shdict-t.h: shared dictionary types. The functions and the design are in px_shdict.h.
 *
 * Values are pyxis_value_t (include/pyxis/module.h) and status codes pyxis_rc_t, so the module
 * SDK's shdict_* functions are thin adapters over these.
 */
#ifndef PX_SHDICT_T_H
#define PX_SHDICT_T_H

#include <stddef.h>
#include <stdint.h>

#include <pyxis/module.h>

/* A named dictionary shared by every thread of the process. Opaque; obtained with
 * px_shdict_acquire() and given back with px_shdict_release(). */
typedef struct px_shdict_s px_shdict_t;

/* What px_shdict_stats() reports. The numbers are a snapshot: other threads may change them
 * as soon as it returns. */
typedef struct {
    uint64_t entries;   /* live and not yet reclaimed expired entries */
    uint64_t bytes;     /* accounted bytes of those entries (see PX_SHDICT_ENTRY_OVERHEAD) */
    uint64_t capacity;  /* the size the dict was last acquired with */
    uint64_t evictions; /* live entries removed to make room, since the dict was created */
    uint64_t max_entry; /* the largest accounted entry one set/add/incr can store */
    unsigned nshards;
} px_shdict_stats_t;

/* keys() callback: key is borrowed for the call. Return 0 to go on, anything else to stop. The
 * same type as the module SDK's shdict_keys callback. */
typedef int (*px_shdict_key_fn)(pyxis_str_t key, void *arg);

#endif
