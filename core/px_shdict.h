/*
 * px_shdict.h: shared dictionaries (config `shared_dicts: { NAME: SIZE }`), the runtime behind
 * the module SDK's shdict_* services and Lua's pyxis.shared.NAME.
 *
 * A dict maps byte-string keys to values (string, number, boolean, or a Lua-serialized table
 * kept as opaque bytes) under a byte cap, with an optional ttl per entry.
 *
 * Threads. Every function but acquire/release may be called from any thread at any time.
 * A dict is split in shards (a power of two, at most 16); a key's hash picks its shard, and
 * each shard has its own mutex, hash table, LRU list, expiry heap and 1/N of the capacity.
 * Workers touching different keys thus rarely meet on a lock, and a lock is held only for a
 * hash lookup and a copy of the value: entries are built (malloc, memcpy) before the lock is
 * taken and freed after it is dropped. One mutex per dict would give an exact global LRU and
 * let one value use the whole capacity, but every operation of every worker would then bounce
 * the same cache line; rate-limit counters hit by every request are the main use, so we shard
 * (2 threads incrementing 64 counters on the 2-CPU dev VM: 2.4 M/s on one shard, 4.0 M/s on 16).
 * The cost, stated where it shows:
 *   - LRU order and the cap hold per shard: eviction removes the least recently used entry of
 *     the shard that needs room, not of the whole dict;
 *   - an entry can be at most one shard's capacity (px_shdict_stats_t.max_entry). A dict
 *     below 128 KiB has one shard, so there a value may use the whole dict; larger dicts get
 *     as many shards as keep each at least 64 KiB (16 shards from 1 MiB on).
 * keys() holds no lock while it calls back, so the callback may use the same dict.
 *
 * Accounting. An entry costs key bytes + value bytes + PX_SHDICT_ENTRY_OVERHEAD (numbers and
 * booleans have no value bytes). A set/add/incr that needs room first reclaims expired entries
 * (soonest expiry first), then evicts least recently used ones; get, set, add and incr make an
 * entry the most recently used. An entry larger than its shard's capacity fails with
 * PYXIS_NOMEM before anything is evicted.
 *
 * Expiry. ttl is in seconds (a double; 0 = none); time is CLOCK_MONOTONIC. An expired entry is
 * invisible to every function and reclaimed when it is next looked up, when its shard needs
 * room, or by px_shdict_flush_expired().
 *
 * Reload. Dicts live in a process-wide registry by name, reference counted: each config
 * snapshot acquires the dicts it declares and releases them when it is freed. A reload that
 * keeps a name gets the same dict back, contents included; a changed size resizes it in place
 * (shrinking evicts as above). The shard count is fixed when the dict is created.
 */
#ifndef PX_SHDICT_H
#define PX_SHDICT_H

#include <stddef.h>
#include <stdint.h>

#include "px_shdict-t.h"

/* The fixed per-entry cost added to key and value bytes: the entry header (72 bytes on 64-bit
 * targets), malloc's bookkeeping and rounding (up to 24), its share of the hash table (up to
 * 16) and of the expiry heap (8), rounded up. */
#define PX_SHDICT_ENTRY_OVERHEAD 128

/* ---- the registry: main thread (config load and free) ------------------------------------ */

/* The dict called name, created empty when there is none, with one more reference. When it
 * exists with another size it is resized to `size` bytes. name is copied. NULL when size is 0
 * or out of memory. */
px_shdict_t *px_shdict_acquire(const char *name, uint64_t size);

/* Drop a reference; the last one frees the dict and its contents. NULL is a no-op. Nothing
 * may use d afterwards unless it holds another reference. */
void px_shdict_release(px_shdict_t *d);

/* The name given to acquire (NUL-terminated, valid while the dict is). */
const char *px_shdict_name(const px_shdict_t *d);

/* ---- operations: any thread ---------------------------------------------------------------
 *
 * Keys are klen bytes at key (any bytes, not NUL-terminated; may be empty). ttl is seconds,
 * 0 = none; a negative or NaN ttl is PYXIS_INVALID. */

/* PYXIS_OK: *out filled; for STRING and TABLE the bytes are copied into buf and out->bytes
 * points there. PYXIS_TOO_SMALL: the value does not fit in cap bytes; out->type is set and
 * out->bytes.len is the size needed (buf is untouched). PYXIS_NOT_FOUND: out->type is NIL.
 * OK and TOO_SMALL make the entry the most recently used. */
pyxis_rc_t px_shdict_get(px_shdict_t *d, const char *key, size_t klen, pyxis_value_t *out,
                         char *buf, size_t cap);

/* Store a copy of *v, replacing any value of key, with a new ttl. A NIL value deletes key.
 * PYXIS_OK, PYXIS_NOMEM (the entry is larger than the dict allows, or malloc failed; the old
 * value is kept) or PYXIS_INVALID (bad type, NULL bytes with a length, bad ttl). */
pyxis_rc_t px_shdict_set(px_shdict_t *d, const char *key, size_t klen, const pyxis_value_t *v,
                         double ttl);

/* px_shdict_set only when key is absent (or expired): PYXIS_EXISTS otherwise, without touching
 * the entry. A NIL value stores nothing: PYXIS_OK when absent, PYXIS_EXISTS when present. */
pyxis_rc_t px_shdict_add(px_shdict_t *d, const char *key, size_t klen, const pyxis_value_t *v,
                         double ttl);

/* Add delta to the number at key, keeping its ttl; when absent, store init + delta with ttl.
 * *result (may be NULL) gets the new number. PYXIS_OK, PYXIS_INVALID (the value is not a
 * number, or bad ttl) or PYXIS_NOMEM. */
pyxis_rc_t px_shdict_incr(px_shdict_t *d, const char *key, size_t klen, double delta, double init,
                          double ttl, double *result);

/* PYXIS_OK or PYXIS_NOT_FOUND. */
pyxis_rc_t px_shdict_delete(px_shdict_t *d, const char *key, size_t klen);

/* Seconds left before key expires (0 = no ttl) into *remaining: PYXIS_OK or PYXIS_NOT_FOUND.
 * Does not change recency. */
pyxis_rc_t px_shdict_ttl(px_shdict_t *d, const char *key, size_t klen, double *remaining);

/* Call fn for up to max keys (0 = all) that are live when keys() looks at their shard, most
 * recently used first. Keys are copied out shard by shard under its lock, then fn runs with no
 * lock held: fn may call into this dict (changes it makes are not seen by this walk).
 * PYXIS_OK (also when fn stopped early) or PYXIS_NOMEM (fn was not called). */
pyxis_rc_t px_shdict_keys(px_shdict_t *d, size_t max, px_shdict_key_fn fn, void *arg);

/* Reclaim every expired entry now; returns how many. */
size_t px_shdict_flush_expired(px_shdict_t *d);

/* Fill *st (see px_shdict_stats_t). */
void px_shdict_stats(px_shdict_t *d, px_shdict_stats_t *st);

/* Tests only: replace the clock (monotonic nanoseconds; must never go back) used by every
 * dict; NULL restores CLOCK_MONOTONIC. Call it while no other thread uses a dict. */
void px_shdict_set_clock(int64_t (*now_ns)(void));

#endif
