# 149-h2-upstream-faults: an HTTP/2 upstream that resets a stream fails that request only;
# GOAWAY: a stream the server did not process is retried on a new connection, one it had taken
# fails; bad protocol configs are refused.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use POSIX ();
use PxTest;
use PxTest::H2;

plan skip_all => 'python3-h2 is needed' unless PxTest::H2::python();

my $be = PxTest::Backend->h2();
my $lua = write_files('co.lua' => <<'LUA');
local M = {}
function M.on_request(txn)
  local res, err = pyxis.http.request{ upstream = "app", path = "/" }
  return txn:respond(500, tostring(err) .. "\n")
end
return M
LUA
my $px = PxTest::Pyxis->start(vars => { BE => $be->port, LUA => $lua }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /callout/ }
        filters: [ { lua: "%%LUA%%/co.lua" } ]
        upstream: app
      - match: { path_prefix: /retry/ }
        upstream: app
        retry: { attempts: 2, on: [reset] }
      - match: { path_prefix: / }
        upstream: app
upstreams:
  app: { protocol: h2c, endpoints: [ "127.0.0.1:%%BE%%" ] }
YAML
my $port = $px->port('front');

# A reset stream fails its request only: a slow request on the same connection completes.
my $pid = fork // die;
if (!$pid) {
    my $x = http_req($port, path => '/slow', headers => ['X-Delay-Ms' => 600]);
    POSIX::_exit($x->{status} == 200 ? 0 : 1);
}
ok($be->wait_note(qr/^conn 1 stream \d+ GET \/slow$/), 'a slow request is in flight');
my $r = http_req($port, path => '/reset');
is($r->{status}, 502, 'RST_STREAM from the upstream: 502');
like($px->log, qr/upstream reset the stream/, '... logged as a reset stream');
waitpid $pid, 0;
is($?, 0, '... the other stream on the connection completed');
is($be->connections, 1, '... and the connection stayed');

# GOAWAY below the stream: never processed, retried on a new connection; a body too when
# the retry policy keeps it for replay.
my $c0 = $be->connections;
$r = http_req($port, path => '/goaway-refuse/a');
is($r->{status}, 200, 'GOAWAY with last-stream-id below the stream: retried, 200');
is($be->connections - $c0, 1, '... on a new connection');
$r = http_req($port, method => 'POST', path => '/retry/goaway-refuse/b', body => 'x');
is($r->{status}, 200, 'the same for a POST whose body is kept for replay: 200');
is(decode_json($r->{body})->{body}, 'x', '... the body was sent again');

# GOAWAY at the stream, then the connection closes unanswered: the request fails.
$r = http_req($port, method => 'POST', path => '/goaway-fail', body => 'x');
is($r->{status}, 502, 'GOAWAY covering the stream, no answer: 502 (not retried)');
$r = http_req($port, path => '/after');
is($r->{status}, 200, 'the next request gets a new connection');

# Call-outs speak HTTP/1.1 only: one to an HTTP/2 upstream fails with a clear error.
$r = http_req($port, path => '/callout/x');
like($r->{body}, qr/^call-out refused/, 'a call-out to an HTTP/2 upstream is refused');
like($px->log, qr/the upstream speaks HTTP\/2: call-outs are HTTP\/1\.1 only/, '... saying why');

# Config errors.
my $head = <<'YAML';
listeners:
  - name: front
    listen: 127.0.0.1:1
    routes:
      - match: { path_prefix: / }
        upstream: u
upstreams:
  u:
    endpoints: [ "127.0.0.1:2" ]
YAML
config_errors_ok($head, qr/upstreams\.u\S*/, [
    ['unknown protocol', 'h3', qr/unknown protocol "h3" \(supported: http1, http2, h2c, auto\)/,
        "    protocol: h3 # <- error\n"],
    ['http2 needs tls', 'protocol', qr/protocol http2 needs tls/,
        "    protocol: http2 # <- error\n"],
    ['h2c with tls', 'protocol', qr/protocol h2c is cleartext/,
        "    tls: { verify: false }\n    protocol: h2c # <- error\n"],
    ['http2 keys on http1', 'http2', qr/http2 applies to protocol http2, h2c or auto/,
        "    http2: { max_concurrent_streams: 5 } # <- error\n"],
    ['HTTP health check', 'health_check', qr/HTTP health checks speak HTTP\/1\.1/,
        "    protocol: h2c\n    health_check: { path: /h } # <- error\n"],
    ['stream limit', '0', qr/out of range \(1\.\.1000000\)/,
        "    protocol: h2c\n    http2: { max_concurrent_streams: 0 } # <- error\n"],
]);

done_testing;
