# 111-lua-errors: isolation. A runtime error answers 500 and logs file:line (on_log: logged
# only); a syntax error refuses the config with file:line; the instruction budget stops an
# endless loop; the memory cap turns a huge table into an error; the worker keeps serving.
use strict;
use warnings;
use Test::More;
use PxTest;

my $be = PxTest::Backend->echo(name => 'be');
my $dir = write_files(
    'boom.lua' => <<'LUA',
local M = {}
function M.on_request(txn)
  if txn.req.path == "/boom/req" then
    local t = nil
    return t.field
  end
end
function M.on_response(txn)
  if txn.req.path == "/boom/resp" then error("response hook failed") end
end
function M.on_log(txn)
  if txn.req.path == "/boom/log" then error("log hook failed") end
end
return M
LUA
    'loop.lua' => <<'LUA',
return { on_request = function(txn)
  if txn.req.path == "/loop/pcall" then
    for i = 1, 3 do pcall(function() while true do end end) end
  end
  while true do end
end }
LUA
    'mem.lua' => <<'LUA',
return { on_request = function(txn)
  if txn.req.path ~= "/mem/big" then return txn:respond(200, "small\n") end
  local t = {}
  for i = 1, 1e8 do t[i] = { i, tostring(i) } end
end }
LUA
    'bad.lua' => "local M = {}\nfunction M.on_request(txn)\n  if then\nend\nreturn M\n",
    'yield.lua' => "return { on_request = function() coroutine.yield() end }\n",
    'body.lua' => "return { on_response_body = function() return 42 end }\n",
);

my $px = PxTest::Pyxis->start(vars => { BE => $be->port, LUA => $dir }, yaml => <<'YAML');
workers: 1
error_log: { level: debug }
lua: { max_instructions: 1000000, memory_limit: 16m }
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /boom/ }
        filters: [ { lua: "%%LUA%%/boom.lua" } ]
        upstream: be
      - match: { path_prefix: /loop/ }
        filters: [ { lua: "%%LUA%%/loop.lua" } ]
        upstream: be
      - match: { path_prefix: /mem/ }
        filters: [ { lua: "%%LUA%%/mem.lua" } ]
        upstream: be
      - match: { path_prefix: /yield/ }
        filters: [ { lua: "%%LUA%%/yield.lua" } ]
        upstream: be
      - match: { path_prefix: /body/ }
        filters: [ { lua: "%%LUA%%/body.lua" } ]
        upstream: be
      - match: { path_prefix: / }
        upstream: be
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BE%%" ] }
YAML
my $port = $px->port('front');

my $r = http_req($port, path => '/boom/req');
is($r->{status}, 500, 'an error in on_request answers 500');
ok($px->wait_log(qr/\[lua\].*on_request: .*boom\.lua:5: attempt to index local 't'/, 5),
    '... and logs file:line and the message');
ok($px->wait_log(qr/stack traceback:/, 5), '... with a traceback at debug level');
$r = http_req($port, path => '/boom/resp');
is($r->{status}, 500, 'an error in on_response answers 500');
ok($px->wait_log(qr/on_response: .*boom\.lua:9: response hook failed/, 5), '... logged');
$r = http_req($port, path => '/boom/log');
is($r->{status}, 200, 'an error in on_log does not change the response');
ok($px->wait_log(qr/on_log: .*boom\.lua:12: log hook failed/, 5), '... it is logged');

$r = http_req($port, path => '/loop/x', timeout => 20);
is($r->{status}, 500, 'while true do end: stopped by the instruction budget, 500');
ok($px->wait_log(qr/instruction budget exceeded/, 5), '... logged');
$r = http_req($port, path => '/loop/pcall', timeout => 20);
is($r->{status}, 500, 'pcall cannot swallow the budget');

$r = http_req($port, path => '/mem/big', timeout => 30);
is($r->{status}, 500, 'a huge table hits the memory cap: 500');
ok($px->wait_log(qr/not enough memory.*memory_limit/, 5), '... logged as the memory cap');
$r = http_req($port, path => '/mem/small');
is($r->{body}, "small\n", 'the same worker state keeps serving after the memory error');

$r = http_req($port, path => '/yield/x');
is($r->{status}, 500, 'coroutine.yield() out of a hook is an error');
$r = http_req($port, path => '/body/x');
ok($r->{status} == 500 || $r->{closed}, 'a body hook returning a number fails the request');
ok($px->wait_log(qr/on_response_body returned a number/, 5), '... logged');

$r = http_req($port, path => '/plain');
is($r->{status}, 200, 'the worker keeps serving');

# A syntax error refuses the config with the script's file:line.
my $chk = PxTest::Pyxis->check(vars => { LUA => $dir }, yaml => <<'YAML');
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: / }
        filters: [ { lua: "%%LUA%%/bad.lua" } ]
        respond: { status: 200 }
YAML
isnt($chk->{exit}, 0, 'pyxis -t refuses a script with a syntax error');
like($chk->{err}, qr/pyxis\.yaml:6:\d+: .*bad\.lua:3: unexpected symbol near 'then'/,
    '... config file:line:col, then the script\'s file:line: message');
$chk = PxTest::Pyxis->check(yaml => <<'YAML');
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: / }
        filters:
          - lua: { code: "return {\n on_request = function(txn) txn:respond(200 end }" }
        respond: { status: 200 }
YAML
like($chk->{err}, qr/inline\@pyxis\.yaml:7:2: '\)' expected/, 'inline code: its line in the code');
$chk = PxTest::Pyxis->check(vars => { LUA => $dir }, yaml => <<'YAML');
lua: { max_instrucions: 5 }
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: / }
        filters: [ { lua: "%%LUA%%/boom.lua" } ]
        respond: { status: 200 }
YAML
like($chk->{err}, qr/unknown key "max_instrucions"/, 'lua: unknown top-level keys are errors');
$chk = PxTest::Pyxis->check(vars => { LUA => $dir }, yaml => <<'YAML');
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: / }
        filters: [ { lua: "%%LUA%%/missing.lua" } ]
        respond: { status: 200 }
YAML
like($chk->{err}, qr/cannot open .*missing\.lua/, 'a missing script is an error');

is($px->stop, 0, 'pyxis exits cleanly');
done_testing;
