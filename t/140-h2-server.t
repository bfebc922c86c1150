# 140-h2-server: HTTP/2 downstream. h2c with prior knowledge and h2 by ALPN over TLS reach the
# same routes and filters as HTTP/1.1; many streams on one connection; request bodies with and
# without content-length (streamed chunked to the HTTP/1.1 upstream); content-length that does
# not match the DATA, connection-specific fields and :authority/Host disagreement refused; a
# stream reset by the client leaves the others alone; GOAWAY on reload while a stream finishes;
# a listener without http2 answers the preface as HTTP/1.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use PxTest;

plan skip_all => 'curl and nghttp are needed'
    unless have_curl && PxTest::run_cmd(['nghttp', '--version'])->{exit} == 0;

my $certs = PxTest::Backend->tls_certs;
my $be = PxTest::Backend->echo(name => 'app');
my $slow = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $r = $c->read_request) {
        $c->note("got $r->{target}");
        $c->sleep(1.5) if $r->{target} =~ m{^/slow};
        $c->respond(200, ['x-slow' => 1], "slow $r->{target}\n");
    }
});

my $yaml = <<'YAML';
workers: 1
error_log: { level: debug }
listeners:
  - name: h2c
    listen: 127.0.0.1:%%PORT_h2c%%
    http2: { enabled: true, max_concurrent_streams: 64 }
    access_log: { path: "%%DIR%%/access.log" }
    routes:
      - match: { path_prefix: /slow }
        upstream: slow
      - match: { path_prefix: /fast }
        upstream: slow
      - match: { path: /local }
        respond: { status: 201, body: "local\n" }
      - filters:
          - headers: { request: { set: { x-scheme: "${scheme}" } }, response: { set: { x-f: h2 } } }
        upstream: app
  - name: tls
    listen: 127.0.0.1:%%PORT_tls%%
    http2: { enabled: true }
    tls: { certificates: [ { cert: "%%CERT%%", key: "%%KEY%%" } ] }
    routes:
      - filters:
          - headers: { request: { set: { x-scheme: "${scheme}" } } }
        upstream: app
  - name: h1only
    listen: 127.0.0.1:%%PORT_h1only%%
    routes:
      - upstream: app
upstreams:
  app: { endpoints: [ "127.0.0.1:%%BACKEND_app%%" ] }
  slow: { endpoints: [ "127.0.0.1:%%BACKEND_slow%%" ] }
YAML
my %vars = (BACKEND_app => $be->port, BACKEND_slow => $slow->port, CERT => $certs->{cert},
    KEY => $certs->{key});
my $px = PxTest::Pyxis->start(vars => \%vars, yaml => $yaml);
my $h2c = 'http://127.0.0.1:' . $px->port('h2c');

# h2c with prior knowledge: routes, filters, :authority as Host, cookies joined.
my $r = curl('--http2-prior-knowledge', '-i', '-H', 'cookie: a=1', '-H', 'cookie: b=2',
    "$h2c/hello?q=1");
like($r->{out}, qr{^HTTP/2 200}m, 'h2c: answered over HTTP/2');
like($r->{out}, qr{^x-f: h2\r?$}m, 'h2c: response filter ran');
my $e = parse_echo($r->{out} =~ s/^.*?\r?\n\r?\n//sr);
is($e->{target}, '/hello?q=1', 'h2c: :path is the target');
is($e->{version}, 'HTTP/1.1', 'h2c: the upstream gets HTTP/1.1');
is($e->{h}{host}, '127.0.0.1:' . $px->port('h2c'), 'h2c: :authority becomes Host');
is($e->{h}{cookie}, 'a=1; b=2', 'h2c: cookie crumbs joined with "; "');
is($e->{h}{'x-scheme'}, 'http', 'h2c: ${scheme} is http');
is($e->{h}{'x-forwarded-proto'}, 'http', 'h2c: X-Forwarded-Proto');
like(curl('--http2-prior-knowledge', '-i', "$h2c/local")->{out}, qr{^HTTP/2 201.*local}ms,
    'h2c: a local reply');

# TLS with ALPN h2.
$r = curl('--http2', '-i', '--cacert', $certs->{ca}, '--resolve',
    'localhost:' . $px->port('tls') . ':127.0.0.1', 'https://localhost:' . $px->port('tls') . '/t');
like($r->{out}, qr{^HTTP/2 200}m, 'TLS: ALPN chose h2');
like($r->{out}, qr{^x-scheme: https\r?$}m, 'TLS: ${scheme} is https');
$r = curl('--http1.1', '-i', '--cacert', $certs->{ca}, '--resolve',
    'localhost:' . $px->port('tls') . ':127.0.0.1', 'https://localhost:' . $px->port('tls') . '/t');
like($r->{out}, qr{^HTTP/1.1 200}m, 'TLS: a client offering http/1.1 only still gets it');

# Many streams on one connection.
$r = PxTest::run_cmd(['nghttp', '-n', '-v', '-m', '40', "$h2c/multi"], timeout => 20);
my @ok = $r->{out} =~ /recv \(stream_id=\d+\) :status: 200/g;
is(scalar @ok, 40, '40 concurrent streams on one connection all answered 200');
is(scalar(() = $r->{out} =~ /recv SETTINGS frame.*\n.*\n.*SETTINGS_MAX_CONCURRENT_STREAMS\(0x03\):64/g),
    1, 'max_concurrent_streams is advertised');

# Request bodies: with content-length, and without (chunked upstream); 1 MiB each.
my $dir = write_files('big' => 'x' x (1024 * 1024));
$r = curl('--http2-prior-knowledge', '--data-binary', "\@$dir/big", "$h2c/post");
$e = parse_echo($r->{out});
is(length $e->{body}, 1024 * 1024, 'body with content-length: all of it reached the upstream');
is($e->{h}{'content-length'}, 1024 * 1024, '... with its Content-Length');
$r = curl('--http2-prior-knowledge', '-H', 'content-length:', '--data-binary', "\@$dir/big",
    "$h2c/post");
$e = parse_echo($r->{out});
is(length $e->{body}, 1024 * 1024, 'body without content-length: all of it reached the upstream');
is($e->{h}{'transfer-encoding'}, 'chunked', '... chunked');

# Refused: content-length that the DATA does not match, connection-specific fields, Host
# that disagrees with :authority.
$r = curl('--http2-prior-knowledge', '-H', 'content-length: 10', '--data', 'abc', "$h2c/cl");
like($r->{err}, qr/PROTOCOL_ERROR/, 'content-length mismatch: stream reset');
for my $h ('connection: close', 'keep-alive: 1', 'upgrade: x', 'transfer-encoding: chunked',
    'te: gzip') {
    $r = PxTest::run_cmd(['nghttp', '-n', '-v', '-H', $h, "$h2c/bad"]);
    like($r->{out}, qr/recv RST_STREAM frame.*\n.*error_code=PROTOCOL_ERROR/, "$h: stream reset");
}
$r = PxTest::run_cmd(['nghttp', '-n', '-v', '-H', 'host: other.example', "$h2c/bad"]);
like($r->{out}, qr/:status: 400/, ':authority and Host disagree: 400');
is(scalar(grep { $_->{target} eq '/bad' } $be->requests(all => 1)), 0,
    'nothing refused reached the upstream');
is(scalar(grep { $_->{target} eq '/cl' } $be->requests), 0,
    'the body whose length did not match never completed upstream');

# A stream reset by the client: the other stream on the connection is answered.
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $px->port('h2c')) or die $!;
    my $frame = sub { my ($type, $flags, $id, $payload) = @_;
        pack('NCN', (length($payload) << 8) | $type, $flags, $id) . $payload };
    my $hdrs = sub { "\x82\x86\x44" . chr(length $_[0]) . $_[0] . "\x41\x09localhost" };
    print $s "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", $frame->(4, 0, 0, ''),
        $frame->(1, 5, 1, $hdrs->('/slow')), $frame->(1, 5, 3, $hdrs->('/fast'));
    $slow->wait_note(qr{got /slow}) or fail('the slow request reached the upstream');
    print $s $frame->(3, 0, 1, pack('N', 8));    # RST_STREAM CANCEL
    my ($buf, %seen) = ('');
    my $deadline = time + 10;
    while (time < $deadline && !$seen{3}) {
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
        while (length $buf >= 9) {
            my ($l1, $l2, $type, $flags, $id) = unpack('nCCCN', $buf);
            my $len = ($l1 << 8) | $l2;
            last if length $buf < 9 + $len;
            substr($buf, 0, 9 + $len, '');
            $seen{$id & 0x7fffffff} = 1 if $type == 0 && ($flags & 1);
            $seen{goaway} = 1 if $type == 7;
        }
    }
    ok($seen{3}, 'reset of stream 1: stream 3 still gets its whole response');
    ok(!$seen{1} && !$seen{goaway}, '... stream 1 gets nothing more, the connection lives on');
    close $s;
    $px->wait_log(qr{client reset the stream});
    ok(1, 'the reset stream\'s txn ended as "client reset the stream"');
}

# Reload: GOAWAY, the stream in progress finishes.
{
    my $pid = open(my $out, '-|', 'nghttp', '-n', '-v', "$h2c/slow-reload") // die $!;
    $slow->wait_note(qr{got /slow-reload}) or fail('slow request started');
    like($px->reload(yaml => $yaml), qr/generation 2 active/, 'reload');
    my $o = do { local $/; <$out> };
    close $out;
    like($o, qr/recv GOAWAY frame.*\n.*error_code=NO_ERROR/, 'reload: GOAWAY NO_ERROR');
    like($o, qr/:status: 200/, '... and the stream in progress finished');
    like(curl('--http2-prior-knowledge', "$h2c/after")->{out}, qr{/after}, 'a new connection works');
}

# A listener without http2: the preface is just a bad HTTP/1 request.
my ($bytes) = raw_http($px->port('h1only'), "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
like($bytes, qr{^HTTP/1.1 (400|505)}, 'http2 off: no HTTP/2');

my $log = do { local (@ARGV, $/) = ($px->{dir} . '/access.log'); <> } // '';
like($log, qr{"GET /hello\?q=1 HTTP/2.0" 200}, 'access log: HTTP/2.0');

done_testing;
