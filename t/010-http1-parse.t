# 010-http1-parse: the request line and header fields are parsed strictly (RFC 9112). Anything a
# backend could read differently is refused with an error status and the connection is closed;
# none of it is forwarded.
use strict;
use warnings;
use Test::More;
use PxTest;

my $be = PxTest::Backend->echo(name => 'be');
my $abs = PxTest::Backend->echo(name => 'abs');
my $px = PxTest::Pyxis->start(vars => { BACKEND_be => $be->port, BACKEND_abs => $abs->port },
    yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    limits: { max_header_size: 4k, max_headers: 20, max_uri_size: 1k }
    routes:
      - match: { host: a.example.com }
        upstream: abs
      - match: { path_prefix: / }
        upstream: be
upstreams:
  be:
    endpoints: [ "127.0.0.1:%%BACKEND_be%%" ]
  abs:
    endpoints: [ "127.0.0.1:%%BACKEND_abs%%" ]
YAML
my $port = $px->port('front');

# A well-formed request goes through: the rejections below are about the bytes, not the setup.
my $r = http_req($port, path => '/ok', headers => ['X-Tab' => "a\tb"]);
is($r->{status}, 200, 'a well-formed request is proxied');

my $many_headers = join '', map {"X-H$_: $_\r\n"} 1 .. 25;
my $big_value = 'v' x 5000;
my $long_uri = '/' . ('u' x 2000);

# [ expected status, what is wrong, the request ]
my @rejected = (
    # request line
    [400, 'invalid character in the method', "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n"],
    [400, 'space in the target', "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"],
    [400, '"#" in the target', "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"],
    [400, 'control character in the target', "GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n"],
    [505, 'version HTTP/1.2', "GET / HTTP/1.2\r\nHost: a\r\n\r\n"],
    [505, 'version HTTP/2.0', "GET / HTTP/2.0\r\nHost: a\r\n\r\n"],
    [400, 'protocol HTTX/1.1', "GET / HTTX/1.1\r\nHost: a\r\n\r\n"],
    [501, 'CONNECT', "CONNECT a.example.com:443 HTTP/1.1\r\nHost: a.example.com:443\r\n\r\n"],

    # Host
    [400, 'no Host in HTTP/1.1', "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n"],
    [400, 'two Host fields', "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"],

    # field syntax
    [400, 'obs-fold (a continuation line)', "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  2\r\n\r\n"],
    [400, 'space between field name and colon', "GET / HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\n"],
    [400, 'bare CR in a field value', "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r2\r\n\r\n"],
    [400, 'NUL in a field value', "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\x002\r\n\r\n"],
    [400, 'bare LF ending one line', "GET / HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n"],
    [400, 'bare LF ending every line', "GET / HTTP/1.1\nHost: a\n\n"],

    # limits: max_headers 20, max_header_size 4k, max_uri_size 1k
    [431, 'more fields than max_headers', "GET / HTTP/1.1\r\nHost: a\r\n$many_headers\r\n"],
    [431, 'head larger than max_header_size',
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: $big_value\r\n\r\n"],
    [414, 'target longer than max_uri_size', "GET $long_uri HTTP/1.1\r\nHost: a\r\n\r\n"],
);

for my $case (@rejected) {
    my ($status, $what, $request) = @$case;
    rejects_ok($port, $request, $status, "$what -> $status and close", backend => $be);
}

# The absolute form (as sent to a forward proxy) is routed by its authority, not by the Host
# field (RFC 9112 section 3.2.2), and forwarded in origin form with that authority as Host.
for my $host ('a.example.com', 'other.example') {
    $r = http_req($port, path => 'http://a.example.com/x?q=1', host => $host);
    is($r->{status}, 200, "absolute-form target, Host: $host -> 200");
    is($r->{h}{'x-backend'}, 'abs', '... routed by the authority a.example.com');
    my $seen = parse_echo($r->{body});
    is($seen->{target}, '/x?q=1', '... forwarded in origin form');
    is($seen->{h}{host}, 'a.example.com', '... with the authority as Host');
}

is(scalar $be->requests(all => 1), 1, 'only the valid request reached the backend');

done_testing;
