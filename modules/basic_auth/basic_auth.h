/*
 * basic_auth.h: what the basic_auth filter's config parser (basic_auth_conf.c) hands to its
 * runtime (basic_auth.c). Private to the module; the only pyxis header it sees is
 * <pyxis/module.h>.
 *
 * Everything below lives in the config arena and is read-only once conf_create returned, so
 * every worker reads it without locks. The users file is read again at every config load
 * (start and reload): a changed file takes effect with the next reload.
 */
#ifndef BA_BASIC_AUTH_H
#define BA_BASIC_AUTH_H

#include <pyxis/module.h>

#include "basic_parse.h"

/* One line of the users file. */
typedef struct {
    pyxis_str_t user;
    const char *hash; /* NUL-terminated, as crypt_rn wants its setting */
    size_t hash_len;
    unsigned line; /* in the file, for messages about duplicates */
} ba_user_t;

/* One `basic_auth:` entry of a route's filters. */
typedef struct {
    ba_user_t *users; /* sorted by name (shorter first, then bytewise) for a binary search */
    size_t nusers;
    const char *file; /* the resolved path, for messages */

    pyxis_str_t challenge;  /* the WWW-Authenticate value: Basic realm="...", charset="UTF-8" */
    pyxis_str_t forward;    /* forward_user: the request field to name the user in, or empty */
    int keep_authorization; /* keep_authorization: pass the Authorization field upstream */
    uint64_t cache_ttl_ms;  /* cache_ttl; 0 (or cache_size 0) disables the cache */
    uint64_t cache_size;    /* cache_size: entries per worker */
} ba_conf_t;

/* The service table init() received; set once on the main thread before any config. */
extern const pyxis_api_t *ba_api;

/* pyxis_module_t.conf_create (basic_auth_conf.c). */
pyxis_rc_t ba_conf_create(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **conf);

/* The user of that name, or NULL (basic_auth_conf.c, where the order is made). */
const ba_user_t *ba_find_user(const ba_conf_t *c, const char *name, size_t len);

#endif /* BA_BASIC_AUTH_H */
