/*
 * api_key.h: what the api_key filter's config parser (api_key_conf.c) hands to its runtime
 * (api_key.c). Private to the module; the only pyxis header it sees is <pyxis/module.h>.
 *
 * Everything below lives in the config arena and is read-only once conf_create returned, so
 * every worker reads it without locks. Keys are kept only as SHA-256 digests.
 */
#ifndef AK_API_KEY_H
#define AK_API_KEY_H

#include <pyxis/module.h>

#include "api_key_parse.h"

/* A slot of the key table: a key's digest and its consumer (consumer.len == 0: free). */
typedef struct {
    unsigned char digest[32];
    pyxis_str_t consumer;
} ak_slot_t;

/* One `api_key:` entry of a route's filters. */
typedef struct {
    ak_slot_t *table; /* open addressing, mask + 1 slots (a power of 2, at least twice the keys) */
    size_t mask;
    size_t nkeys;

    pyxis_str_t header;  /* header: the field holding the key; empty: keys are not read there */
    pyxis_str_t query;   /* query: the parameter holding the key; empty: not read there */
    pyxis_str_t forward; /* forward_consumer: the request field to name the consumer in */
    int keep_key;        /* keep_key: pass the key on to the upstream */
} ak_conf_t;

/* The service table init() received; set once on the main thread before any config. */
extern const pyxis_api_t *ak_api;

/* pyxis_module_t.conf_create (api_key_conf.c). */
pyxis_rc_t ak_conf_create(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **conf);

/* The first slot to look at for a digest (its bytes are uniformly random: they are the index).
 * Lookups and inserts probe linearly from there. */
size_t ak_slot_of(const ak_conf_t *c, const unsigned char digest[32]);

/* SHA-256 of data (api_key.c, OpenSSL). 0, or -1. */
int ak_sha256(const void *data, size_t len, unsigned char out[32]);

#endif /* AK_API_KEY_H */
