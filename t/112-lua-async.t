# 112-lua-async: waiting in Lua. pyxis.http.request from every hook (to a named upstream and to
# a URL), while another request on the same worker proceeds; pyxis.sleep; pyxis.timer.at /
# every / cancel, with call-outs from timers; pyxis.now; pyxis.log.
use strict;
use warnings;
use Test::More;
use PxTest;

my $be = PxTest::Backend->echo(name => 'be');
my $authz = PxTest::Backend->echo(name => 'authz');
# Answers after 1 second.
my $slow = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $r = $c->read_request) {
        $c->note("got $r->{target}");
        $c->sleep(1);
        $c->respond(200, ['X-Plan' => 'gold'], 'late');
    }
});
# Never answers: a call-out to it is still in flight when pyxis stops.
my $hang = PxTest::Backend->start(sub {
    my ($c) = @_;
    my $r = $c->read_request or return;
    $c->note("got $r->{target}");
    $c->sleep(30);
});
my $closed = PxTest::free_port();
my $dir = write_files('co.lua' => <<'LUA');
local config = ...
local function call(where)
  local res, err = pyxis.http.request{ upstream = config.upstream, path = "/" .. where,
    headers = { ["x-from"] = where }, timeout = 5 }
  if not res then return "0 " .. err end
  return res.status .. " " .. #res.body .. " " .. tostring(res.headers["x-plan"] or "-")
end
local M = {}
function M.on_request(txn)
  if config.hooks.request then txn.req.headers["x-co-request"] = call("request") end
  if txn.req.path:find("/url/") then
    local res = assert(pyxis.http.request{ url = config.url, method = "POST", body = "hi" })
    txn.req.headers["x-co-url"] = res.status .. " " .. res.body:match("^(%S+ %S+)")
  end
  if txn.req.path:find("/down/") then
    local res, err = pyxis.http.request{ url = config.down }
    txn.req.headers["x-co-down"] = tostring(res) .. " " .. err
  end
  if config.hooks.request_body then txn.req:body_will_change() end
end
function M.on_request_body(txn, chunk, last)
  if config.hooks.request_body and last then return chunk .. "|" .. call("request_body") end
end
function M.on_response(txn)
  if config.hooks.response then txn.resp.headers["x-co-response"] = call("response") end
  if config.hooks.response_body then txn.resp:body_will_change() end
end
function M.on_response_body(txn, chunk, last)
  if config.hooks.response_body and last then return chunk .. "|" .. call("response_body") end
end
function M.on_log(txn)
  if not config.hooks.log then return end
  local path = txn.req.path            -- read before the first wait
  local r = call("log")
  pyxis.log.info("log-phase call-out for", path, "answered", r)
end
return M
LUA
$dir = write_files('sleep.lua' => <<'LUA', 'timers.lua' => <<'LUA2');
return { on_request = function(txn)
  local t0 = pyxis.now()
  pyxis.sleep(0.2)
  txn.req.headers["x-slept"] = tostring(pyxis.now() - t0 >= 0.15)
end,
on_response = function(txn)
  pyxis.sleep(0.05)
  txn.resp.headers["x-slept-resp"] = "yes"
end }
LUA
local config = ...
local d = pyxis.shared.timers
d:set("every", 0)
local every = pyxis.timer.every(0.05, function(name)
  d:incr(name, 1)
end, "every")
pyxis.timer.at(0.01, function(a, b)
  d:set("at", a + b)
  pyxis.sleep(0.01)
  local res = pyxis.http.request{ upstream = "authz", path = "/from-timer" }
  d:set("timer-callout", res and res.status or 0)
end, 40, 2)
local cancelled = pyxis.timer.at(0.05, function() d:set("cancelled-ran", true) end)
cancelled:cancel()
return { on_request = function(txn)
  if txn.req.path == "/timers/stop" then every:cancel() end
  if txn.req.path == "/timers/inflight" then
    -- a call-out of no request, still waiting when the worker exits: freed with the worker
    pyxis.timer.at(0, function() pyxis.http.request{ upstream = "hang", path = "/at-exit", timeout = 60 } end)
  end
  txn:respond(200, string.format("at=%s every=%s callout=%s cancelled=%s",
    tostring(d:get("at")), tostring(d:get("every") > 0), tostring(d:get("timer-callout")),
    tostring(d:get("cancelled-ran"))))
end }
LUA2
my $codir = (glob(PxTest::testdir() . '/files1'))[0];

my $yaml = <<'YAML';
workers: 1
drain_timeout: 1s
shared_dicts: { timers: 64k }
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
YAML
for my $hook (qw(request request_body response response_body log)) {
    $yaml .= <<"YAML";
      - match: { path_prefix: /$hook/ }
        filters:
          - lua: { file: "%%CO%%/co.lua", config: { upstream: authz, hooks: { $hook: true } } }
        upstream: be
      - match: { path_prefix: /slow-$hook/ }
        filters:
          - lua: { file: "%%CO%%/co.lua", config: { upstream: slow, hooks: { $hook: true } } }
        upstream: be
YAML
}
$yaml .= <<'YAML';
      - match: { path_prefix: /url/ }
        filters:
          - lua:
              file: "%%CO%%/co.lua"
              config: { url: "http://127.0.0.1:%%AUTHZ%%/by-url", hooks: {} }
        upstream: be
      - match: { path_prefix: /down/ }
        filters:
          - lua: { file: "%%CO%%/co.lua", config: { down: "http://127.0.0.1:%%CLOSED%%/", hooks: {} } }
        upstream: be
      - match: { path_prefix: /sleep/ }
        filters: [ { lua: "%%LUA%%/sleep.lua" } ]
        upstream: be
      - match: { path_prefix: /timers/ }
        filters: [ { lua: "%%LUA%%/timers.lua" } ]
        upstream: be
      - match: { path_prefix: /fast/ }
        upstream: be
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BE%%" ] }
  authz: { endpoints: [ "127.0.0.1:%%AUTHZ%%" ] }
  slow: { endpoints: [ "127.0.0.1:%%SLOW%%" ] }
  hang: { endpoints: [ "127.0.0.1:%%HANG%%" ] }
YAML
my $px = PxTest::Pyxis->start(
    vars => { BE => $be->port, AUTHZ => $authz->port, SLOW => $slow->port, HANG => $hang->port,
        CLOSED => $closed,
        CO => $codir, LUA => $dir },
    yaml => $yaml);
my $port = $px->port('front');

my $r = http_req($port, path => '/request/x');
like(parse_echo($r->{body})->{h}{'x-co-request'}, qr/^200 \d+ -$/, 'call-out in on_request');
ok((grep { $_->{target} eq '/request' && $_->{h}{'x-from'} eq 'request' } $authz->requests),
    '... reached the upstream with its headers');
$r = http_req($port, method => 'POST', path => '/request_body/x', body => 'data');
like(parse_echo($r->{body})->{body}, qr/^data\|200 \d+ -$/, 'call-out in on_request_body');
$r = http_req($port, path => '/response/x');
like($r->{h}{'x-co-response'}, qr/^200 \d+ -$/, 'call-out in on_response');
$r = http_req($port, path => '/response_body/x');
like($r->{body}, qr/\|200 \d+ -\z/, 'call-out in on_response_body');
$r = http_req($port, path => '/log/x');
is($r->{status}, 200, 'on_log with a call-out: the response does not wait');
ok($px->wait_log(qr/log-phase call-out for \/log\/x answered 200/, 5),
    'call-out in on_log completes after the request');

$r = http_req($port, path => '/url/x');
like(parse_echo($r->{body})->{h}{'x-co-url'}, qr/^200 POST \/by-url$/, 'call-out to a URL, POST with a body');
$r = http_req($port, path => '/down/x');
like(parse_echo($r->{body})->{h}{'x-co-down'}, qr/^nil .*refused/i, 'a failed call-out returns nil, err');

# While one request waits on a slow call-out in each hook, another on the same worker proceeds.
for my $hook (qw(request request_body response response_body log)) {
    my $waiting = client($port);
    my $body = $hook eq 'request_body' ? 'data' : '';
    $waiting->write("POST /slow-$hook/x HTTP/1.1\r\nHost: t\r\nContent-Length: "
        . length($body) . "\r\n\r\n$body");
    ok($slow->wait_note(qr/^got \/$hook$/, 5), "$hook: the slow service got the call-out");
    $r = http_req($port, path => '/fast/x');
    is($r->{status}, 200, "$hook: a fast request on the same worker completes meanwhile");
    if ($hook eq 'log') {
        my $wr = $waiting->read_response(timeout => 10);
        is($wr->{status}, 200, 'log: the waiting request was answered before its on_log call-out');
        ok($px->wait_log(qr/log-phase call-out for \/slow-log\/x answered 200 4 gold/, 5),
            'log: the call-out completes later');
        next;
    }
    ok(!length($waiting->received // ''), "$hook: ... while the waiting one has no answer yet");
    my $wr = $waiting->read_response(timeout => 10);
    is($wr->{status}, 200, "$hook: the waiting request completes when its call-out answers");
}

$r = http_req($port, path => '/sleep/x');
is(parse_echo($r->{body})->{h}{'x-slept'}, 'true', 'pyxis.sleep in on_request; pyxis.now');
is($r->{h}{'x-slept-resp'}, 'yes', 'pyxis.sleep in on_response');

ok(wait_until(sub { http_req($port, path => '/timers/x')->{body} =~ /callout=200/ }),
    'pyxis.timer.at: a callback with arguments, sleeping and calling out');
$r = http_req($port, path => '/timers/stop');
is($r->{body}, 'at=42 every=true callout=200 cancelled=nil', 'timer.at, timer.every, :cancel()');

http_req($port, path => '/timers/inflight');
ok($hang->wait_note(qr{got /at-exit}), 'a timer call-out is waiting on an upstream that never answers');
is($px->stop, 0, 'pyxis exits cleanly, that call-out cancelled (and freed: see the ASan run)');
done_testing;
