/*
 * px_conf_yaml.h: private to the config loader (px_conf.c and px_conf_yaml.c); not installed
 * and not for other modules.
 *
 * px_conf_yaml.c turns the libyaml event stream into a small node tree, rejecting what the
 * config language does not allow (anchors, aliases, tags, several documents), and provides the
 * error reporting, the generic table-driven map walker and the typed scalar readers. The
 * schema itself (which keys exist, what they mean) lives in px_conf.c.
 */
#ifndef PX_CONF_YAML_H
#define PX_CONF_YAML_H

#include <stddef.h>
#include <stdint.h>

#include "px_conf-t.h"
#include "px_pool-t.h"

typedef enum {
    PX_YNODE_SCALAR = 0,
    PX_YNODE_SEQ,
    PX_YNODE_MAP,
} px_ynode_type_t;

typedef struct px_ynode_s px_ynode_t;

/* One node of the parsed document; all of it lives in the loader's scratch pool. */
struct px_ynode_s {
    px_ynode_type_t type;
    unsigned line; /* 1-based, where the node starts */
    unsigned col;  /* 1-based */
    char *str;     /* scalar bytes, NUL-terminated (may also contain NULs) */
    size_t len;
    unsigned null : 1;   /* plain "", "~" or "null" */
    unsigned plain : 1;  /* plain scalar: neither quoted nor a block scalar */
    unsigned quoted : 1; /* single- or double-quoted scalar */
    px_ynode_t **items;  /* seq: the elements; map: key, value, key, value, ... */
    size_t nitems;       /* for a map, twice the number of pairs */
};

/* A route's `upstream: NAME`, resolved once every upstream is known. */
typedef struct px_conf_ref_s px_conf_ref_t;
struct px_conf_ref_s {
    px_conf_route_t *route;
    const px_ynode_t *node;
    const char *path; /* key path for the error message (scratch pool) */
    px_conf_ref_t *next;
};

/* A route's `filters` entry, resolved (module loaded, conf_create called) after the walk,
 * once modules_path and load_modules are known. */
typedef struct px_conf_fref_s px_conf_fref_t;
struct px_conf_fref_s {
    px_conf_route_t *route;
    size_t index;          /* in route->filters */
    const px_ynode_t *key; /* the filter's name */
    const px_ynode_t *val; /* its config (NULL for a bare `- NAME`) */
    const char *path;      /* key path for error messages (scratch pool) */
    px_conf_fref_t *next;
};

/* A discovery's `resolver: NAME`, resolved once every resolver is known. */
typedef struct px_conf_rref_s px_conf_rref_t;
struct px_conf_rref_s {
    px_conf_discovery_t *disc;
    const px_ynode_t *node;
    const char *path; /* key path for the error message (scratch pool) */
    px_conf_rref_t *next;
};

/* The state of one load. Lives on px_conf_load_string()'s stack. */
typedef struct {
    px_pool_t *tmp;   /* scratch: node tree, messages; destroyed before returning */
    px_pool_t *arena; /* the snapshot's arena (conf->arena) */
    px_conf_t *conf;
    const char *file; /* borrowed from the caller */
    const char *yaml; /* the input, borrowed */
    size_t len;
    int resolve;
    px_conf_error_t *errs; /* the caller's array */
    size_t max_errs;
    size_t nerrs;   /* errors stored in errs */
    size_t nfailed; /* errors found (stored or not) */
    char path[512]; /* key path of the node being read: "listeners[0].routes[1]" */
    size_t plen;
    px_conf_ref_t *refs;
    px_conf_fref_t *frefs, **frefs_tail; /* in written order */
    int upstreams_bad; /* `upstreams` was not a map: do not resolve names against it */
    px_conf_rref_t *rrefs;
} px_conf_ctx_t;

/*
 * One key of a map in the config language. fn parses the value node into obj (the struct the
 * map fills) and returns 0, or records errors and returns -1. The generic setters below use
 * off/size (where the field is) and lo/hi (the accepted range); custom handlers may ignore them.
 */
typedef struct px_conf_key_s px_conf_key_t;
typedef int (*px_conf_key_fn)(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k);

struct px_conf_key_s {
    const char *name;
    px_conf_key_fn fn;
    size_t off;
    size_t size;
    uint64_t lo;
    uint64_t hi;
    unsigned required;
};

#define PX_CONF_MAX_KEYS      24
#define PX_FIELD(type, field) offsetof(type, field), sizeof(((type *)0)->field)

/* Table rows for the generic setters. */
#define PX_KEY_STR(name, type, field)                                                              \
    {                                                                                              \
        name, px_conf_set_str, PX_FIELD(type, field), 0, 0, 0                                      \
    }
#define PX_KEY_UINT(name, type, field, lo, hi)                                                     \
    {                                                                                              \
        name, px_conf_set_uint, PX_FIELD(type, field), lo, hi, 0                                   \
    }
#define PX_KEY_DURATION(name, type, field, lo)                                                     \
    {                                                                                              \
        name, px_conf_set_duration, PX_FIELD(type, field), lo, UINT64_MAX, 0                       \
    }
#define PX_KEY_SIZE(name, type, field, lo)                                                         \
    {                                                                                              \
        name, px_conf_set_size, PX_FIELD(type, field), lo, UINT64_MAX, 0                           \
    }
#define PX_KEY_BOOL(name, type, field)                                                             \
    {                                                                                              \
        name, px_conf_set_bool, PX_FIELD(type, field), 0, 1, 0                                     \
    }
#define PX_KEY_FN(name, fn)                                                                        \
    {                                                                                              \
        name, fn, 0, 0, 0, 0, 0                                                                    \
    }
#define PX_KEY_FN_AT(name, fn, type, field)                                                        \
    {                                                                                              \
        name, fn, PX_FIELD(type, field), 0, 0, 0                                                   \
    }
#define PX_KEY_NELTS(table) (sizeof(table) / sizeof((table)[0]))

/* Parse cx->yaml into a node tree in cx->tmp. NULL after a fatal error (recorded); the tree
 * may also come back with errors recorded (anchors, tags), which the caller checks. */
px_ynode_t *px_conf_yaml_parse(px_conf_ctx_t *cx);

/* Errors. px_conf_err() prefixes the message with the current key path and returns -1. */
int px_conf_err(px_conf_ctx_t *cx, const px_ynode_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void px_conf_err_at(px_conf_ctx_t *cx, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* No room for more errors: stop early. */
int px_conf_full(const px_conf_ctx_t *cx);
/* s[0..len) quoted and escaped for a message (scratch pool, cut after 64 bytes). */
const char *px_conf_q(px_conf_ctx_t *cx, const char *s, size_t len);
/* "did you mean "x"?" candidate among names (NULL when nothing is close). */
const char *px_conf_suggest(const char *key, const char *const *names, size_t n);

/* Key path: push returns a mark to pop back to. */
size_t px_conf_path_key(px_conf_ctx_t *cx, const char *key);
size_t px_conf_path_index(px_conf_ctx_t *cx, size_t i);
void px_conf_path_pop(px_conf_ctx_t *cx, size_t mark);
const char *px_conf_path_dup(px_conf_ctx_t *cx);

/* Memory from the snapshot's arena; an out-of-memory error is recorded on failure. */
void *px_conf_alloc(px_conf_ctx_t *cx, size_t size);
char *px_conf_dup(px_conf_ctx_t *cx, const char *s, size_t len);

/*
 * Walk map n against keys[0..nkeys): unknown keys (with a suggestion), duplicate keys and
 * missing required keys are errors; each known key's fn runs with the path extended by the
 * key. seen (nkeys entries, may be NULL) receives the key node of each key present.
 * Returns 0, or -1 when any error was recorded.
 */
int px_conf_walk(px_conf_ctx_t *cx, px_ynode_t *n, const px_conf_key_t *keys, size_t nkeys,
                 void *obj, px_ynode_t **seen);

/* The key node px_conf_walk() saw for the key called `name` of keys (nkeys), or NULL. For
 * checks between keys after a walk, so they name keys rather than table positions. */
px_ynode_t *px_conf_seen(px_ynode_t *const *seen, const px_conf_key_t *keys, size_t nkeys,
                         const char *name);

/* Record the standard "unknown key" error for k against keys[] (with a "did you mean"); when
 * there is no suggestion, no_hint_note (may be NULL) is appended. Returns -1. */
int px_conf_unknown_key(px_conf_ctx_t *cx, const px_ynode_t *k, const px_conf_key_t *keys,
                        size_t nkeys, const char *no_hint_note);
/* n is a map whose keys are distinct non-empty scalars (for maps with free-form keys). */
int px_conf_expect_free_map(px_conf_ctx_t *cx, px_ynode_t *n);
/* n is a non-empty sequence. */
int px_conf_expect_seq(px_conf_ctx_t *cx, px_ynode_t *n);

/* Typed readers: record an error at n and return -1 on a mismatch. */
int px_conf_scalar(px_conf_ctx_t *cx, const px_ynode_t *n, const char *what);
int px_conf_uint(px_conf_ctx_t *cx, const px_ynode_t *n, uint64_t lo, uint64_t hi, uint64_t *out);
int px_conf_duration(px_conf_ctx_t *cx, const px_ynode_t *n, uint64_t lo, uint64_t *out);
int px_conf_size(px_conf_ctx_t *cx, const px_ynode_t *n, uint64_t lo, uint64_t *out);

/* Generic key handlers for the table rows above. */
int px_conf_set_str(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k);
int px_conf_set_uint(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k);
int px_conf_set_duration(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k);
int px_conf_set_size(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k);
/* `true` or `false`, written plain, into an unsigned field. */
int px_conf_set_bool(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k);

/* TLS (px_tls_conf.c): listeners[].tls and upstreams.NAME.tls set ->tls of the listener or
 * upstream (obj) and build its SSL_CTX. px_conf_tls_upstream_hosts() runs after an upstream's
 * walk, once its endpoints are known: the name each endpoint's connections verify. */
int px_conf_set_listener_tls(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k);
int px_conf_set_upstream_tls(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k);
int px_conf_tls_upstream_hosts(px_conf_ctx_t *cx, px_conf_upstream_t *up);

/* Filters and modules (px_conf_module.c). */
int px_conf_set_filters(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k);
int px_conf_set_load_modules(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k);
void px_conf_resolve_filters(px_conf_ctx_t *cx);
/* Top-level keys that are not the core's: each must name a module with conf_global. */
void px_conf_resolve_globals(px_conf_ctx_t *cx, px_ynode_t **keys, size_t n,
                             const px_conf_key_t *top, size_t ntop);
/* Parse "HOST:PORT", "[IPv6]:PORT" or (wildcard set, listen only) "*:PORT" from scalar n
 * into addr; hostnames are resolved with getaddrinfo() when cx->resolve is set. The text as
 * written and, when host is not NULL, the host part are copied into the arena. */
int px_conf_addr(px_conf_ctx_t *cx, const px_ynode_t *n, int wildcard, px_conf_addr_t *addr,
                 char **host);

/* Upstreams and retry policies (px_conf_upstream.c). */
int px_conf_set_upstreams(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k);
/* retry: into the px_conf_retry_t at k's field of obj. */
int px_conf_set_retry(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k);
/* Defaults of a retry policy that was not written (a single attempt). */
void px_conf_retry_defaults(px_conf_retry_t *r);

/* Discovery (px_conf_discovery.c): the top-level `resolvers`, an upstream's `discovery` (obj
 * is the upstream), and the resolver names looked up after the walk. */
int px_conf_set_resolvers(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k);
int px_conf_set_discovery(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k);
void px_conf_resolve_resolvers(px_conf_ctx_t *cx);

/* A path from the config, absolute or relative to the config file's directory (arena). */
char *px_conf_rel_path(px_conf_ctx_t *cx, const char *s, size_t len);

#endif
