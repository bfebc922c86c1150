/*
 * px_pool.c: region allocator.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "px_pool.h"

struct px_pool_block_s {
    char *last;            /* first free byte */
    char *end;             /* one past the block */
    px_pool_block_t *next; /* older block */
};

struct px_pool_large_s {
    px_pool_large_t *next;
    /* the allocation follows, aligned */
};

#define PX_ALIGN       sizeof(void *)
#define PX_ALIGN_UP(p) ((char *)(((uintptr_t)(p) + (PX_ALIGN - 1)) & ~(uintptr_t)(PX_ALIGN - 1)))
#define PX_LARGE_HDR   ((sizeof(px_pool_large_t) + 15) & ~(size_t)15)

px_pool_t *px_pool_create(size_t size)
{
    size_t min = sizeof(px_pool_block_t) + sizeof(px_pool_t) + 64;
    if (size < min)
        size = min;
    char *mem = malloc(size);
    if (mem == NULL)
        return NULL;
    px_pool_block_t *b = (px_pool_block_t *)mem;
    px_pool_t *pool = (px_pool_t *)PX_ALIGN_UP(mem + sizeof(*b));
    b->last = (char *)(pool + 1);
    b->end = mem + size;
    b->next = NULL;
    pool->current = b;
    pool->blocks = b;
    pool->large = NULL;
    pool->cleanups = NULL;
    pool->block_size = size;
    return pool;
}

void px_pool_destroy(px_pool_t *pool)
{
    if (pool == NULL)
        return;
    for (px_pool_cleanup_t *c = pool->cleanups; c != NULL; c = c->next)
        c->fn(c->data);
    px_pool_large_t *l = pool->large;
    while (l != NULL) {
        px_pool_large_t *next = l->next;
        free(l);
        l = next;
    }
    /* The first block holds the pool itself: free it last. */
    px_pool_block_t *first = NULL;
    for (px_pool_block_t *b = pool->blocks; b != NULL;) {
        px_pool_block_t *next = b->next;
        if (next == NULL)
            first = b;
        else
            free(b);
        b = next;
    }
    free(first);
}

static void *px_pool_large(px_pool_t *pool, size_t size)
{
    if (size > SIZE_MAX - PX_LARGE_HDR)
        return NULL;
    px_pool_large_t *l = malloc(PX_LARGE_HDR + size);
    if (l == NULL)
        return NULL;
    l->next = pool->large;
    pool->large = l;
    return (char *)l + PX_LARGE_HDR;
}

static void *px_pool_new_block(px_pool_t *pool, size_t size)
{
    char *mem = malloc(pool->block_size);
    if (mem == NULL)
        return NULL;
    px_pool_block_t *b = (px_pool_block_t *)mem;
    b->end = mem + pool->block_size;
    /* Newest first; the first block (holding the pool) stays last. Only the newest block is
     * allocated from: what is left in older ones is at most half a block, since anything
     * larger goes to px_pool_large(). */
    b->next = pool->blocks;
    pool->blocks = b;
    char *m = PX_ALIGN_UP(mem + sizeof(*b));
    b->last = m + size;
    pool->current = b;
    return m;
}

static inline void *px_pool_alloc(px_pool_t *pool, size_t size, int align)
{
    size_t usable = pool->block_size - sizeof(px_pool_block_t) - PX_ALIGN;
    if (size > usable / 2)
        return px_pool_large(pool, size);
    px_pool_block_t *b = pool->current;
    char *m = align ? PX_ALIGN_UP(b->last) : b->last;
    if (m <= b->end && (size_t)(b->end - m) >= size) {
        b->last = m + size;
        return m;
    }
    return px_pool_new_block(pool, size);
}

void *px_palloc(px_pool_t *pool, size_t size)
{
    return px_pool_alloc(pool, size, 1);
}

void *px_pnalloc(px_pool_t *pool, size_t size)
{
    return px_pool_alloc(pool, size, 0);
}

void *px_pcalloc(px_pool_t *pool, size_t size)
{
    void *p = px_palloc(pool, size);
    if (p != NULL)
        memset(p, 0, size);
    return p;
}

void *px_pmemdup(px_pool_t *pool, const void *src, size_t n)
{
    void *p = px_pnalloc(pool, n);
    if (p != NULL && n > 0)
        memcpy(p, src, n);
    return p;
}

char *px_pstrndup(px_pool_t *pool, const char *s, size_t n)
{
    char *p = px_pnalloc(pool, n + 1);
    if (p == NULL)
        return NULL;
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *px_pstrdup(px_pool_t *pool, const char *s)
{
    return px_pstrndup(pool, s, strlen(s));
}

int px_pool_cleanup_add(px_pool_t *pool, px_pool_cleanup_fn fn, void *data)
{
    px_pool_cleanup_t *c = px_palloc(pool, sizeof(*c));
    if (c == NULL)
        return -1;
    c->fn = fn;
    c->data = data;
    c->next = pool->cleanups;
    pool->cleanups = c;
    return 0;
}

const char *px_pcause(px_pool_t *pool, const char *what, const char *detail)
{
    size_t a = strlen(what), b = strlen(detail);
    char *p = px_pnalloc(pool, a + 2 + b + 1);
    if (p == NULL)
        return what;
    memcpy(p, what, a);
    memcpy(p + a, ": ", 2);
    memcpy(p + a + 2, detail, b + 1);
    return p;
}
