# 015-hostile-clients: mutated requests (flipped, inserted, deleted and duplicated bytes and
# lines, truncations, pipelined mixes) never crash pyxis or make it answer with anything but a
# well-formed response or a closed connection, and it keeps serving correct requests.
# Under ./dev test --asan this is a memory-safety sweep of the whole connection path.
use strict;
use warnings;
use Test::More;
use PxTest;

my $be = PxTest::Backend->echo(name => 'be');
my $px = PxTest::Pyxis->start(vars => { BACKEND_be => $be->port }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    client_header_timeout: 200ms
    client_body_timeout: 200ms
    keepalive_timeout: 200ms
    limits: { max_header_size: 2k, max_headers: 20, max_uri_size: 512, max_body_size: 4k }
    routes:
      - match: { path: /local }
        respond: { status: 200, body: "local\n" }
      - upstream: be
upstreams:
  be:
    endpoints: [ "127.0.0.1:%%BACKEND_be%%" ]
    first_byte_timeout: 2s
YAML
my $port = $px->port('front');

my @seeds = (
    "GET /a?b=c HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\n\r\n",
    "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n",
    "GET http://b.example/x HTTP/1.1\r\nHost: b.example\r\nConnection: keep-alive, x\r\n\r\n",
    "GET /local HTTP/1.0\r\n\r\n",
);

srand(20261121);    # fixed: the same cases every run
sub mutate {
    my ($s) = @_;
    for (1 .. 1 + int(rand(3))) {
        my $pos = int(rand(length($s) + 1));
        my $kind = int(rand(6));
        if ($kind == 0 && length $s) {        # flip a byte
            substr($s, $pos % length($s), 1) = chr(int(rand(256)));
        } elsif ($kind == 1) {                # insert a byte, often a delimiter
            my @b = ("\r", "\n", " ", ":", "\0", "\t", ",", ";", chr(int(rand(256))));
            substr($s, $pos, 0) = $b[int(rand(@b))];
        } elsif ($kind == 2 && length $s) {   # delete a byte
            substr($s, $pos % length($s), 1) = '';
        } elsif ($kind == 3) {                # duplicate a line
            my @l = split /(?<=\r\n)/, $s;
            my $i = int(rand(@l));
            splice(@l, $i, 0, $l[$i]);
            $s = join '', @l;
        } elsif ($kind == 4) {                # truncate
            $s = substr($s, 0, $pos);
        } else {                              # append a pipelined second request
            $s .= $seeds[int(rand(@seeds))];
        }
    }
    return $s;
}

my ($bad, $cases) = (0, 0);
# PXTEST_MUTATIONS=N runs a deeper sweep by hand; CI runs the default.
for my $i (1 .. ($ENV{PXTEST_MUTATIONS} // 150)) {
    my $req = mutate($seeds[$i % @seeds]);
    my ($data) = raw_http($port, $req, timeout => 5);
    $cases++;
    # Every response pyxis writes starts with a status line; nothing else may appear.
    next if $data eq '' || $data =~ /\AHTTP\/1\.1 [1-5]\d\d [^\r\n]*\r\n/;
    $bad++;
    diag("case $i: unexpected answer to " . PxTest::_show($req) . ": " . PxTest::_show($data));
}
is($bad, 0, "$cases mutated requests: each answered with a status line or closed");

for my $seed (@seeds[0, 1, 4]) {
    my ($data) = raw_http($port, $seed, timeout => 5);
    like($data, qr/\AHTTP\/1\.1 200 /, 'a well-formed request still gets 200 afterwards');
}

done_testing;
