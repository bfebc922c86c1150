# 136-websocket-raw: HTTP/1.1 Upgrade with exact bytes: which Upgrade values pass, a 101 nobody
# asked for, a refused upgrade leaves both connections HTTP, half-close both ways, drain with
# an open tunnel, wss to a TLS upstream, and the config keys' errors.
use strict;
use warnings;
use Test::More;
use PxTest;
use PxTest::WS;

my @up = ('Connection' => 'Upgrade', 'Upgrade' => 'websocket', 'Sec-WebSocket-Version' => 13,
    'Sec-WebSocket-Key' => 'dGhlIHNhbXBsZSBub25jZQ==');
my $be = PxTest::Backend->echo(name => 'app');
# Answers 101 to anything; after it, reads to EOF, answers "got:DATA" and closes.
my $sw = PxTest::Backend->start(sub {
    my ($c) = @_;
    my $r = $c->read_request or return;
    my $up = $r->{target} eq '/noupgrade' ? '' : "Upgrade: websocket\r\n";
    $c->write("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n$up\r\nearly");
    my $got = $c->drain_to_eof;
    $c->note("got $got");
    $c->write("got:$got");
    $c->close;
});
my $dir = PxTest::subdir('conf');
my $px = PxTest::Pyxis->start(vars => { BACKEND_app => $be->port, BACKEND_sw => $sw->port,
    DIR => $dir }, yaml => <<'YAML');
workers: 1
drain_timeout: 1s
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    access_log: { path: "%%DIR%%/access.log" }
    routes:
      - match: { path_prefix: /sw }
        upstream: sw
      - match: { path_prefix: /noupgrade }
        upstream: sw
      - match: { path_prefix: /custom }
        upgrade: [websocket, Foo]
        upstream: app
      - upstream: app
upstreams:
  app: { endpoints: [ "127.0.0.1:%%BACKEND_app%%" ] }
  sw: { endpoints: [ "127.0.0.1:%%BACKEND_sw%%" ] }
YAML
my $port = $px->port('front');

# Which Upgrade values go upstream.
for my $case (
    ['/', 'websocket', 1],
    ['/', 'WebSocket/13', 1],
    ['/', 'h2c', 0],
    ['/', 'foo', 0],
    ['/', 'websocket, foo', 0],
    ['/custom', 'websocket, foo/2', 1],
    ['/', 'web socket', 0],
) {
    my ($path, $value, $pass) = @$case;
    my $r = http_req($port, path => $path,
        headers => ['Connection' => 'Upgrade', 'Upgrade' => $value]);
    my $seen = parse_echo($r->{body})->{h};
    is($r->{status}, 200, "Upgrade: $value on $path: the echo backend answers 200");
    if ($pass) {
        is($seen->{upgrade}, $value, "... Upgrade passes");
        is(lc($seen->{connection} // ''), 'upgrade', '... with Connection: upgrade');
    } else {
        ok(!exists $seen->{upgrade} && !exists $seen->{connection}, '... Upgrade is dropped');
    }
}
my $r = http_req($port, path => '/', method => 'POST', body => 'x', headers => \@up);
ok(!exists parse_echo($r->{body})->{h}{upgrade}, 'a request with a body does not upgrade');

# A refused upgrade: the client connection goes on as HTTP; the upstream one is not reused.
my $c = client($port);
$c->write(build_request(path => '/a', headers => \@up));
my $r1 = $c->read_response;
$c->write(build_request(path => '/b'));
my $r2 = $c->read_response;
is($r2->{status}, 200, 'after a refused upgrade the client connection serves the next request');
isnt($r2->{h}{'x-conn-id'}, $r1->{h}{'x-conn-id'}, '... over a new upstream connection');
$c->close;

# A 101 nobody asked for, or without Upgrade: 502.
is(http_req($port, path => '/sw')->{status}, 502, 'a 101 to a plain GET is a 502');
is(http_req($port, path => '/noupgrade', headers => \@up)->{status}, 502,
    'a 101 without Upgrade is a 502');
like($px->log, qr/502 Bad Gateway: upstream switched protocols without an upgrade asked/,
    '... and the log says why');

# Half-close: the client's EOF reaches the upstream as a FIN; its answer and FIN come back.
$c = client($port);
$c->write(build_request(path => '/sw', headers => \@up) . 'abc');
$c->write('def');
ok(PxTest::wait_until(sub { $c->_fill(0.2); $c->received =~ /\r\n\r\nearly$/ }),
    '101 and the bytes sent with it arrive');
$c->shutdown_write;
ok($c->read_to_eof, 'the upstream closes');
like($c->received, qr/\r\n\r\nearlygot:abcdef$/, 'the client half-closes; the upstream answers and closes');
$sw->wait_note(qr/^got abcdef$/);
my $log = PxTest::wait_until(sub { open my $f, '<', "$dir/access.log" or return; local $/;
    my $t = <$f>; $t =~ m{"GET /sw HTTP/1.1" 101 (\d+)} ? $1 : undef });
is($log, length('earlygot:abcdef'), 'access log: 101 and the bytes sent to the client');

# Drain: an open tunnel keeps working, then closes at drain_timeout; pyxis exits.
$c = client($port);
$c->write(build_request(path => '/sw', headers => \@up));
ok(PxTest::wait_until(sub { $c->_fill(0.2); $c->received =~ /early$/ }), 'a tunnel is open');
$px->signal('TERM');
$px->wait_log(qr/draining/);
$c->write('late');
ok($c->read_to_eof(5), 'at drain_timeout the tunnel is closed');
like($c->received, qr/early$/, '... the upstream had not closed it');
ok(defined $px->wait_exit(5), 'pyxis exits');
$sw->wait_note(qr/^got late$/);
ok(1, 'bytes sent during the drain reached the upstream');

# wss: a TLS listener and a TLS upstream.
SKIP: {
    skip 'python3-websockets not installed', 1 unless PxTest::WS::python();
    my $certs = PxTest::Backend->tls_certs;
    local $ENV{SSL_CERT_FILE} = $certs->{ca};
    my ($wsport) = PxTest::WS::server(cert => $certs->{cert}, key => $certs->{key});
    my $tpx = PxTest::Pyxis->start(vars => { WS => $wsport, CERT => $certs->{cert},
        KEY => $certs->{key}, CA => $certs->{ca} }, yaml => <<'YAML');
workers: 1
listeners:
  - name: wss
    listen: 127.0.0.1:%%PORT_wss%%
    tls: { certificates: [ { cert: "%%CERT%%", key: "%%KEY%%" } ] }
    routes:
      - upstream: ws
upstreams:
  ws: { endpoints: [ "127.0.0.1:%%WS%%" ], tls: { ca: "%%CA%%" } }
YAML
    like(PxTest::WS::client('wss://127.0.0.1:' . $tpx->port('wss') . '/tls', 'echo', 1 << 20,
        '--ca', $certs->{ca}), qr/large ok 1048576\npong ok\nclosed 1000/,
        'wss through a TLS listener to a TLS upstream');
}

config_errors_ok(<<'HEAD', qr/listeners\[0\]\.routes\[0\]\.upgrade(\[\d\])?/, [
listeners:
  - listen: 127.0.0.1:1
    routes:
      - upstream: a
HEAD
    ['h2c', 'h2c', qr/h2c is never passed through/, "        upgrade: [websocket, h2c]   # <- error\n"],
    ['twice', 'WebSocket', qr/websocket is listed twice/, "        upgrade: [websocket, WebSocket]   # <- error\n"],
    ['scalar', 'websocket', qr/expected a sequence/, "        upgrade: websocket   # <- error\n"],
    ['not a token', '"a b"', qr/invalid protocol name/, "        upgrade: [\"a b\"]   # <- error\n"],
]);

done_testing;
