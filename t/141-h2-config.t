# 141-h2-config: the http2 keys (bad values refused with FILE:LINE:COL) and
# examples/http2.yaml as shipped (its ports swapped for free ones).
use strict;
use warnings;
use Test::More;
use PxTest;

my $head = <<'YAML';
listeners:
  - listen: 127.0.0.1:%%PORT_a%%
    routes: [ { respond: { body: "x" } } ]
YAML
for my $case (
    ['http2: { enabled: maybe }', qr/:4:\d+: listeners\[0\]\.http2\.enabled: /],
    ['http2: { max_concurrent_streams: 0 }', qr/:4:\d+: listeners\[0\]\.http2\.max_concurrent_streams: /],
    ['http2: { initial_window_size: 3g }', qr/:4:\d+: .*initial_window_size is at most 2147483647/],
    ['http2: { windows: 1m }', qr/:4:\d+: unknown key "windows" in listeners\[0\]\.http2/],
) {
    my ($line, $re) = @$case;
    my $chk = PxTest::Pyxis->check(yaml => $head . "    $line\n");
    is($chk->{exit}, 1, "refused: $line");
    like($chk->{err}, $re, '... with where and why');
}

SKIP: {
    skip 'curl is needed', 3 unless have_curl;
    open my $fh, '<', 'examples/http2.yaml' or die "examples/http2.yaml: $!";
    my $yaml = do { local $/; <$fh> };
    my %port = (8080 => '%%PORT_front%%', 8081 => '%%PORT_backend%%');
    $yaml =~ s/127\.0\.0\.1:(808\d)/127.0.0.1:$port{$1}/g;
    my $ex = PxTest::Pyxis->start(yaml => $yaml);
    my $url = 'http://127.0.0.1:' . $ex->port('front') . '/';
    my $r = curl('--http2-prior-knowledge', '-i', $url);
    like($r->{out}, qr{^HTTP/2 200}m, 'examples/http2.yaml: h2c');
    like($r->{out}, qr{hello over HTTP/2}, '... proxied to the HTTP/1.1 backend');
    like(curl('--http1.1', '-i', $url)->{out}, qr{^HTTP/1.1 200}m, '... HTTP/1.1 on the same listener');
}

done_testing;
