/*
 * ext_authz.h: what the ext_authz filter's config parser (ext_authz_conf.c) hands to its runtime
 * (ext_authz.c). Private to the module; the only pyxis header it sees is <pyxis/module.h>.
 *
 * An eaz_conf_t lives in the config arena (api->conf_alloc) and is read-only once conf_create
 * returned, so every worker reads it without locks.
 */
#ifndef EAZ_EXT_AUTHZ_H
#define EAZ_EXT_AUTHZ_H

#include <pyxis/module.h>

/* Defaults (docs/config.md, "ext_authz"). */
#define EAZ_DEFAULT_TIMEOUT_MS 1000
#define EAZ_DEFAULT_FAILURE    503

/* A list of header names as written in the config (compared case-insensitively). */
typedef struct {
    pyxis_str_t *names;
    size_t n;
} eaz_names_t;

/* One `ext_authz:` entry of a route's filters. Strings are in the config arena. */
typedef struct {
    /* Where the check goes: exactly one of the two. */
    const char *upstream; /* a named upstream (NUL-terminated), or NULL */
    pyxis_str_t url;      /* "http[s]://host[:port]", no trailing "/"; empty with upstream */

    /* The check's target: path_prefix + the request's path [+ "?" query], or the fixed path. */
    int fixed_path;
    pyxis_str_t path_prefix; /* may be empty */
    pyxis_str_t path;        /* fixed_path: starts with "/", may hold "?query" */

    uint64_t timeout_ms;
    eaz_names_t forward;         /* request fields copied to the check */
    eaz_names_t upstream_fields; /* answer fields put on the upstream request (allow) */
    eaz_names_t client_fields;   /* answer fields put on the client's reply (deny) */
    pyxis_str_t user_header;     /* one of upstream_fields, or empty */

    int include_body;
    uint64_t body_max; /* include_body.max_bytes: a longer body is answered 413 */

    int failure_allow;  /* failure_mode_allow */
    int failure_status; /* failure_status */
} eaz_conf_t;

/* The service table init() received; set once on the main thread before any config. */
extern const pyxis_api_t *eaz_api;

/* pyxis_module_t.conf_create (ext_authz_conf.c). */
pyxis_rc_t eaz_conf_create(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **conf);

/*
 * ext_authz_url.c: check that s[0..len) is an http:// or https:// origin, the `url:` key: the
 * scheme (either case), "://", a host (a name of letters, digits, "-", "." and "_", an IPv4
 * address, or a bracketed IPv6 address), an optional ":port" (1..65535), then nothing or one
 * "/". No credentials, path, query or fragment. Returns NULL and sets *origin_len to the length
 * without a trailing "/", or a static message saying what is wrong. Needs no pyxis service, so
 * t/unit/test_ext_authz_url.c and fuzz/fuzz_ext_authz_url.c call it directly.
 */
const char *eaz_url_origin(const char *s, size_t len, size_t *origin_len);

#endif /* EAZ_EXT_AUTHZ_H */
