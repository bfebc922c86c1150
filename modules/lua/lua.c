/*
 * lua.c: the `lua` filter module: LuaJIT scripts as filters. docs/lua.md is the user's guide;
 * this file is the runtime behind it.
 *
 * States. One lua_State per worker per config generation, made by worker_init from every Lua
 * conf of that generation (each script's chunk is compiled and run once; the table it returns
 * holds its hooks) and closed by worker_exit. A reload therefore gives new requests new code,
 * while requests in flight finish on the state they started with.
 *
 * Hooks run in coroutines. A filter callback starts a coroutine for the script's hook and
 * resumes it; when the hook finishes, its outcome is the callback's status. A hook that calls a
 * waiting function (pyxis.sleep, pyxis.http.request, txn.req:read_body) yields: the callback
 * returns PYXIS_FILTER_PAUSE, and when the wait ends (timer, call-out callback) the coroutine is
 * resumed with the result; once it finishes, api->resume / resume_with tells the core. on_log
 * has no status: a waiting on_log hook goes on detached from its request (its waits are then
 * worker-level, not tied to the transaction), like pyxis.timer callbacks.
 *
 * Isolation. Every entry into Lua is protected (lua_resume, lua_pcall); an error fails the
 * request with 500 (on_log: logged only). An instruction budget (lua.max_instructions) is a
 * count hook, which LuaJIT only runs in the interpreter: with a budget the JIT is off for the
 * whole state. A memory cap (lua.memory_limit) is a counting allocator that refuses
 * allocations past it while Lua code runs; LuaJIT turns that into a "not enough memory" error
 * in the script, and a full GC follows.
 */
#include <stdlib.h>
#include <string.h>

#include "lua_mod.h"

#ifndef PXL_LUADIR
#define PXL_LUADIR "/usr/local/share/pyxis/lua"
#endif

#define PXL_HOOK_STEP 1000 /* VM instructions between two budget checks */

const pyxis_api_t *pxl_api;

const char *const pxl_hook_names[PXL_H_N] = {"on_request", "on_request_body", "on_response",
                                             "on_response_body", "on_log"};

/* The worker state whose Lua code this thread is running (set at every entry into Lua). */
static __thread pxl_worker_t *pxl_tls_w;

static const pxl_gconf_t pxl_gconf_default = {.max_body = PXL_DEFAULT_MAX_BODY};

pxl_worker_t *pxl_worker_of(lua_State *L)
{
    (void)L;
    return pxl_tls_w;
}

/* ---- memory ------------------------------------------------------------------------------ */

static void *pxl_alloc(void *ud, void *p, size_t osize, size_t nsize)
{
    pxl_worker_t *w = ud;
    size_t old = p != NULL ? osize : 0;
    if (nsize == 0) {
        free(p);
        w->mem_used -= old;
        return NULL;
    }
    if (nsize > old && w->mem_enforce && w->mem_limit != 0 &&
        w->mem_used + (nsize - old) > w->mem_limit)
        return NULL;
    void *q = realloc(p, nsize);
    if (q == NULL)
        return NULL;
    w->mem_used = w->mem_used - old + nsize;
    return q;
}

static int pxl_panic(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    pxl_api->log(NULL, PYXIS_LOG_ERROR, "unprotected Lua error: %s", msg ? msg : "?");
    abort();
}

/* The count hook: the instruction budget, and the memory cap when the allocator could not be
 * replaced. */
static void pxl_count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    pxl_worker_t *w = pxl_tls_w;
    if (w == NULL)
        return;
    if (w->g->max_instructions != 0) {
        uint64_t *used = w->current ? &w->current->budget_used : &w->init_budget_used;
        *used += PXL_HOOK_STEP;
        if (*used > w->g->max_instructions)
            luaL_error(L, "instruction budget exceeded (lua.max_instructions: %llu)",
                       (unsigned long long)w->g->max_instructions);
    }
    if (w->mem_fallback && w->mem_limit != 0 &&
        (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 > w->mem_limit) {
        lua_gc(L, LUA_GCCOLLECT, 0);
        if ((size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 > w->mem_limit)
            luaL_error(L, "not enough memory (lua.memory_limit)");
    }
}

/* ---- runs -------------------------------------------------------------------------------- */

pyxis_txn_t *pxl_run_txn(const pxl_run_t *r)
{
    return r->c != NULL && r->hook != PXL_H_LOG ? r->c->txn : NULL;
}

pxl_run_t *pxl_run_check(lua_State *L, const char *what)
{
    pxl_worker_t *w = pxl_tls_w;
    pxl_run_t *r = w ? w->current : NULL;
    if (r == NULL)
        luaL_error(L, "%s can only wait inside a hook or a timer callback", what);
    else if (r->co != L)
        luaL_error(L, "%s cannot wait inside a coroutine of the script's own", what);
    return r;
}

int pxl_yield(lua_State *L, pxl_run_t *r, pxl_wait_t wait)
{
    r->wait = wait;
    return lua_yield(L, 0);
}

/* Start a coroutine for the function in registry ref fn; it is left on the new coroutine's
 * stack for the caller to push arguments after. */
static void pxl_run_start(pxl_run_t *r, int fn)
{
    pxl_worker_t *w = r->w;
    if (w->nidle > 0) {
        w->nidle--;
        r->co = w->idle_co[w->nidle];
        r->co_ref = w->idle_ref[w->nidle];
    } else {
        r->co = lua_newthread(w->L);
        r->co_ref = luaL_ref(w->L, LUA_REGISTRYINDEX);
    }
    r->budget_used = 0;
    r->stop = 0;
    r->wait = PXL_W_NONE;
    lua_rawgeti(r->co, LUA_REGISTRYINDEX, fn);
}

/* clean: the coroutine finished normally (not an error, not abandoned mid-wait), so it can
 * run the next hook. */
static void pxl_run_end(pxl_run_t *r, int clean)
{
    pxl_worker_t *w = r->w;
    if (clean && r->co_ref != LUA_NOREF && !w->closing && w->nidle < 32 && lua_status(r->co) == 0) {
        lua_settop(r->co, 0);
        w->idle_co[w->nidle] = r->co;
        w->idle_ref[w->nidle++] = r->co_ref;
    } else if (r->co_ref != LUA_NOREF && !w->closing) {
        luaL_unref(w->L, LUA_REGISTRYINDEX, r->co_ref);
    }
    r->co_ref = LUA_NOREF;
    r->co = NULL;
    r->chunk = NULL;
    r->paused = 0;
    r->wait = PXL_W_NONE;
    r->timer = NULL;
    r->callout = NULL;
    r->pend = NULL;
}

static int pxl_resume_co(pxl_run_t *r, int nargs)
{
    pxl_worker_t *w = r->w, *saved_w = pxl_tls_w;
    pxl_run_t *saved_r = w->current;
    int saved_e = w->mem_enforce;
    pxl_tls_w = w;
    w->current = r;
    w->mem_enforce = 1;
    r->wait = PXL_W_NONE;
    int st = lua_resume(r->co, nargs);
    w->mem_enforce = saved_e;
    w->current = saved_r;
    pxl_tls_w = saved_w;
    return st;
}

static const char *pxl_where(const pxl_run_t *r)
{
    return r->hook >= 0 ? pxl_hook_names[r->hook] : "timer callback";
}

/* Log the error on top of r's coroutine (and a traceback at debug level). */
static void pxl_run_error(pxl_run_t *r, int st)
{
    pxl_worker_t *w = r->w;
    pyxis_txn_t *txn = r->c ? r->c->txn : NULL;
    const char *msg = lua_tostring(r->co, -1);
    if (msg == NULL)
        msg = "(error object is not a string)";
    pxl_api->log(txn, PYXIS_LOG_ERROR, "%s: %s%s", pxl_where(r), msg,
                 st == LUA_ERRMEM ? " (lua.memory_limit reached)" : "");
    if (pxl_api->log_enabled(PYXIS_LOG_DEBUG)) {
        luaL_traceback(w->L, r->co, msg, 0);
        pxl_api->log(txn, PYXIS_LOG_DEBUG, "%s", lua_tostring(w->L, -1));
        lua_pop(w->L, 1);
    }
}

/* After a memory error (or near the cap), collect once the failed coroutine is unreachable. */
static void pxl_gc_after_error(pxl_worker_t *w, int st)
{
    if (st == LUA_ERRMEM || (w->mem_limit != 0 && w->mem_used > w->mem_limit / 4 * 3))
        lua_gc(w->L, LUA_GCCOLLECT, 0);
}

/* What a resume of r's coroutine means for its filter callback. Ends the run unless it waits. */
static pyxis_filter_status_t pxl_after_resume(pxl_run_t *r, int st)
{
    pyxis_filter_status_t out = PYXIS_FILTER_ERROR;
    if (st == LUA_YIELD) {
        if (r->wait == PXL_W_STOP) {
            pxl_run_end(r, 0);
            return PYXIS_FILTER_STOP;
        }
        if (r->wait != PXL_W_NONE)
            return PYXIS_FILTER_PAUSE;
        lua_settop(r->co, 0);
        lua_pushstring(r->co, "coroutine.yield() out of a hook (pyxis.sleep waits)");
        st = LUA_ERRRUN;
    }
    if (st == 0) {
        out = r->stop ? PYXIS_FILTER_STOP : PYXIS_FILTER_CONTINUE;
        if (r->chunk != NULL && lua_gettop(r->co) >= 1 && !lua_isnil(r->co, 1)) {
            size_t n;
            const char *s = lua_type(r->co, 1) == LUA_TSTRING ? lua_tolstring(r->co, 1, &n) : NULL;
            if (s == NULL) {
                pxl_api->log(r->c ? r->c->txn : NULL, PYXIS_LOG_ERROR,
                             "%s returned a %s: a body hook returns nil or a string", pxl_where(r),
                             luaL_typename(r->co, 1));
                out = PYXIS_FILTER_ERROR;
            } else if (pxl_chunk_replace(r->chunk, s, n) != 0) {
                out = PYXIS_FILTER_ERROR;
            }
        }
        pxl_run_end(r, 1);
        return out;
    }
    pxl_run_error(r, st);
    pxl_run_end(r, 0);
    pxl_gc_after_error(r->w, st);
    return out;
}

static void pxl_detached_free(pxl_run_t *r)
{
    pxl_worker_t *w = r->w;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else if (w->detached == r)
        w->detached = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    free(r);
}

static void pxl_detached_link(pxl_run_t *r)
{
    pxl_worker_t *w = r->w;
    r->prev = NULL;
    r->next = w->detached;
    if (w->detached != NULL)
        w->detached->prev = r;
    w->detached = r;
}

void pxl_wake(pxl_run_t *r, int n)
{
    int st = pxl_resume_co(r, n);
    pyxis_filter_status_t out = pxl_after_resume(r, st);
    if (out == PYXIS_FILTER_PAUSE)
        return;
    if (r->c != NULL && r->hook != PXL_H_LOG) {
        if (out == PYXIS_FILTER_CONTINUE)
            pxl_api->resume(r->c->txn);
        else
            pxl_api->resume_with(r->c->txn, out);
    } else {
        pxl_detached_free(r);
    }
}

void pxl_run_detached(pxl_worker_t *w, int fn_ref, int gen_mine)
{
    pxl_run_t *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        pxl_api->log(NULL, PYXIS_LOG_ERROR, "out of memory for a timer callback");
        return;
    }
    r->w = w;
    r->hook = -1;
    r->gen_mine = gen_mine;
    pxl_detached_link(r);
    lua_State *L = w->L;
    /* fn_ref is a table {fn, args...}: fn on the coroutine, then the args. */
    pxl_run_start(r, fn_ref);
    lua_State *co = r->co;
    int n = (int)lua_objlen(co, -1);
    for (int i = 1; i <= n; i++)
        lua_rawgeti(co, 1, i);
    lua_remove(co, 1);
    (void)L;
    pxl_wake(r, n - 1);
}

/* ---- worker-level waits (timers and call-outs without a request) ------------------------- */

pxl_pending_t *pxl_pending_new(pxl_worker_t *w)
{
    pxl_pending_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->w = w;
    p->fn_ref = LUA_NOREF;
    p->next = w->pending;
    if (w->pending != NULL)
        w->pending->prev = p;
    w->pending = p;
    return p;
}

void pxl_pending_free(pxl_pending_t *p)
{
    if (!p->dead) {
        pxl_worker_t *w = p->w;
        if (p->prev != NULL)
            p->prev->next = p->next;
        else if (w->pending == p)
            w->pending = p->next;
        if (p->next != NULL)
            p->next->prev = p->prev;
    }
    free(p);
}

/* ---- loading scripts --------------------------------------------------------------------- */

typedef struct {
    pxl_worker_t *w;
    void *const *confs;
    size_t nconfs;
    const char *err_chunk;
} pxl_load_t;

static void pxl_set_package_path(lua_State *L, const pxl_gconf_t *g)
{
    const char *dir = getenv("PYXIS_LUA_DIR");
    if (dir == NULL || *dir == '\0')
        dir = PXL_LUADIR;
    lua_getglobal(L, "package");
    if (g->package_path != NULL)
        lua_pushfstring(L, "%s;%s/?.lua;%s/?/init.lua;", g->package_path, dir, dir);
    else
        lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", dir, dir);
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
}

/* Protected: load every script into the worker state (lua_cpcall). */
static int pxl_load_p(lua_State *L)
{
    pxl_load_t *ld = lua_touserdata(L, 1);
    pxl_worker_t *w = ld->w;
    lua_settop(L, 0);
    luaL_openlibs(L);
    if (w->g->max_instructions != 0)
        luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    pxl_set_package_path(L, w->g);
    lua_newtable(L);
    w->reqs_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    pxl_txn_open(L, w);
    pxl_pyxis_open(L);
    for (size_t i = 0; i < ld->nconfs; i++) {
        const pxl_conf_t *conf = ld->confs[i];
        pxl_script_t *s = &w->scripts[i];
        ld->err_chunk = conf->chunkname + 1;
        if (luaL_loadbuffer(L, conf->source, conf->len, conf->chunkname) != 0)
            return lua_error(L);
        if (conf->config != NULL)
            pxl_push_cval(L, conf->config);
        else
            lua_newtable(L);
        lua_call(L, 1, 1);
        if (!lua_istable(L, -1))
            return luaL_error(L, "%s: the script must return a table of hooks (got a %s)",
                              conf->chunkname + 1, luaL_typename(L, -1));
        for (int h = 0; h < PXL_H_N; h++) {
            lua_getfield(L, -1, pxl_hook_names[h]);
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                continue;
            }
            if (!lua_isfunction(L, -1))
                return luaL_error(L, "%s: %s must be a function", conf->chunkname + 1,
                                  pxl_hook_names[h]);
            s->hook[h] = luaL_ref(L, LUA_REGISTRYINDEX);
        }
        lua_pop(L, 1);
    }
    return 0;
}

static void pxl_worker_free(pxl_worker_t *w)
{
    if (w->L != NULL)
        lua_close(w->L);
    free(w->live);
    free(w->scripts);
    free(w);
}

static pyxis_rc_t pxl_worker_init(pyxis_worker_t *wk, void *gconf, void *const *confs,
                                  size_t nconfs, void **worker_data)
{
    pxl_worker_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return PYXIS_ERROR;
    w->g = gconf != NULL ? gconf : &pxl_gconf_default;
    w->id = pxl_api->worker_id(wk);
    w->mem_limit = (size_t)w->g->memory_limit;
    w->reqs_ref = LUA_NOREF;
    w->next_id = 1;
    w->live_mask = 63;
    w->live = calloc(w->live_mask + 1, sizeof(*w->live));
    w->scripts = calloc(nconfs ? nconfs : 1, sizeof(*w->scripts));
    if (w->scripts == NULL || w->live == NULL) {
        free(w->live);
        free(w->scripts);
        free(w);
        return PYXIS_ERROR;
    }
    w->nscripts = nconfs;
    for (size_t i = 0; i < nconfs; i++) {
        w->scripts[i].conf = confs[i];
        for (int h = 0; h < PXL_H_N; h++)
            w->scripts[i].hook[h] = LUA_NOREF;
    }
    if ((w->L = lua_newstate(pxl_alloc, w)) == NULL) {
        /* A LuaJIT without GC64 on x86-64 keeps its own allocator. */
        w->mem_fallback = 1;
        w->L = luaL_newstate();
    }
    if (w->L == NULL) {
        pxl_worker_free(w);
        return PYXIS_ERROR;
    }
    lua_atpanic(w->L, pxl_panic);
    if (w->g->max_instructions != 0 || (w->mem_fallback && w->mem_limit != 0))
        lua_sethook(w->L, pxl_count_hook, LUA_MASKCOUNT, PXL_HOOK_STEP);

    pxl_load_t ld = {.w = w, .confs = confs, .nconfs = nconfs};
    pxl_worker_t *saved = pxl_tls_w;
    pxl_tls_w = w;
    w->mem_enforce = 1;
    int rc = lua_cpcall(w->L, pxl_load_p, &ld);
    w->mem_enforce = 0;
    pxl_tls_w = saved;
    if (rc != 0) {
        const char *msg = lua_tostring(w->L, -1);
        pxl_api->log(NULL, PYXIS_LOG_ERROR, "worker %u: loading %s failed: %s", w->id,
                     ld.err_chunk ? ld.err_chunk : "the Lua scripts", msg ? msg : "?");
        pxl_worker_free(w);
        return PYXIS_ERROR;
    }
    lua_settop(w->L, 0);
    lua_gc(w->L, LUA_GCCOLLECT, 0);
    *worker_data = w;
    return PYXIS_OK;
}

static void pxl_worker_exit(pyxis_worker_t *wk, void *worker_data)
{
    (void)wk;
    pxl_worker_t *w = worker_data;
    if (w == NULL)
        return;
    w->closing = 1;
    pxl_pending_cancel_all(w);
    while (w->detached != NULL)
        pxl_detached_free(w->detached);
    pxl_worker_free(w);
}

/* ---- the filter -------------------------------------------------------------------------- */

static pyxis_rc_t pxl_init(const pyxis_api_t *api)
{
    pxl_api = api;
    pxl_txn_init();
    return PYXIS_OK;
}

static void pxl_fini(void)
{
    pxl_conf_fini();
}

static pyxis_rc_t pxl_attach(pyxis_txn_t *txn, void *conf, void *worker_data, void **ctx)
{
    pxl_worker_t *w = worker_data;
    if (w == NULL) {
        pxl_api->log(txn, PYXIS_LOG_ERROR, "the Lua scripts failed to load on this worker");
        return PYXIS_ERROR;
    }
    const pxl_script_t *s = NULL;
    for (size_t i = 0; i < w->nscripts && s == NULL; i++)
        if (w->scripts[i].conf == conf)
            s = &w->scripts[i];
    if (s == NULL)
        return PYXIS_ERROR;
    pxl_ctx_t *c = pxl_api->pcalloc(txn, sizeof(*c));
    if (c == NULL)
        return PYXIS_ERROR;
    c->txn = txn;
    c->w = w;
    c->s = s;
    for (int d = 0; d < 2; d++) {
        c->run[d].w = w;
        c->run[d].c = c;
        c->run[d].co_ref = LUA_NOREF;
    }
    *ctx = c;
    return PYXIS_OK;
}

static void pxl_detach(pyxis_txn_t *txn, void *ctx)
{
    (void)txn;
    pxl_ctx_t *c = ctx;
    for (int d = 0; d < 2; d++)
        if (c->run[d].co != NULL)
            pxl_run_end(&c->run[d], 0); /* its timer or call-out ends with the txn */
    pxl_txn_release(c);
}

/* Run hook h of c's script in the direction's coroutine. */
static pyxis_filter_status_t pxl_call(pxl_ctx_t *c, int dir, int h, pyxis_chunk_t *chunk, int last)
{
    int fn = c->s->hook[h];
    if (fn == LUA_NOREF)
        return PYXIS_FILTER_CONTINUE;
    pxl_run_t *r = &c->run[dir];
    if (r->co != NULL) {
        pxl_api->log(c->txn, PYXIS_LOG_ERROR, "%s called while %s still runs", pxl_hook_names[h],
                     pxl_where(r));
        return PYXIS_FILTER_ERROR;
    }
    r->hook = h;
    pxl_run_start(r, fn);
    if (pxl_txn_push(r->co, c) != 0) {
        pxl_api->log(c->txn, PYXIS_LOG_ERROR, "%s: out of memory", pxl_hook_names[h]);
        pxl_run_end(r, 1);
        return PYXIS_FILTER_ERROR;
    }
    int nargs = 1;
    if (chunk != NULL) {
        r->chunk = chunk;
        pxl_chunk_push(r->co, chunk);
        lua_pushboolean(r->co, last);
        nargs = 3;
    }
    pyxis_filter_status_t st = pxl_after_resume(r, pxl_resume_co(r, nargs));
    if (st == PYXIS_FILTER_PAUSE)
        r->paused = 1;
    return st;
}

static pyxis_filter_status_t pxl_on_request_headers(pyxis_txn_t *txn, void *ctx)
{
    (void)txn;
    return pxl_call(ctx, 0, PXL_H_REQUEST, NULL, 0);
}

static pyxis_filter_status_t pxl_on_request_body(pyxis_txn_t *txn, void *ctx, pyxis_chunk_t *chunk,
                                                 int last)
{
    (void)txn;
    return pxl_call(ctx, 0, PXL_H_REQUEST_BODY, chunk, last);
}

static pyxis_filter_status_t pxl_on_response_headers(pyxis_txn_t *txn, void *ctx)
{
    (void)txn;
    return pxl_call(ctx, 1, PXL_H_RESPONSE, NULL, 0);
}

static pyxis_filter_status_t pxl_on_response_body(pyxis_txn_t *txn, void *ctx, pyxis_chunk_t *chunk,
                                                  int last)
{
    (void)txn;
    return pxl_call(ctx, 1, PXL_H_RESPONSE_BODY, chunk, last);
}

/* on_log: the txn is read-only and usable until the hook first waits; a hook that waits goes
 * on detached from the request (its waits are worker-level). */
static void pxl_on_log(pyxis_txn_t *txn, void *ctx)
{
    (void)txn;
    pxl_ctx_t *c = ctx;
    int fn = c->s->hook[PXL_H_LOG];
    c->logging = 1;
    if (fn == LUA_NOREF)
        return;
    pxl_run_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return;
    r->w = c->w;
    r->c = c;
    r->hook = PXL_H_LOG;
    r->co_ref = LUA_NOREF;
    pxl_run_start(r, fn);
    if (pxl_txn_push(r->co, c) != 0) {
        pxl_api->log(c->txn, PYXIS_LOG_ERROR, "on_log: out of memory");
        pxl_run_end(r, 1);
        free(r);
        return;
    }
    if (pxl_after_resume(r, pxl_resume_co(r, 1)) == PYXIS_FILTER_PAUSE) {
        r->c = NULL;
        pxl_detached_link(r);
    } else {
        free(r);
    }
}

PYXIS_EXPORT const pyxis_module_t pyxis_module = {
    PYXIS_MODULE_HEADER,
    .name = "lua",
    .version = "0.1.0",
    .description = "LuaJIT scripts as filters (policies with call-outs, shared state, timers)",
    .init = pxl_init,
    .fini = pxl_fini,
    .conf_create = pxl_conf_create,
    .conf_global = pxl_conf_global,
    .worker_init = pxl_worker_init,
    .worker_exit = pxl_worker_exit,
    .attach = pxl_attach,
    .detach = pxl_detach,
    .on_request_headers = pxl_on_request_headers,
    .on_request_body = pxl_on_request_body,
    .on_response_headers = pxl_on_response_headers,
    .on_response_body = pxl_on_response_body,
    .on_log = pxl_on_log,
};
