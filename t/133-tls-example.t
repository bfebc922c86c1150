# 133-tls-example: examples/tls.yaml as documented, with certificates from
# examples/tls-certs.sh: HTTPS with two certificates by SNI, an optional client certificate and
# X-Forwarded-Client-Cert, and a TLS upstream that requires pyxis's own client certificate.
use strict;
use warnings;
use Test::More;
use PxTest;

plan skip_all => 'curl is needed' unless have_curl;

my $src = $ENV{PYXIS_SRCDIR};
my $dir = PxTest::subdir('tls');
my $made = PxTest::run_cmd(['sh', "$src/examples/tls-certs.sh", $dir]);
is($made->{exit}, 0, 'examples/tls-certs.sh makes the certificates') or diag $made->{err};

open my $f, '<', "$src/examples/tls.yaml" or die "examples/tls.yaml: $!";
my $yaml = do { local $/; <$f> };
$yaml =~ s/127\.0\.0\.1:(8443|8081|8444)/127.0.0.1:%%PORT_$1%%/g;
$yaml =~ s/ tls\// $dir\//g;
my $px = PxTest::Pyxis->start(yaml => $yaml);
my $port = $px->port('8443');
my @ca = ('--cacert', "$dir/ca.pem");
my @cert = ('--cert', "$dir/client.pem", '--key', "$dir/client.key");

my $r = curl(@ca, '-i', "https://localhost:$port/");
like($r->{out}, qr/^x-seen-tls: TLSv1\.3 \S+ sni=localhost\r$/m, 'https://localhost/: TLS 1.3');
like($r->{out}, qr/^x-seen-proto: https\r$/m, '... the app hears X-Forwarded-Proto: https');
like($r->{out}, qr/^x-seen-client-verified: false\r$/m, '... no client certificate: allowed');
unlike($r->{out}, qr/^x-seen-xfcc:/m, '... and no X-Forwarded-Client-Cert');

$r = curl(@ca, '-v', '--resolve', "api.example.test:$port:127.0.0.1",
    "https://api.example.test:$port/");
like($r->{err}, qr/subject: CN=api\.example\.test/, 'api.example.test: its own certificate');

$r = curl(@ca, @cert, '-i', "https://localhost:$port/");
like($r->{out}, qr/^x-seen-client-spiffe: spiffe:\/\/example\.test\/ns\/default\/sa\/web\r$/m,
    'with a client certificate: its SPIFFE ID');
like($r->{out}, qr/^x-seen-xfcc: Hash=[0-9a-f]{64};Subject="CN=web";URI=spiffe:\S+;DNS=web\.internal\r$/m,
    '... and X-Forwarded-Client-Cert');

$r = curl(@ca, '-i', "https://localhost:$port/mesh/");
like($r->{out}, qr/hello from the mesh/, '/mesh/: over TLS to the mesh listener');
like($r->{out}, qr/^x-seen-peer: spiffe:\/\/example\.test\/ns\/default\/sa\/web\r$/m,
    '... which saw the client certificate of the upstream');

is($px->stop, 0, 'pyxis exits cleanly');
done_testing;
