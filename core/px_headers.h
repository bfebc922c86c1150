/*
 * px_headers.h: a mutable, ordered list of header fields.
 *
 * Names and values are px_str_t borrowed from wherever they were set from: the parsed head
 * (copied into the transaction pool), the config snapshot, or pool strings. The list's array
 * lives in the pool given to each call; the list is freed with that pool. Names compare
 * case-insensitively; order of fields with the same name is kept.
 */
#ifndef PX_HEADERS_H
#define PX_HEADERS_H

#include "px_http1-t.h"
#include "px_pool-t.h"

typedef struct {
    px_header_t *items;
    size_t n;
    size_t cap;
} px_headers_t;

/* Take over an array of n fields (already in pool memory) as the list's contents. */
void px_headers_init(px_headers_t *h, px_header_t *items, size_t n);

/* Index of the first field named name at or after `from`, or -1. */
long px_headers_find(const px_headers_t *h, const char *name, size_t len, size_t from);
#define PX_HEADERS_FIND(h, lit) px_headers_find((h), (lit), sizeof(lit) - 1, 0)

/* Append a field. Returns -1 when out of memory. */
int px_headers_add(px_headers_t *h, px_pool_t *pool, px_str_t name, px_str_t value);

/* Remove every field named name; returns how many were removed. */
size_t px_headers_remove(px_headers_t *h, const char *name, size_t len);
#define PX_HEADERS_REMOVE(h, lit) px_headers_remove((h), (lit), sizeof(lit) - 1)

/* Remove field i, keeping the order of the others. */
void px_headers_remove_at(px_headers_t *h, size_t i);

/* Replace every field named name with one field name: value (appended where the first was). */
int px_headers_set(px_headers_t *h, px_pool_t *pool, px_str_t name, px_str_t value);

/* Case-insensitive equality of two header names. */
int px_header_name_eq(const char *a, size_t alen, const char *b, size_t blen);

#endif
