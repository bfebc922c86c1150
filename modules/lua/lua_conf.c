/*
 * lua_conf.c: the config of the `lua` filter module.
 *
 *   lua: { package_path: "lib/?.lua", max_instructions: 1000000, memory_limit: 64m,
 *          max_body: 1m }                                  # top level, optional
 *   filters:
 *     - lua: policies/x.lua                                # relative to the config file
 *     - lua: { file: policies/x.lua, config: { ... }, max_body: 64k }
 *     - lua: { code: "return { on_request = function(txn) ... end }" }
 *
 * Scripts are read and compiled here, on the main thread, in a scratch state: a syntax error
 * refuses the config with the script's own `file:line: message` at the filter's node. The
 * source is kept in the config arena and compiled again by each worker (lua.c), so a worker
 * runs exactly what was checked, even if the file changed since.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_mod.h"

static lua_State *pxl_scratch; /* main thread only */

/* The directory of the config file, with a trailing "/" ("" for a bare file name). */
static size_t pxl_conf_dirlen(const char *conf_file)
{
    const char *slash = strrchr(conf_file, '/');
    return slash ? (size_t)(slash - conf_file + 1) : 0;
}

/* ---- config values ----------------------------------------------------------------------- */

static int pxl_is_number(pyxis_str_t s, double *out)
{
    char buf[64], *end;
    if (s.len == 0 || s.len >= sizeof(buf))
        return 0;
    memcpy(buf, s.data, s.len);
    buf[s.len] = '\0';
    if (!(buf[0] == '-' || buf[0] == '+' || buf[0] == '.' || (buf[0] >= '0' && buf[0] <= '9')))
        return 0;
    errno = 0;
    double d = strtod(buf, &end);
    if (*end != '\0' || errno != 0)
        return 0;
    *out = d;
    return 1;
}

static int pxl_str_is(pyxis_str_t s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.data, lit, s.len) == 0;
}

static pyxis_rc_t pxl_cval(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, pxl_cval_t *v, int depth)
{
    if (depth > 32)
        return pxl_api->conf_error(cc, n, "config nested too deeply");
    switch (pxl_api->node_type(n)) {
    case PYXIS_NODE_NULL: v->type = PXL_CV_NIL; return PYXIS_OK;
    case PYXIS_NODE_SCALAR: {
        pyxis_str_t s = pxl_api->node_str(n);
        if (pxl_str_is(s, "true") || pxl_str_is(s, "false")) {
            v->type = PXL_CV_BOOL;
            v->boolean = s.data[0] == 't';
        } else if (pxl_is_number(s, &v->number)) {
            v->type = PXL_CV_NUM;
        } else {
            v->type = PXL_CV_STR;
            char *d = pxl_api->conf_strdup(cc, s.data, s.len);
            if (d == NULL)
                return PYXIS_ERROR;
            v->str = (pyxis_str_t){d, s.len};
        }
        return PYXIS_OK;
    }
    case PYXIS_NODE_SEQ:
    case PYXIS_NODE_MAP: {
        int map = pxl_api->node_type(n) == PYXIS_NODE_MAP;
        v->type = map ? PXL_CV_MAP : PXL_CV_SEQ;
        v->n = pxl_api->node_len(n);
        if (v->n == 0)
            return PYXIS_OK;
        v->values = pxl_api->conf_alloc(cc, v->n * sizeof(*v->values));
        if (map)
            v->keys = pxl_api->conf_alloc(cc, v->n * sizeof(*v->keys));
        if (v->values == NULL || (map && v->keys == NULL))
            return PYXIS_ERROR;
        for (size_t i = 0; i < v->n; i++) {
            if (map) {
                pyxis_str_t k = pxl_api->node_str(pxl_api->node_key_at(n, i));
                char *d = pxl_api->conf_strdup(cc, k.data, k.len);
                if (d == NULL)
                    return PYXIS_ERROR;
                v->keys[i].type = PXL_CV_STR;
                v->keys[i].str = (pyxis_str_t){d, k.len};
            }
            const pyxis_node_t *item = map ? pxl_api->node_value_at(n, i) : pxl_api->node_at(n, i);
            if (pxl_cval(cc, item, &v->values[i], depth + 1) != PYXIS_OK)
                return PYXIS_ERROR;
        }
        return PYXIS_OK;
    }
    }
    return pxl_api->conf_error(cc, n, "unexpected YAML node");
}

void pxl_push_cval(lua_State *L, const pxl_cval_t *v)
{
    switch (v->type) {
    case PXL_CV_NIL: lua_pushnil(L); return;
    case PXL_CV_BOOL: lua_pushboolean(L, v->boolean); return;
    case PXL_CV_NUM: lua_pushnumber(L, v->number); return;
    case PXL_CV_STR: lua_pushlstring(L, v->str.data, v->str.len); return;
    case PXL_CV_SEQ:
        lua_createtable(L, (int)v->n, 0);
        for (size_t i = 0; i < v->n; i++) {
            pxl_push_cval(L, &v->values[i]);
            lua_rawseti(L, -2, (int)i + 1);
        }
        return;
    case PXL_CV_MAP:
        lua_createtable(L, 0, (int)v->n);
        for (size_t i = 0; i < v->n; i++) {
            lua_pushlstring(L, v->keys[i].str.data, v->keys[i].str.len);
            pxl_push_cval(L, &v->values[i]);
            lua_rawset(L, -3);
        }
        return;
    }
}

/* ---- conf_global ------------------------------------------------------------------------- */

/* Each `;`-separated template of package_path that is relative is made relative to the
 * config file's directory. */
static const char *pxl_package_path(pyxis_conf_ctx_t *cc, const char *in)
{
    const char *cf = pxl_api->conf_file(cc);
    size_t dl = cf ? pxl_conf_dirlen(cf) : 0, n = 1;
    for (const char *p = in; *p; p++)
        n += *p == ';' ? dl + 1 : 1;
    char *out = pxl_api->conf_alloc(cc, n + dl + 1), *o = out;
    if (out == NULL)
        return NULL;
    const char *p = in;
    while (*p) {
        const char *e = strchr(p, ';');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l > 0) {
            if (o != out)
                *o++ = ';';
            if (p[0] != '/' && !(l == 2 && p[0] == ';' && p[1] == ';')) {
                memcpy(o, cf, dl);
                o += dl;
            }
            memcpy(o, p, l);
            o += l;
        }
        p += l + (e != NULL);
    }
    *o = '\0';
    return out;
}

pyxis_rc_t pxl_conf_global(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **out)
{
    static const char *const keys[] = {"package_path", "max_instructions", "memory_limit",
                                       "max_body"};
    pxl_gconf_t *g = pxl_api->conf_alloc(cc, sizeof(*g));
    if (g == NULL)
        return PYXIS_ERROR;
    g->max_body = PXL_DEFAULT_MAX_BODY;
    *out = g;
    if (pxl_api->node_type(node) == PYXIS_NODE_NULL)
        return PYXIS_OK;
    if (pxl_api->conf_check_keys(cc, node, keys, sizeof(keys) / sizeof(keys[0])) != PYXIS_OK)
        return PYXIS_ERROR;
    const pyxis_node_t *n;
    pyxis_rc_t rc = PYXIS_OK;
    if ((n = pxl_api->node_get(node, "package_path")) != NULL) {
        const char *s;
        if (pxl_api->conf_str(cc, n, &s) != PYXIS_OK ||
            (g->package_path = pxl_package_path(cc, s)) == NULL)
            rc = PYXIS_ERROR;
    }
    if ((n = pxl_api->node_get(node, "max_instructions")) != NULL &&
        pxl_api->conf_uint(cc, n, 1000, UINT64_C(1) << 50, &g->max_instructions) != PYXIS_OK)
        rc = PYXIS_ERROR;
    if ((n = pxl_api->node_get(node, "memory_limit")) != NULL) {
        if (pxl_api->conf_size(cc, n, &g->memory_limit) != PYXIS_OK)
            rc = PYXIS_ERROR;
        else if (g->memory_limit < 1024 * 1024)
            rc = pxl_api->conf_error(cc, n, "memory_limit must be at least 1m");
    }
    if ((n = pxl_api->node_get(node, "max_body")) != NULL &&
        pxl_api->conf_size(cc, n, &g->max_body) != PYXIS_OK)
        rc = PYXIS_ERROR;
    return rc == PYXIS_OK ? PYXIS_OK : PYXIS_ERROR;
}

/* ---- conf_create ------------------------------------------------------------------------- */

static char *pxl_read_file(pyxis_conf_ctx_t *cc, const pyxis_node_t *at, const char *path,
                           size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        pxl_api->conf_error(cc, at, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = pxl_api->conf_alloc(cc, (size_t)size + 1)) != NULL &&
        fread(buf, 1, (size_t)size, f) == (size_t)size) {
        fclose(f);
        *len = (size_t)size;
        return buf;
    }
    fclose(f);
    pxl_api->conf_error(cc, at, "cannot read %s", path);
    return NULL;
}

/* Compile in the scratch state: a syntax error is the script's `file:line: message`. */
static pyxis_rc_t pxl_check_syntax(pyxis_conf_ctx_t *cc, const pyxis_node_t *at,
                                   const pxl_conf_t *c)
{
    if (pxl_scratch == NULL && (pxl_scratch = luaL_newstate()) == NULL)
        return pxl_api->conf_error(cc, at, "cannot create a Lua state");
    lua_State *L = pxl_scratch;
    int rc = luaL_loadbuffer(L, c->source, c->len, c->chunkname);
    pyxis_rc_t out = PYXIS_OK;
    if (rc != 0) {
        const char *msg = lua_tostring(L, -1);
        out = pxl_api->conf_error(cc, at, "%s", msg ? msg : "cannot compile the script");
    }
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT, 0);
    return out;
}

/*
 * Which hooks the script can define, to tell the core (conf_uses): a hook whose name does not
 * appear in the script's text cannot be defined by it, so its phase costs nothing (a route
 * with only header hooks does not have its bodies filtered). A script that uses `require` may
 * get its hooks from elsewhere: it counts as using them all. docs/lua.md says so.
 */
static unsigned pxl_conf_hooks(const char *src, size_t len)
{
    static const struct {
        const char *name;
        unsigned bit;
    } hooks[] = {{"on_request_body", PYXIS_USES_REQUEST_BODY},
                 {"on_request", PYXIS_USES_REQUEST_HEADERS},
                 {"on_response_body", PYXIS_USES_RESPONSE_BODY},
                 {"on_response", PYXIS_USES_RESPONSE_HEADERS},
                 {"on_log", PYXIS_USES_LOG}};
    unsigned uses = 0;
    if (memmem(src, len, "require", 7) != NULL)
        return ~0u;
    for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
        size_t n = strlen(hooks[i].name);
        for (const char *p = src; (p = memmem(p, len - (size_t)(p - src), hooks[i].name, n));
             p += n) {
            /* "on_request" inside "on_request_body" is not on_request itself. */
            if (p + n < src + len && (p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z')))
                continue;
            uses |= hooks[i].bit;
            break;
        }
    }
    /* The request-headers callback also carries txn.req:read_body() and txn.ctx set-up. */
    return uses | PYXIS_USES_REQUEST_HEADERS;
}

pyxis_rc_t pxl_conf_create(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **out)
{
    static const char *const keys[] = {"file", "code", "config", "max_body"};
    pxl_conf_t *c = pxl_api->conf_alloc(cc, sizeof(*c));
    if (c == NULL)
        return PYXIS_ERROR;
    *out = c;
    const pyxis_node_t *file = NULL, *code = NULL, *n;
    switch (pxl_api->node_type(node)) {
    case PYXIS_NODE_SCALAR: file = node; break;
    case PYXIS_NODE_MAP:
        if (pxl_api->conf_check_keys(cc, node, keys, sizeof(keys) / sizeof(keys[0])) != PYXIS_OK)
            return PYXIS_ERROR;
        file = pxl_api->node_get(node, "file");
        code = pxl_api->node_get(node, "code");
        break;
    default:
        pxl_api->conf_error(cc, node, "expected a script file name or a map with file: or code:");
        return PYXIS_ERROR;
    }
    if ((file == NULL) == (code == NULL)) {
        pxl_api->conf_error(cc, node, "give exactly one of file: and code:");
        return PYXIS_ERROR;
    }
    const char *s;
    if (file != NULL) {
        if (pxl_api->conf_str(cc, file, &s) != PYXIS_OK)
            return PYXIS_ERROR;
        const char *path = pxl_api->conf_path(cc, (pyxis_str_t){s, strlen(s)});
        char *name = pxl_api->conf_alloc(cc, strlen(s) + 2);
        if (path == NULL || name == NULL)
            return PYXIS_ERROR;
        name[0] = '@';
        memcpy(name + 1, s, strlen(s) + 1);
        c->chunkname = name;
        if ((c->source = pxl_read_file(cc, file, path, &c->len)) == NULL)
            return PYXIS_ERROR;
    } else {
        if (pxl_api->conf_str(cc, code, &s) != PYXIS_OK)
            return PYXIS_ERROR;
        const char *cf = pxl_api->conf_file(cc);
        const char *base = cf ? cf + pxl_conf_dirlen(cf) : "config";
        char name[256];
        int len = snprintf(name, sizeof(name), "=inline@%s:%u", base, pxl_api->node_line(code));
        c->chunkname = pxl_api->conf_strdup(cc, name, (size_t)len);
        c->source = s;
        c->len = strlen(s);
        if (c->chunkname == NULL)
            return PYXIS_ERROR;
    }
    if ((n = pxl_api->node_get(node, "config")) != NULL && node != file) {
        pxl_cval_t *v = pxl_api->conf_alloc(cc, sizeof(*v));
        if (v == NULL || pxl_cval(cc, n, v, 0) != PYXIS_OK)
            return PYXIS_ERROR;
        c->config = v;
    }
    if (node != file && (n = pxl_api->node_get(node, "max_body")) != NULL &&
        pxl_api->conf_size(cc, n, &c->max_body) != PYXIS_OK)
        return PYXIS_ERROR;
    if (pxl_check_syntax(cc, file ? file : code, c) != PYXIS_OK)
        return PYXIS_ERROR;
    pxl_api->conf_uses(cc, pxl_conf_hooks(c->source, c->len));
    return PYXIS_OK;
}

void pxl_conf_fini(void)
{
    if (pxl_scratch != NULL)
        lua_close(pxl_scratch);
    pxl_scratch = NULL;
}
