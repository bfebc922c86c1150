# 113-lua-bodies: request and response bodies in Lua: read the whole body (with its cap, 413
# beyond), replace it, and the streaming hooks (modify, drop, inject).
use strict;
use warnings;
use Test::More;
use PxTest;

my $be = PxTest::Backend->echo(name => 'be');
my $dir = write_files(
    'whole.lua' => <<'LUA',
return { on_request = function(txn)
  local body = txn.req:read_body()
  txn.req.headers["x-len"] = tostring(#body)
  if body == "deny" then return txn:respond(422, "bad body\n") end
  if txn.req.path:find("/replace") then txn.req:set_body("[" .. body:upper() .. "]") end
end }
LUA
    'stream.lua' => <<'LUA',
local M = {}
function M.on_request(txn)
  txn.req:body_will_change()
end
function M.on_request_body(txn, chunk, last)
  local mode = txn.req.headers["x-mode"]
  if mode == "drop" then return "" end
  if mode == "inject" and last then return chunk .. "+injected" end
  if mode == "upper" then return chunk:upper() end
end
function M.on_response(txn)
  txn.resp:body_will_change()
end
function M.on_response_body(txn, chunk, last)
  txn.ctx.n = (txn.ctx.n or 0) + 1
  local out = chunk:gsub("X%-Forwarded%-For", "Y-Forwarded-For")
  if last then return out .. "\nchunks seen" end
  return out
end
return M
LUA
);

my $px = PxTest::Pyxis->start(vars => { BE => $be->port, LUA => $dir }, yaml => <<'YAML');
workers: 1
lua: { max_body: 1k }
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /whole/ }
        filters: [ { lua: "%%LUA%%/whole.lua" } ]
        upstream: be
      - match: { path_prefix: /big/ }
        filters: [ { lua: { file: "%%LUA%%/whole.lua", max_body: 100k } } ]
        upstream: be
      - match: { path_prefix: /stream/ }
        filters: [ { lua: "%%LUA%%/stream.lua" } ]
        upstream: be
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BE%%" ] }
YAML
my $port = $px->port('front');

my $r = http_req($port, method => 'POST', path => '/whole/x', body => 'hello');
my $seen = parse_echo($r->{body});
is($seen->{h}{'x-len'}, '5', 'txn.req:read_body() returns the whole body');
is($seen->{body}, 'hello', '... which still goes upstream');
$r = http_req($port, method => 'POST', path => '/whole/replace', body => 'hello');
$seen = parse_echo($r->{body});
is($seen->{body}, '[HELLO]', 'txn.req:set_body() replaces it');
is($seen->{h}{'content-length'}, '7', '... with the new Content-Length');
$r = http_req($port, method => 'POST', path => '/whole/x', body => 'deny');
is($r->{status}, 422, 'respond() after read_body()');
$r = http_req($port, path => '/whole/x');
is(parse_echo($r->{body})->{h}{'x-len'}, '0', 'no body: read_body() returns ""');
$r = http_req($port, method => 'POST', path => '/whole/x', body => 'x' x 2000);
is($r->{status}, 413, 'a body over lua.max_body answers 413');
$r = http_req($port, method => 'POST', path => '/big/x', body => 'x' x 50_000);
is(parse_echo($r->{body})->{h}{'x-len'}, '50000', 'a per-filter max_body raises the cap');
my $chunked = "POST /whole/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    . "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
my ($bytes) = raw_http($port, $chunked, responses => 1);
my ($resp) = parse_responses($bytes, closed => 0);
is(parse_echo($resp->{body})->{h}{'x-len'}, '5', 'a chunked body is read whole (decoded)');

$r = http_req($port, method => 'POST', path => '/stream/x', body => 'abc',
    headers => ['X-Mode' => 'upper']);
like($r->{body}, qr/^Y-Forwarded-For: /m, 'on_response_body modifies each chunk');
like($r->{body}, qr/chunks seen\z/, '... and injects at the end');
$seen = parse_echo($r->{body} =~ s/\nchunks seen\z//r);
is($seen->{body}, 'ABC', 'on_request_body modifies the request body');
$r = http_req($port, method => 'POST', path => '/stream/x', body => 'abc',
    headers => ['X-Mode' => 'drop']);
$seen = parse_echo($r->{body} =~ s/\nchunks seen\z//r);
is($seen->{body} // '', '', 'returning "" drops the bytes');
$r = http_req($port, method => 'POST', path => '/stream/x', body => 'abc',
    headers => ['X-Mode' => 'inject']);
$seen = parse_echo($r->{body} =~ s/\nchunks seen\z//r);
is($seen->{body}, 'abc+injected', 'a longer string injects bytes');
my $big = 'y' x 300_000;
$r = http_req($port, method => 'POST', path => '/stream/x', body => $big, timeout => 10);
$seen = parse_echo($r->{body} =~ s/\nchunks seen\z//r);
is(length($seen->{body} // ''), 300_000, 'a large body streams through the hooks intact');

is($px->stop, 0, 'pyxis exits cleanly');
done_testing;
