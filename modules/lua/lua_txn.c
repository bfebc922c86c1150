/*
 * lua_txn.c: the `txn` object a hook receives, and what hangs off it: txn.req, txn.resp, their
 * header tables, bodies, txn:respond(), txn.ctx and variables.
 *
 * The objects are handles, not allocations: a light userdata whose value is a per-worker id of
 * the filter's pxl_ctx_t (in the transaction pool) and the object's kind (txn, req, resp, and
 * the two header tables): value = id << 3 | kind. Handing a hook its txn, or reading txn.req
 * and txn.req.headers, therefore allocates nothing in Lua and makes no garbage. The worker's
 * table of live ids (w->live) resolves a handle to its ctx; detach removes the id, so a script
 * that kept `txn` somewhere (a closure, a timer) gets a clean Lua error ("the request is over")
 * instead of touching freed memory, and ids are not reused (they are 44 bits: at a million
 * requests a second a worker state would need half a year to wrap; a LuaJIT that keeps fewer
 * bits in a light userdata gets 29-bit ids).
 *
 * Light userdata share one metatable per Lua state, so its metamethods serve every kind and
 * decline any light userdata that is not a handle (pyxis.json.null is one) with the error Lua
 * would give. txn.ctx is one table per request, shared by every Lua filter of it, kept in the
 * worker's registry under the txn's address and dropped by a transaction cleanup.
 *
 * Strings handed to Lua are copies (the core's strings are borrowed), so they stay valid.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lua_mod.h"
#include "lua_util.h"

enum { PXL_O_TXN = 0, PXL_O_REQ, PXL_O_RESP, PXL_O_REQH, PXL_O_RESPH, PXL_O_N };

#define PXL_KIND_BITS 3
#define PXL_KIND_MASK ((1u << PXL_KIND_BITS) - 1)

/* The fields of the objects (pxl_member_t; methods have code 0). */
enum {
    PXL_F_REQ = 1,
    PXL_F_RESP,
    PXL_F_CTX,
    PXL_F_HEADERS,
    PXL_F_METHOD,
    PXL_F_PATH,
    PXL_F_QUERY,
    PXL_F_HOST,
    PXL_F_SCHEME,
    PXL_F_VERSION,
    PXL_F_ARGS,
    PXL_F_CLIENT_ADDR,
    PXL_F_CLIENT_PORT,
    PXL_F_STATUS,
};

static const char *const pxl_mt_names[] = {"pyxis.txn", "pyxis.req", "pyxis.resp", "pyxis.headers",
                                           "pyxis.headers"};

/* The largest handle id: set by pxl_txn_init (main thread, before any worker). */
static uint64_t pxl_id_max = (1u << 29) - 1;

/* Protected (lua_cpcall): do light userdata with 512 different upper halves come back intact? */
static int pxl_lud_probe(lua_State *L)
{
    int *ok = lua_touserdata(L, 1);
    for (uint64_t hi = 1; hi <= 512; hi++) {
        uint64_t v = hi << 35 | 5;
        lua_pushlightuserdata(L, (void *)(uintptr_t)v);
        if ((uint64_t)(uintptr_t)lua_touserdata(L, -1) != v)
            return 0;
        lua_pop(L, 1);
    }
    *ok = 1;
    return 0;
}

void pxl_txn_init(void)
{
    /* LuaJITs that keep all 47 bits of a light userdata take 44-bit ids; one that maps the
     * upper 32 bits to a few segments (newer 2.1 builds) raises an error when they run out,
     * here in a scratch state: 29-bit ids there, which never leave the first segment. */
    if (sizeof(void *) < 8)
        return;
    lua_State *L = luaL_newstate();
    if (L == NULL)
        return;
    int ok = 0;
    if (lua_cpcall(L, pxl_lud_probe, &ok) != 0)
        ok = 0;
    lua_close(L);
    if (ok)
        pxl_id_max = ((uint64_t)1 << 44) - 1;
}

/* ---- handles ----------------------------------------------------------------------------- */

static int pxl_live_grow(pxl_worker_t *w)
{
    size_t n = (size_t)w->live_mask + 1, n2 = n * 2;
    pxl_live_t *t = calloc(n2, sizeof(*t));
    if (t == NULL)
        return -1;
    /* Ids distinct modulo n stay distinct modulo 2n. */
    for (size_t i = 0; i < n; i++)
        if (w->live[i].c != NULL)
            t[w->live[i].id & (n2 - 1)] = w->live[i];
    free(w->live);
    w->live = t;
    w->live_mask = n2 - 1;
    return 0;
}

/* A new id for c in w->live, or 0 when out of memory. */
static uint64_t pxl_live_add(pxl_worker_t *w, pxl_ctx_t *c)
{
    if ((w->nlive + 1) * 2 > (size_t)w->live_mask + 1 && pxl_live_grow(w) != 0)
        return 0;
    for (;;) { /* at most half full: ends */
        uint64_t id = w->next_id;
        w->next_id = id >= pxl_id_max ? 1 : id + 1;
        pxl_live_t *e = &w->live[id & w->live_mask];
        if (e->c == NULL) { /* else a live id with the same low bits has it: the next id */
            e->id = id;
            e->c = c;
            w->nlive++;
            return id;
        }
    }
}

static void pxl_push_handle(lua_State *L, const pxl_ctx_t *c, int kind)
{
    lua_pushlightuserdata(L, (void *)(uintptr_t)(c->id << PXL_KIND_BITS | (unsigned)kind));
}

/* The kind of the handle at idx, or -1 when the value is not a handle; *id its id. */
static int pxl_handle_kind(lua_State *L, int idx, uint64_t *id)
{
    if (lua_type(L, idx) != LUA_TLIGHTUSERDATA)
        return -1;
    uint64_t v = (uint64_t)(uintptr_t)lua_touserdata(L, idx);
    *id = v >> PXL_KIND_BITS;
    int kind = (int)(v & PXL_KIND_MASK);
    return *id != 0 && *id <= pxl_id_max && kind < PXL_O_N ? kind : -1;
}

static pxl_ctx_t *pxl_live_find(const pxl_worker_t *w, uint64_t id)
{
    const pxl_live_t *e = &w->live[id & w->live_mask];
    return e->id == id ? e->c : NULL;
}

static pxl_ctx_t *pxl_live_ctx(lua_State *L, const pxl_worker_t *w, uint64_t id)
{
    pxl_ctx_t *c = w != NULL ? pxl_live_find(w, id) : NULL;
    if (c == NULL)
        luaL_error(L, "the request is over: its txn can no longer be used");
    return c;
}

/* The ctx of the handle at idx, which must be of `kind` (PXL_O_REQH: either header table, the
 * one it is in *got when got is not NULL). */
static pxl_ctx_t *pxl_obj_ctx(lua_State *L, int idx, int kind, int *got)
{
    uint64_t id = 0;
    int k = pxl_handle_kind(L, idx, &id);
    if (k < 0 || (k != kind && !(kind == PXL_O_REQH && k == PXL_O_RESPH)))
        luaL_error(L, "bad self: expected a %s (use obj:method(), not obj.method())",
                   pxl_mt_names[kind]);
    if (got != NULL)
        *got = k;
    return pxl_live_ctx(L, pxl_worker_of(L), id);
}

static void pxl_check_rc(lua_State *L, pyxis_rc_t rc, const char *what)
{
    switch (rc) {
    case PYXIS_OK: return;
    case PYXIS_INVALID: luaL_error(L, "%s: invalid value", what); return;
    case PYXIS_BAD_STATE: luaL_error(L, "%s: not allowed in this phase", what); return;
    case PYXIS_NOT_FOUND: luaL_error(L, "%s: not found", what); return;
    case PYXIS_NOMEM: luaL_error(L, "%s: out of memory", what); return;
    default: luaL_error(L, "%s: failed", what); return;
    }
}

static void pxl_push_str(lua_State *L, pyxis_str_t s)
{
    lua_pushlstring(L, s.data, s.len);
}

static pyxis_str_t pxl_check_str(lua_State *L, int idx)
{
    pyxis_str_t s;
    s.data = luaL_checklstring(L, idx, &s.len);
    return s;
}

/* Read-only in on_log. */
static void pxl_check_writable(lua_State *L, pxl_ctx_t *c, const char *what)
{
    if (c->logging)
        luaL_error(L, "%s: the request is read-only in on_log", what);
}

/* ---- headers ----------------------------------------------------------------------------- */

/* The header list of a header table of kind PXL_O_REQH or PXL_O_RESPH. need: raise when there
 * is none (the response before it exists). */
static pyxis_headers_t *pxl_hdrs_of(lua_State *L, pxl_ctx_t *c, int kind, int need)
{
    pyxis_headers_t *h =
        kind == PXL_O_REQH ? pxl_api->req_headers(c->txn) : pxl_api->resp_headers(c->txn);
    if (h == NULL && need)
        luaL_error(L, "txn.resp.headers: there is no response yet");
    return h;
}

static pyxis_headers_t *pxl_hdrs(lua_State *L, int idx, pxl_ctx_t **cp, int need)
{
    int kind;
    *cp = pxl_obj_ctx(L, idx, PXL_O_REQH, &kind);
    return pxl_hdrs_of(L, *cp, kind, need);
}

/* h[name] and h:get(name): the name at 2. */
static int pxl_h_get_of(lua_State *L, pxl_ctx_t *c, int kind, pyxis_str_t name)
{
    pyxis_headers_t *h = pxl_hdrs_of(L, c, kind, 0);
    pyxis_str_t v;
    if (h != NULL && pxl_api->header_get(h, name, &v) == PYXIS_OK)
        pxl_push_str(L, v);
    else
        lua_pushnil(L);
    return 1;
}

static int pxl_h_get(lua_State *L)
{
    int kind;
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_REQH, &kind);
    return pxl_h_get_of(L, c, kind, pxl_check_str(L, 2));
}

static int pxl_h_get_all(lua_State *L)
{
    pxl_ctx_t *c;
    pyxis_headers_t *h = pxl_hdrs(L, 1, &c, 0);
    pyxis_str_t want = pxl_check_str(L, 2), n, v;
    size_t iter = 0;
    int i = 0;
    lua_newtable(L);
    while (h != NULL && pxl_api->header_next(h, &iter, &n, &v) == PYXIS_OK) {
        if (n.len == want.len && strncasecmp(n.data, want.data, n.len) == 0) {
            pxl_push_str(L, v);
            lua_rawseti(L, -2, ++i);
        }
    }
    return 1;
}

/* Set, add or remove `name` (the Lua value at 3: string, number, list, nil). */
static int pxl_h_change_of(lua_State *L, pxl_ctx_t *c, int kind, pyxis_str_t name, int add)
{
    pyxis_headers_t *h = pxl_hdrs_of(L, c, kind, 1);
    pyxis_str_t v;
    pxl_check_writable(L, c, "headers");
    int t = lua_type(L, 3);
    if (t == LUA_TNIL || t == LUA_TNONE) {
        if (!add)
            pxl_check_rc(L, pxl_api->header_remove(c->txn, h, name, NULL), "headers: remove");
        return 0;
    }
    if (t == LUA_TTABLE) {
        int n = (int)lua_objlen(L, 3);
        if (!add)
            pxl_check_rc(L, pxl_api->header_remove(c->txn, h, name, NULL), "headers: set");
        for (int i = 1; i <= n; i++) {
            lua_rawgeti(L, 3, i);
            v.data = lua_tolstring(L, -1, &v.len);
            if (v.data == NULL)
                luaL_error(L, "headers: a value must be a string");
            pxl_check_rc(L, pxl_api->header_add(c->txn, h, name, v), "headers: set");
            lua_pop(L, 1);
        }
        return 0;
    }
    v.data = lua_tolstring(L, 3, &v.len);
    if (v.data == NULL)
        luaL_error(L, "headers: a value must be a string, a number or a list of strings");
    pxl_check_rc(
        L, add ? pxl_api->header_add(c->txn, h, name, v) : pxl_api->header_set(c->txn, h, name, v),
        add ? "headers: add" : "headers: set");
    return 0;
}

static int pxl_h_change(lua_State *L, int add)
{
    int kind;
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_REQH, &kind);
    return pxl_h_change_of(L, c, kind, pxl_check_str(L, 2), add);
}

static int pxl_h_set(lua_State *L)
{
    return pxl_h_change(L, 0);
}

static int pxl_h_add(lua_State *L)
{
    return pxl_h_change(L, 1);
}

static int pxl_h_remove(lua_State *L)
{
    lua_settop(L, 2);
    return pxl_h_change(L, 0);
}

/* The iterator behind h:each() and pairs(h): upvalue 1 the object, 2 the position. */
static int pxl_h_next(lua_State *L)
{
    pxl_ctx_t *c;
    pyxis_headers_t *h = pxl_hdrs(L, lua_upvalueindex(1), &c, 0);
    size_t iter = (size_t)lua_tonumber(L, lua_upvalueindex(2));
    pyxis_str_t n, v;
    if (h == NULL || pxl_api->header_next(h, &iter, &n, &v) != PYXIS_OK)
        return 0;
    lua_pushnumber(L, (lua_Number)iter);
    lua_replace(L, lua_upvalueindex(2));
    pxl_push_str(L, n);
    pxl_push_str(L, v);
    return 2;
}

static int pxl_h_each(lua_State *L)
{
    pxl_obj_ctx(L, 1, PXL_O_REQH, NULL);
    lua_pushvalue(L, 1);
    lua_pushnumber(L, 0);
    lua_pushcclosure(L, pxl_h_next, 2);
    return 1;
}

/* ---- bodies ------------------------------------------------------------------------------ */

void pxl_chunk_push(lua_State *L, pyxis_chunk_t *chunk)
{
    struct iovec stack[16], *vec = stack;
    int n = pxl_api->chunk_peek(chunk, vec, 16);
    if (n > 16) {
        vec = lua_newuserdata(L, (size_t)n * sizeof(*vec));
        n = pxl_api->chunk_peek(chunk, vec, n);
    }
    if (n == 1) {
        lua_pushlstring(L, vec[0].iov_base, vec[0].iov_len);
    } else {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (int i = 0; i < n; i++)
            luaL_addlstring(&b, vec[i].iov_base, vec[i].iov_len);
        luaL_pushresult(&b);
    }
    if (vec != stack)
        lua_remove(L, -2);
}

int pxl_chunk_replace(pyxis_chunk_t *chunk, const char *s, size_t n)
{
    if (pxl_api->chunk_drain(chunk, pxl_api->chunk_len(chunk)) != PYXIS_OK)
        return -1;
    return n == 0 || pxl_api->chunk_add(chunk, s, n) == PYXIS_OK ? 0 : -1;
}

static void pxl_body_done(pyxis_txn_t *txn, void *arg)
{
    (void)txn;
    pxl_body_ready(arg);
}

/* txn.req:read_body(): the whole request body as a string (waits for it). */
static int pxl_req_read_body(lua_State *L)
{
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_REQ, NULL);
    pyxis_buf_t *b = pxl_api->req_body(c->txn);
    if (b != NULL) { /* already read (by this filter or another) */
        size_t n = pxl_api->buf_len(b);
        const char *p = n ? pxl_api->buf_pullup(b, n) : "";
        lua_pushlstring(L, p ? p : "", p ? n : 0);
        return 1;
    }
    pxl_run_t *r = pxl_run_check(L, "txn.req:read_body()");
    if (r->c != c || r->hook != PXL_H_REQUEST)
        return luaL_error(L, "txn.req:read_body() works in on_request only");
    uint64_t max = c->s->conf->max_body ? c->s->conf->max_body : c->w->g->max_body;
    pyxis_rc_t rc = pxl_api->req_body_read(c->txn, max, pxl_body_done, r);
    if (rc == PYXIS_NOT_FOUND) {
        lua_pushliteral(L, "");
        return 1;
    }
    pxl_check_rc(L, rc, "txn.req:read_body()");
    return pxl_yield(L, r, PXL_W_BODY);
}

/* Resume a run waiting in read_body(): the core has the body now. */
void pxl_body_ready(pxl_run_t *r)
{
    pyxis_buf_t *b = pxl_api->req_body(r->c->txn);
    size_t n = b ? pxl_api->buf_len(b) : 0;
    const char *p = n ? pxl_api->buf_pullup(b, n) : "";
    lua_pushlstring(r->co, p ? p : "", p ? n : 0);
    pxl_wake(r, 1);
}

static int pxl_req_set_body(lua_State *L)
{
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_REQ, NULL);
    pyxis_str_t s = pxl_check_str(L, 2);
    pxl_check_writable(L, c, "txn.req:set_body()");
    pyxis_buf_t *b = pxl_api->req_body(c->txn);
    if (b == NULL)
        return luaL_error(L, "txn.req:set_body(): read the body with txn.req:read_body() first");
    if (pxl_api->buf_drain(b, pxl_api->buf_len(b)) != PYXIS_OK ||
        (s.len > 0 && pxl_api->buf_add(b, s.data, s.len) != PYXIS_OK))
        return luaL_error(L, "txn.req:set_body(): failed");
    return 0;
}

static int pxl_body_will_change(lua_State *L, int kind, pyxis_dir_t dir)
{
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, kind, NULL);
    pxl_check_rc(L, pxl_api->body_will_change(c->txn, dir), "body_will_change()");
    return 0;
}

static int pxl_req_body_will_change(lua_State *L)
{
    return pxl_body_will_change(L, PXL_O_REQ, PYXIS_REQUEST);
}

static int pxl_resp_body_will_change(lua_State *L)
{
    return pxl_body_will_change(L, PXL_O_RESP, PYXIS_RESPONSE);
}

/* ---- txn.req ----------------------------------------------------------------------------- */

/* txn.req.args: the query parsed by pyxis.url.parse_query (name -> value, a list for a
 * repeated name, true for a name without "="). */
static void pxl_push_args(lua_State *L, pyxis_str_t q)
{
    lua_pushcfunction(L, pxl_url_parse_query);
    lua_pushlstring(L, q.data, q.len);
    lua_call(L, 1, 1);
}

/* txn.req.FIELD (code a PXL_F_*). */
static int pxl_req_field(lua_State *L, pxl_ctx_t *c, int code)
{
    pyxis_txn_t *txn = c->txn;
    switch (code) {
    case PXL_F_HEADERS: pxl_push_handle(L, c, PXL_O_REQH); break;
    case PXL_F_METHOD: pxl_push_str(L, pxl_api->req_method(txn)); break;
    case PXL_F_PATH: pxl_push_str(L, pxl_api->req_path(txn)); break;
    case PXL_F_QUERY: pxl_push_str(L, pxl_api->req_query(txn)); break;
    case PXL_F_HOST: pxl_push_str(L, pxl_api->req_host(txn)); break;
    case PXL_F_SCHEME: pxl_push_str(L, pxl_api->req_scheme(txn)); break;
    case PXL_F_VERSION: lua_pushnumber(L, pxl_api->req_version(txn) / 10.0); break;
    case PXL_F_ARGS: pxl_push_args(L, pxl_api->req_query(txn)); break;
    case PXL_F_CLIENT_ADDR: pxl_push_str(L, pxl_api->client_addr(txn)); break;
    case PXL_F_CLIENT_PORT: lua_pushnumber(L, pxl_api->client_port(txn)); break;
    default: lua_pushnil(L); break;
    }
    return 1;
}

/* txn.req.FIELD = v and txn.req:set_FIELD(v): self at 1, the value at 2. */
static int pxl_req_set(lua_State *L, int code)
{
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_REQ, NULL);
    pyxis_str_t v = pxl_check_str(L, 2);
    pyxis_txn_t *txn = c->txn;
    pyxis_rc_t rc;
    const char *what;
    pxl_check_writable(L, c, "txn.req");
    switch (code) {
    case PXL_F_PATH: rc = pxl_api->req_set_path(txn, v), what = "txn.req.path"; break;
    case PXL_F_QUERY: rc = pxl_api->req_set_query(txn, v), what = "txn.req.query"; break;
    case PXL_F_METHOD: rc = pxl_api->req_set_method(txn, v), what = "txn.req.method"; break;
    default: {
        pyxis_str_t host = PYXIS_STR("host");
        rc = pxl_api->header_set(txn, pxl_api->req_headers(txn), host, v);
        what = "txn.req.host";
    }
    }
    pxl_check_rc(L, rc, what);
    return 0;
}

static int pxl_req_set_path(lua_State *L)
{
    return pxl_req_set(L, PXL_F_PATH);
}
static int pxl_req_set_query(lua_State *L)
{
    return pxl_req_set(L, PXL_F_QUERY);
}
static int pxl_req_set_method(lua_State *L)
{
    return pxl_req_set(L, PXL_F_METHOD);
}
static int pxl_req_set_host(lua_State *L)
{
    return pxl_req_set(L, PXL_F_HOST);
}

/* txn.req[k] = v; code: k's field code, 0 for none. */
static int pxl_req_newindex(lua_State *L, int code)
{
    if (code == PXL_F_PATH || code == PXL_F_QUERY || code == PXL_F_METHOD || code == PXL_F_HOST) {
        lua_remove(L, 2);
        return pxl_req_set(L, code);
    }
    const char *k = lua_tostring(L, 2);
    return luaL_error(L, "txn.req.%s cannot be assigned (path, query, method and host can)",
                      k ? k : "?");
}

/* ---- txn.resp ---------------------------------------------------------------------------- */

static int pxl_resp_field(lua_State *L, pxl_ctx_t *c, int code)
{
    if (code == PXL_F_HEADERS) {
        pxl_push_handle(L, c, PXL_O_RESPH);
    } else if (code == PXL_F_STATUS) {
        int st = pxl_api->resp_status(c->txn);
        if (st == 0)
            lua_pushnil(L);
        else
            lua_pushinteger(L, st);
    } else {
        lua_pushnil(L);
    }
    return 1;
}

static int pxl_resp_newindex(lua_State *L, int code)
{
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_RESP, NULL);
    if (code != PXL_F_STATUS) {
        const char *k = lua_tostring(L, 2);
        return luaL_error(L, "txn.resp.%s cannot be assigned (status can)", k ? k : "?");
    }
    pxl_check_writable(L, c, "txn.resp.status");
    pxl_check_rc(L, pxl_api->resp_set_status(c->txn, luaL_checkint(L, 3)), "txn.resp.status");
    return 0;
}

/* ---- txn --------------------------------------------------------------------------------- */

static void pxl_push_req_ctx(lua_State *L, pxl_ctx_t *c);

static int pxl_txn_field(lua_State *L, pxl_ctx_t *c, int code)
{
    switch (code) {
    case PXL_F_REQ: pxl_push_handle(L, c, PXL_O_REQ); break;
    case PXL_F_RESP: pxl_push_handle(L, c, PXL_O_RESP); break;
    case PXL_F_CTX: pxl_push_req_ctx(L, c); break;
    default: lua_pushnil(L); break;
    }
    return 1;
}

/* Set response header fields from the table at idx (name -> string or list). */
static void pxl_set_resp_headers(lua_State *L, pxl_ctx_t *c, int idx)
{
    pyxis_headers_t *h = pxl_api->resp_headers(c->txn);
    if (h == NULL)
        return;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        pyxis_str_t name, v;
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "txn:respond(): header names must be strings");
        name.data = lua_tolstring(L, -2, &name.len);
        if (lua_istable(L, -1)) {
            int n = (int)lua_objlen(L, -1);
            pxl_api->header_remove(c->txn, h, name, NULL);
            for (int i = 1; i <= n; i++) {
                lua_rawgeti(L, -1, i);
                v.data = lua_tolstring(L, -1, &v.len);
                if (v.data == NULL)
                    luaL_error(L, "txn:respond(): header values must be strings");
                pxl_check_rc(L, pxl_api->header_add(c->txn, h, name, v), "txn:respond() header");
                lua_pop(L, 1);
            }
        } else {
            v.data = lua_tolstring(L, -1, &v.len);
            if (v.data == NULL)
                luaL_error(L, "txn:respond(): header values must be strings");
            pxl_check_rc(L, pxl_api->header_set(c->txn, h, name, v), "txn:respond() header");
        }
        lua_pop(L, 1);
    }
}

/* txn:respond(status, body, headers): a local reply; the hook ends here (STOP). */
static int pxl_txn_respond(lua_State *L)
{
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_TXN, NULL);
    int status = luaL_checkint(L, 2);
    pyxis_str_t body = {"", 0};
    if (!lua_isnoneornil(L, 3))
        body = pxl_check_str(L, 3);
    if (!lua_isnoneornil(L, 4))
        luaL_checktype(L, 4, LUA_TTABLE);
    pxl_check_writable(L, c, "txn:respond()");
    pxl_worker_t *w = pxl_worker_of(L);
    pxl_run_t *r = w ? w->current : NULL;
    if (r == NULL || r->c != c)
        return luaL_error(L, "txn:respond() must be called from a hook of this request");
    if (status < 200 || status > 999)
        return luaL_error(L, "txn:respond(): status %d is not in 200..999", status);
    pxl_check_rc(L, pxl_api->respond(c->txn, status, body), "txn:respond()");
    if (!lua_isnoneornil(L, 4))
        pxl_set_resp_headers(L, c, 4);
    r->stop = 1;
    if (L == r->co)
        return pxl_yield(L, r, PXL_W_STOP);
    return 0;
}

static int pxl_txn_set_upstream(lua_State *L)
{
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_TXN, NULL);
    const char *name = luaL_checkstring(L, 2);
    pxl_check_writable(L, c, "txn:set_upstream()");
    pyxis_rc_t rc = pxl_api->set_upstream(c->txn, name);
    if (rc == PYXIS_NOT_FOUND)
        return luaL_error(L, "txn:set_upstream(): no upstream named \"%s\"", name);
    pxl_check_rc(L, rc, "txn:set_upstream()");
    return 0;
}

static int pxl_txn_var(lua_State *L)
{
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_TXN, NULL);
    pyxis_str_t v;
    if (pxl_api->var(c->txn, pxl_check_str(L, 2), &v) == PYXIS_OK)
        pxl_push_str(L, v);
    else
        lua_pushnil(L);
    return 1;
}

/* txn:set_var(name, value): a per-request variable every filter sees (var.NAME), also put in
 * txn.ctx. */
static int pxl_txn_set_var(lua_State *L)
{
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_TXN, NULL);
    pyxis_str_t name = pxl_check_str(L, 2);
    luaL_checkany(L, 3);
    pyxis_str_t v;
    v.data = lua_tolstring(L, 3, &v.len);
    if (v.data == NULL)
        return luaL_error(L, "txn:set_var(): the value must be a string or a number");
    pxl_check_writable(L, c, "txn:set_var()");
    pxl_check_rc(L, pxl_api->var_set(c->txn, name, v), "txn:set_var()");
    pxl_push_req_ctx(L, c);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_rawset(L, -3);
    return 0;
}

/* ---- making the objects ------------------------------------------------------------------ */

typedef struct {
    pxl_worker_t *w;
    pyxis_txn_t *txn;
} pxl_reqclean_t;

/* Transaction cleanup: forget the request's txn.ctx (rawset nil allocates nothing). */
static void pxl_req_cleanup(void *data)
{
    pxl_reqclean_t *rc = data;
    lua_State *L = rc->w->L;
    if (rc->w->closing)
        return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, rc->w->reqs_ref);
    lua_pushlightuserdata(L, rc->txn);
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

/* Push the request's shared txn.ctx table. */
static void pxl_push_req_ctx(lua_State *L, pxl_ctx_t *c)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->w->reqs_ref);
    lua_pushlightuserdata(L, c->txn);
    lua_rawget(L, -2);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        pxl_reqclean_t *rc = pxl_api->palloc(c->txn, sizeof(*rc));
        lua_newtable(L);
        if (rc != NULL) {
            rc->w = c->w;
            rc->txn = c->txn;
            if (pxl_api->cleanup_add(c->txn, pxl_req_cleanup, rc) == PYXIS_OK) {
                lua_pushlightuserdata(L, c->txn);
                lua_pushvalue(L, -2);
                lua_rawset(L, -4);
            }
        }
    }
    lua_remove(L, -2);
}

int pxl_txn_push(lua_State *L, pxl_ctx_t *c)
{
    if (c->id == 0 && (c->id = pxl_live_add(c->w, c)) == 0)
        return -1;
    pxl_push_handle(L, c, PXL_O_TXN);
    return 0;
}

void pxl_txn_release(pxl_ctx_t *c)
{
    pxl_worker_t *w = c->w;
    if (c->id == 0)
        return;
    pxl_live_t *e = &w->live[c->id & w->live_mask];
    if (e->id == c->id) {
        e->id = 0;
        e->c = NULL;
        w->nlive--;
    }
    c->id = 0;
}

/* ---- the metatable of the handles -------------------------------------------------------- */

/* The members of each class of handle (txn, req, resp, headers): fields (a PXL_F_* code) and
 * methods (code 0). The metamethods find a string key among them by the address of its
 * interned bytes (LuaJIT interns every string; the method tables keep these alive), so a
 * field read is a few compares, no table lookup. */
typedef struct {
    const char *name;
    int code;
    lua_CFunction fn;
} pxl_member_t;

static const pxl_member_t pxl_txn_members[] = {{"req", PXL_F_REQ, NULL},
                                               {"resp", PXL_F_RESP, NULL},
                                               {"ctx", PXL_F_CTX, NULL},
                                               {"respond", 0, pxl_txn_respond},
                                               {"set_upstream", 0, pxl_txn_set_upstream},
                                               {"var", 0, pxl_txn_var},
                                               {"set_var", 0, pxl_txn_set_var},
                                               {NULL, 0, NULL}};
static const pxl_member_t pxl_req_members[] = {{"headers", PXL_F_HEADERS, NULL},
                                               {"method", PXL_F_METHOD, NULL},
                                               {"path", PXL_F_PATH, NULL},
                                               {"query", PXL_F_QUERY, NULL},
                                               {"host", PXL_F_HOST, NULL},
                                               {"scheme", PXL_F_SCHEME, NULL},
                                               {"version", PXL_F_VERSION, NULL},
                                               {"args", PXL_F_ARGS, NULL},
                                               {"client_addr", PXL_F_CLIENT_ADDR, NULL},
                                               {"client_port", PXL_F_CLIENT_PORT, NULL},
                                               {"read_body", 0, pxl_req_read_body},
                                               {"set_body", 0, pxl_req_set_body},
                                               {"body_will_change", 0, pxl_req_body_will_change},
                                               {"set_path", 0, pxl_req_set_path},
                                               {"set_query", 0, pxl_req_set_query},
                                               {"set_method", 0, pxl_req_set_method},
                                               {"set_host", 0, pxl_req_set_host},
                                               {NULL, 0, NULL}};
static const pxl_member_t pxl_resp_members[] = {{"headers", PXL_F_HEADERS, NULL},
                                                {"status", PXL_F_STATUS, NULL},
                                                {"body_will_change", 0, pxl_resp_body_will_change},
                                                {NULL, 0, NULL}};
static const pxl_member_t pxl_h_members[] = {
    {"get", 0, pxl_h_get}, {"get_all", 0, pxl_h_get_all}, {"set", 0, pxl_h_set},
    {"add", 0, pxl_h_add}, {"remove", 0, pxl_h_remove},   {"each", 0, pxl_h_each},
    {NULL, 0, NULL}};

/* By class: PXL_O_TXN, PXL_O_REQ, PXL_O_RESP, PXL_O_REQH (both header tables). */
static const pxl_member_t *const pxl_members[4] = {pxl_txn_members, pxl_req_members,
                                                   pxl_resp_members, pxl_h_members};

/* The code of member k (interned bytes) of class cls: a PXL_F_*, 0 for a method, -1 for none. */
static int pxl_member(const pxl_worker_t *w, int cls, const char *k)
{
    const char *const *key = w->keys[cls];
    for (int i = 0; key[i] != NULL; i++)
        if (key[i] == k)
            return pxl_members[cls][i].code;
    return -1;
}

/* obj[k] for every kind of handle. Upvalues 1..4: the methods of each class (name -> fn). */
static int pxl_obj_index(lua_State *L)
{
    uint64_t id;
    int kind = pxl_handle_kind(L, 1, &id);
    if (kind < 0)
        return luaL_error(L, "attempt to index a userdata value");
    pxl_worker_t *w = pxl_worker_of(L);
    if (w == NULL) /* no request can be running: a finalizer at lua_close */
        return luaL_error(L, "the request is over: its txn can no longer be used");
    int cls = kind < PXL_O_REQH ? kind : PXL_O_REQH, code = -1;
    pyxis_str_t k;
    k.data = lua_tolstring(L, 2, &k.len); /* a number key becomes its string, as Lua would */
    if (k.data != NULL)
        code = pxl_member(w, cls, k.data);
    if (code == 0) { /* a method */
        lua_settop(L, 2);
        lua_rawget(L, lua_upvalueindex(1 + cls));
        return 1;
    }
    if (cls == PXL_O_REQH)
        return pxl_h_get_of(L, pxl_live_ctx(L, w, id), kind,
                            k.data != NULL ? k : pxl_check_str(L, 2));
    if (code < 0) {
        lua_pushnil(L); /* no such member */
        return 1;
    }
    pxl_ctx_t *c = pxl_live_ctx(L, w, id);
    if (cls == PXL_O_TXN)
        return pxl_txn_field(L, c, code);
    return cls == PXL_O_REQ ? pxl_req_field(L, c, code) : pxl_resp_field(L, c, code);
}

/* obj[k] = v. */
static int pxl_obj_newindex(lua_State *L)
{
    uint64_t id;
    int kind = pxl_handle_kind(L, 1, &id);
    if (kind < 0)
        return luaL_error(L, "attempt to index a userdata value");
    pxl_worker_t *w = pxl_worker_of(L);
    if (w == NULL)
        return luaL_error(L, "the request is over: its txn can no longer be used");
    lua_settop(L, 3);
    if (kind >= PXL_O_REQH)
        return pxl_h_change_of(L, pxl_live_ctx(L, w, id), kind, pxl_check_str(L, 2), 0);
    if (kind == PXL_O_TXN)
        return luaL_error(L, "txn fields cannot be assigned (keep your data in txn.ctx)");
    const char *k = lua_tostring(L, 2);
    int code = k != NULL ? pxl_member(w, kind, k) : -1;
    return kind == PXL_O_REQ ? pxl_req_newindex(L, code) : pxl_resp_newindex(L, code);
}

/* pairs(h) iterates a header table; anything else is not a table. */
static int pxl_obj_pairs(lua_State *L)
{
    uint64_t id;
    if (pxl_handle_kind(L, 1, &id) < PXL_O_REQH)
        return luaL_error(L, "bad argument #1 to 'pairs' (table expected, got userdata)");
    return pxl_h_each(L);
}

/* Lua 5.1 has no __pairs: make pairs() honour it so pairs(txn.req.headers) iterates. */
static const char pxl_pairs_lua[] =
    "local rawpairs, getmetatable, type, rawget = pairs, getmetatable, type, rawget\n"
    "pairs = function(t)\n"
    "  local mt = getmetatable(t)\n"
    "  local p = type(mt) == 'table' and rawget(mt, '__pairs')\n"
    "  if p then return p(t) end\n"
    "  return rawpairs(t)\n"
    "end\n";

void pxl_txn_open(lua_State *L, pxl_worker_t *w)
{
    lua_pushlightuserdata(L, NULL);
    lua_createtable(L, 0, 3);
    /* The methods of each class (upvalues of __index), and the members' interned names. */
    size_t nkeys = 0;
    for (int cls = 0; cls < 4; cls++) {
        lua_newtable(L);
        w->keys[cls] = &w->keyv[nkeys];
        for (const pxl_member_t *m = pxl_members[cls]; m->name != NULL; m++) {
            if (nkeys + 2 > sizeof(w->keyv) / sizeof(w->keyv[0]))
                luaL_error(L, "pxl_txn_open: keyv is too small");
            lua_pushstring(L, m->name);
            w->keyv[nkeys++] = lua_tostring(L, -1);
            if (m->fn != NULL)
                lua_pushcfunction(L, m->fn);
            else
                lua_pushboolean(L, 1); /* keeps the name (its address) alive */
            lua_rawset(L, -3);
        }
        w->keyv[nkeys++] = NULL;
    }
    lua_pushcclosure(L, pxl_obj_index, 4);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, pxl_obj_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, pxl_obj_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_setmetatable(L, -2); /* of every light userdata */
    lua_pop(L, 1);
    if (luaL_loadbuffer(L, pxl_pairs_lua, sizeof(pxl_pairs_lua) - 1, "=pyxis") == 0)
        lua_call(L, 0, 0);
    else
        lua_error(L);
}
