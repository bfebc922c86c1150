/*
 * pyxis/module.h: the pyxis filter module SDK. This header is the whole contract between the
 * pyxis core and a filter module; a module includes nothing else of pyxis and links against
 * nothing of it.
 *
 * A module is a shared object (NAME.so) exporting one symbol, `pyxis_module`, a pyxis_module_t
 * descriptor. At load the core checks the descriptor's ABI version and size, then calls
 * init() with the service table (pyxis_api_t); every service the core offers is reached
 * through that table.
 *
 * ABI promise. A module built against ABI MAJOR.MINOR loads in every core whose ABI has the
 * same MAJOR and a MINOR at least as large. Within a major version:
 *   - structs that cross the boundary start with their size and only grow by appending
 *     fields; the core never reads past the size a module declared, and treats fields a module
 *     does not have as NULL/0;
 *   - pyxis_api_t only grows by appending functions; none is removed or changes meaning;
 *   - enum values are never renumbered; new values are appended.
 * A change that cannot follow these rules bumps MAJOR, and the core then refuses modules of
 * the old major with a message naming the module file and both versions.
 *
 * Threads. Lifecycle callbacks marked "main thread" run on the thread that loads the config,
 * never concurrently with each other. Everything else runs on a worker thread; a request and
 * everything attached to it (its timers, its call-outs) stays on one worker, so a module needs
 * no locks for per-request or per-worker state. Service functions taking a pyxis_txn_t must be
 * called on that transaction's worker.
 *
 * The current module. Every call the core makes into a module (init, conf_create, filter
 * callbacks, timer and call-out callbacks, worker_init/exit) runs with that module as the
 * "current module": log() tags lines with its name and worker_data() returns its data. Timer and
 * call-out callbacks run as the module that created them.
 *
 * Transactions. A pyxis_txn_t is valid from attach() until detach() returns; everything made
 * with it (pool memory, timers, call-outs, buffers) ends with it, and its pending timers and
 * call-outs are cancelled without their callbacks running. A paused filter whose transaction
 * ends (client gone, route timeout) is therefore never resumed: it is detached.
 *
 * Memory. Per-request memory comes from the transaction pool (pyxis_api_t.palloc) and is freed
 * with the transaction; per-config memory from the config arena (conf_alloc), freed with the
 * config snapshot. Strings the core hands out (pyxis_str_t) are not NUL-terminated unless a
 * comment says so; each says how long it stays valid.
 *
 * Changelog of the ABI (append a line for every minor version):
 *   1.0  first ABI: descriptor, filter callbacks, pyxis_api_t as below. Frozen with the first
 *        release of pyxis; until then it may still change without a version bump.
 */
#ifndef PYXIS_MODULE_H
#define PYXIS_MODULE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PYXIS_ABI_MAJOR 1
#define PYXIS_ABI_MINOR 0

/* The symbol every module exports. */
#define PYXIS_MODULE_SYMBOL "pyxis_module"

#if defined(__GNUC__)
#define PYXIS_EXPORT       __attribute__((visibility("default")))
#define PYXIS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PYXIS_EXPORT
#define PYXIS_PRINTF(f, a)
#endif

/* ---- basic types ------------------------------------------------------------------------- */

/* A byte string: pointer and length, not NUL-terminated. Never owns its bytes. PYXIS_STR("lit")
 * is an initializer (in C, `(pyxis_str_t)PYXIS_STR("x")` makes a value of it). */
typedef struct {
    const char *data;
    size_t len;
} pyxis_str_t;

#define PYXIS_STR(lit)                                                                             \
    {                                                                                              \
        (lit), sizeof(lit) - 1                                                                     \
    }

/* One header field. */
typedef struct {
    pyxis_str_t name;
    pyxis_str_t value;
} pyxis_header_t;

/* Opaque handles. None of them may be freed or kept beyond the lifetime its source states. */
typedef struct pyxis_txn_s pyxis_txn_t;           /* one request/response exchange */
typedef struct pyxis_headers_s pyxis_headers_t;   /* a mutable list of header fields */
typedef struct pyxis_chunk_s pyxis_chunk_t;       /* body bytes passing a filter */
typedef struct pyxis_buf_s pyxis_buf_t;           /* body bytes a filter holds back */
typedef struct pyxis_conf_ctx_s pyxis_conf_ctx_t; /* a config load in progress */
typedef struct pyxis_node_s pyxis_node_t;         /* a node of the YAML config */
typedef struct pyxis_worker_s pyxis_worker_t;     /* a worker thread */
typedef struct pyxis_timer_s pyxis_timer_t;       /* a timer */
typedef struct pyxis_callout_s pyxis_callout_t;   /* an HTTP call-out in flight */
typedef struct pyxis_shdict_s pyxis_shdict_t;     /* a dictionary shared by all workers */

/* Filter callbacks, for conf_uses(). */
enum {
    PYXIS_USES_REQUEST_HEADERS = 1 << 0,
    PYXIS_USES_REQUEST_BODY = 1 << 1,
    PYXIS_USES_RESPONSE_HEADERS = 1 << 2,
    PYXIS_USES_RESPONSE_BODY = 1 << 3,
    PYXIS_USES_LOG = 1 << 4,
};

/* What a filter callback tells the core to do next. */
typedef enum {
    PYXIS_FILTER_CONTINUE = 0, /* pass on to the next filter (or the upstream / the client) */
    PYXIS_FILTER_STOP = 1,     /* a local reply was set with respond(); the request phase
                                  ends, the response filters of earlier filters run on it */
    PYXIS_FILTER_PAUSE = 2,    /* async work is pending: the filter calls resume() exactly
                                  once later, on the same worker; nothing of this request
                                  moves in this direction until then */
    PYXIS_FILTER_ERROR = -1,   /* fail the request: 500 if nothing was sent yet, else the
                                  client connection is closed; the worker goes on */
} pyxis_filter_status_t;

/* What a service function returns. Each function's comment lists the values it can return. */
typedef enum {
    PYXIS_OK = 0,
    PYXIS_NOT_FOUND = 1, /* no such header, key, upstream, ... */
    PYXIS_EXISTS = 2,    /* add(): the key is already present */
    PYXIS_TOO_SMALL = 3, /* the caller's buffer is too small; the needed size is reported */
    PYXIS_ERROR = -1,    /* failed; the error log says why */
    PYXIS_NOMEM = -2,    /* out of memory */
    PYXIS_INVALID = -3,  /* an argument is not acceptable (bad header name or value, ...) */
    PYXIS_BAD_STATE = -4 /* not allowed now (e.g. request rewrite after the request left) */
} pyxis_rc_t;

typedef enum {
    PYXIS_LOG_ERROR = 0,
    PYXIS_LOG_WARN = 1,
    PYXIS_LOG_INFO = 2,
    PYXIS_LOG_DEBUG = 3,
} pyxis_log_level_t;

typedef enum {
    PYXIS_REQUEST = 0,
    PYXIS_RESPONSE = 1,
} pyxis_dir_t;

typedef enum {
    PYXIS_NODE_NULL = 0, /* an empty value, "~" or "null" */
    PYXIS_NODE_SCALAR = 1,
    PYXIS_NODE_SEQ = 2,
    PYXIS_NODE_MAP = 3,
} pyxis_node_type_t;

/* Values stored in a shared dictionary. pyxis_value_t is fixed for ABI 1.x: values of a new
 * kind would come with a new type, not by growing this one. */
typedef enum {
    PYXIS_VAL_NIL = 0,
    PYXIS_VAL_STRING = 1,
    PYXIS_VAL_NUMBER = 2,
    PYXIS_VAL_BOOLEAN = 3,
    PYXIS_VAL_TABLE = 4, /* bytes in the Lua runtime's serialization; opaque to C modules */
} pyxis_val_type_t;

typedef struct {
    pyxis_val_type_t type;
    double number;     /* NUMBER */
    int boolean;       /* BOOLEAN: 0 or 1 */
    pyxis_str_t bytes; /* STRING, TABLE */
} pyxis_value_t;

/* ---- HTTP call-outs --------------------------------------------------------------------- */

/* A request to send. Set `size` to sizeof(pyxis_callout_req_t); the core copies everything it
 * needs before callout() returns, so the struct and what it points to may be on the stack. */
typedef struct {
    uint32_t size;
    const char *upstream; /* name of an upstream of the current config, or NULL */
    const char *url;      /* "http[s]://host[:port]/path?query" when upstream is NULL */
    pyxis_str_t method;   /* default "GET" */
    pyxis_str_t path;     /* with `upstream`: the request target (default "/") */
    const pyxis_header_t *headers;
    size_t nheaders;
    pyxis_str_t body;
    uint64_t timeout_ms; /* the whole exchange; 0 = 5 s */
    uint64_t max_body;   /* response body cap; 0 = 1 MiB; beyond it the call fails */
} pyxis_callout_req_t;

/* The outcome. Borrowed: valid until the callback returns; copy what you keep. */
typedef struct {
    uint32_t size;
    int status;        /* the response status, or 0 when the call failed */
    const char *error; /* status 0: why (NUL-terminated), e.g. "timeout", "connection refused" */
    const pyxis_header_t *headers;
    size_t nheaders;
    pyxis_str_t body;
} pyxis_callout_resp_t;

typedef void (*pyxis_callout_fn)(const pyxis_callout_resp_t *resp, void *arg);
typedef void (*pyxis_timer_fn)(void *arg);
typedef void (*pyxis_cleanup_fn)(void *data);
typedef void (*pyxis_body_fn)(pyxis_txn_t *txn, void *arg);

/* ---- the service table ----------------------------------------------------------------------
 *
 * Passed to init(); valid for the life of the process. Functions are only ever appended
 * (see the ABI promise above), so a module may use every function of the minor version it was
 * built for without checking.
 */
typedef struct pyxis_api_s {
    uint32_t abi_major;
    uint32_t abi_minor;
    uint32_t size;       /* sizeof(pyxis_api_t) in the core */
    const char *version; /* the core's release, e.g. "0.4.0" (NUL-terminated, static) */

    /* -- transaction memory: freed with the transaction, never by hand -- */
    void *(*palloc)(pyxis_txn_t *txn, size_t size);  /* aligned; NULL when out of memory */
    void *(*pcalloc)(pyxis_txn_t *txn, size_t size); /* zero-filled */
    char *(*pstrndup)(pyxis_txn_t *txn, const char *s, size_t n); /* NUL-terminated copy */
    /* Run fn(data) when the transaction ends (after every detach). PYXIS_OK or PYXIS_NOMEM
     * (then fn was not registered: release the resource yourself). */
    pyxis_rc_t (*cleanup_add)(pyxis_txn_t *txn, pyxis_cleanup_fn fn, void *data);

    /* -- headers --
     * The request list is what the upstream will receive (already normalized: hop-by-hop
     * fields removed, X-Forwarded-* applied); the response list is what the client will
     * receive. Strings returned are valid until the field is changed or the txn ends.
     * Names compare case-insensitively. Setters copy name and value into the transaction
     * pool and refuse (PYXIS_INVALID) a name that is not a token or a value with CR, LF or
     * NUL. Changing a list after it was sent returns PYXIS_BAD_STATE. */
    pyxis_headers_t *(*req_headers)(pyxis_txn_t *txn);
    pyxis_headers_t *(*resp_headers)(pyxis_txn_t *txn); /* NULL before the response exists */
    /* First value of `name`: PYXIS_OK (value set) or PYXIS_NOT_FOUND. */
    pyxis_rc_t (*header_get)(pyxis_headers_t *h, pyxis_str_t name, pyxis_str_t *value);
    /* Iterate: start with *iter = 0; PYXIS_OK while fields remain, then PYXIS_NOT_FOUND. */
    pyxis_rc_t (*header_next)(pyxis_headers_t *h, size_t *iter, pyxis_str_t *name,
                              pyxis_str_t *value);
    /* Replace every `name` field with one (where the first was, else at the end). These three
     * return PYXIS_OK, PYXIS_INVALID, PYXIS_BAD_STATE or PYXIS_NOMEM. */
    pyxis_rc_t (*header_set)(pyxis_txn_t *txn, pyxis_headers_t *h, pyxis_str_t name,
                             pyxis_str_t value);
    /* Append one field. */
    pyxis_rc_t (*header_add)(pyxis_txn_t *txn, pyxis_headers_t *h, pyxis_str_t name,
                             pyxis_str_t value);
    /* Remove every `name` field; *removed (may be NULL) says how many. */
    pyxis_rc_t (*header_remove)(pyxis_txn_t *txn, pyxis_headers_t *h, pyxis_str_t name,
                                size_t *removed);

    /* -- the request -- valid for the transaction's life; rewrites copy their argument. */
    pyxis_str_t (*req_method)(pyxis_txn_t *txn);
    /* The path and query the upstream will get: as received (not decoded) unless a filter
     * rewrote them. */
    pyxis_str_t (*req_path)(pyxis_txn_t *txn);    /* without the query */
    pyxis_str_t (*req_query)(pyxis_txn_t *txn);   /* without "?"; empty when none */
    pyxis_str_t (*req_host)(pyxis_txn_t *txn);    /* Host/authority as received (port kept) */
    pyxis_str_t (*req_scheme)(pyxis_txn_t *txn);  /* "http" or "https" */
    int (*req_version)(pyxis_txn_t *txn);         /* 10, 11 or 20 */
    pyxis_str_t (*client_addr)(pyxis_txn_t *txn); /* "127.0.0.1", "::1" */
    unsigned (*client_port)(pyxis_txn_t *txn);
    /* What the upstream will receive. PYXIS_INVALID for a value that is not a valid method
     * token, path (must start with "/", no CR/LF/space/NUL/"?"/"#") or query; a method
     * change to or from HEAD or CONNECT is refused (it would change the response's
     * framing). PYXIS_BAD_STATE once the request head was sent. */
    pyxis_rc_t (*req_set_method)(pyxis_txn_t *txn, pyxis_str_t method);
    pyxis_rc_t (*req_set_path)(pyxis_txn_t *txn, pyxis_str_t path);
    pyxis_rc_t (*req_set_query)(pyxis_txn_t *txn, pyxis_str_t query); /* empty: none */
    /* Route the request to another upstream of the config: PYXIS_OK, PYXIS_NOT_FOUND, or
     * PYXIS_BAD_STATE outside the request-headers phase. */
    pyxis_rc_t (*set_upstream)(pyxis_txn_t *txn, const char *name);
    /* A variable by name (the names docs/config.md lists: remote_addr, remote_port,
     * request_id, host, path, query, request_uri, method, scheme, route, upstream,
     * upstream_addr, status, the tls_* names, header.NAME, resp_header.NAME, var.NAME).
     * PYXIS_OK or PYXIS_NOT_FOUND (unknown name, or not known yet, e.g. upstream_addr before
     * the upstream was chosen, or no value: tls_version on a plain connection). The value
     * lives as long as the transaction. */
    pyxis_rc_t (*var)(pyxis_txn_t *txn, pyxis_str_t name, pyxis_str_t *value);
    /* Per-request named values shared by all filters of the request (and Lua's txn.ctx):
     * an identity an auth filter found, a tenant. Copied into the pool. var() also finds
     * them as "var.NAME". */
    pyxis_rc_t (*var_set)(pyxis_txn_t *txn, pyxis_str_t name, pyxis_str_t value);
    pyxis_rc_t (*var_get)(pyxis_txn_t *txn, pyxis_str_t name, pyxis_str_t *value);

    /* -- the response -- */
    int (*resp_status)(pyxis_txn_t *txn); /* 0 before the response exists */
    /* From the response-headers phase: PYXIS_OK, PYXIS_INVALID (not 200..999), BAD_STATE. */
    pyxis_rc_t (*resp_set_status)(pyxis_txn_t *txn, int status);
    /* Prepare a local reply; the filter then returns PYXIS_FILTER_STOP. Allowed in the
     * request phases and in the response-headers phase (it replaces the upstream's
     * response). The reply starts with no header but Content-Length (set by the core);
     * add more with resp_headers() before returning. `body` is copied. PYXIS_BAD_STATE once
     * response bytes were sent. */
    pyxis_rc_t (*respond)(pyxis_txn_t *txn, int status, pyxis_str_t body);
    /* Called in a headers phase: this filter will change the body's length in `dir`, so the
     * core drops Content-Length and frames the body itself (chunked, or close-delimited for an
     * HTTP/1.0 client). */
    pyxis_rc_t (*body_will_change)(pyxis_txn_t *txn, pyxis_dir_t dir);
    /* From on_request_headers: have the whole request body read, up to `max` bytes (0: no
     * limit but the listener's max_body_size; a longer body answers 413 and ends the request).
     * PYXIS_OK: the filter returns PYXIS_FILTER_PAUSE; once the body is in req_body(), done(txn,
     * arg) runs (as this module) and the filter resumes the request as usual (resume() or
     * resume_with(), then or later). PYXIS_NOT_FOUND: the request has no body; go on.
     * PYXIS_BAD_STATE outside on_request_headers. */
    pyxis_rc_t (*req_body_read)(pyxis_txn_t *txn, uint64_t max, pyxis_body_fn done, void *arg);
    /* The body req_body_read() read (decoded), NULL before. Filters may change it; what it
     * holds when the request goes upstream is sent, with its length as Content-Length.
     * Request body filters see it as one chunk, the last. */
    pyxis_buf_t *(*req_body)(pyxis_txn_t *txn);

    /* -- body chunks --
     * A chunk is the body bytes passing this filter in this call. References from chunk_peek
     * are valid until the callback returns or the chunk is changed. Nothing here copies body
     * bytes except chunk_add/chunk_prepend, which copy the caller's new bytes in. */
    size_t (*chunk_len)(const pyxis_chunk_t *c);
    /* Fill up to n iovecs with references to the chunk's bytes; returns how many iovecs the
     * whole chunk needs (call again with more if it is larger than n). */
    int (*chunk_peek)(const pyxis_chunk_t *c, struct iovec *vec, int n);
    pyxis_rc_t (*chunk_drain)(pyxis_chunk_t *c, size_t n); /* drop n bytes from the front */
    pyxis_rc_t (*chunk_add)(pyxis_chunk_t *c, const void *data, size_t n);
    pyxis_rc_t (*chunk_prepend)(pyxis_chunk_t *c, const void *data, size_t n);
    /* A buffer to hold body bytes across calls (e.g. to see a whole body before passing it
     * on). Lives until the transaction ends. */
    pyxis_buf_t *(*buf_new)(pyxis_txn_t *txn);
    size_t (*buf_len)(const pyxis_buf_t *b);
    /* Move every byte of the chunk to the end of b (the chunk is then empty), or every byte
     * of b to the end of the chunk. Moves, never copies. */
    pyxis_rc_t (*chunk_move_to_buf)(pyxis_chunk_t *c, pyxis_buf_t *b);
    pyxis_rc_t (*buf_move_to_chunk)(pyxis_buf_t *b, pyxis_chunk_t *c);
    /* A contiguous view of the first n bytes of b (the buffer may rearrange itself to make
     * one, which copies within it). NULL when b holds fewer than n bytes. Valid until b
     * changes. */
    const char *(*buf_pullup)(pyxis_buf_t *b, size_t n);
    pyxis_rc_t (*buf_drain)(pyxis_buf_t *b, size_t n); /* drop n bytes from the front */
    pyxis_rc_t (*buf_add)(pyxis_buf_t *b, const void *data, size_t n); /* copies data in */

    /* -- resuming a paused filter -- exactly once per PYXIS_FILTER_PAUSE, on the txn's
     * worker, from a timer, a call-out callback or any later event; calling it before the
     * paused callback has returned is allowed. The chain goes on at the next filter. */
    void (*resume)(pyxis_txn_t *txn);
    /* The same, but the paused callback's outcome is `status` (STOP after respond(), or
     * ERROR) instead of CONTINUE. */
    void (*resume_with)(pyxis_txn_t *txn, pyxis_filter_status_t status);

    /* -- logging --
     * To the error log, tagged with the module name and, when txn is not NULL, the route,
     * client and request id. Never log secrets (tokens, keys, credentials). */
    void (*log)(pyxis_txn_t *txn, pyxis_log_level_t level, const char *fmt, ...) PYXIS_PRINTF(3, 4);
    void (*logv)(pyxis_txn_t *txn, pyxis_log_level_t level, const char *fmt, va_list ap);
    int (*log_enabled)(pyxis_log_level_t level);

    /* -- timers -- on the current worker. With a txn, the timer is cancelled when the txn
     * ends; without one (worker_init, a worker timer), it belongs to the worker's current
     * config generation and is cancelled before that generation's worker_exit. repeat != 0
     * fires every `ms` until cancelled. NULL when out of memory. The handle is invalid after
     * a one-shot timer fired or after timer_cancel. */
    pyxis_timer_t *(*timer_add)(pyxis_txn_t *txn, uint64_t ms, int repeat, pyxis_timer_fn fn,
                                void *arg);
    void (*timer_cancel)(pyxis_timer_t *timer);
    /* Seconds since the epoch, with sub-second precision (cached per event loop turn). */
    double (*now)(void);

    /* -- HTTP call-outs -- asynchronous; the worker serves other requests meanwhile. fn runs
     * exactly once on this worker, never from inside callout() itself, unless the call-out is
     * cancelled first (with the txn when txn is not NULL, or by callout_cancel). NULL when
     * the request is invalid (unknown upstream, unsupported URL; logged). */
    pyxis_callout_t *(*callout)(pyxis_txn_t *txn, const pyxis_callout_req_t *req,
                                pyxis_callout_fn fn, void *arg);
    void (*callout_cancel)(pyxis_callout_t *c);

    /* -- shared dictionaries (config: shared_dicts: { NAME: SIZE }) -- shared by every
     * worker, safe from any thread. NULL when the config has no dict of that name. ttl in
     * seconds, 0 = none. */
    pyxis_shdict_t *(*shdict)(pyxis_txn_t *txn, const char *name);
    /* PYXIS_OK (value filled; strings copied into buf), PYXIS_NOT_FOUND, or PYXIS_TOO_SMALL
     * (value->bytes.len says how many bytes buf needs). */
    pyxis_rc_t (*shdict_get)(pyxis_shdict_t *d, pyxis_str_t key, pyxis_value_t *value, char *buf,
                             size_t cap);
    /* PYXIS_OK or PYXIS_NOMEM (the entry can never fit: a dict is split into up to 16 shards,
     * and one entry must fit in one shard, 1/16 of a dict of 1 MiB or more). Least recently
     * used entries are evicted to make room. A PYXIS_VAL_NIL value deletes the key. */
    pyxis_rc_t (*shdict_set)(pyxis_shdict_t *d, pyxis_str_t key, const pyxis_value_t *value,
                             double ttl);
    /* set only when absent: PYXIS_OK, PYXIS_EXISTS or PYXIS_NOMEM. */
    pyxis_rc_t (*shdict_add)(pyxis_shdict_t *d, pyxis_str_t key, const pyxis_value_t *value,
                             double ttl);
    /* Add delta to a number (absent: start from init, with ttl). PYXIS_OK (*result set),
     * PYXIS_INVALID (the value is not a number) or PYXIS_NOMEM. */
    pyxis_rc_t (*shdict_incr)(pyxis_shdict_t *d, pyxis_str_t key, double delta, double init,
                              double ttl, double *result);
    pyxis_rc_t (*shdict_delete)(pyxis_shdict_t *d, pyxis_str_t key); /* OK or NOT_FOUND */
    /* Remaining ttl in seconds (0 = none): PYXIS_OK or PYXIS_NOT_FOUND. */
    pyxis_rc_t (*shdict_ttl)(pyxis_shdict_t *d, pyxis_str_t key, double *remaining);
    /* Call fn for up to max keys (0 = all), most recently used first; the key is borrowed
     * for the call. fn returns 0 to go on, anything else to stop. No lock is held while fn
     * runs: it may use the dict. */
    pyxis_rc_t (*shdict_keys)(pyxis_shdict_t *d, size_t max, int (*fn)(pyxis_str_t key, void *arg),
                              void *arg);

    /* -- configuration (main thread, inside conf_create) --
     * Nodes are valid only during conf_create; copy what you keep with conf_strdup or the
     * typed readers, which store into the config arena (freed with the snapshot). The
     * readers record an error at the node (file:line:col, with the module name) and return
     * PYXIS_INVALID on a mismatch; conf_create then returns PYXIS_ERROR. */
    pyxis_node_type_t (*node_type)(const pyxis_node_t *n);
    pyxis_str_t (*node_str)(const pyxis_node_t *n); /* scalar bytes; empty for others */
    size_t (*node_len)(const pyxis_node_t *n);      /* seq: items; map: pairs; else 0 */
    const pyxis_node_t *(*node_at)(const pyxis_node_t *n, size_t i);     /* seq item */
    const pyxis_node_t *(*node_key_at)(const pyxis_node_t *n, size_t i); /* map pair i */
    const pyxis_node_t *(*node_value_at)(const pyxis_node_t *n, size_t i);
    const pyxis_node_t *(*node_get)(const pyxis_node_t *n, const char *key); /* map lookup */
    unsigned (*node_line)(const pyxis_node_t *n);
    unsigned (*node_col)(const pyxis_node_t *n);
    /* Record an error at n (NULL: at the filter's entry); always returns PYXIS_INVALID. */
    pyxis_rc_t (*conf_error)(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, const char *fmt, ...)
        PYXIS_PRINTF(3, 4);
    /* n must be a map whose keys are all in keys[0..nkeys): unknown keys are errors (with a
     * suggestion), as are duplicates. */
    pyxis_rc_t (*conf_check_keys)(pyxis_conf_ctx_t *cc, const pyxis_node_t *n,
                                  const char *const *keys, size_t nkeys);
    pyxis_rc_t (*conf_str)(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, const char **out);
    pyxis_rc_t (*conf_bool)(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, int *out);
    pyxis_rc_t (*conf_uint)(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, uint64_t lo, uint64_t hi,
                            uint64_t *out);
    /* "250ms", "5s", "2m", "1h"; stored in milliseconds. */
    pyxis_rc_t (*conf_duration)(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, uint64_t *ms);
    /* "512", "16k", "1m", "2g"; bytes. */
    pyxis_rc_t (*conf_size)(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, uint64_t *bytes);
    void *(*conf_alloc)(pyxis_conf_ctx_t *cc, size_t size); /* zero-filled config memory */
    char *(*conf_strdup)(pyxis_conf_ctx_t *cc, const char *s, size_t n);
    /* Run fn(data) when the config snapshot is freed (compiled regexes, open files). */
    pyxis_rc_t (*conf_cleanup_add)(pyxis_conf_ctx_t *cc, pyxis_cleanup_fn fn, void *data);
    /* The config file's path (NUL-terminated), to resolve relative paths against. */
    const char *(*conf_file)(pyxis_conf_ctx_t *cc);
    /* Does the config being loaded have this upstream / shared dict? */
    int (*conf_has_upstream)(pyxis_conf_ctx_t *cc, const char *name);
    int (*conf_has_shdict)(pyxis_conf_ctx_t *cc, const char *name);

    /* -- workers -- */
    unsigned (*worker_id)(pyxis_worker_t *w);
    /* The per-worker data worker_init made for the current module on the txn's worker and
     * config generation (NULL when it made none). */
    void *(*worker_data)(pyxis_txn_t *txn);

    /* Is `name` a variable var() knows (for checking templates at config time)? "header.X",
     * "resp_header.X" and "var.X" count for any non-empty X. */
    int (*var_known)(pyxis_str_t name);

    /* In conf_create: the filter callbacks this conf will use, a mask of PYXIS_USES_*. The
     * core then skips the others for this filter (a body phase nobody uses costs nothing).
     * Without this call, every callback the descriptor has counts as used. */
    void (*conf_uses)(pyxis_conf_ctx_t *cc, unsigned uses);
    /* Was the scalar quoted in the YAML ("42" rather than 42)? */
    int (*node_quoted)(const pyxis_node_t *n);

    /* The request target the access log shows instead of the one received, e.g. with a
     * credential sent in the query (an API key) redacted; the last call wins. Copied into the
     * pool. Worker thread, before on_log. PYXIS_OK or PYXIS_NOMEM. */
    pyxis_rc_t (*log_set_target)(pyxis_txn_t *txn, pyxis_str_t target);

    /* A path written in the config, as the core reads its own: absolute, or relative to the
     * config file's directory. NUL-terminated, in config memory; NULL when out of memory.
     * Main thread, while configuring. */
    const char *(*conf_path)(pyxis_conf_ctx_t *cc, pyxis_str_t path);

    /* The trailer fields of the request's / the response's body (a chunked HTTP/1.1 body's
     * trailer section, an HTTP/2 trailers HEADERS frame), as a list the header functions above
     * work on. Complete in the body callback whose `last` is set, and empty before it; what
     * the list holds when that callback returns is what goes on, when the framing on the
     * other side can carry trailers (chunked HTTP/1.1, HTTP/2), and is dropped otherwise.
     * resp_trailers() is NULL before the response exists. */
    pyxis_headers_t *(*req_trailers)(pyxis_txn_t *txn);
    pyxis_headers_t *(*resp_trailers)(pyxis_txn_t *txn);
} pyxis_api_t;

/* ---- the module descriptor --------------------------------------------------------------
 *
 * The callback contract, once for all of them:
 *   - Every callback is optional (NULL). A module without filter callbacks is valid but does
 *     nothing per request.
 *   - Callbacks returning pyxis_rc_t return PYXIS_OK or PYXIS_ERROR; the filter ones return a
 *     pyxis_filter_status_t.
 *   - Per request, the order is: attach (every filter of the route, in written order), then
 *     on_request_headers in written order, on_request_body per chunk in written order,
 *     on_response_headers and on_response_body in reverse order, on_log in written order,
 *     detach in reverse order. A filter whose request phase never ran (an earlier filter
 *     stopped the chain) gets neither its response callbacks nor on_log, but is detached. The
 *     filter that stopped the chain does not filter its own reply, but gets on_log (an auth
 *     filter can log its denials).
 *   - A body callback gets the bytes that reached it in `chunk`; what is left in the chunk
 *     when it returns CONTINUE goes on. `last` is 1 on the final call of the body (the chunk
 *     may be empty then). A message without a body (a GET, a 204, the answer to HEAD) gets
 *     no body callbacks. A filter that changes the body's length must say so with
 *     body_will_change() in its headers callback; otherwise a length that no longer matches
 *     Content-Length fails the request rather than send ambiguous framing.
 *   - PAUSE stops this direction of the request until resume(); while paused the core stops
 *     reading the corresponding peer (backpressure), and the route timeout keeps running. In a
 *     body callback, the bytes left in the chunk are kept and passed on after resume(); the
 *     chunk stays valid (the same object) until resume() and may be changed up to then.
 *   - STOP is accepted from the request phases and on_response_headers (after respond());
 *     from on_response_body, or without respond(), it counts as ERROR.
 *   - Failures: init() failing refuses the config that named the module. conf_create()
 *     returning PYXIS_ERROR refuses the config (with the errors it recorded, or a generic
 *     one). worker_init() failing is logged; that worker then passes NULL worker data and
 *     never calls worker_exit() for it. attach() failing answers 500.
 */
typedef struct pyxis_module_s {
    /* -- header: these four never move -- */
    uint32_t abi_major; /* PYXIS_ABI_MAJOR the module was built with */
    uint32_t abi_minor; /* PYXIS_ABI_MINOR the module was built with */
    uint32_t size;      /* sizeof(pyxis_module_t) the module was built with */
    uint32_t reserved;  /* 0 */

    const char *name;    /* the filter name used in configs: [a-z0-9_]+, unique */
    const char *version; /* the module's own version, e.g. "1.2.0" */
    const char *description;

    /* Main thread, once when the module is loaded. The api table stays valid forever. */
    pyxis_rc_t (*init)(const pyxis_api_t *api);
    /* Main thread, once at process exit (after every config was freed). */
    void (*fini)(void);

    /* Main thread, once per occurrence in a route's `filters` list, per config load. `node` is
     * the value written after the name (may be a PYXIS_NODE_NULL). Store the parsed config
     * in *conf (config arena or malloc + conf_free). PYXIS_ERROR after recording errors with
     * conf_error (the load is refused). */
    pyxis_rc_t (*conf_create)(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **conf);
    /* Main or worker thread, when the snapshot holding conf is freed (no request uses it). */
    void (*conf_free)(void *conf);
    /* Main thread, per config load, when the config has a top-level key named like the module
     * (`lua: { package_path: ... }`): parse it into *gconf (config arena, or register a
     * cleanup), handed to worker_init. Runs before any conf_create of the same load. Without
     * this callback such a key is an unknown key. */
    pyxis_rc_t (*conf_global)(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **gconf);

    /* Worker thread, when a worker starts serving a config generation that uses this module
     * (in a route's filters or with a top-level key); gconf is what conf_global made (NULL
     * without one), confs every conf this module made for that generation. *worker_data is
     * handed to attach() and returned by worker_data(). */
    pyxis_rc_t (*worker_init)(pyxis_worker_t *w, void *gconf, void *const *confs, size_t nconfs,
                              void **worker_data);
    /* Worker thread, when that generation's last request on this worker is done (reload or
     * shutdown); its worker timers are already cancelled. */
    void (*worker_exit)(pyxis_worker_t *w, void *worker_data);

    /* Per request, before any filter callback. *ctx is what every other callback of this
     * filter gets for this request; it defaults to conf. Allocate it from the txn pool.
     * PYXIS_ERROR fails the request with 500. */
    pyxis_rc_t (*attach)(pyxis_txn_t *txn, void *conf, void *worker_data, void **ctx);
    /* Per request, last: always called for an attached filter, whatever happened. */
    void (*detach)(pyxis_txn_t *txn, void *ctx);

    pyxis_filter_status_t (*on_request_headers)(pyxis_txn_t *txn, void *ctx);
    pyxis_filter_status_t (*on_request_body)(pyxis_txn_t *txn, void *ctx, pyxis_chunk_t *chunk,
                                             int last);
    pyxis_filter_status_t (*on_response_headers)(pyxis_txn_t *txn, void *ctx);
    pyxis_filter_status_t (*on_response_body)(pyxis_txn_t *txn, void *ctx, pyxis_chunk_t *chunk,
                                              int last);
    /* After the response was sent (or the exchange failed); may read everything, change
     * nothing. */
    void (*on_log)(pyxis_txn_t *txn, void *ctx);
} pyxis_module_t;

/* The descriptor every module defines, exactly once:
 *   PYXIS_EXPORT const pyxis_module_t pyxis_module = { PYXIS_MODULE_HEADER, .name = "x", ... };
 * The loader refuses a file found as NAME.so whose descriptor names another module. `name` is
 * 1 to 64 of [a-z0-9_]; `version` and `description` may be NULL; `reserved` must be 0. */
extern PYXIS_EXPORT const pyxis_module_t pyxis_module;

/* Fill the descriptor header: PYXIS_MODULE_HEADER, .name = "x", ... */
#define PYXIS_MODULE_HEADER                                                                        \
    .abi_major = PYXIS_ABI_MAJOR, .abi_minor = PYXIS_ABI_MINOR, .size = sizeof(pyxis_module_t),    \
    .reserved = 0

#ifdef __cplusplus
}
#endif

#endif /* PYXIS_MODULE_H */
