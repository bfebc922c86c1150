# 137-websocket-example: examples/websocket.yaml as documented: WebSocket on /ws/ behind an
# Origin check, plain HTTP elsewhere.
use strict;
use warnings;
use Test::More;
use PxTest;
use PxTest::WS;

plan skip_all => 'python3-websockets not installed' unless PxTest::WS::python();

my ($wsport) = PxTest::WS::server();
open my $f, '<', "$ENV{PYXIS_SRCDIR}/examples/websocket.yaml" or die "examples/websocket.yaml: $!";
my $yaml = do { local $/; <$f> };
$yaml =~ s/listen: 127\.0\.0\.1:8080/listen: 127.0.0.1:%%PORT_front%%/ or die 'no listener';
$yaml =~ s/"127\.0\.0\.1:9000"/"127.0.0.1:$wsport"/ or die 'no endpoint in the example';
my $px = PxTest::Pyxis->start(yaml => $yaml);
my $port = $px->port('front');

like(PxTest::WS::client("ws://127.0.0.1:$port/ws/chat", 'echo', 65536),
    qr/text ok\nbinary ok\nlarge ok 65536\npong ok\nclosed 1000/, 'a WebSocket on /ws/');
my @up = ('Connection' => 'Upgrade', 'Upgrade' => 'websocket', 'Sec-WebSocket-Version' => 13,
    'Sec-WebSocket-Key' => 'dGhlIHNhbXBsZSBub25jZQ==');
my $r = http_req($port, path => '/ws/chat', headers => [@up, 'Origin' => 'https://evil.example']);
is($r->{status}, 403, 'another Origin is refused by the Lua check');
$r = http_req($port, path => '/ws/chat',
    headers => [@up, 'Origin' => 'https://chat.example.com']);
is($r->{status}, 101, 'the allowed Origin switches');
like(PxTest::WS::client("ws://127.0.0.1:$port/other", 'status'), qr/^status 426$/m,
    'elsewhere Upgrade is dropped (the server wants one: 426)');

done_testing;
