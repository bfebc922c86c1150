/*
 * test_lua_util.c: the utility functions on the `pyxis` table (modules/lua/lua_util.c), tested
 * from Lua the way scripts use them. Each block below is a Lua chunk; its check(), eq(),
 * fails() and raises() calls become TAP assertions:
 *
 *   eq(got, want, name)            got == want
 *   fails(text, name, f(...))      f returned nil and a message containing text
 *   raises(text, name, f, ...)     f(...) raised an error whose message contains text
 */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua_util.h"
#include "px_tap.h"

static int lua_check(lua_State *L)
{
    int cond = lua_toboolean(L, 1);
    ok(cond, "%s", luaL_optstring(L, 2, "(unnamed)"));
    lua_pushboolean(L, cond);
    return 1;
}

static int lua_diag(lua_State *L)
{
    printf("#   %s\n", luaL_checkstring(L, 1));
    return 0;
}

/* The assertion helpers, in Lua on top of check() and diag(). */
static const char prelude[] =
    "function show(v)\n"
    "  if type(v) ~= 'string' then return tostring(v) end\n"
    "  return \"'\" .. v:gsub('[^%w%p ]', function(c)\n"
    "    return string.format('\\\\x%02x', c:byte()) end) .. \"'\"\n"
    "end\n"
    "function eq(got, want, name)\n"
    "  if not check(got == want, name) then\n"
    "    diag('     got: ' .. show(got)); diag('expected: ' .. show(want))\n"
    "  end\n"
    "end\n"
    "function fails(text, name, v, err)\n"
    "  local good = v == nil and type(err) == 'string' and err:find(text, 1, true) ~= nil\n"
    "  if not check(good, name) then\n"
    "    diag('got: ' .. show(v) .. ', ' .. show(err)); diag('expected: nil, \"...' .. text ..\n"
    "      '...\"')\n"
    "  end\n"
    "end\n"
    "function raises(text, name, f, ...)\n"
    "  local okay, err = pcall(f, ...)\n"
    "  err = tostring(err)\n"
    "  if not check(not okay and err:find(text, 1, true) ~= nil, name) then\n"
    "    diag('got: ' .. (okay and 'no error' or err)); diag('expected an error with: ' .. text)\n"
    "  end\n"
    "end\n"
    "hex = pyxis.hex.encode\n"
    "function unhex(s) return (pyxis.hex.decode(s)) end\n"
    "all_bytes = {}\n"
    "for i = 0, 255 do all_bytes[#all_bytes + 1] = string.char(i) end\n"
    "all_bytes = table.concat(all_bytes)\n";

static const char json_encode[] =
    "local J = pyxis.json\n"
    "local enc, sorted = J.encode, {sort_keys = true}\n"
    "eq(enc(nil), 'null', 'nil encodes as null')\n"
    "eq(enc(J.null), 'null', 'pyxis.json.null encodes as null')\n"
    "eq(enc(true) .. enc(false), 'truefalse', 'booleans')\n"
    "eq(enc(0), '0', 'zero')\n"
    "eq(enc(-42), '-42', 'a negative integer')\n"
    "eq(enc(1.5), '1.5', 'a real')\n"
    "eq(enc(0.1), '0.1', '0.1 with the fewest digits that read back')\n"
    "eq(enc(1/3), '0.3333333333333333', '1/3 needs 16 digits')\n"
    "eq(enc(0.1 + 0.2), '0.30000000000000004', '0.1 + 0.2 needs 17 digits')\n"
    "eq(enc(2^53), '9007199254740992', '2^53 as an integer')\n"
    "eq(enc(2^60), '1152921504606846976', '2^60 as an integer (the exact double)')\n"
    "eq(enc(-2^63), '-9223372036854775808', '-2^63 is still an integer')\n"
    "eq(enc(2^63), '9.223372036854776e18', '2^63 does not fit: a real')\n"
    "eq(enc(1e300), '1e300', '1e300')\n"
    "eq(enc(5e-324), '5e-324', 'the smallest subnormal with one digit')\n"
    "eq(enc(2.5e-320), '2.5e-320', 'a subnormal with two digits')\n"
    "eq(enc(1.7976931348623157e308), '1.7976931348623157e308', 'the largest double')\n"
    "eq(enc('a\"b\\\\c\\n\\t'), '\"a\\\\\"b\\\\\\\\c\\\\n\\\\t\"', 'string escapes')\n"
    "eq(enc('x\\0y'), '\"x\\\\u0000y\"', 'an embedded NUL')\n"
    "eq(enc('\\195\\169\\240\\159\\152\\128'), '\"\\195\\169\\240\\159\\152\\128\"',\n"
    "   'UTF-8 is written as is')\n"
    "eq(enc({1, 2, 3}), '[1,2,3]', 'keys 1..n make an array')\n"
    "eq(enc({'a', {}, {true}}), '[\"a\",{},[true]]', 'nested arrays')\n"
    "eq(enc({}), '{}', 'an empty table is an object')\n"
    "eq(enc(J.empty_array), '[]', 'empty_array is an array')\n"
    "eq(enc({list = J.empty_array}), '{\"list\":[]}', 'empty_array inside an object')\n"
    "eq(enc(setmetatable({}, J.array_mt)), '[]', 'array_mt marks an empty table as an array')\n"
    "eq(enc(setmetatable({4, 5}, J.array_mt)), '[4,5]', 'array_mt on a filled array')\n"
    "eq(enc({a = 1, b = {c = {true, false}, d = 'x'}}, sorted),\n"
    "   '{\"a\":1,\"b\":{\"c\":[true,false],\"d\":\"x\"}}', 'nested objects')\n"
    "eq(enc({[1] = 'a', [3] = 'c'}, sorted), '{\"1\":\"a\",\"3\":\"c\"}',\n"
    "   'a table with holes is an object')\n"
    "eq(enc({1, 2, x = 3}, sorted), '{\"1\":1,\"2\":2,\"x\":3}', 'mixed keys make an object')\n"
    "eq(enc({[0] = 'z'}), '{\"0\":\"z\"}', 'key 0 makes an object')\n"
    "eq(enc({[-1] = 'z'}), '{\"-1\":\"z\"}', 'a negative key makes an object')\n"
    "eq(enc({[1.5] = true}), '{\"1.5\":true}', 'a non-integral number key')\n"
    "eq(enc({[0.1] = true}), '{\"0.1\":true}', 'a number key with the fewest digits')\n"
    "eq(enc({J.null, 1}), '[null,1]', 'null inside an array')\n"
    "eq(enc({a = J.null}), '{\"a\":null}', 'null inside an object')\n"
    "eq(enc({['a\\0b'] = 1}), '{\"a\\\\u0000b\":1}', 'a key with a NUL')\n"
    "local shared = {1}\n"
    "eq(enc({shared, shared}), '[[1],[1]]', 'a table used twice is not a cycle')\n"
    "eq(enc({b = 1, a = {2}}, {sort_keys = true, pretty = true}),\n"
    "   '{\\n  \"a\": [\\n    2\\n  ],\\n  \"b\": 1\\n}', 'pretty and sort_keys')\n"
    "eq(enc({z = 1, y = 2, x = 3, w = 4}, sorted), '{\"w\":4,\"x\":3,\"y\":2,\"z\":1}',\n"
    "   'sort_keys orders the members')\n"
    "eq(enc({1}, {pretty = false, sort_keys = false}), '[1]', 'options set to false')\n"
    "eq(enc({0.1, 0.1 + 0.2}), '[0.10000000000000001,0.30000000000000004]',\n"
    "   'one precision for the whole text: still exact')\n"
    "local t = {}\n"
    "for i = 1, 1000 do t[i] = i end\n"
    "eq(#enc(t), 3894, 'a 1000-element array')\n";

static const char json_encode_errors[] =
    "local J = pyxis.json\n"
    "local enc = J.encode\n"
    "fails('cannot encode NaN or infinity', 'NaN', enc(0/0))\n"
    "fails('cannot encode NaN or infinity', 'infinity', enc(math.huge))\n"
    "fails('cannot encode NaN or infinity', 'infinity inside an array', enc({1, -math.huge}))\n"
    "fails('NaN or infinity as an object key', 'an infinite key', enc({[math.huge] = 1}))\n"
    "fails('invalid UTF-8 in a string', 'a byte that is not UTF-8', enc('\\255'))\n"
    "fails('invalid UTF-8 in a string', 'a truncated sequence', enc('a\\195'))\n"
    "fails('invalid UTF-8 in a string', 'an overlong sequence', enc('\\192\\128'))\n"
    "fails('invalid UTF-8 in a string', 'an encoded surrogate', enc('\\237\\160\\128'))\n"
    "fails('invalid UTF-8 in an object key', 'a key that is not UTF-8', enc({['\\255'] = 1}))\n"
    "fails('cannot encode a function', 'a function', enc({f = print}))\n"
    "fails('cannot encode a userdata', 'a full userdata', enc(io.stdout))\n"
    "fails('cannot encode a thread', 'a coroutine', enc(coroutine.create(print)))\n"
    "fails('cannot use a boolean as an object key', 'a boolean key', enc({[true] = 1}))\n"
    "fails('cannot use a table as an object key', 'a table key', enc({[{}] = 1}))\n"
    "fails('key \"1\" appears twice', 'a number key meeting a string key',\n"
    "      enc({[1] = 'a', ['1'] = 'b'}))\n"
    "fails('has keys other than 1..n', 'array_mt with a string key',\n"
    "      enc(setmetatable({1, x = 2}, J.array_mt)))\n"
    "fails('has keys other than 1..n', 'array_mt with a hole',\n"
    "      enc(setmetatable({1, nil, 3}, J.array_mt)))\n"
    "local t = {}\n"
    "t.self = t\n"
    "fails('cannot encode a table that contains itself', 'a direct cycle', enc(t))\n"
    "local a = {}\n"
    "a[1] = {x = {a}}\n"
    "fails('contains itself', 'a cycle through arrays and objects', enc(a))\n"
    "local function nest(n) local t = {} for i = 2, n do t = {t} end return t end\n"
    "local s = enc(nest(128))\n"
    "eq(s, ('['):rep(127) .. '{}' .. (']'):rep(127), '128 nested tables encode')\n"
    "fails('nested deeper than 128', '129 nested tables', enc(nest(129)))\n"
    "fails('nested deeper than 128', '10000 nested tables', enc(nest(10000)))\n"
    "raises('value expected', 'encode() without a value', enc)\n"
    "raises(\"unknown option 'indent'\", 'an unknown option', enc, 1, {indent = 2})\n"
    "raises('table expected', 'options that are not a table', enc, 1, 'pretty')\n"
    "raises('read-only', 'empty_array cannot be filled', function() J.empty_array[1] = 1 end)\n"
    "eq(next(J.empty_array), nil, 'empty_array stays empty')\n"
    "eq(type(J.null), 'userdata', 'null is a lightuserdata')\n";

static const char json_decode[] =
    "local J = pyxis.json\n"
    "local enc, dec, sorted = J.encode, J.decode, {sort_keys = true}\n"
    "local v = dec('{\"a\":[1,2,{\"b\":null}],\"c\":\"x\",\"d\":true,\"e\":false,\"f\":-1.5e2}')\n"
    "eq(type(v), 'table', 'an object decodes to a table')\n"
    "eq(#v.a, 3, 'an array decodes to a sequence')\n"
    "eq(v.a[1] + v.a[2], 3, 'numbers')\n"
    "eq(v.a[3].b, J.null, 'null decodes to pyxis.json.null')\n"
    "eq(v.c, 'x', 'a string')\n"
    "eq(v.d, true, 'true')\n"
    "eq(v.e, false, 'false')\n"
    "eq(v.f, -150, 'an exponent')\n"
    "eq(getmetatable(v.a), J.array_mt, 'arrays carry array_mt')\n"
    "eq(getmetatable(v), nil, 'objects carry no metatable')\n"
    "eq(dec('\"\\\\u00e9\\\\ud83d\\\\ude00\\\\u20ac\"'),\n"
    "   '\\195\\169\\240\\159\\152\\128\\226\\130\\172',\n"
    "   'unicode escapes, a surrogate pair among them')\n"
    "eq(dec('\"a\\\\u0000b\"'), 'a\\0b', 'an escaped NUL')\n"
    "eq(dec('\"\\\\\"\\\\\\\\\\\\/\\\\b\\\\f\\\\n\\\\r\\\\t\"'), '\"\\\\/\\b\\f\\n\\r\\t',\n"
    "   'every short escape')\n"
    "eq(dec('123'), 123, 'a number as the whole text')\n"
    "eq(dec('\"s\"'), 's', 'a string as the whole text')\n"
    "eq(dec('null'), J.null, 'null as the whole text')\n"
    "eq(dec(' \\n\\ttrue\\r\\n'), true, 'whitespace around the text')\n"
    "eq(dec('9007199254740993'), 2^53, 'integers beyond 2^53 lose precision')\n"
    "eq(dec('12345678901234567890123'), 12345678901234567890123,\n"
    "   'integers beyond 2^64 become the nearest double')\n"
    "eq(dec('-0.0'), 0, 'minus zero')\n"
    "eq(dec('{\"a\":1,\"a\":2}').a, 2, 'a repeated key keeps its last value')\n"
    "eq(next(dec('{}')), nil, 'an empty object')\n"
    "eq(enc(dec('[]')), '[]', 'an empty array re-encodes as []')\n"
    "eq(enc(dec('{}')), '{}', 'an empty object re-encodes as {}')\n"
    "for _, s in ipairs({'[1,2,3]', '{\"a\":{\"b\":[[],{}]},\"c\":null}', '[0.1,1.5,-2,1e300]',\n"
    "    '[\"\\\\u0000\",\"\\\\u001F\",\"\\195\\169\"]', '{\"\":\"\",\"1\":[[[[true]]]]}',\n"
    "    '-1e-300',\n"
    "    '[9007199254740992,-9007199254740992]'}) do\n"
    "  eq(enc(dec(s), sorted), s, 'round trip ' .. s)\n"
    "end\n"
    "local deep = ('['):rep(128) .. (']'):rep(128)\n"
    "eq(enc(dec(deep)), deep, '128 nested arrays decode')\n"
    "local deeper = ('{\"a\":'):rep(128) .. '[]' .. ('}'):rep(128)\n"
    "fails('nested deeper than 128', '129 nested values', dec(deeper))\n"
    "fails('maximum parsing depth', '100000 nested arrays: jansson stops at 2048',\n"
    "      dec(('['):rep(100000)))\n"
    "raises('string expected', 'decode(table)', dec, {})\n"
    "raises('string expected', 'decode()', dec)\n";

static const char json_decode_errors[] =
    "local dec = pyxis.json.decode\n"
    "fails(\"line 1, column 3: ']' expected near end of file\", 'a truncated array',\n"
    "      dec('[1,'))\n"
    "fails('line 3, column 8: ', 'the position of the error',\n"
    "      dec('{\\n  \"a\": 1,\\n  \"b\": x}'))\n"
    "fails('end of file expected', 'trailing garbage', dec('{} x'))\n"
    "fails('end of file expected', 'two texts', dec('1 2'))\n"
    "fails('line 1', 'empty input', dec(''))\n"
    "fails('line 1', 'only whitespace', dec('  '))\n"
    "fails('unable to decode byte 0xff', 'invalid UTF-8', dec('\"\\255\"'))\n"
    "fails('line 1', 'an overlong UTF-8 sequence', dec('\"\\192\\128\"'))\n"
    "fails('line 1', 'NaN', dec('NaN'))\n"
    "fails('line 1', 'Infinity', dec('[Infinity]'))\n"
    "fails('line 1', 'single quotes', dec(\"{'a':1}\"))\n"
    "fails('line 1', 'a trailing comma', dec('[1,]'))\n"
    "fails('line 1', 'a comment', dec('[1] // x'))\n"
    "fails('line 1', 'a lone surrogate escape', dec('\"\\\\ud800\"'))\n"
    "fails('line 1', 'a bad escape', dec('\"\\\\x41\"'))\n"
    "fails('line 1', 'a raw control character in a string', dec('\"a\\nb\"'))\n"
    "fails('line 1', 'a raw NUL', dec('[1]\\0'))\n"
    "fails('real number overflow', 'a number beyond the double range', dec('1e400'))\n"
    "fails('line 1', 'a leading zero', dec('01'))\n"
    "fails('line 1', 'an unquoted key', dec('{a:1}'))\n"
    "fails('NUL byte in object key', 'jansson refuses a NUL in a key',\n"
    "      dec('{\"k\\\\u0000\":1}'))\n";

static const char base64[] =
    "local B = pyxis.base64\n"
    "local rfc4648 = {{'', ''}, {'f', 'Zg=='}, {'fo', 'Zm8='}, {'foo', 'Zm9v'},\n"
    "  {'foob', 'Zm9vYg=='}, {'fooba', 'Zm9vYmE='}, {'foobar', 'Zm9vYmFy'}}\n"
    "for _, v in ipairs(rfc4648) do\n"
    "  local raw, b64 = v[1], v[2]\n"
    "  local unpadded = b64:gsub('=', '')\n"
    "  eq(B.encode(raw), b64, 'RFC 4648 encode ' .. show(raw))\n"
    "  eq(B.decode(b64), raw, 'RFC 4648 decode ' .. show(b64))\n"
    "  eq(B.decode(unpadded), raw, 'decode unpadded ' .. show(unpadded))\n"
    "  eq(B.encode_url(raw), unpadded, 'encode_url ' .. show(raw) .. ' has no padding')\n"
    "  eq(B.decode_url(unpadded), raw, 'decode_url ' .. show(unpadded))\n"
    "  eq(B.decode_url(b64), raw, 'decode_url with padding ' .. show(b64))\n"
    "end\n"
    "eq(B.encode('\\251\\255\\191'), '+/+/', 'the standard alphabet')\n"
    "eq(B.encode_url('\\251\\255\\191'), '-_-_', 'the URL alphabet')\n"
    "eq(B.decode('+/+/'), '\\251\\255\\191', 'decode the standard alphabet')\n"
    "eq(B.decode_url('-_-_'), '\\251\\255\\191', 'decode_url the URL alphabet')\n"
    "eq(B.decode(B.encode(all_bytes)), all_bytes, 'every byte value round trips')\n"
    "eq(B.decode_url(B.encode_url(all_bytes)), all_bytes, 'every byte value round trips (url)')\n"
    "eq(B.encode('\\0\\0\\0'), 'AAAA', 'NULs')\n"
    "eq(B.encode(7), 'Nw==', 'a number is taken as its string')\n"
    "fails('unexpected character at offset 0', 'decode rejects the URL alphabet',\n"
    "      B.decode('-_-_'))\n"
    "fails('unexpected character at offset 0', 'decode_url rejects the standard alphabet',\n"
    "      B.decode_url('+/+/'))\n"
    "fails('truncated', 'one character', B.decode('Z'))\n"
    "fails('truncated', 'five characters', B.decode('Zm9vY'))\n"
    "fails('padding does not end a group of 4', 'short padding', B.decode('Zg='))\n"
    "fails('padding does not end a group of 4', 'padding alone', B.decode('='))\n"
    "fails('padding does not end a group of 4', 'short padding (url)', B.decode_url('Zg='))\n"
    "fails('unexpected character at offset 1', 'three padding characters', B.decode('Z==='))\n"
    "fails('unexpected character at offset 2', 'padding in the middle', B.decode('Zg==Zg=='))\n"
    "fails('unexpected character at offset 4', 'a newline', B.decode('Zm9v\\nYmFy'))\n"
    "fails('unexpected character at offset 0', 'a space', B.decode(' Zm9v'))\n"
    "fails('unexpected character at offset 2', 'a NUL', B.decode('Zm\\0v'))\n"
    "fails('unexpected character at offset 1', 'a non-ASCII byte', B.decode('Z\\200==='))\n"
    "fails('non-zero bits after the last byte', 'a non-canonical final character',\n"
    "      B.decode('Zh=='))\n"
    "fails('non-zero bits after the last byte', 'a non-canonical 2-byte end', B.decode('Zm9='))\n"
    "fails('non-zero bits after the last byte', 'non-canonical (url)', B.decode_url('Zh'))\n"
    "raises('string expected', 'encode(table)', B.encode, {})\n"
    "raises('string expected', 'decode(nil)', B.decode, nil)\n";

static const char hexcodec[] =
    "local H = pyxis.hex\n"
    "eq(H.encode('foobar'), '666f6f626172', 'RFC 4648 base16, lowercase')\n"
    "eq(H.encode(''), '', 'empty')\n"
    "eq(H.encode('\\0\\255\\16'), '00ff10', 'NUL and high bytes')\n"
    "eq(H.decode('666F6f626172'), 'foobar', 'decode takes either case')\n"
    "eq(H.decode(''), '', 'decode empty')\n"
    "eq(H.decode(H.encode(all_bytes)), all_bytes, 'every byte value round trips')\n"
    "fails('odd length (3)', 'odd length', H.decode('abc'))\n"
    "fails('not a hex digit at offset 2', 'a non-hex character', H.decode('00zz'))\n"
    "fails('not a hex digit at offset 1', 'x in 0x', H.decode('0x'))\n"
    "fails('not a hex digit at offset 0', 'a space', H.decode(' 0'))\n"
    "fails('not a hex digit at offset 1', 'a NUL', H.decode('0\\0'))\n"
    "raises('string expected', 'encode(nil)', H.encode)\n";

/* FIPS 180-2 examples; HMAC: RFC 4231 cases 1, 2, 3, 6, 7 and RFC 2202 (SHA-1) 1, 2, 6. */
static const char crypto[] =
    "local abc448 = 'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'\n"
    "eq(hex(pyxis.sha1('abc')), 'a9993e364706816aba3e25717850c26c9cd0d89d', 'SHA-1 abc')\n"
    "eq(hex(pyxis.sha1(abc448)), '84983e441c3bd26ebaae4aa1f95129e5e54670f1', 'SHA-1 448 bits')\n"
    "eq(hex(pyxis.sha1('')), 'da39a3ee5e6b4b0d3255bfef95601890afd80709', 'SHA-1 empty')\n"
    "eq(hex(pyxis.sha256('abc')),\n"
    "   'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'SHA-256 abc')\n"
    "eq(hex(pyxis.sha256(abc448)),\n"
    "   '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1', 'SHA-256 448 bits')\n"
    "eq(hex(pyxis.sha256(('a'):rep(1000000))),\n"
    "   'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0',\n"
    "   'SHA-256 a million a')\n"
    "eq(hex(pyxis.sha256('')),\n"
    "   'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'SHA-256 empty')\n"
    "eq(hex(pyxis.sha512('abc')),\n"
    "   'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a'\n"
    "   .. '2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f', 'SHA-512 abc')\n"
    "eq(hex(pyxis.sha512('abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno'\n"
    "   .. 'ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu')),\n"
    "   '8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018'\n"
    "   .. '501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909',\n"
    "   'SHA-512 896 bits')\n"
    "eq(#pyxis.sha1('x') .. #pyxis.sha256('x') .. #pyxis.sha512('x'), '203264', 'raw lengths')\n"
    "eq(pyxis.sha256('a\\0b') ~= pyxis.sha256('a'), true, 'digests read past a NUL')\n"
    "local rfc4231 = {\n"
    "  {('\\11'):rep(20), 'Hi There',\n"
    "   'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',\n"
    "   'afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c'\n"
    "   .. 'faea9ea9076ede7f4af152e8b2fa9cb6',\n"
    "   '87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde'\n"
    "   .. 'daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854'},\n"
    "  {'Jefe', 'what do ya want for nothing?',\n"
    "   '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',\n"
    "   'af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e'\n"
    "   .. '8e2240ca5e69e2c78b3239ecfab21649',\n"
    "   '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554'\n"
    "   .. '9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737'},\n"
    "  {('\\170'):rep(20), ('\\221'):rep(50),\n"
    "   '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe',\n"
    "   '88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b'\n"
    "   .. '2a5ab39dc13814b94e3ab6e101a34f27',\n"
    "   'fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39'\n"
    "   .. 'bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb'},\n"
    "  {('\\170'):rep(131), 'Test Using Larger Than Block-Size Key - Hash Key First',\n"
    "   '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',\n"
    "   '4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6'\n"
    "   .. '0c2ef6ab4030fe8296248df163f44952',\n"
    "   '80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352'\n"
    "   .. '6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598'},\n"
    "  {('\\170'):rep(131), 'This is a test using a larger than block-size key and a larger '\n"
    "   .. 'than block-size data. The key needs to be hashed before being used by the HMAC '\n"
    "   .. 'algorithm.',\n"
    "   '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',\n"
    "   '6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5'\n"
    "   .. 'a678cc31e799176d3860e6110c46523e',\n"
    "   'e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944'\n"
    "   .. 'b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58'},\n"
    "}\n"
    "for i, c in ipairs(rfc4231) do\n"
    "  eq(hex(pyxis.hmac('sha256', c[1], c[2])), c[3], 'RFC 4231 #' .. i .. ' HMAC-SHA-256')\n"
    "  eq(hex(pyxis.hmac('sha384', c[1], c[2])), c[4], 'RFC 4231 #' .. i .. ' HMAC-SHA-384')\n"
    "  eq(hex(pyxis.hmac('sha512', c[1], c[2])), c[5], 'RFC 4231 #' .. i .. ' HMAC-SHA-512')\n"
    "end\n"
    "eq(hex(pyxis.hmac('sha1', ('\\11'):rep(20), 'Hi There')),\n"
    "   'b617318655057264e28bc0b6fb378c8ef146be00', 'RFC 2202 #1 HMAC-SHA-1')\n"
    "eq(hex(pyxis.hmac('sha1', 'Jefe', 'what do ya want for nothing?')),\n"
    "   'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79', 'RFC 2202 #2 HMAC-SHA-1')\n"
    "eq(hex(pyxis.hmac('sha1', ('\\170'):rep(80),\n"
    "   'Test Using Larger Than Block-Size Key - Hash Key First')),\n"
    "   'aa4ae5e15272d00e95705637ce8a3b55ed402112', 'RFC 2202 #6 HMAC-SHA-1')\n"
    "eq(hex(pyxis.hmac('sha256', '', '')),\n"
    "   'b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad',\n"
    "   'HMAC-SHA-256 with an empty key and message')\n"
    "raises(\"unsupported algorithm 'md5'\", 'hmac md5', pyxis.hmac, 'md5', 'k', 'm')\n"
    "raises('unsupported algorithm', 'algorithm names are lowercase', pyxis.hmac, 'SHA256', 'k',\n"
    "       'm')\n"
    "raises('string expected', 'hmac without a key', pyxis.hmac, 'sha256', nil, 'm')\n"
    "raises('string expected', 'hmac without a message', pyxis.hmac, 'sha256', 'k')\n"
    "raises('string expected', 'sha256(table)', pyxis.sha256, {})\n"
    "eq(#pyxis.random_bytes(0), 0, 'random_bytes(0)')\n"
    "eq(#pyxis.random_bytes(16), 16, 'random_bytes(16)')\n"
    "eq(#pyxis.random_bytes(1048576), 1048576, 'random_bytes(1 MiB)')\n"
    "eq(pyxis.random_bytes(32) ~= pyxis.random_bytes(32), true, 'two draws differ')\n"
    "raises('expected an integer from 0 to 1048576', 'random_bytes(1 MiB + 1)',\n"
    "       pyxis.random_bytes, 1048577)\n"
    "raises('expected an integer', 'random_bytes(-1)', pyxis.random_bytes, -1)\n"
    "raises('expected an integer', 'random_bytes(1.5)', pyxis.random_bytes, 1.5)\n"
    "raises('expected an integer', 'random_bytes(0/0)', pyxis.random_bytes, 0/0)\n"
    "raises('number expected', 'random_bytes(\"x\")', pyxis.random_bytes, 'x')\n"
    "local cte = pyxis.constant_time_eq\n"
    "eq(cte('secret', 'secret'), true, 'constant_time_eq equal')\n"
    "eq(cte('secret', 'secreT'), false, 'constant_time_eq last byte differs')\n"
    "eq(cte('secret', 'secre'), false, 'constant_time_eq different lengths')\n"
    "eq(cte('', ''), true, 'constant_time_eq empty')\n"
    "eq(cte('a\\0b', 'a\\0b'), true, 'constant_time_eq with NULs')\n"
    "eq(cte('a\\0b', 'a\\0c'), false, 'constant_time_eq past a NUL')\n"
    "raises('string expected', 'constant_time_eq(nil)', cte, 'a', nil)\n";

static const char url[] =
    "local U = pyxis.url\n"
    "eq(U.encode('AZaz09-._~'), 'AZaz09-._~', 'unreserved characters are kept')\n"
    "eq(U.encode('a b&c=d/e?f#g+h%'), 'a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh%25',\n"
    "   'reserved characters are escaped')\n"
    "eq(U.encode('\\195\\169\\0\\255'), '%C3%A9%00%FF', 'bytes as uppercase %XX')\n"
    "eq(U.decode('a%20b%2fc%2F'), 'a b/c/', 'decode takes either case')\n"
    "eq(U.decode('a+b'), 'a+b', 'plus stays a plus by default')\n"
    "eq(U.decode('a+b%2B', true), 'a b+', 'plus is a space when asked')\n"
    "eq(U.decode('a+b', false), 'a+b', 'plus stays a plus with false')\n"
    "eq(U.decode('100%'), '100%', 'a lone % is kept')\n"
    "eq(U.decode('%4'), '%4', 'a short escape is kept')\n"
    "eq(U.decode('%zz%41'), '%zzA', 'an invalid escape is kept')\n"
    "eq(U.decode('%%41'), '%A', 'a % before an escape')\n"
    "eq(U.decode('%00%C3%A9'), '\\0\\195\\169', 'NUL and UTF-8')\n"
    "eq(U.decode(U.encode(all_bytes)), all_bytes, 'every byte value round trips')\n"
    "raises('boolean expected', 'the plus flag is a boolean', U.decode, 'x', 'yes')\n"
    "raises('string expected', 'encode(nil)', U.encode)\n"
    "local q = U.parse_query('a=1&b=&c&d=x%20y+z&a=2&a=3&&e=%zz&=v&f==&g=%26')\n"
    "eq(type(q.a), 'table', 'a repeated key gives a list')\n"
    "eq(#q.a .. q.a[1] .. q.a[2] .. q.a[3], '3123', 'the list holds the values in order')\n"
    "eq(q.b, '', 'a= gives an empty string')\n"
    "eq(q.c, true, 'a key without = gives true')\n"
    "eq(q.d, 'x y z', 'values are percent-decoded, + is a space')\n"
    "eq(q.e, '%zz', 'an invalid escape is kept')\n"
    "eq(q[''], 'v', 'an empty key')\n"
    "eq(q.f, '=', 'the value is everything after the first =')\n"
    "eq(q.g, '&', 'an escaped & is data')\n"
    "local r = U.parse_query('x&x=1&x')\n"
    "eq(#r.x, 3, 'true and strings in one list')\n"
    "eq(r.x[1] == true and r.x[2] == '1' and r.x[3] == true, true, 'the list keeps true')\n"
    "local s = U.parse_query('a%5B%5D=1&a[]=2&k+1=v')\n"
    "eq(#s['a[]'], 2, 'keys are decoded before they are compared')\n"
    "eq(s['k 1'], 'v', 'a + in a key is a space')\n"
    "eq(next(U.parse_query('')), nil, 'an empty query')\n"
    "eq(next(U.parse_query('&&&')), nil, 'only separators')\n"
    "local parts = {}\n"
    "for i = 1, 1001 do parts[i] = 'k' .. i .. '=' .. i end\n"
    "local big = U.parse_query(table.concat(parts, '&'))\n"
    "local n = 0\n"
    "for _ in pairs(big) do n = n + 1 end\n"
    "eq(n, 1000, 'only the first 1000 pairs are read')\n"
    "eq(big.k1000, '1000', 'pair 1000 is read')\n"
    "eq(big.k1001, nil, 'pair 1001 is ignored')\n"
    "eq(#U.parse_query(('x=1&'):rep(5000)).x, 1000, 'a key repeated 5000 times: 1000 values')\n"
    "eq(U.parse_query(('&'):rep(5000) .. 'a=1').a, '1', 'empty pieces do not count')\n"
    "raises('string expected', 'parse_query(nil)', U.parse_query)\n";

/* Run one chunk; an error outside the helpers is one failed test. */
static void run(lua_State *L, const char *name, const char *code)
{
    lua_getglobal(L, "debug");
    lua_getfield(L, -1, "traceback");
    lua_remove(L, -2);
    if (luaL_loadbuffer(L, code, strlen(code), name) != 0 || lua_pcall(L, 0, 0, -2) != 0) {
        ok(0, "%s: the chunk ran to its end", name);
        printf("#   %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

int main(void)
{
    lua_State *L = luaL_newstate();

    plan_no_plan();
    luaL_openlibs(L);
    lua_register(L, "check", lua_check);
    lua_register(L, "diag", lua_diag);
    lua_newtable(L);
    pxl_util_open(L);
    ok(lua_gettop(L) == 1 && lua_istable(L, 1), "pxl_util_open leaves the stack as it was");
    lua_setglobal(L, "pyxis");

    run(L, "=prelude", prelude);
    run(L, "=json_encode", json_encode);
    run(L, "=json_encode_errors", json_encode_errors);
    run(L, "=json_decode", json_decode);
    run(L, "=json_decode_errors", json_decode_errors);
    run(L, "=base64", base64);
    run(L, "=hex", hexcodec);
    run(L, "=crypto", crypto);
    run(L, "=url", url);

    /* Everything the functions held (jansson trees, boxes) is released by a full collection. */
    lua_gc(L, LUA_GCCOLLECT, 0);
    ok(lua_gettop(L) == 0, "the stack is balanced");
    lua_close(L);
    return done_testing();
}
