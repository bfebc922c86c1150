# 110-lua-api: the Lua filter's request and response API: config forms, the per-filter config
# table, request accessors and rewrites, the header tables, txn:respond from both phases,
# txn.ctx shared between two Lua filters, variables seen by a C filter, package_path; what the
# txn objects are (one per request, the same object each time it is read, unusable once the
# request is over).
use strict;
use warnings;
use Test::More;
use PxTest;

my $be = PxTest::Backend->echo(name => 'be');
my $other = PxTest::Backend->echo(name => 'other');
my $dir = write_files(
    'req.lua' => <<'LUA',
local M = {}
function M.on_request(txn)
  local r, h = txn.req, txn.req.headers
  h["x-method"] = r.method
  h["x-path"] = r.path
  h["x-query"] = r.query
  h["x-host"] = r.host
  h["x-scheme"] = r.scheme
  h["x-version"] = tostring(r.version)
  h["x-client"] = r.client_addr .. ":" .. type(r.client_port)
  local args = r.args
  h["x-args"] = tostring(args.a) .. "," .. tostring(args.b) .. "," .. type(args.c) .. ","
    .. (type(args.m) == "table" and table.concat(args.m, "+") or "-")
  h["x-first"] = h["x-multi"]
  h["x-all"] = table.concat(h:get_all("X-MULTI"), "|")
  h:set("x-list", { "1", "2" })
  h:add("x-list", "3")
  h["x-gone"] = nil
  h:remove("x-gone2")
  local n = 0
  for name, value in pairs(h) do n = n + 1 end
  local m = 0
  for name, value in h:each() do m = m + 1 end
  h["x-count"] = tostring(n == m and n > 0)
end
return M
LUA
    'rewrite.lua' => <<'LUA',
return {
  on_request = function(txn)
    local r = txn.req
    r.path = "/rewritten" .. r.path
    r.query = "q=1"
    r.method = "PUT"
    r.host = "example.test"
    if r.headers["x-switch"] then txn:set_upstream("other") end
  end,
}
LUA
    'resp.lua' => <<'LUA',
return {
  on_response = function(txn)
    local h = txn.resp.headers
    h["x-status"] = tostring(txn.resp.status)
    h["x-backend"] = nil
    h:add("x-added", "a")
    if txn.req.path == "/resp/teapot" then txn.resp.status = 418 end
    if txn.req.path == "/resp/replace" then
      return txn:respond(503, "replaced\n", { ["x-why"] = "policy", ["x-two"] = { "a", "b" } })
    end
  end,
}
LUA
    'deny.lua' => <<'LUA',
return {
  on_request = function(txn)
    if txn.req.headers["x-deny"] then
      txn:respond(403, "no\n", { ["x-denied"] = "yes" })
      error("not reached: respond() ends the hook")
    end
  end,
}
LUA
    'ctx1.lua' => <<'LUA',
return {
  on_request = function(txn)
    txn.ctx.user = "alice"
    txn:set_var("who", "lua-user")
  end,
  on_response = function(txn) txn.resp.headers["x-ctx-back"] = txn.ctx.seen end,
}
LUA
    'ctx2.lua' => <<'LUA',
return {
  on_request = function(txn)
    txn.ctx.seen = txn.ctx.user .. "+" .. txn:var("var.who") .. "+" .. tostring(txn:var("nope"))
    txn.req.headers["x-ctx"] = txn.ctx.seen
  end,
}
LUA
    'config.lua' => <<'LUA',
local config = ...
local mylib = require "mylib"
return {
  on_request = function(txn)
    txn:respond(200, mylib.describe(config))
  end,
}
LUA
    'objects.lua' => <<'LUA',
local kept_txn, kept_h
local function fails(f, want, ...)
  local ok, e = pcall(f, ...)
  if ok then return "no-error" end
  return tostring(e):find(want, 1, true) and "error" or tostring(e)
end
return {
  on_request = function(txn)
    local r = {}
    r[#r + 1] = tostring(txn.req == txn.req and txn.req.headers == txn.req.headers
      and txn.resp.headers ~= txn.req.headers)
    r[#r + 1] = type(txn)
    r[#r + 1] = kept_txn == nil and "first" or tostring(kept_txn ~= txn)
    if kept_txn then
      r[#r + 1] = fails(function() return kept_txn.req.path end, "the request is over")
      r[#r + 1] = fails(function() kept_h["x-a"] = "1" end, "the request is over")
    end
    kept_txn, kept_h = txn, txn.req.headers
    r[#r + 1] = fails(function() return pyxis.json.null.x end, "attempt to index")
    r[#r + 1] = fails(pairs, "table expected", txn)
    r[#r + 1] = tostring(txn.nope) .. " " .. tostring(txn.req.nope) .. " "
      .. type(txn.req.headers.get)
    r[#r + 1] = fails(txn.req.headers.get, "bad self", "x")
    r[#r + 1] = fails(function() txn.foo = 1 end, "cannot be assigned")
    return txn:respond(200, table.concat(r, " "))
  end,
}
LUA
    'mylib.lua' => <<'LUA',
local M = {}
function M.describe(c)
  return string.format("%s %s %s %s %s %d", type(c.flag), type(c.n), type(c.s), c.list[2],
    c.map.k, c.n + 1)
end
return M
LUA
);

my $px = PxTest::Pyxis->start(
    vars => { BE => $be->port, OTHER => $other->port, LUA => $dir },
    yaml => <<'YAML');
workers: 1
lua: { package_path: "%%LUA%%/?.lua" }
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /req/ }
        filters: [ { lua: "%%LUA%%/req.lua" } ]
        upstream: be
      - match: { path_prefix: /rewrite/ }
        filters: [ { lua: { file: "%%LUA%%/rewrite.lua" } } ]
        upstream: be
      - match: { path_prefix: /resp/ }
        filters: [ { lua: "%%LUA%%/resp.lua" } ]
        upstream: be
      - match: { path_prefix: /deny/ }
        filters: [ { lua: "%%LUA%%/deny.lua" }, { lua: "%%LUA%%/resp.lua" } ]
        upstream: be
      - match: { path_prefix: /ctx/ }
        filters:
          - lua: "%%LUA%%/ctx1.lua"
          - testfilter: { tag: T }
          - lua: "%%LUA%%/ctx2.lua"
        upstream: be
      - match: { path_prefix: /config/ }
        filters:
          - lua:
              file: "%%LUA%%/config.lua"
              config: { flag: true, n: 41, s: hello, list: [a, b], map: { k: v } }
        upstream: be
      - match: { path_prefix: /objects/ }
        filters: [ { lua: "%%LUA%%/objects.lua" } ]
        upstream: be
      - match: { path_prefix: /inline/ }
        filters:
          - lua: { code: "return { on_request = function(txn) txn:respond(200, 'inline ' .. txn.req.path) end }" }
        upstream: be
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BE%%" ] }
  other: { endpoints: [ "127.0.0.1:%%OTHER%%" ] }
YAML
my $port = $px->port('front');

my $r = http_req($port, path => '/req/x?a=1&b=two%20words&c&m=1&m=2', host => 'h.test:8080',
    headers => ['X-Multi' => 'one', 'X-Multi' => 'two', 'X-Gone' => 1, 'X-Gone2' => 1]);
is($r->{status}, 200, 'request accessors: 200');
my $h = parse_echo($r->{body})->{h};
is($h->{'x-method'}, 'GET', 'txn.req.method');
is($h->{'x-path'}, '/req/x', 'txn.req.path');
is($h->{'x-query'}, 'a=1&b=two%20words&c&m=1&m=2', 'txn.req.query (raw)');
is($h->{'x-host'}, 'h.test:8080', 'txn.req.host');
is($h->{'x-scheme'}, 'http', 'txn.req.scheme');
is($h->{'x-version'}, '1.1', 'txn.req.version');
is($h->{'x-client'}, '127.0.0.1:number', 'txn.req.client_addr / client_port');
is($h->{'x-args'}, '1,two words,boolean,1+2', 'txn.req.args: decoded, flags, repeated names');
is($h->{'x-first'}, 'one', 'h[name]: the first value');
is($h->{'x-all'}, 'one|two', 'h:get_all(name), case-insensitive');
is($h->{'x-list'}, '1, 2, 3', 'h:set(name, list) then h:add');
ok(!exists $h->{'x-gone'} && !exists $h->{'x-gone2'}, 'h[name] = nil and h:remove(name)');
is($h->{'x-count'}, 'true', 'pairs(h) and h:each() iterate the fields');

$r = http_req($port, path => '/rewrite/x?old=1', method => 'POST', body => 'b');
my $seen = parse_echo($r->{body});
is($seen->{target}, '/rewritten/rewrite/x?q=1', 'path and query rewritten');
is($seen->{method}, 'PUT', 'method rewritten');
is($seen->{h}{host}, 'example.test', 'host rewritten');
$r = http_req($port, path => '/rewrite/y', headers => ['X-Switch' => 1]);
is($r->{h}{'x-backend'}, 'other', 'txn:set_upstream() switched the upstream');

$r = http_req($port, path => '/resp/x');
is($r->{h}{'x-status'}, '200', 'txn.resp.status in on_response');
ok(!exists $r->{h}{'x-backend'}, 'a response header removed');
is($r->{h}{'x-added'}, 'a', 'a response header added');
$r = http_req($port, path => '/resp/teapot');
is($r->{status}, 418, 'txn.resp.status = 418');
$r = http_req($port, path => '/resp/replace');
is($r->{status}, 503, 'txn:respond() from on_response replaces the response');
is($r->{body}, "replaced\n", '... with its body');
is($r->{h}{'x-why'}, 'policy', '... and headers');
is($r->{h}{'x-two'}, 'a, b', '... a list value gives several fields');

my $before = $be->requests;
$r = http_req($port, path => '/deny/x', headers => ['X-Deny' => 1]);
is($r->{status}, 403, 'txn:respond() from on_request');
is($r->{body}, "no\n", '... body');
is($r->{h}{'x-denied'}, 'yes', '... headers');
is(scalar $be->requests, $before, '... the upstream saw nothing');
unlike($px->log, qr/not reached/, 'code after txn:respond() does not run');
ok(!exists $r->{h}{'x-status'}, 'the filter after the one that answered does not see the reply');

$r = http_req($port, path => '/ctx/x');
$h = parse_echo($r->{body})->{h};
is($h->{'x-ctx'}, 'alice+lua-user+nil', 'txn.ctx shared by two Lua filters; txn:var()');
is($h->{'x-var'}, 'lua-user', 'txn:set_var() is seen by a C filter (var.who)');
is($r->{h}{'x-ctx-back'}, 'alice+lua-user+nil', 'txn.ctx in the response phase');

$r = http_req($port, path => '/config/x');
is($r->{body}, 'boolean number string b v 42', 'config: YAML types reach the script as `...`; require via lua.package_path');

$r = http_req($port, path => '/inline/x');
is($r->{body}, 'inline /inline/x', 'inline code:');

$r = http_req($port, path => '/objects/1');
is($r->{body}, 'true userdata first error error nil nil function error error',
    'txn objects: the same object at each read; errors for misuse');
$r = http_req($port, path => '/objects/2');
is($r->{body}, 'true userdata true error error error error nil nil function error error',
    'a txn kept from an earlier request is another object, and unusable: the request is over');

is($px->stop, 0, 'pyxis exits cleanly');
done_testing;
