/*
 * px_shdict.c: shared dictionaries. The design is described in px_shdict.h.
 *
 * Inside a shard: a chained hash table (power-of-two buckets, doubled when the entries
 * outnumber them), a doubly linked LRU list (head = most recently used), and a binary min-heap
 * on the expiry time holding the entries that have a ttl, so the soonest expired entry is found
 * in O(1) and removed in O(log n). Each entry is one malloc: header, key bytes, value bytes.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "px_log.h"
#include "px_hash.h"
#include "px_shdict.h"

#define PX_SHDICT_MAX_SHARDS  16
#define PX_SHDICT_SHARD_MIN   (64 * 1024) /* a dict gets no more shards than keep this size */
#define PX_SHDICT_MIN_BUCKETS 16
#define PX_SHDICT_NO_HEAP     UINT32_MAX
#define PX_SHDICT_TTL_MAX     1e9 /* seconds (about 31 years): longer ttls are clamped */
#define PX_NS                 1000000000LL

typedef struct px_shdict_entry_s px_shdict_entry_t;

struct px_shdict_entry_s {
    px_shdict_entry_t *hnext; /* hash chain */
    px_shdict_entry_t *prev;  /* LRU list, toward the most recently used */
    px_shdict_entry_t *next;  /* LRU list, toward the least recently used */
    uint64_t hash;
    int64_t expires; /* clock ns; 0 = never */
    int64_t used;    /* clock ns of the last use: orders keys() across shards */
    double number;
    uint32_t klen;
    uint32_t vlen;     /* STRING and TABLE bytes; 0 for the other types */
    uint32_t heap_idx; /* slot in the shard's expiry heap, PX_SHDICT_NO_HEAP without a ttl */
    uint8_t type;      /* pyxis_val_type_t */
    uint8_t boolean;
    char data[]; /* key bytes, then value bytes */
};

_Static_assert(sizeof(px_shdict_entry_t) <= 72 || sizeof(void *) != 8,
               "PX_SHDICT_ENTRY_OVERHEAD counts a 72-byte entry header");

/* Everything but `lock` is guarded by it. Aligned so two shards never share a cache line. */
typedef struct {
    pthread_mutex_t lock;
    px_shdict_entry_t **buckets;
    size_t mask; /* buckets - 1 */
    size_t count;
    px_shdict_entry_t *head; /* most recently used */
    px_shdict_entry_t *tail; /* least recently used: evicted first */
    px_shdict_entry_t **heap;
    uint32_t nheap;
    uint32_t heap_cap;
    uint64_t used; /* accounted bytes */
    uint64_t cap;
    int64_t last_used; /* newest `used` stamp given out: stamps strictly grow along the list */
} __attribute__((aligned(64))) px_shdict_shard_t;

struct px_shdict_s {
    char *name;
    uint64_t size;     /* registry lock */
    unsigned refs;     /* registry lock */
    px_shdict_t *next; /* registry list, registry lock */
    uint64_t seed;     /* hash seed, random per dict: keys from clients cannot aim at a chain */
    unsigned nshards;  /* a power of two, fixed at creation */
    _Atomic uint64_t evictions;
    _Atomic int64_t warned; /* clock ns of the last "dict is full" line, 0 = never */
    px_shdict_shard_t shards[];
};

static int64_t px_shdict_clock_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * PX_NS + ts.tv_nsec;
}

static int64_t (*px_shdict_clock)(void) = px_shdict_clock_real;

void px_shdict_set_clock(int64_t (*now_ns)(void))
{
    px_shdict_clock = now_ns != NULL ? now_ns : px_shdict_clock_real;
}

static uint64_t px_shdict_hash(const px_shdict_t *d, const char *key, size_t klen)
{
    return px_hash64(key, klen, d->seed);
}

static px_shdict_shard_t *px_shdict_shard(px_shdict_t *d, uint64_t hash)
{
    return &d->shards[(hash >> 32) & (d->nshards - 1)];
}

static uint64_t px_shdict_entry_size(const px_shdict_entry_t *e)
{
    return (uint64_t)e->klen + e->vlen + PX_SHDICT_ENTRY_OVERHEAD;
}

/* ttl seconds -> ns (0 = none); -1 for a negative or NaN ttl. */
static int px_shdict_ttl_ns(double ttl, int64_t *ns)
{
    if (!(ttl >= 0))
        return -1;
    if (ttl > PX_SHDICT_TTL_MAX)
        ttl = PX_SHDICT_TTL_MAX;
    int64_t v = (int64_t)(ttl * 1e9);
    *ns = ttl > 0 && v == 0 ? 1 : v;
    return 0;
}

static int px_shdict_expired(const px_shdict_entry_t *e, int64_t now)
{
    return e->expires != 0 && e->expires <= now;
}

/* ---- the expiry heap ---------------------------------------------------------------------- */

static void px_shdict_heap_set(px_shdict_shard_t *s, uint32_t i, px_shdict_entry_t *e)
{
    s->heap[i] = e;
    e->heap_idx = i;
}

static void px_shdict_heap_up(px_shdict_shard_t *s, uint32_t i)
{
    px_shdict_entry_t *e = s->heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (s->heap[parent]->expires <= e->expires)
            break;
        px_shdict_heap_set(s, i, s->heap[parent]);
        i = parent;
    }
    px_shdict_heap_set(s, i, e);
}

static void px_shdict_heap_down(px_shdict_shard_t *s, uint32_t i)
{
    px_shdict_entry_t *e = s->heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= s->nheap)
            break;
        if (c + 1 < s->nheap && s->heap[c + 1]->expires < s->heap[c]->expires)
            c++;
        if (e->expires <= s->heap[c]->expires)
            break;
        px_shdict_heap_set(s, i, s->heap[c]);
        i = c;
    }
    px_shdict_heap_set(s, i, e);
}

/* Make room for one more heap slot; -1 when out of memory. */
static int px_shdict_heap_reserve(px_shdict_shard_t *s)
{
    if (s->nheap < s->heap_cap)
        return 0;
    uint32_t cap = s->heap_cap ? s->heap_cap * 2 : 16;
    px_shdict_entry_t **h = realloc(s->heap, cap * sizeof(*h));
    if (h == NULL)
        return -1;
    s->heap = h;
    s->heap_cap = cap;
    return 0;
}

static void px_shdict_heap_push(px_shdict_shard_t *s, px_shdict_entry_t *e)
{
    px_shdict_heap_set(s, s->nheap++, e);
    px_shdict_heap_up(s, e->heap_idx);
}

static void px_shdict_heap_remove(px_shdict_shard_t *s, px_shdict_entry_t *e)
{
    uint32_t i = e->heap_idx;
    px_shdict_entry_t *last = s->heap[--s->nheap];
    e->heap_idx = PX_SHDICT_NO_HEAP;
    if (last == e)
        return;
    px_shdict_heap_set(s, i, last);
    px_shdict_heap_up(s, i);
    px_shdict_heap_down(s, last->heap_idx);
}

/* ---- entries in a shard (lock held) -------------------------------------------------------- */

static void px_shdict_lru_unlink(px_shdict_shard_t *s, px_shdict_entry_t *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
}

/* Put e at the head of the LRU list with a fresh use stamp. */
static void px_shdict_lru_push(px_shdict_shard_t *s, px_shdict_entry_t *e, int64_t now)
{
    s->last_used = now > s->last_used ? now : s->last_used + 1;
    e->used = s->last_used;
    e->prev = NULL;
    e->next = s->head;
    if (s->head != NULL)
        s->head->prev = e;
    else
        s->tail = e;
    s->head = e;
}

static void px_shdict_touch(px_shdict_shard_t *s, px_shdict_entry_t *e, int64_t now)
{
    px_shdict_lru_unlink(s, e);
    px_shdict_lru_push(s, e, now);
}

/* Unlink e from everything and free it. */
static void px_shdict_remove(px_shdict_shard_t *s, px_shdict_entry_t *e)
{
    px_shdict_entry_t **link = &s->buckets[e->hash & s->mask];
    while (*link != e)
        link = &(*link)->hnext;
    *link = e->hnext;
    px_shdict_lru_unlink(s, e);
    if (e->heap_idx != PX_SHDICT_NO_HEAP)
        px_shdict_heap_remove(s, e);
    s->used -= px_shdict_entry_size(e);
    s->count--;
    free(e);
}

/* The live entry for key, or NULL; an expired one found on the way is reclaimed. */
static px_shdict_entry_t *px_shdict_lookup(px_shdict_shard_t *s, uint64_t hash, const char *key,
                                           size_t klen, int64_t now)
{
    for (px_shdict_entry_t *e = s->buckets[hash & s->mask]; e != NULL; e = e->hnext) {
        if (e->hash != hash || e->klen != klen || (klen > 0 && memcmp(e->data, key, klen) != 0))
            continue;
        if (!px_shdict_expired(e, now))
            return e;
        px_shdict_remove(s, e);
        return NULL;
    }
    return NULL;
}

/* Reclaim expired entries, then evict least recently used ones, until `need` more bytes fit.
 * need must not exceed s->cap. Returns how many live entries were evicted. */
static uint64_t px_shdict_make_room(px_shdict_shard_t *s, uint64_t need, int64_t now)
{
    uint64_t evicted = 0;
    while (s->used + need > s->cap && s->nheap > 0 && px_shdict_expired(s->heap[0], now))
        px_shdict_remove(s, s->heap[0]);
    while (s->used + need > s->cap && s->tail != NULL) {
        px_shdict_remove(s, s->tail);
        evicted++;
    }
    return evicted;
}

/* Double the bucket array when entries outnumber buckets. Best effort: on failure the chains
 * just grow longer. */
static void px_shdict_grow(px_shdict_shard_t *s)
{
    if (s->count < s->mask + 1)
        return;
    size_t n = (s->mask + 1) * 2;
    px_shdict_entry_t **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return;
    for (size_t i = 0; i <= s->mask; i++) {
        px_shdict_entry_t *e = s->buckets[i];
        while (e != NULL) {
            px_shdict_entry_t *next = e->hnext;
            e->hnext = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->mask = n - 1;
}

/* Link the new entry ne in place of old (NULL when absent), making room first. The caller has
 * checked that ne fits the shard. PYXIS_OK (ne belongs to the shard) or PYXIS_NOMEM (nothing
 * changed). */
static pyxis_rc_t px_shdict_insert(px_shdict_shard_t *s, px_shdict_entry_t *ne,
                                   px_shdict_entry_t *old, int64_t now, uint64_t *evicted)
{
    if (ne->expires != 0 && px_shdict_heap_reserve(s) != 0)
        return PYXIS_NOMEM;
    if (old != NULL)
        px_shdict_remove(s, old);
    *evicted += px_shdict_make_room(s, px_shdict_entry_size(ne), now);
    px_shdict_grow(s);
    px_shdict_entry_t **bucket = &s->buckets[ne->hash & s->mask];
    ne->hnext = *bucket;
    *bucket = ne;
    px_shdict_lru_push(s, ne, now);
    ne->heap_idx = PX_SHDICT_NO_HEAP;
    if (ne->expires != 0)
        px_shdict_heap_push(s, ne);
    s->used += px_shdict_entry_size(ne);
    s->count++;
    return PYXIS_OK;
}

/* A new unlinked entry holding key and *v (NULL when out of memory). */
static px_shdict_entry_t *px_shdict_entry_new(uint64_t hash, const char *key, size_t klen,
                                              const pyxis_value_t *v, int64_t expires)
{
    size_t vlen = v->type == PYXIS_VAL_STRING || v->type == PYXIS_VAL_TABLE ? v->bytes.len : 0;
    px_shdict_entry_t *e = malloc(sizeof(*e) + klen + vlen);
    if (e == NULL)
        return NULL;
    e->hash = hash;
    e->expires = expires;
    e->number = v->type == PYXIS_VAL_NUMBER ? v->number : 0;
    e->boolean = v->type == PYXIS_VAL_BOOLEAN && v->boolean != 0;
    e->type = (uint8_t)v->type;
    e->klen = (uint32_t)klen;
    e->vlen = (uint32_t)vlen;
    e->heap_idx = PX_SHDICT_NO_HEAP;
    if (klen > 0)
        memcpy(e->data, key, klen);
    if (vlen > 0)
        memcpy(e->data + klen, v->bytes.data, vlen);
    return e;
}

/* Count evictions and say so in the error log, at most once a second per dict. */
static void px_shdict_evicted(px_shdict_t *d, uint64_t n, int64_t now)
{
    if (n == 0)
        return;
    uint64_t total = atomic_fetch_add_explicit(&d->evictions, n, memory_order_relaxed) + n;
    int64_t last = atomic_load_explicit(&d->warned, memory_order_relaxed);
    if (last != 0 && now - last < PX_NS)
        return;
    if (atomic_compare_exchange_strong_explicit(&d->warned, &last, now, memory_order_relaxed,
                                                memory_order_relaxed))
        px_log_warn("shared dict \"%s\" is full: %llu live entries evicted so far (size it "
                    "larger to keep them)",
                    d->name, (unsigned long long)total);
}

/* ---- operations ---------------------------------------------------------------------------- */

pyxis_rc_t px_shdict_get(px_shdict_t *d, const char *key, size_t klen, pyxis_value_t *out,
                         char *buf, size_t cap)
{
    uint64_t hash = px_shdict_hash(d, key, klen);
    px_shdict_shard_t *s = px_shdict_shard(d, hash);
    int64_t now = px_shdict_clock();
    pyxis_rc_t rc = PYXIS_OK;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    px_shdict_entry_t *e = px_shdict_lookup(s, hash, key, klen, now);
    if (e == NULL) {
        rc = PYXIS_NOT_FOUND;
    } else {
        px_shdict_touch(s, e, now);
        out->type = (pyxis_val_type_t)e->type;
        out->number = e->number;
        out->boolean = e->boolean;
        if (e->type == PYXIS_VAL_STRING || e->type == PYXIS_VAL_TABLE) {
            out->bytes.len = e->vlen;
            if (e->vlen > cap) {
                rc = PYXIS_TOO_SMALL;
            } else {
                if (e->vlen > 0)
                    memcpy(buf, e->data + e->klen, e->vlen);
                out->bytes.data = buf != NULL ? buf : "";
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static pyxis_rc_t px_shdict_store(px_shdict_t *d, const char *key, size_t klen,
                                  const pyxis_value_t *v, double ttl, int add)
{
    int64_t ttl_ns;
    if ((key == NULL && klen > 0) || px_shdict_ttl_ns(ttl, &ttl_ns) != 0)
        return PYXIS_INVALID;

    size_t vlen = 0;
    switch (v->type) {
    case PYXIS_VAL_NIL:
        if (!add) {
            (void)px_shdict_delete(d, key, klen); /* set(key, nil) deletes */
            return PYXIS_OK;
        }
        break;
    case PYXIS_VAL_STRING:
    case PYXIS_VAL_TABLE:
        if (v->bytes.data == NULL && v->bytes.len > 0)
            return PYXIS_INVALID;
        vlen = v->bytes.len;
        break;
    case PYXIS_VAL_NUMBER:
    case PYXIS_VAL_BOOLEAN: break;
    default: return PYXIS_INVALID;
    }

    uint64_t hash = px_shdict_hash(d, key, klen);
    px_shdict_shard_t *s = px_shdict_shard(d, hash);
    int64_t now = px_shdict_clock();
    uint64_t evicted = 0;
    pyxis_rc_t rc;

    /* Lengths are kept in 32 bits: longer is too large for us. The entry is built before the
     * lock is taken; the shard cap is checked under it (a resize may change it). */
    if (klen > UINT32_MAX || vlen > UINT32_MAX)
        return PYXIS_NOMEM;
    px_shdict_entry_t *ne = NULL;
    if (v->type != PYXIS_VAL_NIL) {
        ne = px_shdict_entry_new(hash, key, klen, v, ttl_ns != 0 ? now + ttl_ns : 0);
        if (ne == NULL)
            return PYXIS_NOMEM;
    }

    pthread_mutex_lock(&s->lock);
    px_shdict_entry_t *old = px_shdict_lookup(s, hash, key, klen, now);
    if (add && old != NULL)
        rc = PYXIS_EXISTS;
    else if (ne == NULL)
        rc = PYXIS_OK; /* add of NIL where nothing is */
    else if (px_shdict_entry_size(ne) > s->cap)
        rc = PYXIS_NOMEM;
    else if ((rc = px_shdict_insert(s, ne, old, now, &evicted)) == PYXIS_OK)
        ne = NULL;
    pthread_mutex_unlock(&s->lock);

    free(ne);
    px_shdict_evicted(d, evicted, now);
    return rc;
}

pyxis_rc_t px_shdict_set(px_shdict_t *d, const char *key, size_t klen, const pyxis_value_t *v,
                         double ttl)
{
    return px_shdict_store(d, key, klen, v, ttl, 0);
}

pyxis_rc_t px_shdict_add(px_shdict_t *d, const char *key, size_t klen, const pyxis_value_t *v,
                         double ttl)
{
    return px_shdict_store(d, key, klen, v, ttl, 1);
}

pyxis_rc_t px_shdict_incr(px_shdict_t *d, const char *key, size_t klen, double delta, double init,
                          double ttl, double *result)
{
    int64_t ttl_ns;
    if ((key == NULL && klen > 0) || px_shdict_ttl_ns(ttl, &ttl_ns) != 0)
        return PYXIS_INVALID;
    if (klen > UINT32_MAX)
        return PYXIS_NOMEM;

    uint64_t hash = px_shdict_hash(d, key, klen);
    px_shdict_shard_t *s = px_shdict_shard(d, hash);
    int64_t now = px_shdict_clock();
    uint64_t evicted = 0;
    pyxis_rc_t rc = PYXIS_OK;
    double n = 0;

    pthread_mutex_lock(&s->lock);
    px_shdict_entry_t *e = px_shdict_lookup(s, hash, key, klen, now);
    if (e != NULL) {
        if (e->type != PYXIS_VAL_NUMBER) {
            rc = PYXIS_INVALID;
        } else {
            n = e->number += delta;
            px_shdict_touch(s, e, now);
        }
    } else if (klen + PX_SHDICT_ENTRY_OVERHEAD > s->cap) {
        rc = PYXIS_NOMEM;
    } else {
        /* The absent case allocates under the lock: a counter is created once and then only
         * incremented in place, the path worth keeping short. */
        pyxis_value_t v = {.type = PYXIS_VAL_NUMBER, .number = init + delta};
        px_shdict_entry_t *ne =
            px_shdict_entry_new(hash, key, klen, &v, ttl_ns != 0 ? now + ttl_ns : 0);
        if (ne == NULL) {
            rc = PYXIS_NOMEM;
        } else if ((rc = px_shdict_insert(s, ne, NULL, now, &evicted)) != PYXIS_OK) {
            free(ne);
        } else {
            n = v.number;
        }
    }
    pthread_mutex_unlock(&s->lock);

    px_shdict_evicted(d, evicted, now);
    if (rc == PYXIS_OK && result != NULL)
        *result = n;
    return rc;
}

pyxis_rc_t px_shdict_delete(px_shdict_t *d, const char *key, size_t klen)
{
    uint64_t hash = px_shdict_hash(d, key, klen);
    px_shdict_shard_t *s = px_shdict_shard(d, hash);
    int64_t now = px_shdict_clock();

    pthread_mutex_lock(&s->lock);
    px_shdict_entry_t *e = px_shdict_lookup(s, hash, key, klen, now);
    if (e != NULL)
        px_shdict_remove(s, e);
    pthread_mutex_unlock(&s->lock);
    return e != NULL ? PYXIS_OK : PYXIS_NOT_FOUND;
}

pyxis_rc_t px_shdict_ttl(px_shdict_t *d, const char *key, size_t klen, double *remaining)
{
    uint64_t hash = px_shdict_hash(d, key, klen);
    px_shdict_shard_t *s = px_shdict_shard(d, hash);
    int64_t now = px_shdict_clock();
    int64_t expires = 0;

    pthread_mutex_lock(&s->lock);
    px_shdict_entry_t *e = px_shdict_lookup(s, hash, key, klen, now);
    if (e != NULL)
        expires = e->expires;
    pthread_mutex_unlock(&s->lock);
    if (e == NULL)
        return PYXIS_NOT_FOUND;
    *remaining = expires != 0 ? (double)(expires - now) / 1e9 : 0;
    return PYXIS_OK;
}

/* keys(): one shard's keys, copied out under its lock, most recently used first. */
typedef struct {
    int64_t used;
    size_t off;
    size_t len;
} px_shdict_key_t;

typedef struct {
    px_shdict_key_t *keys; /* n keys, then their bytes, in one allocation */
    char *bytes;
    size_t n;
    size_t next; /* the merge's cursor */
} px_shdict_snap_t;

static pyxis_rc_t px_shdict_snapshot(px_shdict_shard_t *s, size_t max, int64_t now,
                                     px_shdict_snap_t *snap)
{
    pyxis_rc_t rc = PYXIS_OK;
    size_t n = 0, bytes = 0;

    pthread_mutex_lock(&s->lock);
    for (px_shdict_entry_t *e = s->head; e != NULL && (max == 0 || n < max); e = e->next) {
        if (px_shdict_expired(e, now))
            continue;
        n++;
        bytes += e->klen;
    }
    snap->keys = n > 0 ? malloc(n * sizeof(px_shdict_key_t) + bytes) : NULL;
    if (n > 0 && snap->keys == NULL) {
        rc = PYXIS_NOMEM;
        n = 0;
    }
    snap->bytes = n > 0 ? (char *)(snap->keys + n) : NULL;
    snap->n = n;
    size_t i = 0, off = 0;
    for (px_shdict_entry_t *e = s->head; e != NULL && i < n; e = e->next) {
        if (px_shdict_expired(e, now))
            continue;
        snap->keys[i++] = (px_shdict_key_t){e->used, off, e->klen};
        if (e->klen > 0)
            memcpy(snap->bytes + off, e->data, e->klen);
        off += e->klen;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

pyxis_rc_t px_shdict_keys(px_shdict_t *d, size_t max, px_shdict_key_fn fn, void *arg)
{
    px_shdict_snap_t snaps[PX_SHDICT_MAX_SHARDS] = {{0}};
    int64_t now = px_shdict_clock();
    pyxis_rc_t rc = PYXIS_OK;

    for (unsigned i = 0; i < d->nshards && rc == PYXIS_OK; i++)
        rc = px_shdict_snapshot(&d->shards[i], max, now, &snaps[i]);

    /* Merge the shards' lists by use stamp, newest first. */
    for (size_t done = 0; rc == PYXIS_OK && (max == 0 || done < max); done++) {
        px_shdict_snap_t *best = NULL;
        for (unsigned i = 0; i < d->nshards; i++) {
            px_shdict_snap_t *sn = &snaps[i];
            if (sn->next < sn->n &&
                (best == NULL || sn->keys[sn->next].used > best->keys[best->next].used))
                best = sn;
        }
        if (best == NULL)
            break;
        px_shdict_key_t *k = &best->keys[best->next++];
        if (fn((pyxis_str_t){best->bytes + k->off, k->len}, arg) != 0)
            break;
    }

    for (unsigned i = 0; i < d->nshards; i++)
        free(snaps[i].keys);
    return rc;
}

size_t px_shdict_flush_expired(px_shdict_t *d)
{
    int64_t now = px_shdict_clock();
    size_t n = 0;
    for (unsigned i = 0; i < d->nshards; i++) {
        px_shdict_shard_t *s = &d->shards[i];
        pthread_mutex_lock(&s->lock);
        while (s->nheap > 0 && px_shdict_expired(s->heap[0], now)) {
            px_shdict_remove(s, s->heap[0]);
            n++;
        }
        pthread_mutex_unlock(&s->lock);
    }
    return n;
}

void px_shdict_stats(px_shdict_t *d, px_shdict_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    st->max_entry = UINT64_MAX;
    for (unsigned i = 0; i < d->nshards; i++) {
        px_shdict_shard_t *s = &d->shards[i];
        pthread_mutex_lock(&s->lock);
        st->entries += s->count;
        st->bytes += s->used;
        st->capacity += s->cap;
        if (s->cap < st->max_entry)
            st->max_entry = s->cap;
        pthread_mutex_unlock(&s->lock);
    }
    st->evictions = atomic_load_explicit(&d->evictions, memory_order_relaxed);
    st->nshards = d->nshards;
}

/* ---- the registry ---------------------------------------------------------------------------- */

static pthread_mutex_t px_shdict_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static px_shdict_t *px_shdict_registry;

/* Give each shard its part of size (they differ by at most one byte) and evict what no longer
 * fits; returns how many live entries were evicted (counted, not logged). */
static uint64_t px_shdict_resize(px_shdict_t *d, uint64_t size)
{
    int64_t now = px_shdict_clock();
    uint64_t evicted = 0;
    for (unsigned i = 0; i < d->nshards; i++) {
        px_shdict_shard_t *s = &d->shards[i];
        pthread_mutex_lock(&s->lock);
        s->cap = size / d->nshards + (i < size % d->nshards);
        evicted += px_shdict_make_room(s, 0, now);
        pthread_mutex_unlock(&s->lock);
    }
    d->size = size;
    atomic_fetch_add_explicit(&d->evictions, evicted, memory_order_relaxed);
    return evicted;
}

static void px_shdict_free(px_shdict_t *d)
{
    for (unsigned i = 0; i < d->nshards; i++) {
        px_shdict_shard_t *s = &d->shards[i];
        px_shdict_entry_t *e = s->head;
        while (e != NULL) {
            px_shdict_entry_t *next = e->next;
            free(e);
            e = next;
        }
        free(s->buckets);
        free(s->heap);
        pthread_mutex_destroy(&s->lock);
    }
    free(d->name);
    free(d);
}

static px_shdict_t *px_shdict_create(const char *name, uint64_t size)
{
    unsigned n = PX_SHDICT_MAX_SHARDS;
    while (n > 1 && size / n < PX_SHDICT_SHARD_MIN)
        n /= 2;

    void *mem;
    if (posix_memalign(&mem, 64, sizeof(px_shdict_t) + n * sizeof(px_shdict_shard_t)) != 0)
        return NULL;
    px_shdict_t *d = mem;
    memset(d, 0, sizeof(*d) + n * sizeof(px_shdict_shard_t));
    d->nshards = n;
    atomic_init(&d->evictions, 0);
    atomic_init(&d->warned, 0);
    if (getrandom(&d->seed, sizeof(d->seed), GRND_NONBLOCK) != sizeof(d->seed))
        d->seed = (uint64_t)px_shdict_clock_real() ^ (uint64_t)(uintptr_t)d;
    d->name = strdup(name);

    unsigned ready = 0;
    for (; ready < n && d->name != NULL; ready++) {
        px_shdict_shard_t *s = &d->shards[ready];
        s->buckets = calloc(PX_SHDICT_MIN_BUCKETS, sizeof(*s->buckets));
        if (s->buckets == NULL || pthread_mutex_init(&s->lock, NULL) != 0) {
            free(s->buckets);
            break;
        }
        s->mask = PX_SHDICT_MIN_BUCKETS - 1;
    }
    if (ready < n) {
        d->nshards = ready;
        px_shdict_free(d);
        return NULL;
    }
    px_shdict_resize(d, size);
    return d;
}

px_shdict_t *px_shdict_acquire(const char *name, uint64_t size)
{
    if (name == NULL || size == 0)
        return NULL;
    pthread_mutex_lock(&px_shdict_registry_lock);
    px_shdict_t *d = px_shdict_registry;
    while (d != NULL && strcmp(d->name, name) != 0)
        d = d->next;
    if (d != NULL) {
        d->refs++;
        if (d->size != size) {
            uint64_t from = d->size, evicted = px_shdict_resize(d, size);
            px_log_info("shared dict \"%s\" resized from %llu to %llu bytes (%llu entries "
                        "evicted)",
                        name, (unsigned long long)from, (unsigned long long)size,
                        (unsigned long long)evicted);
        }
    } else if ((d = px_shdict_create(name, size)) != NULL) {
        d->refs = 1;
        d->next = px_shdict_registry;
        px_shdict_registry = d;
    }
    pthread_mutex_unlock(&px_shdict_registry_lock);
    return d;
}

void px_shdict_release(px_shdict_t *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&px_shdict_registry_lock);
    int last = --d->refs == 0;
    if (last) {
        px_shdict_t **link = &px_shdict_registry;
        while (*link != d)
            link = &(*link)->next;
        *link = d->next;
    }
    pthread_mutex_unlock(&px_shdict_registry_lock);
    if (last)
        px_shdict_free(d);
}

const char *px_shdict_name(const px_shdict_t *d)
{
    return d->name;
}
