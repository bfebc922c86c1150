# 148-h2-upstream: HTTP/2 to upstreams (protocol h2c, http2, auto; auto falls back to HTTP/1.1
# when the server offers no h2). Requests from HTTP/1.1 and HTTP/2 clients become HTTP/2
# requests (Host as :authority, connection fields dropped), trailers travel both ways, many
# requests share few connections within the stream limit.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use PxTest;
use PxTest::H2;
use POSIX ();

plan skip_all => 'python3-h2 is needed' unless PxTest::H2::python();
sub h2 { return PxTest::H2::request(@_) }
sub fields { return PxTest::H2::fields(@_) }

my $be = PxTest::Backend->h2();                   # h2c
my $narrow = PxTest::Backend->h2(max_streams => 3);  # its SETTINGS allow 3 streams
my $certs = PxTest::Backend->tls_certs;
my $tls = PxTest::Backend->h2(cert => $certs->{cert}, key => $certs->{key});
my $h1 = PxTest::Backend->echo(name => 'h1');
my $h1tls = PxTest::Backend->tls(cert => $certs->{cert}, key => $certs->{key});  # no ALPN

my $px = PxTest::Pyxis->start(
    vars => { BE => $be->port, NARROW => $narrow->port, TLS => $tls->port, H1 => $h1->port,
    H1TLS => $h1tls->port, CA => $certs->{ca} }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    http2: { enabled: true }
    routes:
      - match: { path_prefix: /narrow/ }
        upstream: narrow
      - match: { path_prefix: /two/ }
        upstream: two
      - match: { path_prefix: /tls/ }
        upstream: tls
      - match: { path_prefix: /auto/ }
        upstream: auto
      - match: { path_prefix: /auto1/ }
        upstream: auto1
      - match: { path_prefix: / }
        upstream: app
upstreams:
  app: { protocol: h2c, endpoints: [ "127.0.0.1:%%BE%%" ] }
  two:
    protocol: h2c
    http2: { max_concurrent_streams: 2 }
    endpoints: [ "127.0.0.1:%%BE%%" ]
  narrow: { protocol: h2c, endpoints: [ "127.0.0.1:%%NARROW%%" ] }
  tls:
    protocol: http2
    tls: { ca: "%%CA%%", server_name: localhost }
    endpoints: [ "127.0.0.1:%%TLS%%" ]
  auto:
    protocol: auto
    tls: { ca: "%%CA%%", server_name: localhost }
    endpoints: [ "127.0.0.1:%%TLS%%" ]
  auto1:
    protocol: auto
    tls: { ca: "%%CA%%", server_name: localhost }
    endpoints: [ "127.0.0.1:%%H1TLS%%" ]
YAML
my $port = $px->port('front');
sub echo_of { return decode_json($_[0]{body}) }

# $n requests at once (GET $prefix$i, held $ms by the upstream); how many got 200.
sub concurrent {
    my ($n, $prefix, $ms) = @_;
    my @pids;
    for my $i (1 .. $n) {
        my $pid = fork // die;
        if (!$pid) {
            my $x = http_req($port, path => "$prefix$i", headers => ['X-Delay-Ms' => $ms]);
            POSIX::_exit($x->{status} == 200 ? 0 : 1);
        }
        push @pids, $pid;
    }
    my $ok = 0;
    for (@pids) { waitpid $_, 0; $ok++ if $? == 0 }
    return $ok;
}
sub hdr { my ($e, $n) = @_; return [map { $_->[1] } grep { $_->[0] eq $n } @{$e->{headers}}] }

# HTTP/1.1 client -> HTTP/2 upstream.
my $r = http_req($port, path => '/a?b=1', host => 'app.test',
    headers => ['X-Foo' => 'bar', 'Connection' => 'x-hop', 'X-Hop' => 1, 'Keep-Alive' => 5]);
is($r->{status}, 200, 'h1 -> h2c: 200');
is($r->{reason}, 'OK', '... with the standard reason phrase');
my $e = echo_of($r);
is($e->{path}, '/a?b=1', '... :path');
is($e->{authority}, 'app.test', '... Host became :authority');
is_deeply(hdr($e, 'host'), [], '... and no host field');
is_deeply(hdr($e, 'x-foo'), ['bar'], '... fields pass, lowercased');
is_deeply([hdr($e, 'x-hop'), hdr($e, 'keep-alive'), hdr($e, 'connection')], [[], [], []],
    '... connection-specific fields dropped');
is_deeply(hdr($e, 'te'), [], '... no te: trailers when the client did not ask');

$r = http_req($port, method => 'POST', path => '/post', body => 'hello world');
$e = echo_of($r);
is($e->{body}, 'hello world', 'h1 POST with Content-Length: body arrives');
is_deeply(hdr($e, 'content-length'), ['11'], '... with content-length');

# Trailers, HTTP/1.1 client: a chunked request's trailers go as an HTTP/2 trailers frame; the
# upstream's trailers come back after the last chunk (the client said TE: trailers).
my $chunked = "POST /tr HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nTransfer-Encoding: chunked\r\n"
    . "Connection: close\r\nX-Resp-Trailers: x-sum=42\r\n\r\n5\r\nhello\r\n0\r\nX-Req-Tr: yes\r\n\r\n";
my ($raw) = raw_http($port, $chunked);
my ($resp) = parse_responses($raw);
$e = decode_json(PxTest::dechunk($resp->{raw} =~ s/^.*?\r\n\r\n//sr));
is($e->{body}, 'hello', 'h1 chunked -> h2: body');
is_deeply($e->{trailers}, [['x-req-tr', 'yes']], '... request trailers as HTTP/2 trailers');
is_deeply(hdr($e, 'te'), ['trailers'], '... te: trailers sent (the client asked)');
like($resp->{raw}, qr/\r\n0\r\nx-sum: 42\r\n\r\n\z/, '... response trailers after the last chunk');

# HTTP/2 client -> HTTP/2 upstream, trailers both ways.
$r = h2($port, 'POST', '/h2', -H => 'x-resp-trailers: grpc-status=0', -d => 'abc',
    -T => 'x-client-tr: 1');
is($r->{status}, 200, 'h2 -> h2c: 200');
$e = decode_json($r->{body});
is($e->{body}, 'abc', '... body');
is_deeply($e->{trailers}, [['x-client-tr', '1']], '... request trailers arrive');
is_deeply(hdr($e, 'te'), ['trailers'], '... te: trailers (an HTTP/2 client takes them)');
is_deeply($r->{trailers}, [['grpc-status', '0']], '... response trailers arrive as trailers');
ok($r->{end}, '... stream ended');

# Multiplexing: 12 requests at once, each held 400 ms by the upstream, share one connection.
my $c0 = $be->connections;
is(concurrent(12, '/mux/', 400), 12, 'multiplexing: 12 concurrent requests answered');
is($be->connections - $c0, 0, '... on the connection already open (no new one)');
ok((grep { /^conn \d+ streams (\d+)$/ && $1 >= 6 } $be->notes),
    '... many streams at once on it');

# max_concurrent_streams 2: 6 concurrent requests need 3 connections.
$c0 = $be->connections;
is(concurrent(6, '/two/', 500), 6, 'max_concurrent_streams 2: 6 concurrent requests answered');
is($be->connections - $c0, 3, '... over 3 new connections');

# The server's SETTINGS_MAX_CONCURRENT_STREAMS (3) is the limit when it is lower.
is(concurrent(6, '/narrow/', 500), 6, 'server allows 3 streams: 6 concurrent requests answered');
ok(!(grep { /streams (\d+)$/ && $1 > 3 } $narrow->notes), '... never more than 3 at once');

# TLS: http2 by ALPN; auto picks h2 when the server offers it.
$r = http_req($port, path => '/tls/x');
is($r->{status}, 200, 'protocol http2 over TLS (ALPN h2): 200');
is(echo_of($r)->{path}, '/tls/x', '... proxied');
$r = http_req($port, path => '/auto/x');
is($r->{status}, 200, 'protocol auto, server offers h2: 200');
is(echo_of($r)->{path}, '/auto/x', '... over HTTP/2 (the h2 server answered)');
$r = http_req($port, path => '/auto/y');
is(echo_of($r)->{path}, '/auto/y', '... and again on the same session');
$r = http_req($port, path => '/auto1/x');
is($r->{status}, 200, 'protocol auto, server without ALPN h2: 200');
ok($h1tls->wait_note(qr{^got GET /auto1/x }), '... over HTTP/1.1 (the HTTP/1.1 TLS server answered)');

done_testing;
