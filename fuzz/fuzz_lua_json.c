/*
 * fuzz_lua_json.c: libFuzzer target for the decoders of modules/lua/lua_util.c, called through a
 * lua_State the way scripts call them. Every input goes to pyxis.json.decode,
 * base64.decode/decode_url, hex.decode, url.decode and url.parse_query, and to json.encode as a
 * string and as a key. Seeds: fuzz/corpus/lua_json/.
 *
 * Besides "no crash, no leak, no Lua error": a decoded JSON value re-encodes, and that text
 * decodes and re-encodes to itself (compact and pretty); a string json.encode accepts decodes
 * back to itself; decoded base64 re-encodes to the input (less its padding for base64url), and
 * decoded hex to the lowercased input; url.encode then url.decode gives the input back;
 * parse_query never returns more than 1000 keys.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua_util.h"

static const char pxl_fuzz_checks[] =
    "local J, B, H, U = pyxis.json, pyxis.base64, pyxis.hex, pyxis.url\n"
    "local sorted, pretty = {sort_keys = true}, {sort_keys = true, pretty = true}\n"
    "local function must(v, err)\n"
    "  if v == nil then error('unexpected failure: ' .. tostring(err)) end\n"
    "  return v\n"
    "end\n"
    "local function refused(v, err)\n"
    "  assert(v == nil and type(err) == 'string' and #err > 0, 'nil, err expected')\n"
    "end\n"
    "return function(s)\n"
    "  local v, err = J.decode(s)\n"
    "  if v == nil then\n"
    "    refused(v, err)\n"
    "  else\n"
    "    local t1 = must(J.encode(v, sorted))\n"
    "    assert(must(J.encode(must(J.decode(t1)), sorted)) == t1, 'JSON round trip')\n"
    "    local p = must(J.encode(v, pretty))\n"
    "    assert(must(J.encode(must(J.decode(p)), sorted)) == t1, 'pretty JSON round trip')\n"
    "  end\n"
    "  local e = J.encode(s)\n"
    "  if e ~= nil then assert(must(J.decode(e)) == s, 'JSON string round trip') end\n"
    "  local k = J.encode({[s] = true})\n"
    "  if k ~= nil and not s:find('\\0', 1, true) then\n"
    "    assert(must(J.decode(k))[s] == true, 'JSON key round trip')\n"
    "  end\n"
    "  local d = B.decode(s)\n"
    "  if d ~= nil then\n"
    "    local r = B.encode(d)\n"
    "    assert(r == s or r:gsub('=', '') == s, 'base64 round trip')\n"
    "  else\n"
    "    refused(B.decode(s))\n"
    "  end\n"
    "  d = B.decode_url(s)\n"
    "  if d ~= nil then\n"
    "    assert(B.encode_url(d) == s:gsub('=+$', ''), 'base64url round trip')\n"
    "  end\n"
    "  d = H.decode(s)\n"
    "  if d ~= nil then assert(H.encode(d) == s:lower(), 'hex round trip') end\n"
    "  assert(#U.decode(s, true) <= #s, 'url.decode never grows')\n"
    "  assert(U.decode(U.encode(s)) == s, 'url round trip')\n"
    "  local n = 0\n"
    "  for _, val in pairs(U.parse_query(s)) do\n"
    "    n = n + 1\n"
    "    assert(val == true or type(val) == 'string' or #val >= 2, 'parse_query value')\n"
    "  end\n"
    "  assert(n <= 1000, 'parse_query keys')\n"
    "end\n";

static lua_State *pxl_fuzz_L;

/* The state, with `pyxis` and the checks function (at stack index 1), made on the first input. */
static lua_State *pxl_fuzz_state(void)
{
    lua_State *L = pxl_fuzz_L;
    if (L != NULL)
        return L;
    L = luaL_newstate();
    if (L == NULL)
        abort();
    luaL_openlibs(L);
    lua_newtable(L);
    pxl_util_open(L);
    lua_setglobal(L, "pyxis");
    if (luaL_loadstring(L, pxl_fuzz_checks) != 0 || lua_pcall(L, 0, 1, 0) != 0) {
        fprintf(stderr, "fuzz_lua_json: %s\n", lua_tostring(L, -1));
        abort();
    }
    pxl_fuzz_L = L;
    return L;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_State *L = pxl_fuzz_state();

    lua_pushvalue(L, 1);
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 0, 0) != 0) {
        fprintf(stderr, "fuzz_lua_json: %s\n", lua_tostring(L, -1));
        abort();
    }
    if (lua_gettop(L) != 1)
        abort();
    return 0;
}
