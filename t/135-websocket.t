use strict;
use warnings;
use Test::More;
use PxTest;
use PxTest::WS;

# WebSocket through pyxis: a real client and server (python3-websockets), HTTP/1.1 Upgrade
# passthrough, half-close, idle timeout, drain; raw sockets for the exact bytes.
plan skip_all => 'python3-websockets not installed' unless PxTest::WS::python();

my ($wsport, $notes) = PxTest::WS::server();
my $dir = PxTest::subdir('conf');
my $px = PxTest::Pyxis->start(vars => { WS => $wsport, DIR => $dir }, yaml => <<'YAML');
workers: 1
drain_timeout: 2s
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    access_log: { path: "%%DIR%%/access.json", format: json }
    routes:
      - match: { path: /idle }
        upstream: ws
        tunnel_idle_timeout: 1s
      - match: { path: /closed }
        upstream: ws
        upgrade: []
      - match: { path_prefix: /auth }
        filters:
          - lua: { code: "return { on_request = function(txn) if not txn.req.headers['x-token'] then return txn:respond(401, 'no token') end end }" }
        upstream: ws
      - match: { path_prefix: / }
        filters:
          - headers: { response: { set: { x-filtered: "yes" } } }
        upstream: ws
upstreams:
  ws: { endpoints: [ "127.0.0.1:%%WS%%" ] }
YAML
my $url = 'ws://127.0.0.1:' . $px->port('front');

my $out = PxTest::WS::client("$url/echo", 'echo', 4 << 20);
like($out, qr/text ok\nbinary ok\nlarge ok 4194304\npong ok\nclosed 1000\n/,
    'text, binary, a 4 MiB message and ping/pong pass both ways; the client closes');
like(PxTest::WS::client("$url/sc", 'server-close'), qr/^closed 4001 bye$/m, 'the server closes');
like(PxTest::WS::client("$url/many", 'many', 40), qr/^many ok 40$/m, '40 concurrent tunnels');
like(PxTest::WS::client("$url/refuse", 'status'), qr/^status 403$/m,
    'an upstream refusing the upgrade: its 403 reaches the client');
like(PxTest::WS::client("$url/auth", 'status'), qr/^status 401$/m,
    'a request filter refuses the handshake (401)');
like(PxTest::WS::client("$url/closed", 'status'), qr/^status 426$/m,
    'upgrade: [] drops Upgrade: the backend sees a plain GET (426 Upgrade Required)');

my $t0 = time;
$out = PxTest::WS::client("$url/idle", 'idle', 8);
like($out, qr/^open\nclosed by peer after [0-9.]+$/m, 'an idle tunnel is closed (1s timeout)');

# The access log has one line per tunnel, status 101, with the bytes sent to the client.
my $log = PxTest::wait_until(sub {
    open my $f, '<', "$dir/access.json" or return;
    local $/;
    my $t = <$f>;
    return $t =~ /"uri":"\/idle".*"error":"tunnel idle timeout"/ ? $t : undef;
});
ok($log, 'the idle tunnel is logged with its cause');
like($log, qr/"uri":"\/echo","host":"[^"]*","protocol":"HTTP\/1.1","status":101,"bytes_sent":(\d+)/,
    'the echo tunnel logs status 101');
my ($sent) = $log =~ /"uri":"\/echo".*?"bytes_sent":(\d+)/;
cmp_ok($sent, '>', 4 << 20, 'bytes_sent counts what the tunnel sent the client');

# ---- raw bytes --------------------------------------------------------------------------------
my $key = 'dGhlIHNhbXBsZSBub25jZQ==';
my @ws = ('Connection' => 'keep-alive, Upgrade', 'Upgrade' => 'websocket',
    'Sec-WebSocket-Key' => $key, 'Sec-WebSocket-Version' => 13);
my $c = client($px->port('front'));
$c->write(build_request(path => '/raw', headers => \@ws));
my $r = $c->read_response;
is($r->{status}, 101, 'raw handshake: 101');
is($r->{h}{upgrade}, 'websocket', 'Upgrade: websocket reaches the client');
like($r->{h}{connection}, qr/^upgrade$/i, 'Connection: upgrade reaches the client');
is($r->{h}{'x-filtered'}, 'yes', 'response-header filters see the 101 and may add fields');
is($r->{h}{'sec-websocket-accept'}, 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=',
    'Sec-WebSocket-* fields pass end to end');
ok((grep { /handshake \/raw key=\Q$key\E/ } PxTest::Backend::_lines($notes)),
    'the backend got the key');
# A masked text frame "hi"; the server echoes it unmasked.
$c->write("\x81\x82\x01\x02\x03\x04" . ("h" ^ "\x01") . ("i" ^ "\x02"));
ok(PxTest::wait_until(sub { $c->_fill(0.2); $c->received =~ /\x81\x02hi$/ }),
    'a frame goes through and its echo comes back');
$c->close;

done_testing;
