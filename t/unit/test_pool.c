/*
 * test_pool.c: the region allocator and the header list.
 */
#include <stdint.h>
#include <string.h>

#include "px_headers.h"
#include "px_pool.h"
#include "px_tap.h"

static int cleanup_order[4], cleanup_n;

static void record(void *data)
{
    cleanup_order[cleanup_n++] = (int)(intptr_t)data;
}

static void test_pool(void)
{
    px_pool_t *p = px_pool_create(512);
    ok(p != NULL, "pool created");

    char *a = px_palloc(p, 10);
    char *b = px_palloc(p, 10);
    ok(((uintptr_t)a % sizeof(void *)) == 0 && ((uintptr_t)b % sizeof(void *)) == 0,
       "px_palloc returns pointer-aligned memory");
    ok(b >= a + 10, "allocations do not overlap");

    int *z = px_pcalloc(p, 64 * sizeof(int));
    int zero = 1;
    for (int i = 0; i < 64; i++)
        zero &= z[i] == 0;
    ok(zero, "px_pcalloc zero-fills");

    /* Many small allocations span several blocks. */
    char *prev = NULL;
    int distinct = 1;
    for (int i = 0; i < 1000; i++) {
        char *s = px_pnalloc(p, 7);
        memset(s, 'x', 7);
        if (s == prev)
            distinct = 0;
        prev = s;
    }
    ok(distinct, "1000 small allocations across blocks");

    char *big = px_palloc(p, 100000);
    ok(big != NULL, "an allocation larger than a block");
    memset(big, 0xab, 100000);

    char *d = px_pstrdup(p, "hello");
    is_str(d, "hello", "px_pstrdup");
    char *n = px_pstrndup(p, "hello world", 5);
    is_str(n, "hello", "px_pstrndup NUL-terminates");
    char *m = px_pmemdup(p, "abc", 3);
    is_mem(m, 3, "abc", "px_pmemdup");

    cleanup_n = 0;
    ok(px_pool_cleanup_add(p, record, (void *)1) == 0, "cleanup 1 registered");
    ok(px_pool_cleanup_add(p, record, (void *)2) == 0, "cleanup 2 registered");
    px_pool_destroy(p);
    is_int(cleanup_n, 2, "both cleanups ran");
    ok(cleanup_order[0] == 2 && cleanup_order[1] == 1, "cleanups run newest first");
    px_pool_destroy(NULL);
    ok(1, "destroying NULL is a no-op");
}

static px_str_t S(const char *s)
{
    return (px_str_t){s, strlen(s)};
}

static void test_headers(void)
{
    px_pool_t *p = px_pool_create(1024);
    px_headers_t h;
    px_headers_init(&h, NULL, 0);
    ok(px_headers_add(&h, p, S("Host"), S("a.example")) == 0, "add Host");
    px_headers_add(&h, p, S("X-A"), S("1"));
    px_headers_add(&h, p, S("x-a"), S("2"));
    px_headers_add(&h, p, S("Accept"), S("*/*"));
    is_int(h.n, 4, "four fields");
    is_int(PX_HEADERS_FIND(&h, "host"), 0, "find is case-insensitive");
    is_int(px_headers_find(&h, "X-A", 3, 2), 2, "find from an index");
    is_int(PX_HEADERS_FIND(&h, "missing"), -1, "find a missing field");

    ok(px_headers_set(&h, p, S("X-A"), S("3")) == 0, "set replaces every X-A");
    is_int(h.n, 3, "one X-A left");
    is_mem(h.items[1].value.data, h.items[1].value.len, "3", "set kept the first position");
    is_mem(h.items[2].name.data, h.items[2].name.len, "Accept", "order of others kept");

    is_int(PX_HEADERS_REMOVE(&h, "accept"), 1, "remove returns the count");
    is_int(h.n, 2, "two fields left");
    px_headers_set(&h, p, S("New"), S("v"));
    is_int(h.n, 3, "set on a missing field appends");

    for (int i = 0; i < 100; i++)
        px_headers_add(&h, p, S("X-Many"), S("v"));
    is_int(h.n, 103, "the list grows past its capacity");
    is_int(PX_HEADERS_REMOVE(&h, "x-many"), 100, "remove all of a repeated field");
    px_headers_remove_at(&h, 0);
    is_mem(h.items[0].name.data, h.items[0].name.len, "X-A", "remove_at shifts the rest");
    px_pool_destroy(p);
}

int main(void)
{
    plan_no_plan();
    test_pool();
    test_headers();
    return done_testing();
}
