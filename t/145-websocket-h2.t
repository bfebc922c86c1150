# 145-websocket-h2: WebSocket over HTTP/2 (RFC 8441). An extended CONNECT stream from a real
# HTTP/2 client (python3-h2, t/lib/h2ws-tool.py) goes to a python3-websockets echo server as an
# HTTP/1.1 upgrade with pyxis's own Sec-WebSocket-Key; its 101 becomes :status 200 and the
# stream's DATA is relayed both ways (a message larger than every window), END_STREAM <->
# half-close, RST_STREAM <-> close, idle timeout, reload; refusals stay ordinary responses.
use strict;
use warnings;
use Test::More;
use FindBin;
use PxTest;
use PxTest::WS;

my $py = PxTest::WS::python();
plan skip_all => 'python3-websockets and python3-h2 are needed'
    unless $py && system("$py -c 'import h2' 2>/dev/null") == 0;

my ($wsport, $notes) = PxTest::WS::server();
# Upstreams that do not switch as asked: a wrong Sec-WebSocket-Accept, and a 200.
my $bad = PxTest::Backend->start(sub {
    my ($c) = @_;
    my $r = $c->read_request or return;
    $c->note("got $r->{target} key=" . ($r->{h}{'sec-websocket-key'} // '-'));
    return $c->respond(200, [], "plain\n") if $r->{target} =~ /plain/;
    $c->write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        . "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    $c->sleep(2);
});
my $yaml = <<'YAML';
workers: 1
drain_timeout: 1s
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    http2: { enabled: true }
    access_log: { path: "%%DIR%%/access.log" }
    routes:
      - match: { path: /idle }
        upstream: ws
        tunnel_idle_timeout: 1s
      - match: { path: /closed }
        upstream: ws
        upgrade: []
      - match: { path: /local }
        respond: { status: 200, body: "local\n" }
      - match: { path_prefix: /bad/ }
        upstream: bad
      - match: { path_prefix: /auth }
        filters:
          - lua: { code: "return { on_request = function(txn) if not txn.req.headers['x-token'] then return txn:respond(401, 'no token') end end }" }
        upstream: ws
      - filters:
          - headers: { response: { set: { x-filtered: "yes" } } }
        upstream: ws
  - name: nows
    listen: 127.0.0.1:%%PORT_nows%%
    http2: { enabled: true }
    routes:
      - upstream: ws
        upgrade: []
upstreams:
  ws: { endpoints: [ "127.0.0.1:%%WS%%" ] }
  bad: { endpoints: [ "127.0.0.1:%%BAD%%" ] }
YAML
my %vars = (WS => $wsport, BAD => $bad->port);
my $px = PxTest::Pyxis->start(vars => \%vars, yaml => $yaml);
my $port = $px->port('front');
my $tool = "$FindBin::Bin/lib/h2ws-tool.py";
sub h2ws {
    my ($p, $path, @args) = @_;
    my $r = PxTest::run_cmd([$py, $tool, $p, $path, @args], timeout => 30);
    return $r->{out} . $r->{err};
}
sub noted { my ($re) = @_; grep { /$re/ } PxTest::Backend::_lines($notes) }

my $out = h2ws($port, '/echo', 'echo');
my $want = "connect-protocol 1\nstatus 200\nx-filtered yes\ntext ok\nbinary ok 1048576\n"
    . "pong ok\nclosed 1000\nended\n";
like($out, qr/^\Q$want\E/m,
    'extended CONNECT: 200, then text, 1 MiB (beyond the windows), ping and close both ways; '
    . 'END_STREAM both ways');
unlike($out, qr/^accept$/m, 'no Sec-WebSocket-Accept on the HTTP/2 side');
my ($key) = map { /key=(\S+)/ } noted(qr{handshake /echo });
like($key // '', qr{^[A-Za-z0-9+/]{22}==$}, 'the upstream got a Sec-WebSocket-Key of pyxis');
ok(PxTest::wait_until(sub { noted(qr{^closed /echo 1000}) }), 'the upstream saw the close');

like(h2ws($port, '/sc', 'server-close'), qr/^closed 4001\nended$/m,
    'the server closes: its close frame, then END_STREAM');
like(h2ws($port, '/half', 'half-close'), qr/^ended$/m,
    'END_STREAM from the client half-closes the upstream; its EOF ends the stream');
ok(PxTest::wait_until(sub { noted(qr{^closed /half }) }), '... the upstream saw the EOF');

like(h2ws($port, '/reset', 'reset'), qr/^reset sent$/m, 'the client resets the stream');
ok(PxTest::wait_until(sub { noted(qr{^closed /reset }) }), '... the upstream connection closes');
$px->wait_log(qr{tunnel closed \(client reset the stream\)});

like(h2ws($port, '/idle', 'idle'), qr/^reset 8 after/m,
    'tunnel_idle_timeout resets an idle stream (CANCEL)');

# Refusals are ordinary responses on the stream.
like(h2ws($port, '/refuse', 'status'), qr/^status 403\n(?:.*\n)?body refused by the backend$/m,
    'an upstream refusing the upgrade: its 403');
like(h2ws($port, '/auth', 'status'), qr/^status 401$/m, 'a request filter refuses (401)');
like(h2ws($port, '/closed', 'status'), qr/^status 426$/m,
    'upgrade: [] on the route: a plain GET upstream, its 426');
like(h2ws($port, '/local', 'status'), qr/^status 502$/m,
    'a 2xx that is no switch (a local reply) never opens a tunnel: 502');
like(h2ws($port, '/bad/plain', 'status'), qr/^status 502$/m,
    'an upstream answering 200 instead of 101: 502');
like(h2ws($port, '/bad/accept', 'status'), qr/^status 502$/m,
    'a 101 whose Sec-WebSocket-Accept is not the one of our key: 502');
$px->wait_log(qr{Sec-WebSocket-Accept does not match});
like(h2ws($port, 'example.com:443', 'connect'), qr/^status 501\nbody 501/m,
    'a plain CONNECT (no :protocol): 501');

# A listener without a route that lets WebSocket through does not offer extended CONNECT.
like(h2ws($px->port('nows'), '/x', 'status'), qr/^connect-protocol 0\nreset 1$/m,
    'no SETTINGS_ENABLE_CONNECT_PROTOCOL: nghttp2 refuses :protocol (PROTOCOL_ERROR)');

# A reload: the tunnel on the old configuration ends within drain_timeout.
{
    my $pid = open(my $fh, '-|', $py, $tool, $port, '/hold', 'idle') // die $!;
    ok(PxTest::wait_until(sub { noted(qr{^open /hold}) }), 'a tunnel is open');
    like($px->reload(yaml => $yaml), qr/generation 2 active/, 'reload');
    my $o = do { local $/; <$fh> };
    close $fh;
    like($o, qr/^reset 8 after/m, '... the tunnel is reset within drain_timeout');
}

my $log = do { local (@ARGV, $/) = ($px->{dir} . '/access.log'); <> } // '';
like($log, qr{"GET /echo HTTP/2.0" 200}, 'access log: the tunnel as GET, HTTP/2.0, 200');

done_testing;
