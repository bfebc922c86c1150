/*
 * lua_mod.h: the private interface between the files of the `lua` filter module. The only
 * pyxis header it sees is <pyxis/module.h>; the core is reached through pxl_api alone.
 *
 *   lua.c        the descriptor, worker states, running hooks in coroutines, waits, errors
 *   lua_conf.c   conf_global / conf_create: sources, per-filter config, syntax check
 *   lua_txn.c    the txn object handed to hooks: req, resp, headers, bodies, respond, ctx
 *   lua_pyxis.c  the `pyxis` table: http.request, sleep, timer, now, shared, log
 *
 * Ownership in one place:
 *   - configs (pxl_gconf_t, pxl_conf_t, pxl_cval_t) live in the config arena, read-only once
 *     conf_create returned;
 *   - a pxl_worker_t (one lua_State) is malloc'd by worker_init and freed by worker_exit: one
 *     per worker per config generation;
 *   - a pxl_ctx_t (one Lua filter of one request) is in the transaction pool; the Lua objects
 *     that name it (handles, see lua_txn.c) stop resolving at detach;
 *   - a pxl_run_t (one running coroutine) is inside its pxl_ctx_t for request hooks, malloc'd
 *     for timers and for an on_log hook that waits (freed when its coroutine ends).
 */
#ifndef PXL_MOD_H
#define PXL_MOD_H

#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>

#include <pyxis/module.h>

/* The service table init() received; set once on the main thread before any config. */
extern const pyxis_api_t *pxl_api;

/* ---- configuration (lua_conf.c) ---------------------------------------------------------- */

/* A YAML value of a filter's `config:`, copied out of the node tree at load. Plain scalars
 * that read as true/false or a number become booleans and numbers; null/~ becomes nil. */
typedef enum {
    PXL_CV_NIL = 0,
    PXL_CV_BOOL,
    PXL_CV_NUM,
    PXL_CV_STR,
    PXL_CV_SEQ,
    PXL_CV_MAP,
} pxl_cv_type_t;

typedef struct pxl_cval_s {
    pxl_cv_type_t type;
    int boolean;
    double number;
    pyxis_str_t str;
    size_t n;                  /* SEQ items / MAP pairs */
    struct pxl_cval_s *keys;   /* MAP: n keys (strings) */
    struct pxl_cval_s *values; /* SEQ / MAP: n values */
} pxl_cval_t;

#define PXL_DEFAULT_MAX_BODY (1024 * 1024)

/* The top-level `lua:` key. */
typedef struct {
    const char *package_path;  /* extra templates, first in package.path; NULL: none */
    uint64_t max_instructions; /* per hook invocation; 0: no budget (and the JIT stays on) */
    uint64_t memory_limit;     /* bytes per worker state; 0: none */
    uint64_t max_body;         /* read_body() default */
} pxl_gconf_t;

/* One `- lua: ...` entry of a route. */
typedef struct {
    const char *chunkname; /* "@path/as/written.lua" or "=inline@pyxis.yaml:12" */
    const char *source;    /* the script, read at config load */
    size_t len;
    const pxl_cval_t *config; /* `config:`, NULL when absent */
    uint64_t max_body;        /* 0: the global one */
} pxl_conf_t;

pyxis_rc_t pxl_conf_global(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **gconf);
pyxis_rc_t pxl_conf_create(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **conf);
void pxl_conf_fini(void);
/* Push a config value as a Lua value (tables for SEQ / MAP). May raise (memory). */
void pxl_push_cval(lua_State *L, const pxl_cval_t *v);

/* ---- runtime (lua.c) --------------------------------------------------------------------- */

enum {
    PXL_H_REQUEST = 0,
    PXL_H_REQUEST_BODY,
    PXL_H_RESPONSE,
    PXL_H_RESPONSE_BODY,
    PXL_H_LOG,
    PXL_H_N
};

extern const char *const pxl_hook_names[PXL_H_N];

/* One script as loaded into a worker state: registry refs of its hooks (LUA_NOREF: none). */
typedef struct {
    const pxl_conf_t *conf;
    int hook[PXL_H_N];
} pxl_script_t;

typedef struct pxl_run_s pxl_run_t;
typedef struct pxl_ctx_s pxl_ctx_t;
typedef struct pxl_pending_s pxl_pending_t;

/* An entry of a worker's table of live handles (lua_txn.c): the ctx whose txn objects carry
 * id; id 0 and c NULL when free. */
typedef struct {
    uint64_t id;
    pxl_ctx_t *c;
} pxl_live_t;

/* One worker's Lua for one config generation. */
typedef struct pxl_worker_s {
    lua_State *L;
    const pxl_gconf_t *g;
    pxl_script_t *scripts;
    size_t nscripts;
    unsigned id;

    size_t mem_used;  /* bytes the allocator handed out */
    size_t mem_limit; /* 0: none */
    int mem_enforce;  /* the limit applies only while Lua code runs (protected) */
    int mem_fallback; /* lua_newstate refused the allocator: check lua_gc counts instead */

    pxl_run_t *current;        /* the run whose coroutine is executing */
    uint64_t init_budget_used; /* instructions of the scripts' main chunks */
    int reqs_ref;              /* registry: lightuserdata txn -> per-request table */

    /* The ctxs whose txn objects a hook was given, by handle id (malloc'd, open addressing
     * on id & live_mask, at most half full). */
    pxl_live_t *live;
    uint64_t live_mask;
    size_t nlive;
    uint64_t next_id; /* the next handle id to hand out (never 0) */
    /* The interned names of the txn objects' members, by class, each list NULL-terminated
     * (lua_txn.c); keyv holds them all. */
    const char *const *keys[4];
    const char *keyv[40];
    int closing; /* worker_exit is running */

    pxl_pending_t *pending; /* worker-level timers and call-outs in flight */
    /* Coroutines that finished cleanly, kept for the next hook (a resume of a finished
     * coroutine starts a new call in LuaJIT): saves a lua_newthread per hook. */
    lua_State *idle_co[32];
    int idle_ref[32];
    int nidle;
    pxl_run_t *detached; /* runs without a request: timers, waiting on_log hooks */
} pxl_worker_t;

/* What a coroutine waits for. */
typedef enum {
    PXL_W_NONE = 0,
    PXL_W_TIMER,   /* pyxis.sleep */
    PXL_W_CALLOUT, /* pyxis.http.request */
    PXL_W_BODY,    /* txn.req:read_body() */
    PXL_W_STOP,    /* not a wait: txn:respond() ended the hook */
} pxl_wait_t;

/* A coroutine running one hook (or one timer callback). */
struct pxl_run_s {
    pxl_worker_t *w;
    pxl_ctx_t *c; /* the filter of the request; NULL for timers and a detached on_log */
    int hook;     /* PXL_H_*, or -1 for a timer callback */
    lua_State *co;
    int co_ref;   /* registry ref anchoring co; LUA_NOREF when no coroutine runs */
    int paused;   /* the filter callback returned PAUSE for it */
    int stop;     /* respond() was called: the outcome is STOP */
    int gen_mine; /* worker timers it makes belong to w's generation for sure */
    pxl_wait_t wait;
    pyxis_timer_t *timer;     /* request-level wait */
    pyxis_callout_t *callout; /* request-level wait */
    pxl_pending_t *pend;      /* worker-level wait */
    uint64_t budget_used;
    pyxis_chunk_t *chunk;   /* body hooks: the call's chunk, kept while paused */
    pxl_run_t *next, *prev; /* in w->detached */
};

/* One Lua filter of one request (transaction pool). */
struct pxl_ctx_s {
    pyxis_txn_t *txn;
    pxl_worker_t *w;
    const pxl_script_t *s;
    uint64_t id;      /* the handle id of its txn objects (w->live); 0 until a hook needs them */
    pxl_run_t run[2]; /* the request and the response direction */
    int logging;      /* in on_log: the txn is read-only */
};

/* A worker-level timer or call-out (malloc'd, in w->pending). */
struct pxl_pending_s {
    pxl_worker_t *w;
    int dead;     /* the worker state is gone: the callback only frees this */
    int gen_mine; /* belongs to w's generation (the core cancels it before worker_exit) */
    pyxis_timer_t *timer;
    pyxis_callout_t *callout;
    pxl_run_t *run; /* sleep / http.request of a detached run; NULL for a pyxis.timer */
    /* pyxis.timer */
    int fn_ref; /* registry: {fn, args...} */
    int handle_ref;
    int repeat;
    int running; /* an `every` callback still waiting: skip ticks */
    pxl_pending_t *next, *prev;
};

pxl_worker_t *pxl_worker_of(lua_State *L);
/* The run executing L's code, or raise a Lua error naming `what` (a function that must run
 * in a hook or timer callback). */
pxl_run_t *pxl_run_check(lua_State *L, const char *what);
/* The transaction a run may tie waits to: NULL for timers and in on_log. */
pyxis_txn_t *pxl_run_txn(const pxl_run_t *r);
/* Wait: yield the coroutine until pxl_wake; `what` names the API for error messages. */
int pxl_yield(lua_State *L, pxl_run_t *r, pxl_wait_t wait);
/* Resume a waiting run with the n values on top of its coroutine's stack, then tell the core
 * (resume / resume_with) or finish the detached run. */
void pxl_wake(pxl_run_t *r, int n);
pxl_pending_t *pxl_pending_new(pxl_worker_t *w);
void pxl_pending_free(pxl_pending_t *p);
/* Run fn (registry ref of a table {fn, args...}) in a new detached coroutine. */
void pxl_run_detached(pxl_worker_t *w, int fn_ref, int gen_mine);

/* ---- the txn object (lua_txn.c) ---------------------------------------------------------- */

/* Once, at module init: how many bits a light userdata keeps on this LuaJIT. */
void pxl_txn_init(void);
/* Set the metatable of the txn objects (light userdata) in w's state L (at worker_init). May
 * raise. */
void pxl_txn_open(lua_State *L, pxl_worker_t *w);
/* Push c's txn object (its handle is made on first use). Raises nothing: -1 when out of
 * memory, with nothing pushed. */
int pxl_txn_push(lua_State *L, pxl_ctx_t *c);
/* End the txn objects of c (detach): their handle no longer resolves. */
void pxl_txn_release(pxl_ctx_t *c);
/* Replace the bytes of a chunk by a Lua string (body hooks returning a string). */
int pxl_chunk_replace(pyxis_chunk_t *chunk, const char *s, size_t n);
/* Resume a run waiting in txn.req:read_body() with the body the core read. */
void pxl_body_ready(pxl_run_t *r);
/* Push a copy of the chunk's bytes as a string. */
void pxl_chunk_push(lua_State *L, pyxis_chunk_t *chunk);

/* ---- the pyxis table (lua_pyxis.c) ------------------------------------------------------- */

/* Set the global `pyxis` (and print) in L. */
void pxl_pyxis_open(lua_State *L);
/* Decode a shared-dict table value (the module's compact binary encoding) onto the stack. */
int pxl_ser_decode(lua_State *L, const char *p, size_t n);
void pxl_pending_cancel_all(pxl_worker_t *w);

#endif /* PXL_MOD_H */
