/*
 * px_pool.h: region allocator. See px_pool-t.h for the ownership rules.
 */
#ifndef PX_POOL_H
#define PX_POOL_H

#include <stddef.h>

#include "px_pool-t.h"
#include "px_str-t.h"

#define PX_POOL_DEFAULT_SIZE 4096

/* Create a pool whose blocks are `size` bytes (the first block holds the pool header too).
 * Returns NULL when out of memory. */
px_pool_t *px_pool_create(size_t size);

/* Run the cleanups (newest first), then free every block and large allocation. */
void px_pool_destroy(px_pool_t *pool);

/* Pointer-aligned memory, valid until px_pool_destroy(). NULL when out of memory. */
void *px_palloc(px_pool_t *pool, size_t size);
/* The same, zero-filled. */
void *px_pcalloc(px_pool_t *pool, size_t size);
/* Unaligned memory for byte strings. */
void *px_pnalloc(px_pool_t *pool, size_t size);

/* Copies into the pool. px_pstrdup and px_pstrndup NUL-terminate. */
char *px_pstrdup(px_pool_t *pool, const char *s);
char *px_pstrndup(px_pool_t *pool, const char *s, size_t n);
void *px_pmemdup(px_pool_t *pool, const void *p, size_t n);

/* "what: detail" in the pool (NUL-terminated), for an error cause that must say more than a
 * constant can; `what` itself when out of memory. */
const char *px_pcause(px_pool_t *pool, const char *what, const char *detail);

/* Register fn(data) to run when the pool is destroyed. Returns -1 when out of memory (the
 * caller must then release the resource itself). */
int px_pool_cleanup_add(px_pool_t *pool, px_pool_cleanup_fn fn, void *data);

#endif
