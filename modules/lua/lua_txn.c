/*
 * lua_txn.c: the `txn` object a hook receives, and what hangs off it: txn.req, txn.resp, their
 * header tables, bodies, txn:respond(), txn.ctx and variables.
 *
 * Every object is a small userdata holding the pxl_ctx_t of its filter and request (in the
 * transaction pool). The ctx keeps the address of each object's pointer and clears them all at
 * detach, so a script that kept `txn` somewhere (a closure, a timer) gets a clean Lua error
 * ("the request is over") instead of touching freed memory. The objects are made when a hook
 * first needs them: one txn, one req, one resp and two header objects per Lua filter per
 * request. txn.ctx is one table per request, shared by every Lua filter of it, kept in the
 * worker's registry under the txn's address and dropped by a transaction cleanup.
 *
 * Strings handed to Lua are copies (the core's strings are borrowed), so they stay valid.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lua_mod.h"
#include "lua_util.h"

enum { PXL_O_TXN = 0, PXL_O_REQ, PXL_O_RESP, PXL_O_REQH, PXL_O_RESPH };

typedef struct {
    pxl_ctx_t *c; /* NULL once the request is over */
    int kind;
} pxl_obj_t;

static const char *const pxl_mt_names[] = {"pyxis.txn", "pyxis.req", "pyxis.resp", "pyxis.headers",
                                           "pyxis.headers"};

static pxl_ctx_t *pxl_obj_ctx(lua_State *L, int idx, int kind)
{
    pxl_obj_t *o = lua_touserdata(L, idx);
    if (o == NULL || lua_type(L, idx) != LUA_TUSERDATA ||
        (o->kind != kind && !(kind == PXL_O_REQH && o->kind == PXL_O_RESPH)))
        luaL_error(L, "bad self: expected a %s (use obj:method(), not obj.method())",
                   pxl_mt_names[kind]);
    else if (o->c == NULL)
        luaL_error(L, "the request is over: its txn can no longer be used");
    return o->c;
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

static pyxis_headers_t *pxl_hdrs(lua_State *L, int idx, pxl_ctx_t **cp, int need)
{
    pxl_obj_t *o = lua_touserdata(L, idx);
    pxl_ctx_t *c = pxl_obj_ctx(L, idx, PXL_O_REQH);
    pyxis_headers_t *h =
        o->kind == PXL_O_REQH ? pxl_api->req_headers(c->txn) : pxl_api->resp_headers(c->txn);
    if (h == NULL && need)
        luaL_error(L, "txn.resp.headers: there is no response yet");
    *cp = c;
    return h;
}

static int pxl_h_get(lua_State *L)
{
    pxl_ctx_t *c;
    pyxis_headers_t *h = pxl_hdrs(L, 1, &c, 0);
    pyxis_str_t v;
    if (h != NULL && pxl_api->header_get(h, pxl_check_str(L, 2), &v) == PYXIS_OK)
        pxl_push_str(L, v);
    else
        lua_pushnil(L);
    return 1;
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

/* Set, add or remove from Lua arguments (name at 2, value at 3: string, number, list, nil). */
static int pxl_h_change(lua_State *L, int add)
{
    pxl_ctx_t *c;
    pyxis_headers_t *h = pxl_hdrs(L, 1, &c, 1);
    pyxis_str_t name = pxl_check_str(L, 2), v;
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
    pxl_obj_ctx(L, 1, PXL_O_REQH);
    lua_pushvalue(L, 1);
    lua_pushnumber(L, 0);
    lua_pushcclosure(L, pxl_h_next, 2);
    return 1;
}

/* h[name]: a method, else the first value of the field. Upvalue 1: the methods. */
static int pxl_h_index(lua_State *L)
{
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    if (!lua_isnil(L, -1))
        return 1;
    lua_pop(L, 1);
    return pxl_h_get(L);
}

static int pxl_h_newindex(lua_State *L)
{
    return pxl_h_change(L, 0);
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
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_REQ);
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
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_REQ);
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
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, kind);
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

static int pxl_key_is(const char *k, size_t kl, const char *lit)
{
    return kl == strlen(lit) && memcmp(k, lit, kl) == 0;
}

static int pxl_req_index(lua_State *L)
{
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_REQ);
    size_t kl;
    const char *k = lua_tolstring(L, 2, &kl);
    pyxis_txn_t *txn = c->txn;
    if (k == NULL)
        return 0;
    switch (k[0]) {
    case 'm':
        if (pxl_key_is(k, kl, "method"))
            return pxl_push_str(L, pxl_api->req_method(txn)), 1;
        break;
    case 'p':
        if (pxl_key_is(k, kl, "path"))
            return pxl_push_str(L, pxl_api->req_path(txn)), 1;
        break;
    case 'q':
        if (pxl_key_is(k, kl, "query"))
            return pxl_push_str(L, pxl_api->req_query(txn)), 1;
        break;
    case 'h':
        if (pxl_key_is(k, kl, "host"))
            return pxl_push_str(L, pxl_api->req_host(txn)), 1;
        break;
    case 's':
        if (pxl_key_is(k, kl, "scheme"))
            return pxl_push_str(L, pxl_api->req_scheme(txn)), 1;
        break;
    case 'v':
        if (pxl_key_is(k, kl, "version"))
            return lua_pushnumber(L, pxl_api->req_version(txn) / 10.0), 1;
        break;
    case 'a':
        if (pxl_key_is(k, kl, "args"))
            return pxl_push_args(L, pxl_api->req_query(txn)), 1;
        break;
    case 'c':
        if (pxl_key_is(k, kl, "client_addr"))
            return pxl_push_str(L, pxl_api->client_addr(txn)), 1;
        if (pxl_key_is(k, kl, "client_port"))
            return lua_pushnumber(L, pxl_api->client_port(txn)), 1;
        break;
    }
    lua_getfenv(L, 1); /* headers */
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    if (!lua_isnil(L, -1))
        return 1;
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1)); /* methods */
    return 1;
}

static int pxl_req_set(lua_State *L, const char *field)
{
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_REQ);
    pyxis_str_t v = pxl_check_str(L, 2);
    pyxis_txn_t *txn = c->txn;
    pyxis_rc_t rc;
    pxl_check_writable(L, c, "txn.req");
    switch (field[0]) {
    case 'p': rc = pxl_api->req_set_path(txn, v); break;
    case 'q': rc = pxl_api->req_set_query(txn, v); break;
    case 'm': rc = pxl_api->req_set_method(txn, v); break;
    default: {
        pyxis_str_t host = PYXIS_STR("host");
        rc = pxl_api->header_set(txn, pxl_api->req_headers(txn), host, v);
    }
    }
    lua_pushfstring(L, "txn.req.%s", field);
    pxl_check_rc(L, rc, lua_tostring(L, -1));
    return 0;
}

static int pxl_req_set_path(lua_State *L)
{
    return pxl_req_set(L, "path");
}
static int pxl_req_set_query(lua_State *L)
{
    return pxl_req_set(L, "query");
}
static int pxl_req_set_method(lua_State *L)
{
    return pxl_req_set(L, "method");
}
static int pxl_req_set_host(lua_State *L)
{
    return pxl_req_set(L, "host");
}

static int pxl_req_newindex(lua_State *L)
{
    size_t kl;
    const char *k = lua_tolstring(L, 2, &kl);
    if (k != NULL) {
        if (pxl_key_is(k, kl, "path") || pxl_key_is(k, kl, "query") ||
            pxl_key_is(k, kl, "method") || pxl_key_is(k, kl, "host")) {
            lua_remove(L, 2);
            return pxl_req_set(L, k);
        }
    }
    return luaL_error(L, "txn.req.%s cannot be assigned (path, query, method and host can)",
                      k ? k : "?");
}

/* ---- txn.resp ---------------------------------------------------------------------------- */

static int pxl_resp_index(lua_State *L)
{
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_RESP);
    size_t kl;
    const char *k = lua_tolstring(L, 2, &kl);
    if (k != NULL && pxl_key_is(k, kl, "status")) {
        int st = pxl_api->resp_status(c->txn);
        if (st == 0)
            lua_pushnil(L);
        else
            lua_pushinteger(L, st);
        return 1;
    }
    lua_getfenv(L, 1);
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    if (!lua_isnil(L, -1))
        return 1;
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

static int pxl_resp_newindex(lua_State *L)
{
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_RESP);
    size_t kl;
    const char *k = lua_tolstring(L, 2, &kl);
    if (k == NULL || !pxl_key_is(k, kl, "status"))
        return luaL_error(L, "txn.resp.%s cannot be assigned (status can)", k ? k : "?");
    pxl_check_writable(L, c, "txn.resp.status");
    pxl_check_rc(L, pxl_api->resp_set_status(c->txn, luaL_checkint(L, 3)), "txn.resp.status");
    return 0;
}

/* ---- txn --------------------------------------------------------------------------------- */

static void pxl_push_req_ctx(lua_State *L, pxl_ctx_t *c);

/* Push txn.ctx, made on first use and kept in the txn's env table (at env). */
static void pxl_txn_ctx(lua_State *L, int env)
{
    lua_getfield(L, env, "ctx");
    if (!lua_isnil(L, -1))
        return;
    lua_pop(L, 1);
    pxl_push_req_ctx(L, pxl_obj_ctx(L, 1, PXL_O_TXN));
    lua_pushvalue(L, -1);
    lua_setfield(L, env, "ctx");
}

static int pxl_txn_index(lua_State *L)
{
    lua_getfenv(L, 1);
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    if (!lua_isnil(L, -1))
        return 1;
    size_t kl;
    const char *k = lua_tolstring(L, 2, &kl);
    if (k != NULL && pxl_key_is(k, kl, "ctx")) {
        pxl_txn_ctx(L, lua_gettop(L) - 1);
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

static int pxl_txn_newindex(lua_State *L)
{
    return luaL_error(L, "txn fields cannot be assigned (keep your data in txn.ctx)");
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
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_TXN);
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
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_TXN);
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
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_TXN);
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
    pxl_ctx_t *c = pxl_obj_ctx(L, 1, PXL_O_TXN);
    pyxis_str_t name = pxl_check_str(L, 2);
    luaL_checkany(L, 3);
    pyxis_str_t v;
    v.data = lua_tolstring(L, 3, &v.len);
    if (v.data == NULL)
        return luaL_error(L, "txn:set_var(): the value must be a string or a number");
    pxl_check_writable(L, c, "txn:set_var()");
    pxl_check_rc(L, pxl_api->var_set(c->txn, name, v), "txn:set_var()");
    lua_getfenv(L, 1);
    pxl_txn_ctx(L, lua_gettop(L));
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

static pxl_obj_t *pxl_obj_new(lua_State *L, pxl_ctx_t *c, int kind)
{
    pxl_obj_t *o = lua_newuserdata(L, sizeof(*o));
    o->c = c;
    o->kind = kind;
    c->objs[c->nobjs++] = (void **)&o->c;
    luaL_getmetatable(L, pxl_mt_names[kind]);
    lua_setmetatable(L, -2);
    return o;
}

void pxl_txn_push(lua_State *L, pxl_ctx_t *c)
{
    if (c->txn_ref != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, c->txn_ref);
        return;
    }
    pxl_obj_new(L, c, PXL_O_TXN);
    lua_createtable(L, 0, 3); /* the txn's env: req, resp, ctx */
    for (int d = 0; d < 2; d++) {
        pxl_obj_new(L, c, d == 0 ? PXL_O_REQ : PXL_O_RESP);
        lua_createtable(L, 0, 1);
        pxl_obj_new(L, c, d == 0 ? PXL_O_REQH : PXL_O_RESPH);
        lua_setfield(L, -2, "headers");
        lua_setfenv(L, -2);
        lua_setfield(L, -2, d == 0 ? "req" : "resp");
    }
    lua_setfenv(L, -2); /* ctx: on first use (pxl_txn_ctx) */
    lua_pushvalue(L, -1);
    c->txn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

void pxl_txn_release(pxl_ctx_t *c)
{
    for (size_t i = 0; i < c->nobjs; i++)
        *c->objs[i] = NULL;
    c->nobjs = 0;
    if (c->txn_ref != LUA_NOREF && !c->w->closing)
        luaL_unref(c->w->L, LUA_REGISTRYINDEX, c->txn_ref);
    c->txn_ref = LUA_NOREF;
}

/* A metatable named `name` with __index / __newindex closures over a methods table. */
static void pxl_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction index,
                      lua_CFunction newindex)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    for (const luaL_Reg *m = methods; m->name != NULL; m++) {
        lua_pushcfunction(L, m->func);
        lua_setfield(L, -2, m->name);
    }
    lua_pushcclosure(L, index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__name");
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

void pxl_txn_open(lua_State *L)
{
    static const luaL_Reg txn_m[] = {{"respond", pxl_txn_respond},
                                     {"set_upstream", pxl_txn_set_upstream},
                                     {"var", pxl_txn_var},
                                     {"set_var", pxl_txn_set_var},
                                     {NULL, NULL}};
    static const luaL_Reg req_m[] = {{"read_body", pxl_req_read_body},
                                     {"set_body", pxl_req_set_body},
                                     {"body_will_change", pxl_req_body_will_change},
                                     {"set_path", pxl_req_set_path},
                                     {"set_query", pxl_req_set_query},
                                     {"set_method", pxl_req_set_method},
                                     {"set_host", pxl_req_set_host},
                                     {NULL, NULL}};
    static const luaL_Reg resp_m[] = {{"body_will_change", pxl_resp_body_will_change},
                                      {NULL, NULL}};
    static const luaL_Reg h_m[] = {
        {"get", pxl_h_get}, {"get_all", pxl_h_get_all}, {"set", pxl_h_set},
        {"add", pxl_h_add}, {"remove", pxl_h_remove},   {"each", pxl_h_each},
        {NULL, NULL}};
    pxl_class(L, "pyxis.txn", txn_m, pxl_txn_index, pxl_txn_newindex);
    lua_pop(L, 1);
    pxl_class(L, "pyxis.req", req_m, pxl_req_index, pxl_req_newindex);
    lua_pop(L, 1);
    pxl_class(L, "pyxis.resp", resp_m, pxl_resp_index, pxl_resp_newindex);
    lua_pop(L, 1);
    pxl_class(L, "pyxis.headers", h_m, pxl_h_index, pxl_h_newindex);
    lua_pushcfunction(L, pxl_h_each);
    lua_setfield(L, -2, "__pairs");
    lua_pop(L, 1);
    if (luaL_loadbuffer(L, pxl_pairs_lua, sizeof(pxl_pairs_lua) - 1, "=pyxis") == 0)
        lua_call(L, 0, 0);
    else
        lua_error(L);
}
