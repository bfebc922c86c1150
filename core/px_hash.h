/*
 * px_hash.h: the 64-bit hash of shared dict keys, balancing keys and Maglev permutations.
 */
#ifndef PX_HASH_H
#define PX_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a from a seeded basis, then a 64-bit finalizer (MurmurHash3's fmix64) so that low and
 * high bits alike are well mixed. Not for untrusted keys where collisions could be forced
 * cheaply at scale; the shared dicts and balancers bound their work per key. */
static inline uint64_t px_hash64(const void *s, size_t len, uint64_t seed)
{
    const unsigned char *p = s;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

#endif
