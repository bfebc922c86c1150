# 042-read-timeout: the upstream read_timeout (idle time between body reads) holds for the whole
# response, including after pyxis paused reading the upstream because the client was slow.
use strict;
use warnings;
use Test::More;
use PxTest;
use Time::HiRes;

my $MiB = 1024 * 1024;
# Declares 32 MiB, sends 16, then stalls without closing.
my $be = PxTest::Backend->start(sub {
    my ($c) = @_;
    $c->read_request or return;
    $c->write("HTTP/1.1 200 OK\r\nContent-Length: " . 32 * $MiB . "\r\n\r\n");
    my $block = 'x' x $MiB;
    $c->write($block) for 1 .. 16;
    $c->note('stalled');
    $c->sleep(30);
});

my $px = PxTest::Pyxis->start(vars => { BACKEND_be => $be->port }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - upstream: be
        timeout: 0          # only the read timeout may end this exchange
upstreams:
  be:
    endpoints: [ "127.0.0.1:%%BACKEND_be%%" ]
    read_timeout: 500ms
YAML

# A slow reader: it starts reading only after a second (the slowness is the behaviour under
# test), by which time pyxis's buffers are full and it has stopped reading the upstream. Then it
# reads everything: pyxis resumes, passes on the rest of the 16 MiB, and the upstream stalls.
my $c = client($px->port('front'));
$c->write("GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
Time::HiRes::sleep(1);
ok($c->wait_closed(20), 'pyxis closes the client connection once the upstream is idle too long');
ok(scalar $be->notes, '... after the backend sent all it would and stalled');
my $got = length $c->received;
ok($got > 16 * $MiB && $got < 32 * $MiB,
    sprintf('... after passing on what arrived (%.1f MiB), never a complete response',
        $got / $MiB));
ok($px->wait_log(qr/response aborted after 200: upstream read timeout/),
    '... and logs the read timeout');

done_testing;
