/*
 * lua_util.c: the utility functions on the `pyxis` table (JSON, base64, hex, digests, HMAC,
 * random bytes, constant-time comparison, URL percent-coding). lua_util.h is the contract.
 *
 * JSON goes through jansson: encode converts the Lua value into a jansson tree, then dumps it;
 * decode parses with jansson, then converts the tree into Lua values. A jansson tree or dumped
 * text is held by a "box" userdata whose __gc frees it, so a Lua error (out of memory) in the
 * middle of a conversion cannot leak it. The sentinels (empty_array, array_mt) and the box's
 * metatable reach the functions as upvalues: nothing lives in globals or the registry.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "lua_util.h"

#define PXL_JSON_MAX_DEPTH 128
#define PXL_RANDOM_MAX     (1024 * 1024)
#define PXL_QUERY_MAX      1000

/* Push nil and a formatted message; returns 2 (the values a function returns on bad data). */
static int pxl_fail(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int pxl_fail(lua_State *L, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lua_pushnil(L);
    lua_pushstring(L, msg);
    return 2;
}

static int pxl_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ---- JSON: shared ------------------------------------------------------------------------- */

/* What a Lua error must not leak: a jansson tree and a dumped text (json_dumps's memory). */
typedef struct {
    json_t *root;
    char *text;
} pxl_json_box_t;

static void pxl_json_box_clear(pxl_json_box_t *box)
{
    json_free_t free_fn;
    if (box->root != NULL) {
        json_decref(box->root);
        box->root = NULL;
    }
    if (box->text != NULL) {
        json_get_alloc_funcs(NULL, &free_fn);
        free_fn(box->text);
        box->text = NULL;
    }
}

static int pxl_json_box_gc(lua_State *L)
{
    pxl_json_box_clear(lua_touserdata(L, 1));
    return 0;
}

/* Push an empty box; its metatable is upvalue 1 of both encode and decode. */
static pxl_json_box_t *pxl_json_box(lua_State *L)
{
    pxl_json_box_t *box = lua_newuserdata(L, sizeof(*box));
    box->root = NULL;
    box->text = NULL;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_setmetatable(L, -2);
    return box;
}

/* Is x integral and inside json_int_t's range? Then *i is its value. */
static int pxl_json_is_int(double x, long long *i)
{
    if (!(x >= -9223372036854775808.0 && x < 9223372036854775808.0))
        return 0;
    *i = (long long)x;
    return (double)*i == x;
}

/* Write finite x with the fewest significant digits that read back to x; returns the digits
 * used. A normal double needs 15 to 17 (%.15g of a shorter decimal gives that decimal back); a
 * subnormal may need fewer than 15 and print noise at 15, so it starts from 1. */
static int pxl_json_digits(double x, char *buf, size_t size)
{
    int p = x > -DBL_MIN && x < DBL_MIN ? 1 : 15;
    for (; p < 17; p++) {
        snprintf(buf, size, "%.*g", p, x);
        if (strtod(buf, NULL) == x)
            return p;
    }
    snprintf(buf, size, "%.17g", x);
    return 17;
}

static int pxl_json_readonly(lua_State *L)
{
    return luaL_error(L, "pyxis.json.empty_array is read-only");
}

/* ---- JSON: encode ------------------------------------------------------------------------- */

/* The state of one encode. Indexes are pseudo-indexes of the encode closure's upvalues. */
typedef struct {
    lua_State *L;
    int empty_array;
    int array_mt;
    int depth;
    int precision; /* digits the reals need to read back exactly; 0 while there is none */
    const void *path[PXL_JSON_MAX_DEPTH]; /* the tables being converted, outermost first */
    char err[200];
} pxl_json_enc_t;

static json_t *pxl_json_enc_value(pxl_json_enc_t *e, int idx);

static json_t *pxl_json_enc_number(pxl_json_enc_t *e, double x)
{
    char buf[64];
    long long i;
    int p;
    if (isnan(x) || isinf(x)) {
        snprintf(e->err, sizeof(e->err), "cannot encode NaN or infinity");
        return NULL;
    }
    if (pxl_json_is_int(x, &i))
        return json_integer((json_int_t)i);
    p = pxl_json_digits(x, buf, sizeof(buf));
    if (p > e->precision)
        e->precision = p;
    return json_real(x);
}

/* The object key for number key x, into buf; -1 (e->err set) for infinity. */
static int pxl_json_number_key(pxl_json_enc_t *e, double x, char *buf, size_t size)
{
    long long i;
    if (isnan(x) || isinf(x)) {
        snprintf(e->err, sizeof(e->err), "cannot use NaN or infinity as an object key");
        return -1;
    }
    if (pxl_json_is_int(x, &i))
        snprintf(buf, size, "%lld", i);
    else
        pxl_json_digits(x, buf, size);
    return 0;
}

/* The array elements 1..n of the table at idx. */
static json_t *pxl_json_enc_array(pxl_json_enc_t *e, int idx, size_t n)
{
    lua_State *L = e->L;
    json_t *arr = json_array(), *v;
    size_t i;
    if (arr == NULL)
        goto oom;
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (int)i);
        v = pxl_json_enc_value(e, lua_gettop(L));
        lua_pop(L, 1);
        if (v == NULL) {
            json_decref(arr);
            return NULL;
        }
        if (json_array_append_new(arr, v) != 0) {
            json_decref(arr);
            goto oom;
        }
    }
    return arr;
oom:
    snprintf(e->err, sizeof(e->err), "out of memory");
    return NULL;
}

/* The members of the table at idx, as an object. */
static json_t *pxl_json_enc_object(pxl_json_enc_t *e, int idx)
{
    lua_State *L = e->L;
    json_t *obj = json_object(), *v;
    char num[64];
    const char *k;
    size_t klen;
    int kt;
    if (obj == NULL) {
        snprintf(e->err, sizeof(e->err), "out of memory");
        return NULL;
    }
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        kt = lua_type(L, -2);
        if (kt == LUA_TSTRING) {
            k = lua_tolstring(L, -2, &klen);
        } else if (kt == LUA_TNUMBER) {
            if (pxl_json_number_key(e, lua_tonumber(L, -2), num, sizeof(num)) != 0)
                goto fail;
            k = num;
            klen = strlen(num);
        } else {
            snprintf(e->err, sizeof(e->err), "cannot use a %s as an object key",
                     lua_typename(L, kt));
            goto fail;
        }
        /* Only a number key turned into a string can meet an existing key. */
        if (json_object_getn(obj, k, klen) != NULL) {
            snprintf(e->err, sizeof(e->err),
                     "key \"%.64s\" appears twice (a number key and a "
                     "string key)",
                     k);
            goto fail;
        }
        v = pxl_json_enc_value(e, lua_gettop(L));
        if (v == NULL)
            goto fail;
        /* The _new setter takes v even when it fails. */
        if (json_object_setn_new(obj, k, klen, v) != 0) {
            snprintf(e->err, sizeof(e->err), "invalid UTF-8 in an object key");
            goto fail;
        }
        lua_pop(L, 1);
    }
    return obj;
fail:
    lua_pop(L, 2);
    json_decref(obj);
    return NULL;
}

static json_t *pxl_json_enc_table(pxl_json_enc_t *e, int idx)
{
    lua_State *L = e->L;
    const void *self = lua_topointer(L, idx);
    size_t n = 0;
    double max = 0;
    long long k;
    int i, is_array = 1, marked = 0;
    json_t *j;

    if (lua_rawequal(L, idx, e->empty_array))
        return json_array();
    for (i = 0; i < e->depth; i++) {
        if (e->path[i] == self) {
            snprintf(e->err, sizeof(e->err), "cannot encode a table that contains itself");
            return NULL;
        }
    }
    if (e->depth >= PXL_JSON_MAX_DEPTH) {
        snprintf(e->err, sizeof(e->err), "cannot encode tables nested deeper than %d",
                 PXL_JSON_MAX_DEPTH);
        return NULL;
    }
    if (lua_getmetatable(L, idx)) {
        marked = lua_rawequal(L, -1, e->array_mt);
        lua_pop(L, 1);
    }
    /* An array has the keys 1..n and no other: n positive integer keys whose largest is n. */
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        n++;
        if (is_array && lua_type(L, -1) == LUA_TNUMBER &&
            pxl_json_is_int(lua_tonumber(L, -1), &k) && k >= 1) {
            if ((double)k > max)
                max = (double)k;
        } else {
            is_array = 0;
        }
    }
    is_array = is_array && (double)n == max && (n > 0 || marked);
    if (marked && !is_array && n > 0) {
        snprintf(e->err, sizeof(e->err),
                 "a table with pyxis.json.array_mt has keys other than 1..n");
        return NULL;
    }
    e->path[e->depth++] = self;
    j = is_array ? pxl_json_enc_array(e, idx, n) : pxl_json_enc_object(e, idx);
    e->depth--;
    return j;
}

/* The JSON value for the Lua value at (absolute) index idx; NULL with e->err set on error.
 * Raises no Lua error: the caller reserved the stack space a 128-deep conversion needs. */
static json_t *pxl_json_enc_value(pxl_json_enc_t *e, int idx)
{
    lua_State *L = e->L;
    const char *s;
    size_t len;
    json_t *j;
    int t = lua_type(L, idx);

    switch (t) {
    case LUA_TNIL: return json_null();
    case LUA_TBOOLEAN: return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER: return pxl_json_enc_number(e, lua_tonumber(L, idx));
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &len);
        j = json_stringn(s, len);
        if (j == NULL)
            snprintf(e->err, sizeof(e->err), "invalid UTF-8 in a string");
        return j;
    case LUA_TTABLE: return pxl_json_enc_table(e, idx);
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL)
            return json_null();
        break;
    default: break;
    }
    snprintf(e->err, sizeof(e->err), "cannot encode a %s", lua_typename(L, t));
    return NULL;
}

/* pyxis.json.encode(value [, opts]); upvalues: box metatable, empty_array, array_mt. */
static int pxl_json_encode(lua_State *L)
{
    pxl_json_enc_t e;
    pxl_json_box_t *box;
    const char *opt;
    size_t flags = JSON_ENCODE_ANY;
    int pretty = 0, sort_keys = 0;

    luaL_checkany(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 2) != 0) {
            opt = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
            if (strcmp(opt, "pretty") == 0)
                pretty = lua_toboolean(L, -1);
            else if (strcmp(opt, "sort_keys") == 0)
                sort_keys = lua_toboolean(L, -1);
            else
                return luaL_argerror(
                    L, 2, lua_pushfstring(L, "unknown option '%s' (pretty, sort_keys)", opt));
            lua_pop(L, 1);
        }
    }
    lua_settop(L, 1);
    /* Each level holds at most a key and a value on the stack. */
    luaL_checkstack(L, 2 * PXL_JSON_MAX_DEPTH + 8, "json.encode");
    box = pxl_json_box(L);

    e.L = L;
    e.empty_array = lua_upvalueindex(2);
    e.array_mt = lua_upvalueindex(3);
    e.depth = 0;
    e.precision = 0;
    e.err[0] = '\0';
    box->root = pxl_json_enc_value(&e, 1);
    if (box->root == NULL)
        return pxl_fail(L, "%s", e.err);

    flags |= pretty ? JSON_INDENT(2) : JSON_COMPACT;
    if (sort_keys)
        flags |= JSON_SORT_KEYS;
    if (e.precision > 0)
        flags |= JSON_REAL_PRECISION(e.precision);
    box->text = json_dumps(box->root, flags);
    json_decref(box->root);
    box->root = NULL;
    if (box->text == NULL)
        return luaL_error(L, "json.encode: out of memory");
    lua_pushstring(L, box->text);
    pxl_json_box_clear(box);
    return 1;
}

/* ---- JSON: decode ------------------------------------------------------------------------- */

/* Push the Lua value for j; -1 when nested deeper than the limit (the stack is then the
 * caller's to reset). array_mt is a pseudo-index. */
static int pxl_json_dec_value(lua_State *L, json_t *j, int depth, int array_mt)
{
    const char *key;
    size_t klen, i, n;
    json_t *v;

    switch (json_typeof(j)) {
    case JSON_OBJECT:
        if (depth >= PXL_JSON_MAX_DEPTH)
            return -1;
        luaL_checkstack(L, 4, "json.decode");
        n = json_object_size(j);
        lua_createtable(L, 0, n > INT_MAX ? INT_MAX : (int)n);
        json_object_keylen_foreach(j, key, klen, v)
        {
            lua_pushlstring(L, key, klen);
            if (pxl_json_dec_value(L, v, depth + 1, array_mt) != 0)
                return -1;
            lua_rawset(L, -3);
        }
        return 0;
    case JSON_ARRAY:
        if (depth >= PXL_JSON_MAX_DEPTH)
            return -1;
        luaL_checkstack(L, 4, "json.decode");
        n = json_array_size(j);
        lua_createtable(L, n > INT_MAX ? INT_MAX : (int)n, 0);
        for (i = 0; i < n; i++) {
            if (pxl_json_dec_value(L, json_array_get(j, i), depth + 1, array_mt) != 0)
                return -1;
            lua_rawseti(L, -2, (int)(i + 1));
        }
        lua_pushvalue(L, array_mt);
        lua_setmetatable(L, -2);
        return 0;
    case JSON_STRING: lua_pushlstring(L, json_string_value(j), json_string_length(j)); return 0;
    case JSON_INTEGER: lua_pushnumber(L, (lua_Number)json_integer_value(j)); return 0;
    case JSON_REAL: lua_pushnumber(L, json_real_value(j)); return 0;
    case JSON_TRUE: lua_pushboolean(L, 1); return 0;
    case JSON_FALSE: lua_pushboolean(L, 0); return 0;
    case JSON_NULL: lua_pushlightuserdata(L, NULL); return 0;
    }
    return -1;
}

/* pyxis.json.decode(string); upvalues: box metatable, array_mt. */
static int pxl_json_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    pxl_json_box_t *box;
    json_error_t jerr;
    int top;

    lua_settop(L, 1);
    box = pxl_json_box(L);
    box->root =
        json_loadb(s, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &jerr);
    if (box->root == NULL)
        return pxl_fail(L, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
    top = lua_gettop(L);
    if (pxl_json_dec_value(L, box->root, 0, lua_upvalueindex(2)) != 0) {
        lua_settop(L, top);
        pxl_json_box_clear(box);
        return pxl_fail(L, "JSON nested deeper than %d", PXL_JSON_MAX_DEPTH);
    }
    pxl_json_box_clear(box);
    return 1;
}

/* ---- base64, hex -------------------------------------------------------------------------- */

static const char pxl_b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char pxl_b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int pxl_b64_encode_with(lua_State *L, const char *alphabet, int pad)
{
    size_t len, i;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    uint32_t v;

    luaL_buffinit(L, &b);
    for (i = 0; i + 3 <= len; i += 3) {
        v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        luaL_addchar(&b, alphabet[v >> 18]);
        luaL_addchar(&b, alphabet[(v >> 12) & 63]);
        luaL_addchar(&b, alphabet[(v >> 6) & 63]);
        luaL_addchar(&b, alphabet[v & 63]);
    }
    if (len - i == 1) {
        v = (uint32_t)s[i] << 16;
        luaL_addchar(&b, alphabet[v >> 18]);
        luaL_addchar(&b, alphabet[(v >> 12) & 63]);
        if (pad)
            luaL_addlstring(&b, "==", 2);
    } else if (len - i == 2) {
        v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        luaL_addchar(&b, alphabet[v >> 18]);
        luaL_addchar(&b, alphabet[(v >> 12) & 63]);
        luaL_addchar(&b, alphabet[(v >> 6) & 63]);
        if (pad)
            luaL_addchar(&b, '=');
    }
    luaL_pushresult(&b);
    return 1;
}

static int pxl_b64_value(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

/* Strict decoding: the alphabet only, padding optional but then complete, zero trailing bits. */
static int pxl_b64_decode_with(lua_State *L, int url)
{
    size_t len, n, i, pad = 0;
    const char *s = luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    uint32_t acc = 0;
    int bits = 0;

    n = len;
    while (pad < 2 && n > 0 && s[n - 1] == '=') {
        n--;
        pad++;
    }
    for (i = 0; i < n; i++) {
        if (pxl_b64_value((unsigned char)s[i], url) < 0)
            return pxl_fail(L, "invalid base64: unexpected character at offset %zu", i);
    }
    if (pad > 0 && len % 4 != 0)
        return pxl_fail(L, "invalid base64: padding does not end a group of 4 at offset %zu", n);
    if (n % 4 == 1)
        return pxl_fail(L, "invalid base64: truncated (%zu characters)", n);
    luaL_buffinit(L, &b);
    for (i = 0; i < n; i++) {
        acc = acc << 6 | (uint32_t)pxl_b64_value((unsigned char)s[i], url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            luaL_addchar(&b, (char)(acc >> bits));
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return pxl_fail(L, "invalid base64: non-zero bits after the last byte at offset %zu",
                        n - 1);
    luaL_pushresult(&b);
    return 1;
}

static int pxl_b64_encode(lua_State *L)
{
    return pxl_b64_encode_with(L, pxl_b64_std, 1);
}

static int pxl_b64_decode(lua_State *L)
{
    return pxl_b64_decode_with(L, 0);
}

static int pxl_b64_encode_url(lua_State *L)
{
    return pxl_b64_encode_with(L, pxl_b64_url, 0);
}

static int pxl_b64_decode_url(lua_State *L)
{
    return pxl_b64_decode_with(L, 1);
}

static const char pxl_hex_lower[] = "0123456789abcdef";

static int pxl_hex_encode(lua_State *L)
{
    size_t len, i;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    luaL_Buffer b;

    luaL_buffinit(L, &b);
    for (i = 0; i < len; i++) {
        luaL_addchar(&b, pxl_hex_lower[s[i] >> 4]);
        luaL_addchar(&b, pxl_hex_lower[s[i] & 15]);
    }
    luaL_pushresult(&b);
    return 1;
}

static int pxl_hex_decode(lua_State *L)
{
    size_t len, i;
    const char *s = luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    int hi, lo;

    if (len % 2 != 0)
        return pxl_fail(L, "invalid hex: odd length (%zu)", len);
    luaL_buffinit(L, &b);
    for (i = 0; i < len; i += 2) {
        hi = pxl_hex_value((unsigned char)s[i]);
        lo = pxl_hex_value((unsigned char)s[i + 1]);
        if (hi < 0 || lo < 0)
            return pxl_fail(L, "invalid hex: not a hex digit at offset %zu", hi < 0 ? i : i + 1);
        luaL_addchar(&b, (char)(hi << 4 | lo));
    }
    luaL_pushresult(&b);
    return 1;
}

/* ---- digests, HMAC, random, comparison ---------------------------------------------------- */

static int pxl_digest(lua_State *L, const EVP_MD *md, const char *name)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (md == NULL || EVP_Digest(s, len, out, &n, md, NULL) != 1)
        return luaL_error(L, "%s: OpenSSL digest failed", name);
    lua_pushlstring(L, (const char *)out, n);
    return 1;
}

static int pxl_sha1(lua_State *L)
{
    return pxl_digest(L, EVP_sha1(), "sha1");
}

static int pxl_sha256(lua_State *L)
{
    return pxl_digest(L, EVP_sha256(), "sha256");
}

static int pxl_sha512(lua_State *L)
{
    return pxl_digest(L, EVP_sha512(), "sha512");
}

static int pxl_hmac(lua_State *L)
{
    static const struct {
        const char *name;
        const EVP_MD *(*md)(void);
    } algs[] = {
        {"sha1", EVP_sha1},
        {"sha256", EVP_sha256},
        {"sha384", EVP_sha384},
        {"sha512", EVP_sha512},
    };
    const char *alg = luaL_checkstring(L, 1);
    size_t klen, mlen, i;
    const char *key = luaL_checklstring(L, 2, &klen);
    const char *msg = luaL_checklstring(L, 3, &mlen);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        if (strcmp(alg, algs[i].name) == 0)
            break;
    }
    if (i == sizeof(algs) / sizeof(algs[0]))
        return luaL_argerror(
            L, 1,
            lua_pushfstring(L, "unsupported algorithm '%s' (sha1, sha256, sha384, sha512)", alg));
    if (klen > INT_MAX)
        return luaL_argerror(L, 2, "key too long");
    if (HMAC(algs[i].md(), key, (int)klen, (const unsigned char *)msg, mlen, out, &n) == NULL)
        return luaL_error(L, "hmac: OpenSSL HMAC failed");
    lua_pushlstring(L, (const char *)out, n);
    return 1;
}

static int pxl_random_bytes(lua_State *L)
{
    lua_Number x = luaL_checknumber(L, 1);
    long long n;
    size_t left, k;
    luaL_Buffer b;
    char *p;

    if (!pxl_json_is_int(x, &n) || n < 0 || n > PXL_RANDOM_MAX)
        return luaL_argerror(L, 1, "expected an integer from 0 to 1048576");
    luaL_buffinit(L, &b);
    for (left = (size_t)n; left > 0; left -= k) {
        k = left < LUAL_BUFFERSIZE ? left : LUAL_BUFFERSIZE;
        p = luaL_prepbuffer(&b);
        if (RAND_bytes((unsigned char *)p, (int)k) != 1)
            return luaL_error(L, "random_bytes: OpenSSL RAND_bytes failed");
        luaL_addsize(&b, k);
    }
    luaL_pushresult(&b);
    return 1;
}

static int pxl_constant_time_eq(lua_State *L)
{
    size_t alen, blen;
    const char *a = luaL_checklstring(L, 1, &alen);
    const char *b = luaL_checklstring(L, 2, &blen);

    lua_pushboolean(L, alen == blen && CRYPTO_memcmp(a, b, alen) == 0);
    return 1;
}

/* ---- URLs --------------------------------------------------------------------------------- */

static int pxl_url_encode(lua_State *L)
{
    static const char upper[] = "0123456789ABCDEF";
    size_t len, i;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    unsigned char c;

    luaL_buffinit(L, &b);
    for (i = 0; i < len; i++) {
        c = s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            luaL_addchar(&b, (char)c);
        } else {
            luaL_addchar(&b, '%');
            luaL_addchar(&b, upper[c >> 4]);
            luaL_addchar(&b, upper[c & 15]);
        }
    }
    luaL_pushresult(&b);
    return 1;
}

/* Push s[0..len) percent-decoded; a "%" without two hex digits stays as it is. */
static void pxl_url_push_decoded(lua_State *L, const char *s, size_t len, int plus)
{
    luaL_Buffer b;
    size_t i;
    int hi, lo;

    luaL_buffinit(L, &b);
    for (i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && (hi = pxl_hex_value((unsigned char)s[i + 1])) >= 0 &&
            (lo = pxl_hex_value((unsigned char)s[i + 2])) >= 0) {
            luaL_addchar(&b, (char)(hi << 4 | lo));
            i += 2;
        } else if (s[i] == '+' && plus) {
            luaL_addchar(&b, ' ');
        } else {
            luaL_addchar(&b, s[i]);
        }
    }
    luaL_pushresult(&b);
}

static int pxl_url_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    int plus = 0;

    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TBOOLEAN);
        plus = lua_toboolean(L, 2);
    }
    pxl_url_push_decoded(L, s, len, plus);
    return 1;
}

/* With the result table at t and a key and a value on top: store the value, or append it to
 * the key's list (made on its second occurrence). Pops the key and the value. */
static void pxl_url_query_add(lua_State *L, int t)
{
    lua_pushvalue(L, -2);
    lua_rawget(L, t); /* key value old */
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_rawset(L, t);
    } else if (lua_istable(L, -1)) {
        lua_insert(L, -2); /* key list value */
        lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
        lua_pop(L, 2);
    } else {
        lua_createtable(L, 4, 0); /* key value old list */
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1); /* key value list */
        lua_insert(L, -2);
        lua_rawseti(L, -2, 2); /* key list */
        lua_rawset(L, t);
    }
}

int pxl_url_parse_query(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *end = s + len, *p = s, *amp, *eq;
    int t, pairs = 0;

    lua_settop(L, 1);
    lua_newtable(L);
    t = lua_gettop(L);
    while (p < end && pairs < PXL_QUERY_MAX) {
        amp = memchr(p, '&', (size_t)(end - p));
        if (amp == NULL)
            amp = end;
        if (amp > p) {
            pairs++;
            eq = memchr(p, '=', (size_t)(amp - p));
            pxl_url_push_decoded(L, p, (size_t)((eq ? eq : amp) - p), 1);
            if (eq != NULL)
                pxl_url_push_decoded(L, eq + 1, (size_t)(amp - eq - 1), 1);
            else
                lua_pushboolean(L, 1);
            pxl_url_query_add(L, t);
        }
        p = amp + 1;
    }
    return 1;
}

/* ---- registration ------------------------------------------------------------------------- */

static const luaL_Reg pxl_base64_funcs[] = {
    {"encode", pxl_b64_encode},
    {"decode", pxl_b64_decode},
    {"encode_url", pxl_b64_encode_url},
    {"decode_url", pxl_b64_decode_url},
    {NULL, NULL},
};

static const luaL_Reg pxl_hex_funcs[] = {
    {"encode", pxl_hex_encode},
    {"decode", pxl_hex_decode},
    {NULL, NULL},
};

static const luaL_Reg pxl_url_funcs[] = {
    {"encode", pxl_url_encode},
    {"decode", pxl_url_decode},
    {"parse_query", pxl_url_parse_query},
    {NULL, NULL},
};

static const luaL_Reg pxl_top_funcs[] = {
    {"sha1", pxl_sha1},
    {"sha256", pxl_sha256},
    {"sha512", pxl_sha512},
    {"hmac", pxl_hmac},
    {"random_bytes", pxl_random_bytes},
    {"constant_time_eq", pxl_constant_time_eq},
    {NULL, NULL},
};

/* Set the functions of regs on the table at t. */
static void pxl_util_set_funcs(lua_State *L, int t, const luaL_Reg *regs)
{
    for (; regs->name != NULL; regs++) {
        lua_pushcfunction(L, regs->func);
        lua_setfield(L, t, regs->name);
    }
}

/* Set a new table of the functions of regs as field name of the table at t. */
static void pxl_util_set_table(lua_State *L, int t, const char *name, const luaL_Reg *regs)
{
    lua_newtable(L);
    pxl_util_set_funcs(L, lua_gettop(L), regs);
    lua_setfield(L, t, name);
}

/* pyxis.json: encode and decode closures sharing the sentinels and the box metatable. */
static void pxl_util_set_json(lua_State *L, int t)
{
    int json, array_mt, empty_array, box_mt;

    lua_createtable(L, 0, 5);
    json = lua_gettop(L);
    lua_newtable(L);
    array_mt = lua_gettop(L);
    lua_newtable(L);
    empty_array = lua_gettop(L);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, pxl_json_readonly);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, empty_array);
    lua_createtable(L, 0, 1);
    box_mt = lua_gettop(L);
    lua_pushcfunction(L, pxl_json_box_gc);
    lua_setfield(L, box_mt, "__gc");

    lua_pushvalue(L, box_mt);
    lua_pushvalue(L, empty_array);
    lua_pushvalue(L, array_mt);
    lua_pushcclosure(L, pxl_json_encode, 3);
    lua_setfield(L, json, "encode");
    lua_pushvalue(L, box_mt);
    lua_pushvalue(L, array_mt);
    lua_pushcclosure(L, pxl_json_decode, 2);
    lua_setfield(L, json, "decode");
    lua_pushvalue(L, empty_array);
    lua_setfield(L, json, "empty_array");
    lua_pushvalue(L, array_mt);
    lua_setfield(L, json, "array_mt");
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, json, "null");
    lua_pushvalue(L, json);
    lua_setfield(L, t, "json");
    lua_settop(L, json - 1);
}

void pxl_util_open(lua_State *L)
{
    int t = lua_gettop(L);

    luaL_checkstack(L, 12, "pxl_util_open");
    pxl_util_set_json(L, t);
    pxl_util_set_table(L, t, "base64", pxl_base64_funcs);
    pxl_util_set_table(L, t, "hex", pxl_hex_funcs);
    pxl_util_set_table(L, t, "url", pxl_url_funcs);
    pxl_util_set_funcs(L, t, pxl_top_funcs);
    lua_settop(L, t);
}
