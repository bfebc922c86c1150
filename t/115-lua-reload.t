# 115-lua-reload: a reload recompiles the scripts: new requests run the new code, a request in
# flight (waiting in pyxis.sleep) finishes on the old code; a reload with a syntax error is
# refused and the old code keeps serving; worker timers of the old code stop.
use strict;
use warnings;
use Test::More;
use PxTest;

my $be = PxTest::Backend->echo(name => 'be');
my $dir = PxTest::subdir('lua');
sub script {
    my ($version, $body) = @_;
    open my $f, '>', "$dir/v.lua" or die $!;
    print $f $body // <<"LUA";
local d = pyxis.shared.s
pyxis.timer.every(0.02, function() d:set("tick-$version", pyxis.now()) end)
return {
  on_request = function(txn)
    if txn.req.path == "/wait" then pyxis.log.info("waiting in $version") pyxis.sleep(1) end
    txn.req.headers["x-version"] = "$version"
  end,
  on_response = function(txn) txn.resp.headers["x-version-resp"] = "$version" end,
}
LUA
    close $f;
}
script('v1');
my $yaml = <<'YAML';
workers: 1
shared_dicts: { s: 64k }
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /ticks }
        filters:
          - lua: { code: "return { on_request = function(txn) local d = pyxis.shared.s; txn:respond(200, string.format('%.3f %.3f', d:get('tick-v1') or 0, d:get('tick-v2') or 0)) end }" }
        respond: { status: 200 }
      - match: { path_prefix: / }
        filters: [ { lua: "%%LUA%%/v.lua" } ]
        upstream: be
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BE%%" ] }
YAML
my $px = PxTest::Pyxis->start(vars => { BE => $be->port, LUA => $dir }, yaml => $yaml);
my $port = $px->port('front');

my $r = http_req($port, path => '/x');
is(parse_echo($r->{body})->{h}{'x-version'}, 'v1', 'v1 serves');

my $waiting = client($port);
$waiting->write("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n");
ok($px->wait_log(qr/waiting in v1/, 5), 'a request waits in pyxis.sleep');
script('v2');
like($px->reload(yaml => $yaml), qr/generation 2 active/, 'reload with v2');
$r = http_req($port, path => '/x');
is(parse_echo($r->{body})->{h}{'x-version'}, 'v2', 'a new request runs v2');
my $wr = $waiting->read_response(timeout => 10);
is($wr->{status}, 200, 'the request in flight completes');
is(parse_echo($wr->{body})->{h}{'x-version'}, 'v1', '... on the old code (request phase)');
is($wr->{h}{'x-version-resp'}, 'v1', '... and in the response phase');

# v1's timer stopped with its generation, v2's runs.
my ($t1) = split / /, http_req($port, path => '/ticks')->{body};
select(undef, undef, undef, 0.2);
my ($t1b, $t2) = split / /, http_req($port, path => '/ticks')->{body};
is($t1b, $t1, 'the old generation\'s timer stopped');
cmp_ok($t2, '>', 0, 'the new generation\'s timer runs');

script('v3', "return {\n on_request = function(txn)\n  if then end\nend }\n");
like($px->reload(yaml => $yaml), qr/reload failed/, 'a reload with a syntax error is refused');
like($px->log, qr/v\.lua:3: unexpected symbol near 'then'/, '... with the script\'s file:line');
$r = http_req($port, path => '/x');
is(parse_echo($r->{body})->{h}{'x-version'}, 'v2', 'v2 keeps serving');

is($px->stop, 0, 'pyxis exits cleanly');
done_testing;
