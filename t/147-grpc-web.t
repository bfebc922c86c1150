# 147-grpc-web: the grpc_web filter between gRPC-Web clients (HTTP/1.1 and HTTP/2) and a
# gRPC-speaking upstream. The upstream here is a scripted HTTP/1.1 one that answers like a gRPC
# server (application/grpc, a message frame, grpc-status in chunked trailers), so each byte is
# checked: the request reaches it as application/grpc with the body decoded from base64 when
# the client sent text; the client gets application/grpc-web(-text), the trailers moved into
# the body as the 0x80 frame, base64 per piece in text mode; CORS exposure; bad base64; other
# requests and non-gRPC answers untouched; config errors.
use strict;
use warnings;
use Test::More;
use MIME::Base64 qw(encode_base64 decode_base64);
use PxTest;
use PxTest::GRPC;

sub frame { my ($flag, $msg) = @_; return pack('C N', $flag, length $msg) . $msg }
# Decode base64 that may hold padding inside (each piece padded on its own).
sub unb64 { my ($s) = @_; return join '', map { decode_base64($_) } $s =~ /(.{4})/gs }

my $be = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $r = $c->read_request) {
        $c->note(join ' ', 'got', $r->{h}{'content-type'} // '-', unpack('H*', $r->{body}),
            exists $r->{h}{'x-grpc-web'} ? 'x-grpc-web' : '-');
        if ($r->{target} eq '/page') {
            $c->respond(503, ['Content-Type' => 'text/html'], "<h1>down</h1>\n");
            next;
        }
        my ($status, $msg) = $r->{target} =~ /Missing/ ? (5, 'no%20such%20thing') : (0, 'ok');
        my $out = frame(0, 'reply:' . (length $r->{body} > 5 ? substr($r->{body}, 5) : ''));
        $c->write("HTTP/1.1 200 OK\r\nContent-Type: application/grpc+proto\r\n"
            . "Transfer-Encoding: chunked\r\n\r\n"
            . sprintf('%x', length $out) . "\r\n$out\r\n"
            . "0\r\ngrpc-status: $status\r\ngrpc-message: $msg\r\nx-trace: t1\r\n\r\n");
    }
});

my $px = PxTest::Pyxis->start(vars => { BE => $be->port }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    http2: { enabled: true }
    routes:
      - match: { path_prefix: /custom. }
        filters:
          - grpc_web: { expose_headers: [grpc-status, x-trace] }
        upstream: be
      - filters: [ grpc_web ]
        upstream: be
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BE%%" ] }
YAML
my $port = $px->port('front');
my $call = frame(0, 'hello');
my $trailers = "grpc-status: 0\r\ngrpc-message: ok\r\nx-trace: t1\r\n";
my $want = frame(0, 'reply:hello') . frame(0x80, $trailers);

# Binary: the bytes as they are, the trailers frame at the end.
my $r = http_req($port, method => 'POST', path => '/pkg.Svc/Say',
    headers => ['Content-Type' => 'application/grpc-web+proto', 'X-Grpc-Web' => '1'],
    body => $call);
is($r->{status}, 200, 'binary gRPC-Web call answered');
is($r->{h}{'content-type'}, 'application/grpc-web+proto', '... as application/grpc-web+proto');
is($r->{body}, $want, '... the message, then grpc-status and the metadata as the 0x80 frame');
ok(!exists $r->{h}{'grpc-status'} && !exists $r->{h}{'content-length'},
    '... no status field and no Content-Length (the body was reframed)');
ok($be->wait_note(qr/^got application\/grpc\+proto \Q${\ unpack('H*', $call)}\E -$/),
    'the upstream got application/grpc+proto, the same body, no x-grpc-web');

# Text: the request body arrives in base64 with padding inside; the answer is base64.
my $b64 = encode_base64(substr($call, 0, 4), '') . encode_base64(substr($call, 4), '');
like($b64, qr/=.+/, '(the request body has padding inside)');
$r = http_req($port, method => 'POST', path => '/pkg.Svc/Say',
    headers => ['Content-Type' => 'application/grpc-web-text'], body => $b64);
is($r->{status}, 200, 'text gRPC-Web call answered');
is($r->{h}{'content-type'}, 'application/grpc-web-text+proto', '... as grpc-web-text');
like($r->{body}, qr/\A[A-Za-z0-9+\/=]+\z/, '... a base64 body');
is(unb64($r->{body}), $want, '... which decodes to the message and the trailers frame');
ok($be->wait_note(qr/^got application\/grpc \Q${\ unpack('H*', $call)}\E -$/),
    'the upstream got the decoded bytes as application/grpc');

# Accept asks for text; an error status in the trailers; Origin exposes the status fields.
$r = http_req($port, method => 'POST', path => '/pkg.Svc/Missing',
    headers => ['Content-Type' => 'application/grpc-web+proto',
        'Accept' => 'application/grpc-web-text', 'Origin' => 'https://app.example'],
    body => $call);
is($r->{h}{'content-type'}, 'application/grpc-web-text+proto', 'Accept: grpc-web-text -> text');
like(unb64($r->{body}), qr/\x80\0\0\0.grpc-status: 5\r\ngrpc-message: no%20such%20thing\r\n/s,
    '... the error status travels in the trailers frame');
is($r->{h}{'access-control-expose-headers'}, 'grpc-status, grpc-message',
    'Origin: grpc-status and grpc-message exposed');
$r = http_req($port, method => 'POST', path => '/custom.Svc/Say',
    headers => ['Content-Type' => 'application/grpc-web', 'Origin' => 'https://app.example'],
    body => $call);
is($r->{h}{'access-control-expose-headers'}, 'grpc-status, x-trace', 'expose_headers configured');
$r = http_req($port, method => 'POST', path => '/pkg.Svc/Say',
    headers => ['Content-Type' => 'application/grpc-web'], body => $call);
ok(!exists $r->{h}{'access-control-expose-headers'}, 'no Origin: nothing exposed');

# HTTP/2 client (curl, h2c): the same bytes.
SKIP: {
    skip 'curl is not installed', 3 unless have_curl();
    my $file = PxTest::testdir() . '/call.bin';
    write_file($file, $call);
    my $c = curl('--http2-prior-knowledge', '-s', '-D', '-', '-o', PxTest::testdir() . '/out.bin',
        '-H', 'Content-Type: application/grpc-web+proto', '--data-binary', "\@$file",
        "http://127.0.0.1:$port/pkg.Svc/Say");
    like($c->{out}, qr{^HTTP/2 200.*^content-type: application/grpc-web\+proto}ms,
        'HTTP/2 client: grpc-web over h2c');
    unlike($c->{out}, qr/^grpc-status/mi, '... no grpc-status field or HTTP/2 trailer');
    open my $fh, '<:raw', PxTest::testdir() . '/out.bin' or die $!;
    is(do { local $/; <$fh> }, $want, '... the same body, trailers in it (no HTTP/2 trailers)');
}

# Refusals and pass-through.
$r = http_req($port, method => 'POST', path => '/pkg.Svc/Say',
    headers => ['Content-Type' => 'application/grpc-web-text'], body => 'AAAA*AAA');
is($r->{status}, 400, 'text body that is not base64: 400');
$r = http_req($port, method => 'POST', path => '/pkg.Svc/Say',
    headers => ['Content-Type' => 'application/grpc-web-text'], body => 'AAAAAAU');
is($r->{status}, 400, 'text body cut inside a base64 quantum: 400');
$r = http_req($port, method => 'POST', path => '/pkg.Svc/Say',
    headers => ['Content-Type' => 'application/json'], body => '{}');
is($r->{h}{'content-type'}, 'application/grpc+proto', 'not gRPC-Web: passed as it is');
ok($be->wait_note(qr/^got application\/json 7b7d -$/), '... request untouched');
$r = http_req($port, method => 'POST', path => '/page',
    headers => ['Content-Type' => 'application/grpc-web'], body => $call);
is($r->{status}, 503, 'an upstream error page: its status');
is($r->{body}, "<h1>down</h1>\n", '... and body, untouched');

# Config errors.
for my $case (
    ['grpc_web: [x]', qr/grpc_web: expected a map \(expose_headers\) or nothing/],
    ['grpc_web: { expose: [a] }', qr/unknown key "expose"/],
    ['grpc_web: { expose_headers: a }', qr/expose_headers: expected a list of field names/],
    ['grpc_web: { expose_headers: ["a b"] }', qr/expose_headers: expected a field name/],
) {
    my ($filter, $msg) = @$case;
    my $c = PxTest::Pyxis->check(yaml => <<"YAML");
listeners:
  - listen: 127.0.0.1:1
    routes:
      - filters: [ { $filter } ]
        respond: { status: 200 }
YAML
    is($c->{exit}, 1, "refused: $filter");
    like($c->{err}, $msg, '... with the reason') or diag $c->{err};
}

is($px->stop, 0, 'pyxis exits cleanly');

# A real gRPC server (python3-grpcio, HTTP/2 only) behind pyxis, reached by gRPC-Web clients
# over HTTP/1.1: what browsers do through a grpc-web proxy.
SKIP: {
    skip 'python3-grpcio is needed for the real server', 11 unless PxTest::GRPC::python();
    my $gport = PxTest::GRPC::server();
    my $gx = PxTest::Pyxis->start(vars => { G => $gport }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - filters: [ grpc_web ]
        upstream: greeter
upstreams:
  greeter: { endpoints: [ "127.0.0.1:%%G%%" ], protocol: h2c }
YAML
    my $gp = $gx->port('front');
    my $web = sub {
        my ($method, $ct, $body, @h) = @_;
        return http_req($gp, method => 'POST', path => "/test.Echo/$method",
            headers => ['Content-Type' => $ct, 'X-Grpc-Web' => '1', @h], body => $body);
    };
    # Each frame of a gRPC-Web body: [flag, payload].
    my $frames = sub {
        my ($b, @f) = ($_[0]);
        while (length $b >= 5) {
            my ($flag, $len) = unpack('C N', $b);
            push @f, [$flag, substr($b, 5, $len)];
            $b = substr($b, 5 + $len);
        }
        return @f;
    };

    $r = $web->('Unary', 'application/grpc-web+proto', frame(0, 'hi'), 'X-Echo' => 'meta');
    is($r->{status}, 200, 'real gRPC server, HTTP/1.1 gRPC-Web client: unary call answered');
    is($r->{h}{'content-type'}, 'application/grpc-web',
        '... as application/grpc-web (the server answers application/grpc)');
    is($r->{h}{'x-echo'}, 'meta', '... request metadata in, response metadata out');
    my @f = $frames->($r->{body});
    is_deeply($f[0], [0, 'echo:hi'], '... the reply message');
    like($f[1][1] // '', qr/^grpc-status: 0\r\n/m, '... then the trailers frame with grpc-status 0');
    like($f[1][1] // '', qr/^x-trailer: done\r\n/m, '... and the trailing metadata');

    @f = $frames->($web->('ServerStream', 'application/grpc-web', frame(0, 'x'))->{body});
    is_deeply([map { $_->[1] } @f[0 .. 2]], ['0:x', '1:x', '2:x'],
        'server streaming: the three messages');
    is($f[3][0], 0x80, '... then the trailers frame');

    $r = $web->('NotFound', 'application/grpc-web-text',
        encode_base64(frame(0, 'q'), ''));
    is($r->{h}{'content-type'}, 'application/grpc-web-text', 'text mode against the real server');
    @f = $frames->(unb64($r->{body}));
    my ($tr) = grep { $_->[0] == 0x80 } @f;
    $tr //= [0, join '', map { "$_: $r->{h}{$_}\r\n" } grep { /^grpc-/ } keys %{$r->{h}}];
    like($tr->[1], qr/grpc-status: 5\r\n/, '... its error status (NOT_FOUND) reaches the client');
    like($tr->[1], qr/grpc-message: no such thing\r\n/, '... with its message');
    $gx->stop;
}
done_testing;
