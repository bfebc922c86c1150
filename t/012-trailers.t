# 012-trailers: a chunked body's trailer section travels with it, both ways; chunk extensions
# do not. An HTTP/1.0 client, which cannot receive trailers, gets the body without them.
use strict;
use warnings;
use Test::More;
use PxTest;

# Answers every request with a chunked body followed by trailers.
my $be = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $r = $c->read_request) {
        $c->write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
            . "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc123\r\n\r\n");
    }
});

my $px = PxTest::Pyxis->start(vars => { BACKEND_be => $be->port }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - upstream: be
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BACKEND_be%%" ] }
YAML
my $port = $px->port('front');

# Request trailers reach the upstream; the chunk extension does not.
my ($data) = raw_http($port, "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
    . "Connection: close\r\n\r\n4;ext=\"q\"\r\nabcd\r\n0\r\nX-Req-Trailer: 42\r\n\r\n");
my ($resp) = parse_responses($data);
is($resp->{status}, 200, 'chunked request with a trailer -> 200');
my ($req) = $be->wait_requests(1);
is($req->{body}, 'abcd', '... the upstream gets the body');
like($req->{raw}, qr/\r\n0\r\nX-Req-Trailer: 42\r\n\r\n\z/,
    '... followed by the trailer section');
unlike($req->{raw}, qr/ext=/, '... without the chunk extension');

# Response trailers reach an HTTP/1.1 client.
($data) = raw_http($port, "GET /t HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
like($data, qr/\r\n0\r\nX-Checksum: abc123\r\n\r\n\z/,
    'an HTTP/1.1 client gets the response trailers after the last chunk');
unlike($data, qr/name=value/, '... and no chunk extension');
($resp) = parse_responses($data);
is($resp->{body}, 'hello world', '... with the whole body');

# An HTTP/1.0 client gets the body delimited by close, without trailers.
($data, my $closed) = raw_http($port, "GET /t HTTP/1.0\r\nHost: a\r\n\r\n");
like($data, qr/\r\n\r\nhello world\z/, 'an HTTP/1.0 client gets the plain body');
unlike($data, qr/X-Checksum/, '... and no trailer');
ok($closed, '... delimited by close');

done_testing;
