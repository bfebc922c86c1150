/*
 * lua_pyxis.c: the global `pyxis` table of a worker state: pyxis.http.request (call-outs),
 * pyxis.sleep, pyxis.timer.at / every, pyxis.now, pyxis.shared.NAME (shared dicts),
 * pyxis.log.*, and print.
 *
 * Waits. A request hook's waits are tied to its transaction (api->timer_add / callout with the
 * txn): if the request ends first, the core cancels them and the coroutine is dropped. Timer
 * callbacks and a waiting on_log hook run without a request: their waits are worker-level,
 * tracked as pxl_pending_t so that worker_exit can cut them loose.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lua_mod.h"
#include "lua_util.h"

static pyxis_txn_t *pxl_cur_txn(lua_State *L)
{
    pxl_worker_t *w = pxl_worker_of(L);
    return w && w->current ? pxl_run_txn(w->current) : NULL;
}

/* The txn to tag log lines with: also in on_log before its first wait. */
static pyxis_txn_t *pxl_log_txn(lua_State *L)
{
    pxl_worker_t *w = pxl_worker_of(L);
    return w && w->current && w->current->c ? w->current->c->txn : NULL;
}

static uint64_t pxl_ms(lua_State *L, int idx)
{
    double s = luaL_checknumber(L, idx);
    if (!(s > 0))
        return 0;
    if (s > 1e9)
        s = 1e9;
    return (uint64_t)(s * 1000.0 + 0.5);
}

/* ---- pyxis.http.request ------------------------------------------------------------------ */

static const char *pxl_opt_str(lua_State *L, int t, const char *key, size_t *len)
{
    lua_getfield(L, t, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "pyxis.http.request: %s must be a string", key);
    return lua_tolstring(L, -1, len); /* left on the stack: valid until the call returns */
}

static void pxl_push_callout_resp(lua_State *co, const pyxis_callout_resp_t *resp)
{
    if (resp->status == 0) {
        lua_pushnil(co);
        lua_pushstring(co, resp->error ? resp->error : "call-out failed");
        return;
    }
    lua_createtable(co, 0, 3);
    lua_pushinteger(co, resp->status);
    lua_setfield(co, -2, "status");
    lua_pushlstring(co, resp->body.data ? resp->body.data : "", resp->body.len);
    lua_setfield(co, -2, "body");
    lua_createtable(co, 0, (int)resp->nheaders);
    for (size_t i = 0; i < resp->nheaders; i++) {
        const pyxis_header_t *h = &resp->headers[i];
        char name[256];
        size_t n = h->name.len < sizeof(name) ? h->name.len : sizeof(name);
        for (size_t j = 0; j < n; j++) {
            char ch = h->name.data[j];
            name[j] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
        }
        lua_pushlstring(co, name, n);
        lua_pushvalue(co, -1);
        lua_rawget(co, -3);
        if (lua_isnil(co, -1)) {
            lua_pop(co, 1);
            lua_pushlstring(co, h->value.data, h->value.len);
        } else {
            lua_pushliteral(co, ", ");
            lua_pushlstring(co, h->value.data, h->value.len);
            lua_concat(co, 3);
        }
        lua_rawset(co, -3);
    }
    lua_setfield(co, -2, "headers");
}

static void pxl_callout_done_txn(const pyxis_callout_resp_t *resp, void *arg)
{
    pxl_run_t *r = arg;
    r->callout = NULL;
    pxl_push_callout_resp(r->co, resp);
    pxl_wake(r, resp->status == 0 ? 2 : 1);
}

static void pxl_callout_done_pend(const pyxis_callout_resp_t *resp, void *arg)
{
    pxl_pending_t *p = arg;
    pxl_run_t *r = p->run;
    int dead = p->dead;
    pxl_pending_free(p);
    if (dead)
        return;
    r->pend = NULL;
    pxl_push_callout_resp(r->co, resp);
    pxl_wake(r, resp->status == 0 ? 2 : 1);
}

static int pxl_http_request(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    pxl_run_t *r = pxl_run_check(L, "pyxis.http.request");
    pyxis_callout_req_t req;
    memset(&req, 0, sizeof(req));
    req.size = sizeof(req);
    size_t len;
    req.upstream = pxl_opt_str(L, 1, "upstream", &len);
    req.url = pxl_opt_str(L, 1, "url", &len);
    if ((req.upstream == NULL) == (req.url == NULL))
        return luaL_error(L, "pyxis.http.request: give exactly one of upstream and url");
    if ((req.method.data = pxl_opt_str(L, 1, "method", &len)) != NULL)
        req.method.len = len;
    if ((req.path.data = pxl_opt_str(L, 1, "path", &len)) != NULL)
        req.path.len = len;
    if ((req.body.data = pxl_opt_str(L, 1, "body", &len)) != NULL)
        req.body.len = len;
    lua_getfield(L, 1, "timeout");
    if (!lua_isnil(L, -1)) {
        req.timeout_ms = pxl_ms(L, -1);
        if (req.timeout_ms == 0)
            req.timeout_ms = 1;
    }
    lua_getfield(L, 1, "max_body");
    if (!lua_isnil(L, -1))
        req.max_body = (uint64_t)luaL_checknumber(L, -1);
    lua_getfield(L, 1, "headers");
    if (!lua_isnil(L, -1)) {
        int t = lua_gettop(L);
        luaL_checktype(L, t, LUA_TTABLE);
        size_t n = 0, cap = 0;
        lua_pushnil(L);
        while (lua_next(L, t) != 0) {
            cap += lua_istable(L, -1) ? lua_objlen(L, -1) : 1;
            lua_pop(L, 1);
        }
        pyxis_header_t *hs = lua_newuserdata(L, (cap ? cap : 1) * sizeof(*hs));
        lua_pushnil(L);
        while (lua_next(L, t) != 0) {
            if (lua_type(L, -2) != LUA_TSTRING)
                return luaL_error(L, "pyxis.http.request: header names must be strings");
            /* Keys and values stay referenced by the headers table until the call returns. */
            size_t nv = lua_istable(L, -1) ? lua_objlen(L, -1) : 1;
            for (size_t i = 0; i < nv && n < cap; i++) {
                hs[n].name.data = lua_tolstring(L, -2, &hs[n].name.len);
                if (lua_istable(L, -1)) {
                    lua_rawgeti(L, -1, (int)i + 1);
                    hs[n].value.data = lua_tolstring(L, -1, &hs[n].value.len);
                    lua_pop(L, 1);
                } else {
                    hs[n].value.data = lua_tolstring(L, -1, &hs[n].value.len);
                }
                if (hs[n].value.data == NULL)
                    return luaL_error(L, "pyxis.http.request: header values must be strings");
                n++;
            }
            lua_pop(L, 1);
        }
        req.headers = hs;
        req.nheaders = n;
    }
    pyxis_txn_t *txn = pxl_run_txn(r);
    if (txn != NULL) {
        r->callout = pxl_api->callout(txn, &req, pxl_callout_done_txn, r);
        if (r->callout == NULL)
            goto refused;
    } else {
        pxl_pending_t *p = pxl_pending_new(r->w);
        if (p == NULL)
            return luaL_error(L, "pyxis.http.request: out of memory");
        p->run = r;
        if ((p->callout = pxl_api->callout(NULL, &req, pxl_callout_done_pend, p)) == NULL) {
            pxl_pending_free(p);
            goto refused;
        }
        r->pend = p;
    }
    return pxl_yield(L, r, PXL_W_CALLOUT);
refused:
    lua_pushnil(L);
    lua_pushliteral(L, "call-out refused (the error log says why)");
    return 2;
}

/* ---- pyxis.sleep ------------------------------------------------------------------------- */

static void pxl_sleep_done_txn(void *arg)
{
    pxl_run_t *r = arg;
    r->timer = NULL;
    pxl_wake(r, 0);
}

static void pxl_sleep_done_pend(void *arg)
{
    pxl_pending_t *p = arg;
    pxl_run_t *r = p->run;
    int dead = p->dead;
    pxl_pending_free(p);
    if (dead)
        return;
    r->pend = NULL;
    pxl_wake(r, 0);
}

static int pxl_sleep(lua_State *L)
{
    uint64_t ms = pxl_ms(L, 1);
    pxl_run_t *r = pxl_run_check(L, "pyxis.sleep");
    pyxis_txn_t *txn = pxl_run_txn(r);
    if (txn != NULL) {
        if ((r->timer = pxl_api->timer_add(txn, ms, 0, pxl_sleep_done_txn, r)) == NULL)
            return luaL_error(L, "pyxis.sleep: cannot add a timer");
    } else {
        pxl_pending_t *p = pxl_pending_new(r->w);
        if (p == NULL)
            return luaL_error(L, "pyxis.sleep: out of memory");
        p->run = r;
        p->gen_mine = r->gen_mine;
        if ((p->timer = pxl_api->timer_add(NULL, ms, 0, pxl_sleep_done_pend, p)) == NULL) {
            pxl_pending_free(p);
            return luaL_error(L, "pyxis.sleep: cannot add a timer");
        }
        r->pend = p;
    }
    return pxl_yield(L, r, PXL_W_TIMER);
}

/* ---- pyxis.timer ------------------------------------------------------------------------- */

typedef struct {
    pxl_pending_t *p; /* NULL once the timer is over */
} pxl_thandle_t;

static void pxl_timer_forget(pxl_pending_t *p)
{
    pxl_worker_t *w = p->w;
    if (!p->dead && !w->closing) {
        luaL_unref(w->L, LUA_REGISTRYINDEX, p->fn_ref);
        if (p->handle_ref != LUA_NOREF) {
            lua_rawgeti(w->L, LUA_REGISTRYINDEX, p->handle_ref);
            pxl_thandle_t *h = lua_touserdata(w->L, -1);
            if (h != NULL)
                h->p = NULL;
            lua_pop(w->L, 1);
            luaL_unref(w->L, LUA_REGISTRYINDEX, p->handle_ref);
        }
    }
    pxl_pending_free(p);
}

static void pxl_timer_fire(void *arg)
{
    pxl_pending_t *p = arg;
    if (p->dead) { /* the worker state is gone */
        if (p->repeat)
            pxl_api->timer_cancel(p->timer);
        pxl_pending_free(p);
        return;
    }
    pxl_run_detached(p->w, p->fn_ref, p->gen_mine);
    if (!p->repeat)
        pxl_timer_forget(p); /* the core freed the one-shot timer already */
}

static int pxl_timer_add(lua_State *L, int repeat)
{
    uint64_t ms = pxl_ms(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    pxl_worker_t *w = pxl_worker_of(L);
    if (repeat && ms == 0)
        return luaL_error(L, "pyxis.timer.every: the interval must be positive");
    int n = lua_gettop(L);
    lua_createtable(L, n - 1, 0); /* {fn, args...} */
    for (int i = 2; i <= n; i++) {
        lua_pushvalue(L, i);
        lua_rawseti(L, -2, i - 1);
    }
    pxl_pending_t *p = pxl_pending_new(w);
    if (p == NULL)
        return luaL_error(L, "pyxis.timer: out of memory");
    p->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    p->handle_ref = LUA_NOREF;
    p->repeat = repeat;
    p->gen_mine = w->current ? w->current->gen_mine : 1; /* no run: the scripts' main chunks */
    pxl_thandle_t *h = lua_newuserdata(L, sizeof(*h));
    h->p = p;
    luaL_getmetatable(L, "pyxis.timer");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    p->handle_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if ((p->timer = pxl_api->timer_add(NULL, ms, repeat, pxl_timer_fire, p)) == NULL) {
        pxl_timer_forget(p);
        return luaL_error(L, "pyxis.timer: cannot add a timer");
    }
    return 1;
}

static int pxl_timer_at(lua_State *L)
{
    return pxl_timer_add(L, 0);
}

static int pxl_timer_every(lua_State *L)
{
    return pxl_timer_add(L, 1);
}

/* handle:cancel(): true when the timer was pending. */
static int pxl_timer_cancel(lua_State *L)
{
    pxl_thandle_t *h = luaL_checkudata(L, 1, "pyxis.timer");
    pxl_pending_t *p = h->p;
    if (p == NULL) {
        lua_pushboolean(L, 0);
        return 1;
    }
    pxl_api->timer_cancel(p->timer);
    pxl_timer_forget(p);
    lua_pushboolean(L, 1);
    return 1;
}

void pxl_pending_cancel_all(pxl_worker_t *w)
{
    while (w->pending != NULL) {
        pxl_pending_t *p = w->pending;
        w->pending = p->next;
        if (p->callout != NULL) {
            /* A worker call-out keeps its generation alive: one still pending belongs to
             * another generation, so its handle is valid. */
            pxl_api->callout_cancel(p->callout);
            free(p);
        } else if (p->gen_mine) {
            free(p); /* the core cancelled it before worker_exit */
        } else {
            /* Made from a request that may have run on another generation: it may still
             * fire; the callback then only frees it. */
            p->dead = 1;
            p->prev = p->next = NULL;
        }
    }
}

/* ---- pyxis.shared ------------------------------------------------------------------------ */

typedef struct {
    pyxis_shdict_t *d;
    const char *name;
} pxl_dict_t;

static pxl_dict_t *pxl_dict(lua_State *L)
{
    return luaL_checkudata(L, 1, "pyxis.shdict");
}

enum {
    PXL_SER_NIL = 'z',
    PXL_SER_TRUE = 't',
    PXL_SER_FALSE = 'f',
    PXL_SER_NUM = 'd',
    PXL_SER_STR = 's',
    PXL_SER_TABLE = 'T',
    PXL_SER_END = 'e'
};

typedef struct {
    char *p;
    size_t len, cap;
} pxl_sbuf_t;

static int pxl_sbuf_add(pxl_sbuf_t *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (q == NULL)
            return -1;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

static int pxl_sbuf_tag(pxl_sbuf_t *b, char tag)
{
    return pxl_sbuf_add(b, &tag, 1);
}

/* Encode the value at idx (absolute) into b; -1 for what cannot be stored. Raises nothing. */
static int pxl_ser_encode(lua_State *L, int idx, pxl_sbuf_t *b, int depth)
{
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return pxl_sbuf_tag(b, PXL_SER_NIL);
    case LUA_TBOOLEAN: return pxl_sbuf_tag(b, lua_toboolean(L, idx) ? PXL_SER_TRUE : PXL_SER_FALSE);
    case LUA_TNUMBER: {
        double d = lua_tonumber(L, idx);
        return pxl_sbuf_tag(b, PXL_SER_NUM) | pxl_sbuf_add(b, &d, sizeof(d));
    }
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        uint32_t n32 = (uint32_t)n;
        return pxl_sbuf_tag(b, PXL_SER_STR) | pxl_sbuf_add(b, &n32, sizeof(n32)) |
               pxl_sbuf_add(b, s, n);
    }
    case LUA_TTABLE:
        if (depth > 32 || !lua_checkstack(L, 4) || pxl_sbuf_tag(b, PXL_SER_TABLE) != 0)
            return -1;
        lua_pushnil(L);
        while (lua_next(L, idx) != 0) {
            int top = lua_gettop(L);
            if (pxl_ser_encode(L, top - 1, b, depth + 1) != 0 ||
                pxl_ser_encode(L, top, b, depth + 1) != 0) {
                lua_pop(L, 2);
                return -1;
            }
            lua_pop(L, 1);
        }
        return pxl_sbuf_tag(b, PXL_SER_END);
    default: return -1;
    }
}

/* Decode one value at p; returns the bytes used, or -1. */
static long pxl_ser_one(lua_State *L, const char *p, size_t n, int depth)
{
    if (n < 1 || depth > 33)
        return -1;
    switch (p[0]) {
    case PXL_SER_NIL: lua_pushnil(L); return 1;
    case PXL_SER_TRUE: lua_pushboolean(L, 1); return 1;
    case PXL_SER_FALSE: lua_pushboolean(L, 0); return 1;
    case PXL_SER_NUM: {
        double d;
        if (n < 1 + sizeof(d))
            return -1;
        memcpy(&d, p + 1, sizeof(d));
        lua_pushnumber(L, d);
        return 1 + sizeof(d);
    }
    case PXL_SER_STR: {
        uint32_t len;
        if (n < 5)
            return -1;
        memcpy(&len, p + 1, 4);
        if (n - 5 < len)
            return -1;
        lua_pushlstring(L, p + 5, len);
        return 5 + (long)len;
    }
    case PXL_SER_TABLE: {
        size_t o = 1;
        lua_newtable(L);
        while (o < n && p[o] != PXL_SER_END) {
            long k = pxl_ser_one(L, p + o, n - o, depth + 1);
            if (k < 0)
                return -1;
            o += (size_t)k;
            long v = pxl_ser_one(L, p + o, n - o, depth + 1);
            if (v < 0)
                return -1;
            o += (size_t)v;
            lua_rawset(L, -3);
        }
        return o < n ? (long)o + 1 : -1;
    }
    default: return -1;
    }
}

int pxl_ser_decode(lua_State *L, const char *p, size_t n)
{
    int top = lua_gettop(L);
    if (pxl_ser_one(L, p, n, 0) < 0) {
        lua_settop(L, top);
        return -1;
    }
    return 0;
}

/* The Lua value at idx as a shdict value; tables are encoded onto the stack (kept there). */
static void pxl_to_value(lua_State *L, int idx, pyxis_value_t *v, const char *what)
{
    memset(v, 0, sizeof(*v));
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
    case LUA_TNONE: v->type = PYXIS_VAL_NIL; return;
    case LUA_TBOOLEAN:
        v->type = PYXIS_VAL_BOOLEAN;
        v->boolean = lua_toboolean(L, idx);
        return;
    case LUA_TNUMBER:
        v->type = PYXIS_VAL_NUMBER;
        v->number = lua_tonumber(L, idx);
        return;
    case LUA_TSTRING:
        v->type = PYXIS_VAL_STRING;
        v->bytes.data = lua_tolstring(L, idx, &v->bytes.len);
        return;
    case LUA_TTABLE: {
        pxl_sbuf_t b = {NULL, 0, 0};
        lua_pushvalue(L, idx);
        int rc = pxl_ser_encode(L, lua_gettop(L), &b, 0);
        lua_pop(L, 1);
        if (rc != 0) {
            free(b.p);
            luaL_error(L, "%s: a table with functions, userdata or nested too deeply", what);
        }
        lua_pushlstring(L, b.p, b.len); /* may raise (memory): b leaks then, rarely */
        free(b.p);
        v->type = PYXIS_VAL_TABLE;
        v->bytes.data = lua_tolstring(L, -1, &v->bytes.len);
        return;
    }
    default:
        luaL_error(L, "%s: cannot store a %s (strings, numbers, booleans and tables can)", what,
                   luaL_typename(L, idx));
    }
}

static int pxl_push_value(lua_State *L, const pyxis_value_t *v)
{
    switch (v->type) {
    case PYXIS_VAL_STRING: lua_pushlstring(L, v->bytes.data, v->bytes.len); return 1;
    case PYXIS_VAL_NUMBER: lua_pushnumber(L, v->number); return 1;
    case PYXIS_VAL_BOOLEAN: lua_pushboolean(L, v->boolean); return 1;
    case PYXIS_VAL_TABLE:
        if (pxl_ser_decode(L, v->bytes.data, v->bytes.len) == 0)
            return 1;
        lua_pushnil(L);
        return 1;
    default: lua_pushnil(L); return 1;
    }
}

static int pxl_d_get(lua_State *L)
{
    pxl_dict_t *d = pxl_dict(L);
    pyxis_str_t key;
    key.data = luaL_checklstring(L, 2, &key.len);
    char stack[512];
    char *buf = stack;
    size_t cap = sizeof(stack);
    pyxis_value_t v;
    pyxis_rc_t rc = pxl_api->shdict_get(d->d, key, &v, buf, cap);
    while (rc == PYXIS_TOO_SMALL) {
        cap = v.bytes.len;
        buf = lua_newuserdata(L, cap ? cap : 1);
        rc = pxl_api->shdict_get(d->d, key, &v, buf, cap);
    }
    if (rc != PYXIS_OK) {
        lua_pushnil(L);
        return 1;
    }
    return pxl_push_value(L, &v);
}

static int pxl_d_store(lua_State *L, int add)
{
    pxl_dict_t *d = pxl_dict(L);
    pyxis_str_t key;
    key.data = luaL_checklstring(L, 2, &key.len);
    double ttl = luaL_optnumber(L, 4, 0);
    pyxis_value_t v;
    pxl_to_value(L, 3, &v, add ? "shared:add" : "shared:set");
    pyxis_rc_t rc =
        add ? pxl_api->shdict_add(d->d, key, &v, ttl) : pxl_api->shdict_set(d->d, key, &v, ttl);
    if (rc == PYXIS_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushboolean(L, 0);
    lua_pushstring(L, rc == PYXIS_EXISTS ? "exists" : rc == PYXIS_NOMEM ? "no memory" : "failed");
    return 2;
}

static int pxl_d_set(lua_State *L)
{
    return pxl_d_store(L, 0);
}

static int pxl_d_add(lua_State *L)
{
    return pxl_d_store(L, 1);
}

static int pxl_d_incr(lua_State *L)
{
    pxl_dict_t *d = pxl_dict(L);
    pyxis_str_t key;
    key.data = luaL_checklstring(L, 2, &key.len);
    double delta = luaL_optnumber(L, 3, 1), init = luaL_optnumber(L, 4, 0);
    double ttl = luaL_optnumber(L, 5, 0), result = 0;
    pyxis_rc_t rc = pxl_api->shdict_incr(d->d, key, delta, init, ttl, &result);
    if (rc == PYXIS_OK) {
        lua_pushnumber(L, result);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, rc == PYXIS_INVALID ? "not a number"
                      : rc == PYXIS_NOMEM ? "no memory"
                                          : "failed");
    return 2;
}

static int pxl_d_delete(lua_State *L)
{
    pxl_dict_t *d = pxl_dict(L);
    pyxis_str_t key;
    key.data = luaL_checklstring(L, 2, &key.len);
    lua_pushboolean(L, pxl_api->shdict_delete(d->d, key) == PYXIS_OK);
    return 1;
}

static int pxl_d_ttl(lua_State *L)
{
    pxl_dict_t *d = pxl_dict(L);
    pyxis_str_t key;
    key.data = luaL_checklstring(L, 2, &key.len);
    double rem;
    if (pxl_api->shdict_ttl(d->d, key, &rem) != PYXIS_OK) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushnumber(L, rem);
    return 1;
}

typedef struct {
    lua_State *L;
    int n;
} pxl_keys_t;

static int pxl_d_key(pyxis_str_t key, void *arg)
{
    pxl_keys_t *k = arg;
    lua_pushlstring(k->L, key.data, key.len);
    lua_rawseti(k->L, -2, ++k->n);
    return 0;
}

static int pxl_d_keys(lua_State *L)
{
    pxl_dict_t *d = pxl_dict(L);
    size_t max = (size_t)luaL_optnumber(L, 2, 1024);
    pxl_keys_t k = {L, 0};
    lua_newtable(L);
    pxl_api->shdict_keys(d->d, max, pxl_d_key, &k);
    return 1;
}

/* pyxis.shared.NAME: looked up once per worker state, then cached in pyxis.shared. */
static int pxl_shared_index(lua_State *L)
{
    const char *name = luaL_checkstring(L, 2);
    pyxis_shdict_t *sd = pxl_api->shdict(pxl_cur_txn(L), name);
    if (sd == NULL)
        return luaL_error(L, "pyxis.shared.%s: no such shared dict (declare it in shared_dicts)",
                          name);
    pxl_dict_t *d = lua_newuserdata(L, sizeof(*d));
    d->d = sd;
    d->name = NULL;
    luaL_getmetatable(L, "pyxis.shdict");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

/* ---- pyxis.log, print, now ---------------------------------------------------------------- */

static int pxl_log_at(lua_State *L, pyxis_log_level_t level)
{
    if (!pxl_api->log_enabled(level))
        return 0;
    int n = lua_gettop(L);
    luaL_Buffer b;
    lua_Debug ar;
    luaL_buffinit(L, &b);
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
        lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
        luaL_addvalue(&b);
    }
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, ' ');
        lua_getglobal(L, "tostring");
        lua_pushvalue(L, i);
        lua_call(L, 1, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            lua_pushliteral(L, "?");
        }
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    pxl_api->log(pxl_log_txn(L), level, "%s", lua_tostring(L, -1));
    return 0;
}

static int pxl_log_debug(lua_State *L)
{
    return pxl_log_at(L, PYXIS_LOG_DEBUG);
}
static int pxl_log_info(lua_State *L)
{
    return pxl_log_at(L, PYXIS_LOG_INFO);
}
static int pxl_log_warn(lua_State *L)
{
    return pxl_log_at(L, PYXIS_LOG_WARN);
}
static int pxl_log_err(lua_State *L)
{
    return pxl_log_at(L, PYXIS_LOG_ERROR);
}

static int pxl_now(lua_State *L)
{
    lua_pushnumber(L, pxl_api->now());
    return 1;
}

static int pxl_worker_id(lua_State *L)
{
    pxl_worker_t *w = pxl_worker_of(L);
    lua_pushinteger(L, w ? (lua_Integer)w->id : 0);
    return 1;
}

static void pxl_set_funcs(lua_State *L, const luaL_Reg *f)
{
    for (; f->name != NULL; f++) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, -2, f->name);
    }
}

void pxl_pyxis_open(lua_State *L)
{
    static const luaL_Reg top[] = {
        {"sleep", pxl_sleep}, {"now", pxl_now}, {"worker_id", pxl_worker_id}, {NULL, NULL}};
    static const luaL_Reg http[] = {{"request", pxl_http_request}, {NULL, NULL}};
    static const luaL_Reg timer[] = {
        {"at", pxl_timer_at}, {"every", pxl_timer_every}, {NULL, NULL}};
    static const luaL_Reg log[] = {{"debug", pxl_log_debug}, {"info", pxl_log_info},
                                   {"warn", pxl_log_warn},   {"err", pxl_log_err},
                                   {"error", pxl_log_err},   {NULL, NULL}};
    static const luaL_Reg dict[] = {
        {"get", pxl_d_get},       {"set", pxl_d_set}, {"add", pxl_d_add},   {"incr", pxl_d_incr},
        {"delete", pxl_d_delete}, {"ttl", pxl_d_ttl}, {"keys", pxl_d_keys}, {NULL, NULL}};
    static const luaL_Reg timer_h[] = {{"cancel", pxl_timer_cancel}, {NULL, NULL}};

    luaL_newmetatable(L, "pyxis.shdict");
    lua_newtable(L);
    pxl_set_funcs(L, dict);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, "pyxis.timer");
    lua_newtable(L);
    pxl_set_funcs(L, timer_h);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    lua_newtable(L); /* pyxis */
    pxl_set_funcs(L, top);
    lua_newtable(L);
    pxl_set_funcs(L, http);
    lua_setfield(L, -2, "http");
    lua_newtable(L);
    pxl_set_funcs(L, timer);
    lua_setfield(L, -2, "timer");
    lua_newtable(L);
    pxl_set_funcs(L, log);
    lua_setfield(L, -2, "log");
    lua_newtable(L); /* shared */
    lua_newtable(L);
    lua_pushcfunction(L, pxl_shared_index);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "shared");
    pxl_util_open(L); /* json, base64, hex, sha*, hmac, random_bytes, url, ... */
    lua_pushvalue(L, -1);
    lua_setglobal(L, "pyxis");
    lua_pushcfunction(L, pxl_log_info);
    lua_setglobal(L, "print");
    /* require "pyxis" works too. */
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "pyxis");
    lua_pop(L, 3);
}
