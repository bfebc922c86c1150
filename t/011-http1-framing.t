# 011-http1-framing: how request and response bodies are delimited. Ambiguous framing is refused
# (request smuggling); valid framing of every kind is forwarded faithfully.
use strict;
use warnings;
use Test::More;
use PxTest;

my $echo = PxTest::Backend->echo(name => 'echo');

# A backend with one scripted answer per path.
my %answer = (
    '/s/head'  => "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n",    # HEAD: length, no body
    '/s/204'   => "HTTP/1.1 204 No Content\r\n\r\n",
    '/s/304'   => "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n",
    '/s/close' => "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody delimited by close",
);
my $scripted = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $req = $c->read_request) {
        $c->write($answer{$req->{target}} // "HTTP/1.1 500 Unknown\r\nContent-Length: 0\r\n\r\n");
        return if $req->{target} eq '/s/close';
    }
});

my $px = PxTest::Pyxis->start(
    vars => { BACKEND_echo => $echo->port, BACKEND_scripted => $scripted->port },
    yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    limits: { max_body_size: 1k }
    routes:
      - match: { path_prefix: /s/ }
        upstream: scripted
      - match: { path_prefix: / }
        upstream: echo
upstreams:
  echo: { endpoints: [ "127.0.0.1:%%BACKEND_echo%%" ] }
  scripted: { endpoints: [ "127.0.0.1:%%BACKEND_scripted%%" ] }
YAML
my $port = $px->port('front');
my $post = "POST /rejected HTTP/1.1\r\nHost: a\r\n";
my $post10 = "POST /rejected HTTP/1.0\r\n";

# ---- refused: [ status, what is wrong, request ] ----
for my $case (
    [400, 'Content-Length with Transfer-Encoding',
        "${post}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
    [400, 'two equal Content-Length fields',
        "${post}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"],
    [400, 'Content-Length: 1a', "${post}Content-Length: 1a\r\n\r\nx"],
    [400, 'Content-Length: -1', "${post}Content-Length: -1\r\n\r\nx"],
    [400, 'Content-Length: +5', "${post}Content-Length: +5\r\n\r\nhello"],
    [400, 'Content-Length: 1,1', "${post}Content-Length: 1,1\r\n\r\nx"],
    [501, 'Transfer-Encoding: gzip, chunked',
        "${post}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"],
    [400, 'Transfer-Encoding: chunked, gzip',
        "${post}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"],
    [400, 'Transfer-Encoding: chunked, chunked',
        "${post}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"],
    [400, 'Transfer-Encoding in HTTP/1.0', "${post10}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
    [413, 'Content-Length over max_body_size (answered before the body is sent)',
        "${post}Content-Length: 2048\r\n\r\n"],
) {
    my ($status, $what, $request) = @$case;
    rejects_ok($port, $request, $status, "$what -> $status and close", backend => $echo);
}

# Errors inside a chunked body: the head may already be on its way upstream, but the backend
# must never get a complete request.
my $chunked = "${post}Transfer-Encoding: chunked\r\n\r\n";
for my $case (
    [400, 'chunk size "zz"', "${chunked}zz\r\nhello\r\n0\r\n\r\n"],
    [400, 'chunk size overflowing 64 bits', "${chunked}ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"],
    [400, 'no CRLF after chunk data', "${chunked}5\r\nhelloXX\r\n0\r\n\r\n"],
    [413, 'chunked body over max_body_size', "${chunked}800\r\n" . ('x' x 2048) . "\r\n0\r\n\r\n"],
) {
    my ($status, $what, $request) = @$case;
    rejects_ok($port, $request, $status, "$what -> $status and close",
        backend => $echo, incomplete_ok => 1);
}

# ---- accepted ----
# (By the end of the file, late arrivals from the refused requests above would show here.)

# A chunked body with chunk extensions and trailers arrives whole (re-chunked).
my $r = http_req($port, method => 'POST', path => '/chunked',
    headers => ['Transfer-Encoding' => 'chunked'],
    body => "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
is($r->{status}, 200, 'chunked body with extensions and trailers -> 200');
my ($seen) = grep { $_->{target} eq '/chunked' } $echo->requests;
is($seen->{body}, 'hello world', '... the backend gets the same body bytes');
ok($seen->{chunked} && !defined $seen->{h}{'content-length'}, '... sent chunked');

# A Content-Length body.
$r = http_req($port, method => 'POST', path => '/cl', body => 'hello');
($seen) = grep { $_->{target} eq '/cl' } $echo->requests;
is($seen->{body}, 'hello', 'Content-Length body reaches the backend');
is($seen->{h}{'content-length'}, 5, '... with its Content-Length');

# Keep-alive: three requests, one after the other, on one connection.
my $c = client($port);
for my $n (1 .. 3) {
    $c->write("GET /ka$n HTTP/1.1\r\nHost: a\r\n\r\n");
    my $resp = $c->read_response;
    like($resp->{body}, qr{\AGET /ka$n }, "keep-alive request $n answered on the same connection");
}
ok(!$c->closed, '... and the connection is still open');

# Pipelining: three requests in one write, three answers in order.
my ($data) = raw_http($port, join('', map {"GET /p$_ HTTP/1.1\r\nHost: a\r\n\r\n"} 1 .. 3),
    responses => 3);
my @resp = parse_responses($data, closed => 0);
is(scalar @resp, 3, 'three pipelined requests -> three responses');
like($resp[$_ - 1]{body}, qr{\AGET /p$_ }, "... response $_ answers request $_") for 1 .. 3;

# HTTP/1.0: the connection closes after the response, unless the client asks for keep-alive.
$r = http_req($port, path => '/v10', version => 'HTTP/1.0', host => undef);
is($r->{status}, 200, 'HTTP/1.0 request -> 200');
ok($r->{closed}, '... and the connection is closed');
$c = client($port);
$c->write("GET /v10ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" x 2);
my @two = ($c->read_response, $c->read_response);
ok($two[0]{complete} && $two[1]{complete},
    'HTTP/1.0 with Connection: keep-alive -> two responses on one connection');

# Expect: 100-continue -> 100 Continue before the body is sent, then the final answer.
$c = client($port);
$c->write("POST /continue HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
    . "Content-Length: 5\r\n\r\n");
is($c->read_response(timeout => 5)->{status}, 100, 'Expect: 100-continue -> 100 Continue first');
$c->write('hello');
$r = $c->read_response;
is($r->{status}, 200, '... then the final response');
is(parse_echo($r->{body})->{body}, 'hello', '... after the body was forwarded');

# Responses without a body: the bytes that follow belong to the next response.
for my $case (['HEAD', '/s/head', 200], ['GET', '/s/204', 204], ['GET', '/s/304', 304]) {
    my ($method, $path, $status) = @$case;
    ($data) = raw_http($port, "$method $path HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\n"
        . "Host: a\r\n\r\n", responses => 2, methods => [$method, 'GET']);
    @resp = parse_responses($data, methods => [$method, 'GET'], closed => 0);
    is($resp[0]{status}, $status, "$method $path -> $status");
    is($resp[0]{h}{'content-length'}, 11, '... with the backend\'s Content-Length')
        if $method eq 'HEAD';
    like($resp[1]{body} // '', qr{\AGET /next }, '... without a body: the next response follows');
}

# A response delimited by the backend closing: the client gets all of it, either re-framed as
# chunked or delimited by closing the client connection too.
my ($bytes, $closed) = raw_http($port, "GET /s/close HTTP/1.1\r\nHost: a\r\n\r\n", timeout => 5);
($r) = parse_responses($bytes, closed => $closed);
is($r->{body}, 'body delimited by close', 'close-delimited response -> full body');
ok($r->{chunked} || ($closed && !defined $r->{h}{'content-length'}),
    '... sent chunked, or delimited by close');
ok($r->{complete}, '... complete');

is(scalar(grep { $_->{target} eq '/rejected' } $echo->requests), 0,
    'no refused request ever reached the backend complete');

done_testing;
