# 150-grpc-e2e: a real gRPC client (python3-grpcio) through pyxis to a real gRPC server, over
# h2c and over TLS on both sides: unary, client streaming, server streaming and bidi calls with
# metadata, trailers and grpc-status intact; a reset stream becomes UNAVAILABLE; the deadline
# holds. The last part runs examples/grpc.yaml.
use strict;
use warnings;
use Test::More;
use PxTest;
use PxTest::GRPC;
use PxTest::H2;

plan skip_all => 'python3-grpcio and python3-h2 are needed' unless PxTest::GRPC::python();
my $certs = PxTest::Backend->tls_certs;
sub grpc_server { return PxTest::GRPC::server(@_) }
sub call { return PxTest::GRPC::call(@_) }

my $plain = grpc_server();
my $secure = grpc_server($certs->{cert}, $certs->{key});
my $h2 = PxTest::Backend->h2();    # resets /reset

my $px = PxTest::Pyxis->start(vars => { PLAIN => $plain, SECURE => $secure, H2 => $h2->port,
    CERT => $certs->{cert}, KEY => $certs->{key}, CA => $certs->{ca} }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    http2: { enabled: true }
    routes:
      - match: { path_prefix: /reset }
        upstream: h2
      - match: { path_prefix: / }
        upstream: plain
  - name: tls
    listen: 127.0.0.1:%%PORT_tls%%
    http2: { enabled: true }
    tls: { certificates: [ { cert: "%%CERT%%", key: "%%KEY%%" } ] }
    routes:
      - match: { path_prefix: / }
        upstream: secure
upstreams:
  plain: { protocol: h2c, endpoints: [ "127.0.0.1:%%PLAIN%%" ] }
  secure:
    protocol: http2
    tls: { ca: "%%CA%%", server_name: localhost }
    endpoints: [ "127.0.0.1:%%SECURE%%" ]
  h2: { protocol: h2c, endpoints: [ "127.0.0.1:%%H2%%" ] }
YAML

for my $side (['h2c', $px->port('front')], ['TLS', $px->port('tls'), '--ca', $certs->{ca}]) {
    my ($name, $port, @tls) = @$side;
    my $out = call('unary', $port, '/test.Echo/Unary', @tls, -m => 'x-echo=hi');
    like($out, qr/^code=OK reply=echo:ping$/m, "$name: unary call");
    like($out, qr/^initial x-echo=hi$/m, '... request metadata in, response metadata out');
    like($out, qr/^trailing x-trailer=done$/m, '... trailing metadata');
    like(call('client_stream', $port, '/test.Echo/ClientStream', @tls),
        qr/^code=OK reply=a\+b\+c$/m, "$name: client streaming");
    like(call('server_stream', $port, '/test.Echo/ServerStream', @tls),
        qr/^code=OK reply=0:ping,1:ping,2:ping$/m, "$name: server streaming");
    like(call('bidi', $port, '/test.Echo/Bidi', @tls), qr/^code=OK reply=bidi:a,bidi:b$/m,
        "$name: bidi streaming");
    like(call('unary', $port, '/test.Echo/NotFound', @tls),
        qr/^code=NOT_FOUND details=no such thing$/m, "$name: an error status and its message");
    like(call('unary', $port, '/test.Echo/Slow', @tls, '--timeout', '0.5'),
        qr/^code=DEADLINE_EXCEEDED/m, "$name: the deadline holds");
}

# The upstream resets the stream before any response byte: UNAVAILABLE.
like(call('unary', $px->port('front'), '/reset'), qr/^code=UNAVAILABLE details=.*reset the stream/m,
    'a stream reset by the upstream: UNAVAILABLE');
$px->stop;

# examples/grpc.yaml, pointed at the h2c server.
my $src = $ENV{PYXIS_SRCDIR};
open my $f, '<', "$src/examples/grpc.yaml" or die "examples/grpc.yaml: $!";
my $yaml = do { local $/; <$f> };
$yaml =~ s/127\.0\.0\.1:8080/127.0.0.1:%%PORT_grpc%%/g;
$yaml =~ s/127\.0\.0\.1:50051/127.0.0.1:$plain/g;
$yaml =~ s/workers: auto/workers: 1/;
my $ex = PxTest::Pyxis->start(yaml => $yaml);
like(call('bidi', $ex->port('grpc'), '/test.Echo/Bidi'), qr/^code=OK reply=bidi:a,bidi:b$/m,
    'examples/grpc.yaml: a bidi call goes through');

done_testing;
