/*
 * px_pool-t.h: region allocator types.
 *
 * A pool hands out memory that lives until the pool is destroyed; nothing is freed one by one.
 * Each transaction owns one (freed when the transaction ends); a config snapshot owns one
 * (freed with the snapshot). Outside resources (sockets, timers, regexes) register a cleanup,
 * run in reverse order of registration when the pool is destroyed.
 */
#ifndef PX_POOL_T_H
#define PX_POOL_T_H

#include <stddef.h>

typedef struct px_pool_block_s px_pool_block_t;
typedef struct px_pool_large_s px_pool_large_t;
typedef struct px_pool_cleanup_s px_pool_cleanup_t;

typedef void (*px_pool_cleanup_fn)(void *data);

struct px_pool_cleanup_s {
    px_pool_cleanup_fn fn;
    void *data;
    px_pool_cleanup_t *next;
};

typedef struct px_pool_s {
    px_pool_block_t *current; /* block we allocate from */
    px_pool_block_t *blocks;  /* every block, newest first (the first is inline, see below) */
    px_pool_large_t *large;   /* allocations larger than a block, malloc'd one by one */
    px_pool_cleanup_t *cleanups;
    size_t block_size; /* size of each further block */
} px_pool_t;

#endif
