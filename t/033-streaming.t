# 033-streaming: bodies stream through pyxis. A 1 GiB download, a 1 GiB upload with
# Content-Length and a 256 MiB chunked upload arrive intact (length and MD5), while pyxis's
# resident memory (VmRSS, sampled during each transfer) stays under 64 MiB.
use strict;
use warnings;
use Test::More;
use Digest::MD5 ();
use IO::Socket::IP;
use Socket qw(SOL_SOCKET SO_RCVTIMEO SO_SNDTIMEO);
use Time::HiRes qw(time);
use PxTest;

use constant BLOCK => 256 * 1024;
use constant GIB_BLOCKS => 4096;      # 1 GiB in blocks
use constant MAX_RSS_KIB => 64 * 1024;

# Block $i of a body: fixed pseudo-random bytes, stamped with the block number so that a lost,
# repeated or reordered block changes the MD5.
srand(20261121);
my $base = pack('N*', map { int rand 4294967296 } 1 .. BLOCK / 4);
sub block { my $b = $base; substr($b, 0, 16, sprintf("%015d\n", $_[0])); return $b }

# GET /down/N: N blocks with Content-Length; notes the MD5 of what it sent.
my $down = PxTest::Backend->start(sub {
    my ($c) = @_;
    my $r = $c->read_request or return;
    my ($n) = $r->{target} =~ m{^/down/(\d+)\z} or return $c->respond(400, [], 'bad');
    $c->write("HTTP/1.1 200 OK\r\nContent-Length: " . $n * BLOCK . "\r\n\r\n");
    my $md5 = Digest::MD5->new;
    for my $i (0 .. $n - 1) {
        my $b = block($i);
        $md5->add($b);
        $c->write($b) or return $c->note('write failed');
    }
    $c->note('sent ' . $md5->hexdigest);
});
# Any request: reads the body without keeping it, answers "LENGTH MD5".
my $sink = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $r = $c->read_head) {
        my $md5 = Digest::MD5->new;
        my $n = $c->read_body($r, sub { $md5->add($_[0]) }, timeout => 30) // return;
        $c->respond(200, [], "$n " . $md5->hexdigest);
    }
});

my $px = PxTest::Pyxis->start(vars => { BACKEND_down => $down->port, BACKEND_sink => $sink->port },
    yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - { match: { path_prefix: /down/ }, upstream: down, timeout: 0 }
      - { match: { path_prefix: /up }, upstream: sink, timeout: 0 }
upstreams:
  down: { endpoints: [ "127.0.0.1:%%BACKEND_down%%" ] }
  sink: { endpoints: [ "127.0.0.1:%%BACKEND_sink%%" ] }
YAML

sub rss_kib {
    open my $f, '<', '/proc/' . $px->pid . '/status' or return 0;
    while (<$f>) { return $1 if /^VmRSS:\s+(\d+)\s+kB/ }
    return 0;
}
my $max_rss = 0;
sub sample { my $r = rss_kib(); $max_rss = $r if $r > $max_rss }
sub rss_ok {
  SKIP: {
        skip 'under AddressSanitizer RSS counts its quarantine (256 MiB) and shadow memory', 1
            if $ENV{PYXIS_ASAN};
        ok($max_rss > 0 && $max_rss < MAX_RSS_KIB,
            "... pyxis RSS stayed under 64 MiB (max $max_rss KiB)");
    }
}

# A blocking connection whose reads and writes give up after 30 s without progress.
sub connect_front {
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $px->port('front'),
        Proto => 'tcp') or die "connect: $@";
    setsockopt($s, SOL_SOCKET, $_, pack('l!l!', 30, 0)) for SO_RCVTIMEO, SO_SNDTIMEO;
    return $s;
}
sub send_all {
    my ($s, $bytes) = @_;
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite($s, $bytes, length($bytes) - $off, $off);
        return 0 unless $n;
        $off += $n;
    }
    return 1;
}
# Reads one small response (head and Content-Length body) from a blocking socket.
sub read_small_response {
    my ($s) = @_;
    my ($buf, $r) = ('');
    while (1) {
        ($r) = parse_responses($buf, closed => 0);
        last if $r && $r->{complete};
        sysread($s, $buf, 65536, length $buf) or last;
    }
    return $r // { status => undef };
}

diag sprintf('pyxis VmRSS before the transfers: %d KiB', rss_kib());

# ---- 1 GiB download ----
{
    $max_rss = 0;
    my $t0 = time;
    my $s = connect_front();
    send_all($s, "GET /down/" . GIB_BLOCKS . " HTTP/1.1\r\nHost: a\r\n\r\n");
    my ($head, $he) = ('');
    while (($he = index($head, "\r\n\r\n")) < 0) { sysread($s, $head, 65536, length $head) or last }
    my $rest = $he < 0 ? '' : substr($head, $he + 4, length $head, '');
    like($head, qr{\AHTTP/1\.1 200 }, '1 GiB download: 200');
    like($head, qr/^Content-Length: ${\(GIB_BLOCKS * BLOCK)}\r$/mi, '... Content-Length kept');
    my $md5 = Digest::MD5->new->add($rest);
    my ($got, $next) = (length $rest, 0);
    while ($got < GIB_BLOCKS * BLOCK) {
        my $n = sysread($s, my $b, BLOCK) or last;
        $md5->add($b);
        $got += $n;
        if ($got >= $next) { sample(); $next += 16 << 20 }
    }
    sample();
    is($got, GIB_BLOCKS * BLOCK, '... every byte arrived');
    my $sent = $down->wait_note(qr/^sent /, 30) // '';
    is("sent " . $md5->hexdigest, $sent, '... intact (MD5 of what the backend sent)');
    rss_ok();
    diag sprintf('1 GiB download: %.1fs, max RSS %d KiB', time - $t0, $max_rss);
}

# ---- uploads: 1 GiB with Content-Length, 256 MiB chunked ----
for my $case (['Content-Length', GIB_BLOCKS, '1 GiB'], ['chunked', GIB_BLOCKS / 4, '256 MiB']) {
    my ($framing, $blocks, $what) = @$case;
    my $name = "$what upload with $framing";
    $max_rss = 0;
    my $t0 = time;
    my $s = connect_front();
    my $len = $blocks * BLOCK;
    send_all($s, "POST /up HTTP/1.1\r\nHost: a\r\n"
        . ($framing eq 'chunked' ? "Transfer-Encoding: chunked\r\n" : "Content-Length: $len\r\n")
        . "\r\n") or fail("$name: send the head");
    my $md5 = Digest::MD5->new;
    my $ok = 1;
    for my $i (0 .. $blocks - 1) {
        my $b = block($i);
        $md5->add($b);
        $b = sprintf("%x\r\n", BLOCK) . $b . "\r\n" if $framing eq 'chunked';
        $ok = send_all($s, $b) or last;
        sample() if $i % 64 == 0;
    }
    $ok &&= send_all($s, "0\r\n\r\n") if $framing eq 'chunked';
    ok($ok, "$name: pyxis took the whole body");
    my $r = read_small_response($s);
    sample();
    is($r->{status}, 200, '... 200');
    is($r->{body}, "$len " . $md5->hexdigest, '... the backend got every byte, intact');
    rss_ok();
    diag sprintf('%s: %.1fs, max RSS %d KiB', $name, time - $t0, $max_rss);
}

done_testing;
