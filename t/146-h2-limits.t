# 146-h2-limits: the HTTP/2 server's limits, with a raw-frame client: max_concurrent_streams,
# per-stream client_body_timeout and send_timeout (a window that never opens), and the known
# floods: rapid reset (CVE-2023-44487), CONTINUATION without end, PING and SETTINGS floods.
# Every loop is bounded: a fixed number of frames, reads with a 10 s deadline.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use PxTest;

my $be = PxTest::Backend->echo(name => 'app');
my $px = PxTest::Pyxis->start(vars => { BACKEND_app => $be->port }, yaml => <<'YAML');
workers: 1
error_log: { level: debug }
listeners:
  - name: h2c
    listen: 127.0.0.1:%%PORT_h2c%%
    http2: { enabled: true, max_concurrent_streams: 2 }
    client_body_timeout: 1s
    send_timeout: 1s
    access_log: { path: "%%DIR%%/access.log" }
    routes:
      - upstream: app
upstreams:
  app: { endpoints: [ "127.0.0.1:%%BACKEND_app%%" ] }
YAML

sub frame { my ($type, $flags, $id, $payload) = @_;
    pack('NCN', (length($payload) << 8) | $type, $flags, $id) . $payload }
# HPACK: :method GET (0x82) or POST (0x83), :scheme http (0x86), :path and :authority as
# literals without indexing (0x04, 0x01), so every block decodes alone.
sub hdrs { my ($path, $post) = @_;
    ($post ? "\x83" : "\x82") . "\x86\x04" . chr(length $path) . $path . "\x01\x09localhost" }
my $PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

# A connection: its frames as [type, flags, id, payload] until `until` says so, EOF or 10 s.
sub h2conn {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $px->port('h2c')) or die $!;
    binmode $s;
    return { s => $s, buf => '', frames => [], eof => 0 };
}
sub h2send { my ($c, @f) = @_; my $b = join '', @f; syswrite($c->{s}, $b) == length $b or die $! }
sub h2read {
    my ($c, $until) = @_;
    my $deadline = time + 10;
    until ($until->($c) || $c->{eof} || time > $deadline) {
        my $rin = '';
        vec($rin, fileno($c->{s}), 1) = 1;
        next unless select(my $rout = $rin, undef, undef, 0.2);
        my $n = sysread($c->{s}, $c->{buf}, 65536, length $c->{buf});
        $c->{eof} = 1, last unless $n;
        while (length $c->{buf} >= 9) {
            my ($l1, $l2, $type, $flags, $id) = unpack('nCCCN', $c->{buf});
            my $len = ($l1 << 8) | $l2;
            last if length $c->{buf} < 9 + $len;
            push @{ $c->{frames} }, [$type, $flags, $id & 0x7fffffff, substr($c->{buf}, 9, $len)];
            substr($c->{buf}, 0, 9 + $len, '');
        }
    }
    return $until->($c);
}
sub seen { my ($c, $type, $id) = @_;
    grep { $_->[0] == $type && (!defined $id || $_->[2] == $id) } @{ $c->{frames} } }
sub goaway_code { my ($c) = @_; my ($g) = seen($c, 7); $g ? unpack('x4N', $g->[3]) : undef }
sub rst_code { my ($c, $id) = @_; my ($r) = seen($c, 3, $id); $r ? unpack('N', $r->[3]) : undef }
sub open_conn {
    my ($ack, %settings) = @_;
    my $c = h2conn();
    h2send($c, $PREFACE, frame(4, 0, 0, join '', map { pack('nN', $_, $settings{$_}) } keys %settings));
    h2read($c, sub { grep { $_->[0] == 4 && !($_->[1] & 1) } @{ $_[0]{frames} } })
        or die 'no SETTINGS from pyxis';
    h2send($c, frame(4, 1, 0, '')) if $ack;    # SETTINGS ACK: pyxis's settings are in force
    return $c;
}

# ---- max_concurrent_streams: 2 (RFC 9113 section 5.1.2) --------------------------------------
# Three requests whose bodies never come: the third is one too many.
{
    my $c = open_conn(0);
    h2send($c, map { frame(1, 4, $_, hdrs('/open', 1)) } 1, 3, 5);
    ok(h2read($c, sub { defined rst_code($_[0], 5) }), 'SETTINGS not acknowledged yet: the third '
        . 'stream is reset');
    is(rst_code($c, 5), 7, '... REFUSED_STREAM');
    ok(!defined rst_code($c, 1) && !defined rst_code($c, 3) && !defined goaway_code($c),
        '... the first two and the connection are left alone');

    # client_body_timeout per stream: the bodies of streams 1 and 3 never come.
    ok(h2read($c, sub { (grep { $_->[0] == 1 && $_->[2] == 1 } @{ $_[0]{frames} }) &&
        (grep { $_->[0] == 1 && $_->[2] == 3 } @{ $_[0]{frames} }) }),
        'client_body_timeout: streams 1 and 3 get a response head');
    close $c->{s};
    $px->wait_log(qr{client body timeout});
    my $log = do { local (@ARGV, $/) = ($px->{dir} . '/access.log'); <> } // '';
    is(scalar(() = $log =~ m{"POST /open HTTP/2.0" 408}g), 2,
        'client_body_timeout applies per stream: 408 for each');
}
{
    my $c = open_conn(1);
    h2send($c, map { frame(1, 4, $_, hdrs('/open2', 1)) } 1, 3, 5);
    ok(h2read($c, sub { defined goaway_code($_[0]) }),
        'SETTINGS acknowledged: one stream too many closes the connection');
    is(goaway_code($c), 1, '... GOAWAY PROTOCOL_ERROR (nghttp2 makes it a connection error)');
}

# ---- send_timeout per stream: the client never opens its window ----------------------------
{
    my $c = open_conn(1, 4 => 0);    # SETTINGS_INITIAL_WINDOW_SIZE 0
    h2send($c, frame(1, 5, 1, hdrs('/stalled')));
    ok(h2read($c, sub { defined rst_code($_[0], 1) }), 'a zero window held: the stream is reset');
    is(rst_code($c, 1), 8, '... with CANCEL');
    ok(!seen($c, 0, 1), '... no DATA was ever sent on it');
    h2send($c, frame(6, 0, 0, 'pingpong'));
    ok(h2read($c, sub { grep { $_->[0] == 6 && $_->[1] & 1 } @{ $_[0]{frames} } }),
        'the connection lives on (PING answered)');
    close $c->{s};
    $px->wait_log(qr{HTTP/2 stream 1: send timeout});
}

# ---- rapid reset: HEADERS + RST_STREAM, 2000 times ------------------------------------------
{
    my $c = open_conn(1);
    my $n = 2000;
    h2send($c, map { frame(1, 5, 2 * $_ + 1, hdrs('/rr')) . frame(3, 0, 2 * $_ + 1, pack('N', 8)) }
        0 .. $n - 1);
    ok(h2read($c, sub { defined goaway_code($_[0]) }), 'rapid reset: GOAWAY');
    note('rapid reset: GOAWAY code ' . (goaway_code($c) // '-'));
    my $reached = grep { $_->{target} eq '/rr' } $be->requests(all => 1);
    cmp_ok($reached, '<', $n / 2, "rapid reset: $reached of $n requests reached the upstream");
}

# ---- CONTINUATION without END_HEADERS ---------------------------------------------------------
{
    my $c = open_conn(1);
    my $field = "\x00\x03x-a\x01b";    # literal without indexing, new name
    h2send($c, frame(1, 1, 1, hdrs('/cont')), map { frame(9, 0, 1, $field) } 1 .. 100);
    # 100 frames of 6 bytes: far below every size limit, so the frame count is what is bounded.
    ok(h2read($c, sub { defined goaway_code($_[0]) || $_[0]{eof} }),
        'CONTINUATION flood: the connection is closed');
    note('CONTINUATION flood: GOAWAY code ' . (goaway_code($c) // '-'));
    ok(!grep({ $_->{target} eq '/cont' } $be->requests(all => 1)), '... nothing was forwarded');
}

# ---- PING and SETTINGS floods --------------------------------------------------------------
for my $case (['PING', sub { frame(6, 0, 0, pack('NN', 0, $_[0])) }],
    ['SETTINGS', sub { frame(4, 0, 0, '') }], ['PRIORITY', sub { frame(2, 0, 1, pack('NC', 0, 0)) }])
{
    my ($what, $make) = @$case;
    my $c = open_conn(1);
    h2send($c, map { $make->($_) } 1 .. 700);
    ok(h2read($c, sub { defined goaway_code($_[0]) }), "$what flood: GOAWAY");
    is(goaway_code($c), 11, '... ENHANCE_YOUR_CALM');
    ok(h2read($c, sub { $_[0]{eof} }), '... and the connection is closed');
}
$px->wait_log(qr{too many PING, SETTINGS, PRIORITY or empty DATA frames});

# A well-behaved client is not affected by any of it.
my $c = open_conn(1);
h2send($c, frame(1, 5, 1, hdrs('/fine')));
ok(h2read($c, sub { grep { $_->[0] == 0 && $_->[2] == 1 && $_->[1] & 1 } @{ $_[0]{frames} } }),
    'a normal request is answered');

done_testing;
