/*
 * px_headers.c: a mutable, ordered list of header fields.
 */
#include <string.h>
#include <strings.h>

#include "px_headers.h"
#include "px_pool.h"

void px_headers_init(px_headers_t *h, px_header_t *items, size_t n)
{
    h->items = items;
    h->n = n;
    h->cap = n;
}

int px_header_name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && strncasecmp(a, b, alen) == 0;
}

long px_headers_find(const px_headers_t *h, const char *name, size_t len, size_t from)
{
    for (size_t i = from; i < h->n; i++) {
        if (px_header_name_eq(h->items[i].name.data, h->items[i].name.len, name, len))
            return (long)i;
    }
    return -1;
}

int px_headers_add(px_headers_t *h, px_pool_t *pool, px_str_t name, px_str_t value)
{
    if (h->n == h->cap) {
        size_t cap = h->cap < 8 ? 16 : h->cap * 2;
        px_header_t *items = px_palloc(pool, cap * sizeof(*items));
        if (items == NULL)
            return -1;
        if (h->n > 0)
            memcpy(items, h->items, h->n * sizeof(*items));
        h->items = items;
        h->cap = cap;
    }
    h->items[h->n].name = name;
    h->items[h->n].value = value;
    h->n++;
    return 0;
}

void px_headers_remove_at(px_headers_t *h, size_t i)
{
    memmove(&h->items[i], &h->items[i + 1], (h->n - i - 1) * sizeof(h->items[0]));
    h->n--;
}

size_t px_headers_remove(px_headers_t *h, const char *name, size_t len)
{
    size_t out = 0, removed = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (px_header_name_eq(h->items[i].name.data, h->items[i].name.len, name, len)) {
            removed++;
            continue;
        }
        if (out != i)
            h->items[out] = h->items[i];
        out++;
    }
    h->n = out;
    return removed;
}

int px_headers_set(px_headers_t *h, px_pool_t *pool, px_str_t name, px_str_t value)
{
    long first = px_headers_find(h, name.data, name.len, 0);
    if (first < 0)
        return px_headers_add(h, pool, name, value);
    h->items[first].name = name;
    h->items[first].value = value;
    size_t out = (size_t)first + 1;
    for (size_t i = (size_t)first + 1; i < h->n; i++) {
        if (px_header_name_eq(h->items[i].name.data, h->items[i].name.len, name.data, name.len))
            continue;
        h->items[out++] = h->items[i];
    }
    h->n = out;
    return 0;
}
