/*
 * px_conf-t.h: the configuration snapshot.
 *
 * A px_conf_t is built by px_conf_load() from one YAML file, validated, and then never changed:
 * workers read it without locks. Every string, array and compiled regex it points to is owned by
 * the snapshot and freed with it (px_conf_release() when the last reference goes). Each worker
 * holds one reference per generation it still serves requests on.
 *
 * Durations are stored in milliseconds (uint64_t), sizes in bytes (uint64_t). A duration of 0
 * means "no timeout" where the key's doc says so.
 */
#ifndef PX_CONF_T_H
#define PX_CONF_T_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "px_module-t.h"
#include "px_str-t.h"
#include "px_tls-t.h"

/* A resolved socket address plus the text it came from (for logs). */
typedef struct {
    struct sockaddr_storage sa;
    socklen_t salen;
    char *text; /* "127.0.0.1:8080", "[::1]:8080" as written (host kept as given) */
} px_conf_addr_t;

typedef enum {
    PX_LOG_ERROR = 0,
    PX_LOG_WARN,
    PX_LOG_INFO,
    PX_LOG_DEBUG,
} px_log_level_t;

typedef enum {
    PX_ACCESS_LOG_OFF = 0,
    PX_ACCESS_LOG_COMBINED,
    PX_ACCESS_LOG_JSON,
} px_access_format_t;

/* Where a log goes: "stderr", "stdout", or a file path (opened for append). */
typedef struct {
    char *path; /* NULL = stderr; "stdout" is kept as the string "stdout" */
    px_access_format_t format;
    unsigned configured : 1; /* the key was written (a listener's unset log inherits) */
} px_conf_access_log_t;

/* A sockaddr prefix for trusted_proxies: "10.0.0.0/8", "::1/128", "127.0.0.1". */
typedef struct {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network order; 4 bytes used for AF_INET */
    unsigned prefix;  /* 0..32 or 0..128 */
} px_conf_cidr_t;

typedef enum {
    PX_XFF_APPEND = 0, /* append the client address to X-Forwarded-For (default) */
    PX_XFF_REPLACE,    /* drop what the client sent, set our own values */
    PX_XFF_OFF,        /* pass X-Forwarded-* through untouched, add nothing */
} px_xff_mode_t;

/* listeners[].forwarded */
typedef struct {
    px_xff_mode_t mode;
    px_conf_cidr_t *trusted; /* trusted_proxies; a client not in it gets incoming X-Forwarded-*
                                fields removed before ours are added (mode append) */
    size_t ntrusted;
} px_conf_forwarded_t;

/* listeners[].limits: HTTP/1 parser and body limits */
typedef struct {
    uint64_t max_head;    /* max_header_size, default 16k */
    uint64_t max_headers; /* max_headers, default 100 */
    uint64_t max_uri;     /* max_uri_size, default 8k */
    uint64_t max_body;    /* max_body_size, default 0 = unlimited */
} px_conf_limits_t;

/* listeners[].http2: the HTTP/2 server (px_h2_server.c) */
typedef struct {
    int enabled;                     /* enabled, default false */
    uint64_t max_concurrent_streams; /* default 128 */
    uint64_t initial_window_size;    /* per stream, default 64k */
    uint64_t connection_window_size; /* default 1m */
    uint64_t max_header_list_size;   /* default: limits.max_header_size */
} px_conf_http2_t;

/* One `name: value` pair in match.headers, respond.headers, ... */
typedef struct {
    char *name; /* lowercased */
    char *value;
} px_conf_kv_t;

typedef enum {
    PX_MATCH_HOST_ANY = 0,
    PX_MATCH_HOST_EXACT,  /* "api.example.com" (compared case-insensitively, port ignored) */
    PX_MATCH_HOST_SUFFIX, /* "*.example.com": one or more labels before ".example.com" */
} px_host_match_t;

typedef enum {
    PX_MATCH_PATH_ANY = 0,
    PX_MATCH_PATH_EXACT,  /* match.path */
    PX_MATCH_PATH_PREFIX, /* match.path_prefix */
    PX_MATCH_PATH_REGEX,  /* match.path_regex: PCRE2, unanchored unless the pattern is */
} px_path_match_t;

typedef enum {
    PX_ACTION_UPSTREAM = 0,
    PX_ACTION_RESPOND,
    PX_ACTION_REDIRECT,
} px_route_action_t;

/* retry.on conditions */
enum {
    PX_RETRY_CONNECT_FAILURE = 1 << 0, /* connect refused, unreachable, timed out */
    PX_RETRY_REFUSED = 1 << 1,         /* connect refused (ECONNREFUSED) only */
    PX_RETRY_RESET = 1 << 2,           /* reset or closed before any response byte */
    PX_RETRY_PER_TRY_TIMEOUT = 1 << 3, /* no response head within per_try_timeout */
    PX_RETRY_5XX = 1 << 4,             /* any 5xx response (and every condition above) */
    PX_RETRY_GATEWAY_ERROR = 1 << 5,   /* 502, 503, 504 responses */
    PX_RETRY_STATUS = 1 << 6,          /* a status listed in retry.on */
};

/* retry: on a route, or an upstream's default for its routes. */
typedef struct {
    unsigned attempts;  /* tries in all, the first included; 1 = no retry */
    unsigned on;        /* PX_RETRY_* */
    uint16_t *statuses; /* listed status codes (PX_RETRY_STATUS) */
    size_t nstatuses;
    uint64_t per_try_timeout_ms;  /* attempt start -> response head; 0 = none */
    uint64_t backoff_base_ms;     /* backoff.base, default 25ms */
    uint64_t backoff_max_ms;      /* backoff.max, default 250ms */
    unsigned budget_percent;      /* budget.percent of active requests, default 20 */
    unsigned budget_min;          /* budget.min_concurrency, default 3 */
    uint32_t methods;             /* 1 << px_method_id_t of methods that may be retried once
                                     the upstream may have seen the request; default the
                                     idempotent ones */
    unsigned methods_any : 1;     /* methods: any (also unknown methods) */
    unsigned attempts_header : 1; /* attempts_header: x-pyxis-attempts on responses */
    unsigned configured : 1;      /* the key was written */
    uint64_t buffer;              /* request body replay buffer, default 64k */
} px_conf_retry_t;

struct px_conf_upstream_s;

typedef struct {
    char *name; /* route name: routes[].name, else "LISTENER#INDEX" */

    /* match */
    px_host_match_t host_match;
    char *host; /* lowercased; for SUFFIX the part after "*" (".example.com") */
    px_path_match_t path_match;
    char *path;       /* exact path or prefix */
    void *path_regex; /* pcre2_code * for PX_MATCH_PATH_REGEX */
    char **methods;   /* match.methods: exact method tokens; NULL/0 = any */
    size_t nmethods;
    px_conf_kv_t *match_headers; /* match.headers: name lowercased; value exact; "*" = present */
    size_t nmatch_headers;

    /* action */
    px_route_action_t action;
    struct px_conf_upstream_s *upstream; /* PX_ACTION_UPSTREAM; points into conf->upstreams */
    char *host_rewrite;             /* host_rewrite: send this Host upstream; NULL = pass through */
    uint64_t timeout_ms;            /* timeout: whole exchange, request start to response end;
                                       default 60s; 0 = none */
    uint64_t first_byte_timeout_ms; /* first_byte_timeout: overrides the upstream's; 0 = inherit */
    px_conf_retry_t retry;          /* retry: when not configured, the upstream's applies */
    const char *const *upgrades;    /* upgrade: protocol names (lowercase) whose HTTP/1.1
                                       Upgrade passes upstream; default {"websocket"} */
    size_t nupgrades;
    uint64_t tunnel_idle_timeout_ms; /* tunnel_idle_timeout: an upgraded connection closes after
                                        this long without a byte either way; default 5m; 0 =
                                        none */

    int respond_status; /* respond.status (default 200) */
    px_conf_kv_t *respond_headers;
    size_t nrespond_headers;
    char *respond_body; /* respond.body (may be NULL) */
    size_t respond_body_len;

    int redirect_status;     /* redirect.status: 301, 302 (default), 303, 307, 308 */
    char *redirect_location; /* redirect.location: a template; ${scheme}, ${host}, ${path},
                                ${query} and ${request_uri} (path?query) are substituted */

    px_conf_filter_t *filters; /* filters: in written order */
    size_t nfilters;
    unsigned filter_has; /* PX_FILTER_HAS_*: the union of what the filters implement */

    int line; /* where the route starts in the file, for logs */
} px_conf_route_t;

typedef struct {
    char *name;
    px_conf_addr_t listen;             /* listen: "ADDR:PORT" */
    uint64_t client_header_timeout_ms; /* default 10s */
    uint64_t keepalive_timeout_ms;     /* default 75s; 0 disables keep-alive */
    uint64_t client_body_timeout_ms;   /* idle time between body reads, default 60s */
    uint64_t send_timeout_ms;          /* idle time writing to a client that does not read,
                                          default 60s */
    uint64_t max_requests_per_conn;    /* keepalive_requests, default 1000; 0 = unlimited */
    px_conf_limits_t limits;
    px_conf_http2_t http2;
    px_conf_forwarded_t forwarded;
    px_conf_access_log_t access_log; /* listener's access log; when not configured the
                                        loader copies the top-level one here */
    int backlog;                     /* default 511 */
    px_tls_listener_t *tls;          /* tls: NULL = plain HTTP */
    px_conf_route_t *routes;
    size_t nroutes;
} px_conf_listener_t;

typedef struct {
    char *host;          /* as written (hostname or literal), for logs and Host headers */
    px_conf_addr_t addr; /* resolved at load (first getaddrinfo result of the family) */
    unsigned weight;     /* default 1 */
} px_conf_endpoint_t;

typedef enum {
    PX_BALANCE_ROUND_ROBIN = 0, /* smooth weighted round robin */
    PX_BALANCE_LEAST_REQUEST,   /* power of two choices on requests in flight (per worker) */
    PX_BALANCE_RANDOM,          /* weighted random */
    PX_BALANCE_HASH,            /* consistent hashing (Maglev) on hash_key */
} px_balance_t;

typedef enum {
    PX_HASH_CLIENT_ADDRESS = 0, /* hash_key: client_address */
    PX_HASH_HEADER,             /* hash_key: header:NAME */
    PX_HASH_COOKIE,             /* hash_key: cookie:NAME */
} px_hash_on_t;

/* outlier_detection: passive ejection of endpoints that keep failing. */
typedef struct {
    unsigned enabled : 1;
    unsigned consecutive_5xx;              /* default 5; 0 = off */
    unsigned consecutive_gateway_errors;   /* 502/503/504; default 0 = off */
    unsigned consecutive_connect_failures; /* default 5; 0 = off */
    uint64_t base_ejection_ms;             /* default 30s: ejection n lasts base x n */
    uint64_t max_ejection_ms;              /* default 300s */
    unsigned max_ejection_percent;         /* default 50 */
} px_conf_outlier_t;

/* circuit_breakers: per upstream, over all workers; 0 = no limit. */
typedef struct {
    uint64_t max_connections; /* open connections (any state) */
    uint64_t max_pending;     /* requests waiting for a connection */
    uint64_t max_requests;    /* requests in flight */
    uint64_t max_retries;     /* retries in flight */
} px_conf_breakers_t;

/* health_check: active checks of each endpoint, run by the main thread (px_health.c). */
typedef enum {
    PX_HEALTH_HTTP = 0, /* GET path; the status line decides */
    PX_HEALTH_TCP,      /* connect only (no TLS handshake) */
} px_health_type_t;

typedef struct {
    uint16_t lo, hi; /* a status code (lo == hi) or a range, inclusive */
} px_conf_status_range_t;

typedef struct {
    unsigned enabled : 1;
    px_health_type_t type;            /* default http */
    char *path;                       /* http: default "/" */
    char *host;                       /* http: Host; NULL = the endpoint's address */
    px_conf_status_range_t *statuses; /* http: expected_statuses; default 200-399 */
    size_t nstatuses;
    uint64_t interval_ms;         /* default 5s */
    uint64_t timeout_ms;          /* default 1s */
    uint64_t jitter_ms;           /* default interval / 10 */
    unsigned healthy_threshold;   /* default 2 */
    unsigned unhealthy_threshold; /* default 3 */
} px_conf_health_t;

/* resolvers.NAME: DNS servers that discovery asks (instead of /etc/resolv.conf's). */
typedef struct px_conf_resolver_s {
    char *name;
    char *servers;       /* "IP:PORT,[IPv6]:PORT" (c-ares' servers CSV), as listed */
    uint64_t timeout_ms; /* timeout: per attempt, default 1s */
    unsigned attempts;   /* attempts: per server, default 2 */
} px_conf_resolver_t;

typedef enum {
    PX_DISC_NONE = 0, /* endpoints come from `endpoints:` */
    PX_DISC_DNS,      /* discovery.dns: A/AAAA records of a name, one port */
    PX_DISC_SRV,      /* discovery.srv: SRV records (targets, ports, priorities, weights) */
    PX_DISC_FILE,     /* discovery.file: an endpoints file, polled */
} px_disc_kind_t;

/* upstreams.NAME.discovery */
typedef struct {
    px_disc_kind_t kind;
    char *name;                         /* dns, srv: the name asked; file: the path (absolute) */
    unsigned port;                      /* dns: the port of every address found */
    int family;                         /* family: AF_UNSPEC (any, default), AF_INET, AF_INET6 */
    const px_conf_resolver_t *resolver; /* resolver: NULL = the system's (/etc/resolv.conf) */
    uint64_t min_ttl_ms;                /* min_ttl: default 5s */
    uint64_t max_ttl_ms;                /* max_ttl: default 300s */
    uint64_t interval_ms;               /* file: interval between checks, default 1s */
} px_conf_discovery_t;

/* upstreams.NAME.protocol: what pyxis speaks to the upstream. */
typedef enum {
    PX_UPROTO_HTTP1 = 0, /* HTTP/1.1 (default) */
    PX_UPROTO_HTTP2,     /* h2 over TLS, negotiated by ALPN (needs tls) */
    PX_UPROTO_H2C,       /* cleartext HTTP/2 with prior knowledge */
    PX_UPROTO_AUTO,      /* TLS offering h2 and http/1.1; HTTP/1.1 when the server picks it */
} px_uproto_t;

/* upstreams.NAME.http2: HTTP/2 client sessions (protocol http2, h2c, auto). */
typedef struct {
    uint64_t max_concurrent_streams; /* per connection, at most; default 100 */
    uint64_t ping_interval_ms;       /* silence before a PING; default 30s */
    uint64_t ping_timeout_ms;        /* unanswered PING: the connection is dead; default 10s */
} px_conf_uhttp2_t;

typedef struct px_conf_upstream_s {
    char *name;
    px_conf_endpoint_t *endpoints;
    size_t nendpoints;
    px_balance_t balance;
    px_hash_on_t hash_on;               /* balance hash: what is hashed */
    char *hash_name;                    /* hash_key header:NAME (lowercased) or cookie:NAME */
    px_conf_retry_t retry;              /* default for routes without retry */
    px_conf_outlier_t outlier;          /* outlier_detection */
    px_conf_breakers_t breakers;        /* circuit_breakers */
    uint64_t connect_timeout_ms;        /* default 5s */
    uint64_t first_byte_timeout_ms;     /* request fully sent -> response head begins; 60s */
    uint64_t read_timeout_ms;           /* idle time between response body reads; 60s */
    uint64_t keepalive_max_idle;        /* keepalive.max_idle per worker per endpoint, 32 */
    uint64_t keepalive_idle_timeout_ms; /* keepalive.idle_timeout, 60s */
    uint64_t keepalive_max_requests;    /* keepalive.max_requests per connection, 0 = unlimited */
    unsigned index;                     /* position in conf->upstreams */
    px_tls_upstream_t *tls;             /* tls (enabled): NULL = plain HTTP */
    px_conf_health_t health;            /* health_check */
    px_conf_discovery_t discovery;      /* discovery: kind PX_DISC_NONE when endpoints */
    px_uproto_t protocol;               /* protocol, default http1 */
    px_conf_uhttp2_t http2;             /* http2 */
} px_conf_upstream_t;

/* shared_dicts: NAME: SIZE. The dict itself is acquired once the whole config is valid, so a
 * refused reload never resizes a live dict; it is released with the snapshot. */
struct px_shdict_s;
typedef struct px_conf_shdict_s {
    char *name;
    uint64_t size;
    struct px_shdict_s *dict;
} px_conf_shdict_t;

typedef struct px_conf_s {
    _Atomic int refs;    /* px_conf_retain / px_conf_release */
    unsigned generation; /* set by the process when the snapshot is activated */
    char *file;          /* the path it was loaded from */

    unsigned workers;          /* resolved: "auto" -> number of online CPUs */
    uint64_t drain_timeout_ms; /* default 30s */
    char *pid_file;            /* NULL = none */

    px_log_level_t error_log_level;  /* error_log.level, default info */
    char *error_log_path;            /* error_log.path, NULL = stderr */
    px_conf_access_log_t access_log; /* top-level access_log; default: off */

    px_conf_listener_t *listeners;
    size_t nlisteners;
    px_conf_upstream_t *upstreams;
    size_t nupstreams;
    px_conf_resolver_t *resolvers; /* resolvers, in written order */
    size_t nresolvers;

    struct px_conf_shdict_s *shdicts; /* shared_dicts, in written order */
    size_t nshdicts;

    char *modules_path;       /* modules_path; default PX_MODULESDIR (or $PYXIS_MODULES_PATH) */
    px_conf_modset_t modules; /* every module the routes use, with their confs */

    void *arena; /* private: the loader's allocation arena */
} px_conf_t;

/* One error found while loading: where and what. */
typedef struct {
    char file[512];
    unsigned line; /* 1-based */
    unsigned col;  /* 1-based */
    char msg[512];
} px_conf_error_t;

#endif
