# 144-grpc: gRPC requests pyxis answers itself. A failure (upstream refused, no route, the
# request's deadline) reaches a gRPC client as a gRPC status in a trailers-only response
# (HTTP 200, content-type application/grpc, grpc-status, grpc-message), never as an HTTP error
# page; grpc-timeout bounds the wait when it is sooner than the route's timeout.
use strict;
use warnings;
use Test::More;
use File::Basename qw(dirname);
use PxTest;
use PxTest::H2;

plan skip_all => 'python3-h2 is needed' unless PxTest::H2::python();
my $grpc_py = (grep { system("$_ -c 'import grpc' 2>/dev/null") == 0 } '/usr/bin/python3',
    'python3')[0];
my $grpc_tool = dirname($INC{'PxTest/H2.pm'}) . '/../grpc-tool.py';
sub h2 { return PxTest::H2::request(@_) }
sub fields { return PxTest::H2::fields(@_) }

# Accepts the request and never answers (until the test ends).
my $silent = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $r = $c->read_request) {
        $c->note("got $r->{target}");
        $c->sleep(30);
    }
});
my $closed = free_port(); # nothing listens there

my $px = PxTest::Pyxis->start(vars => { SILENT => $silent->port, CLOSED => $closed },
    yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    http2: { enabled: true }
    routes:
      - match: { path_prefix: /down. }
        upstream: down
      - match: { path_prefix: /slow. }
        upstream: silent
        timeout: 20s
      - match: { path_prefix: /quick. }
        upstream: silent
        timeout: 300ms
upstreams:
  down: { endpoints: [ "127.0.0.1:%%CLOSED%%" ] }
  silent: { endpoints: [ "127.0.0.1:%%SILENT%%" ] }
YAML
my $port = $px->port('front');
my @grpc = (-H => 'content-type: application/grpc', -H => 'te: trailers', -d => "\0\0\0\0\0");

# Upstream refused: UNAVAILABLE, trailers-only.
my $r = h2($port, 'POST', '/down.Svc/Call', @grpc);
is($r->{status}, 200, 'upstream refused: HTTP 200');
is_deeply(fields($r->{headers}, 'content-type'), ['application/grpc'], '... application/grpc');
is_deeply(fields($r->{headers}, 'grpc-status'), ['14'], '... grpc-status 14 (UNAVAILABLE)');
like(fields($r->{headers}, 'grpc-message')->[0], qr/^cannot connect to upstream/,
    '... grpc-message says why');
is_deeply($r->{frames}, ['headers'], '... trailers-only: one HEADERS frame');
ok($r->{end}, '... which ends the stream');
is($r->{body}, '', '... no body');

# application/grpc+proto is gRPC too; a plain request to the same route gets the HTTP error.
$r = h2($port, 'POST', '/down.Svc/Call', -H => 'content-type: application/grpc+proto', -d => 'x');
is_deeply(fields($r->{headers}, 'grpc-status'), ['14'], 'application/grpc+proto: gRPC status');
$r = h2($port, 'POST', '/down.Svc/Call', -H => 'content-type: application/json', -d => 'x');
is($r->{status}, 502, 'not gRPC: 502 as usual');
is_deeply(fields($r->{headers}, 'grpc-status'), [], '... without grpc-status');

# No route: UNIMPLEMENTED.
$r = h2($port, 'POST', '/nowhere.Svc/Call', @grpc);
is_deeply(fields($r->{headers}, 'grpc-status'), ['12'], 'no route: grpc-status 12 (UNIMPLEMENTED)');

# grpc-timeout sooner than the route timeout: DEADLINE_EXCEEDED when it passes.
my $t0 = time;
$r = h2($port, 'POST', '/slow.Svc/Call', @grpc, -H => 'grpc-timeout: 400m');
is($r->{status}, 200, 'grpc-timeout 400m, silent upstream: HTTP 200');
is_deeply(fields($r->{headers}, 'grpc-status'), ['4'], '... grpc-status 4 (DEADLINE_EXCEEDED)');
is_deeply(fields($r->{headers}, 'grpc-message'), ['grpc-timeout expired'], '... and why');
cmp_ok(time - $t0, '<', 10, '... long before the route timeout (20 s)');
like($px->wait_log(qr/504 Gateway Timeout: grpc-timeout expired/), qr/grpc-timeout/,
    '... logged as the 504 it stands for');

# The route timeout, sooner than grpc-timeout: DEADLINE_EXCEEDED too.
$r = h2($port, 'POST', '/quick.Svc/Call', @grpc, -H => 'grpc-timeout: 1H');
is_deeply(fields($r->{headers}, 'grpc-status'), ['4'], 'route timeout: grpc-status 4');
is_deeply(fields($r->{headers}, 'grpc-message'), ['route timeout'], '... route timeout');

# An invalid grpc-timeout is ignored (the route timeout applies).
$r = h2($port, 'POST', '/quick.Svc/Call', @grpc, -H => 'grpc-timeout: 10x');
is_deeply(fields($r->{headers}, 'grpc-message'), ['route timeout'], 'invalid grpc-timeout ignored');

# A real gRPC client sees the status and message.
SKIP: {
    skip 'python3-grpcio is needed', 3 unless $grpc_py;
    my $out = PxTest::run_cmd([$grpc_py, $grpc_tool, 'unary', "127.0.0.1:$port", '/down.Svc/Call'],
        timeout => 30)->{out};
    like($out, qr/^code=UNAVAILABLE details=cannot connect to upstream/,
        'grpcio client, upstream down: UNAVAILABLE with pyxis\'s message');
    $out = PxTest::run_cmd([$grpc_py, $grpc_tool, 'unary', "127.0.0.1:$port", '/nowhere.S/M'],
        timeout => 30)->{out};
    like($out, qr/^code=UNIMPLEMENTED details=no route matched/, 'grpcio client, no route: UNIMPLEMENTED');
    $out = PxTest::run_cmd([$grpc_py, $grpc_tool, 'unary', "127.0.0.1:$port", '/quick.S/M',
        '--timeout', 20], timeout => 30)->{out};
    like($out, qr/^code=DEADLINE_EXCEEDED details=route timeout/,
        'grpcio client, route timeout first: DEADLINE_EXCEEDED from pyxis');
}

done_testing;
