/*
 * lua_util.h: the helper functions Lua scripts find on the `pyxis` table: JSON (jansson),
 * base64/base64url, hex, digests and HMAC, random bytes, constant-time comparison (OpenSSL) and
 * URL percent-coding. modules/lua/lua_util.md is the user's description, with examples.
 *
 * Conventions shared by every function below:
 *   - Strings are byte strings: every function is binary-safe (embedded NULs included).
 *   - A wrong argument type or an out-of-range argument is the caller's bug and raises a Lua
 *     error ("bad argument #1 to 'decode' (string expected, got table)"). Like every Lua
 *     string function, a number is accepted where a string is expected.
 *   - Bad *data* (malformed JSON, invalid base64, a value JSON cannot hold) is the input's
 *     fault and returns nil plus a one-line message; no garbage is ever returned instead.
 *   - Nothing is kept between calls: no global or static mutable state, so each worker's own
 *     lua_State may call these concurrently with the others'.
 *
 * JSON
 *   pyxis.json.encode(value [, opts]) -> string | nil, err
 *       value: nil, boolean, number, string, table, or pyxis.json.null. opts (optional
 *       table): pretty = true (two-space indent, one member per line), sort_keys = true (object
 *       members sorted by key; otherwise their order is unspecified).
 *       A table whose keys are exactly 1..n (n >= 1) is an array; any other table is an object,
 *       whose number keys become strings ("1", "2.5"); other key types are an error. An empty
 *       table is `{}`, except pyxis.json.empty_array and tables whose metatable is
 *       pyxis.json.array_mt, which are arrays (`[]` when empty; an array_mt table with keys
 *       other than 1..n is an error). Integral numbers in [-2^63, 2^63) are written as
 *       integers, others with the fewest digits (up to 17) that read back to the same double.
 *       Metatables are otherwise ignored (no __index, __pairs, __tojson).
 *       Errors (nil, err): NaN or infinity; invalid UTF-8 in a string or key; a function,
 *       userdata, thread or cdata; a key that is not a string or number, or a number key that
 *       collides with a string key; nesting deeper than 128 tables; a table that contains
 *       itself.
 *   pyxis.json.decode(string) -> value | nil, err
 *       Any JSON value (not only objects and arrays). Objects become tables, arrays tables with
 *       metatable pyxis.json.array_mt (so they re-encode as arrays even when empty), null
 *       becomes pyxis.json.null. Every number becomes a Lua number (a double): integers beyond
 *       2^53 lose precision, numbers beyond the double range are an error. A repeated object key
 *       keeps its last value. String values may hold \u0000; object keys may not (jansson).
 *       Errors (nil, err): anything that is not exactly one JSON text, trailing bytes included,
 *       reported as "line L, column C: <jansson's message>"; invalid UTF-8; nesting deeper than
 *       128.
 *   pyxis.json.null         a lightuserdata NULL (equal to cjson.null and ngx.null)
 *   pyxis.json.empty_array  a read-only empty table that encodes as `[]`
 *   pyxis.json.array_mt     the metatable that marks a table as a JSON array
 *
 * Encodings
 *   pyxis.base64.encode(s) -> string           RFC 4648 base64, padded
 *   pyxis.base64.decode(s) -> string | nil, err
 *   pyxis.base64.encode_url(s) -> string       RFC 4648 base64url, no padding
 *   pyxis.base64.decode_url(s) -> string | nil, err
 *       Decoders take their own alphabet only, with or without padding ("=" must then pad to a
 *       multiple of 4), no whitespace, and zero bits after the last byte (the canonical
 *       encoding): anything else returns nil, "invalid base64: <why>" (with the offset of
 *       the offending character when there is one).
 *   pyxis.hex.encode(s) -> string              lowercase
 *   pyxis.hex.decode(s) -> string | nil, err   either case; nil, err for odd length or non-hex
 *
 * Crypto (OpenSSL)
 *   pyxis.sha1(s), pyxis.sha256(s), pyxis.sha512(s) -> raw digest (20, 32, 64 bytes)
 *   pyxis.hmac(alg, key, msg) -> raw MAC; alg is "sha1", "sha256", "sha384" or "sha512"
 *       (anything else raises)
 *   pyxis.random_bytes(n) -> n bytes from the OpenSSL CSPRNG; n an integer in [0, 1 MiB]
 *   pyxis.constant_time_eq(a, b) -> boolean: equal contents, compared in time independent of
 *       the bytes (CRYPTO_memcmp); strings of different lengths are unequal (the length is
 *       not secret)
 *   An internal OpenSSL failure raises a Lua error.
 *
 * URLs
 *   pyxis.url.encode(s) -> string: every byte but RFC 3986 unreserved (A-Z a-z 0-9 - . _ ~) as
 *       %XX (uppercase hex)
 *   pyxis.url.decode(s [, plus]) -> string: %XX (either case) decoded; "+" becomes a space only
 *       when plus is true; a "%" not followed by two hex digits is kept as it is
 *   pyxis.url.parse_query(qs) -> table: qs split at "&" (empty pieces skipped), each piece at
 *       its first "=", key and value decoded as by url.decode(x, true). A key maps to its value
 *       string ("" for "a="), to true for a piece without "=", or, when it repeats, to a list
 *       of those in order. Only the first 1000 pieces are read; the rest are ignored.
 */
#ifndef PXL_LUA_UTIL_H
#define PXL_LUA_UTIL_H

#include <lua.h>

/* Set the utility functions above as fields of the table at the top of L's stack (the `pyxis`
 * table), replacing fields of the same names (json, base64, hex, url, sha1, sha256, sha512,
 * hmac, random_bytes, constant_time_eq). The stack is left as it was. Raises a Lua error only
 * when out of memory. */
void pxl_util_open(lua_State *L);

/* pyxis.url.parse_query as a lua_CFunction (txn.req.args uses it directly). */
int pxl_url_parse_query(lua_State *L);

#endif
