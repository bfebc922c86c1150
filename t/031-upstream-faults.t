# 031-upstream-faults: a backend that fails gives the client an honest answer: 502 when nothing
# usable came back, and a visibly truncated response (never a complete-looking one) when the
# backend failed in the middle of its body.
use strict;
use warnings;
use Test::More;
use PxTest;

# Each backend reads the request, then misbehaves in its own way.
sub backend_that {
    my ($misbehave) = @_;
    return PxTest::Backend->start(sub {
        my ($c) = @_;
        $c->read_request or return;
        $misbehave->($c);
    });
}
my %be = (
    truncated => backend_that(sub {    # promises 100 bytes, sends 10, closes
        $_[0]->write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789") }),
    truncated_chunked => backend_that(sub {    # chunked, closes before the last chunk
        $_[0]->write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n") }),
    malformed => backend_that(sub {    # two different Content-Length fields
        $_[0]->write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!") }),
    garbage => backend_that(sub { $_[0]->write("this is not HTTP\r\n\r\n") }),
    reset => backend_that(sub { $_[0]->reset }),    # RST before any byte of a response
    silent_close => backend_that(sub { $_[0]->close }),
    # The next two keep the connection open afterwards: pyxis must not wait for more.
    bare_lf => backend_that(sub {    # lines end with LF alone
        $_[0]->write("HTTP/1.1 200 OK\nContent-Length: 2\n\nok"); $_[0]->sleep(30) }),
    interim_flood => backend_that(sub {    # interim responses without end
        $_[0]->write("HTTP/1.1 100 Continue\r\n\r\n" x 50); $_[0]->sleep(30) }),
);
my $refused_port = free_port();    # nothing listens here

my $px = PxTest::Pyxis->start(
    vars => { REFUSED => $refused_port, map { ("BACKEND_$_" => $be{$_}->port) } keys %be },
    yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - { match: { path: /truncated }, upstream: truncated }
      - { match: { path: /truncated_chunked }, upstream: truncated_chunked }
      - { match: { path: /malformed }, upstream: malformed }
      - { match: { path: /garbage }, upstream: garbage }
      - { match: { path: /reset }, upstream: reset }
      - { match: { path: /silent_close }, upstream: silent_close }
      - { match: { path: /refused }, upstream: refused }
      - { match: { path: /bare_lf }, upstream: bare_lf }
      - { match: { path: /interim_flood }, upstream: interim_flood }
upstreams:
  truncated: { endpoints: [ "127.0.0.1:%%BACKEND_truncated%%" ] }
  truncated_chunked: { endpoints: [ "127.0.0.1:%%BACKEND_truncated_chunked%%" ] }
  malformed: { endpoints: [ "127.0.0.1:%%BACKEND_malformed%%" ] }
  garbage: { endpoints: [ "127.0.0.1:%%BACKEND_garbage%%" ] }
  reset: { endpoints: [ "127.0.0.1:%%BACKEND_reset%%" ] }
  silent_close: { endpoints: [ "127.0.0.1:%%BACKEND_silent_close%%" ] }
  refused: { endpoints: [ "127.0.0.1:%%REFUSED%%" ] }
  bare_lf: { endpoints: [ "127.0.0.1:%%BACKEND_bare_lf%%" ] }
  interim_flood: { endpoints: [ "127.0.0.1:%%BACKEND_interim_flood%%" ] }
YAML
my $port = $px->port('front');

# ---- nothing usable came back: 502 with a short body; the log names the endpoint ----
for my $case (
    ['/malformed', 'two different Content-Length fields in the response'],
    ['/garbage', 'a response that is not HTTP'],
    ['/reset', 'the backend resets the connection before answering'],
    ['/silent_close', 'the backend closes the connection without answering'],
    ['/refused', 'nothing listens on the endpoint (connection refused)'],
    ['/bare_lf', 'a response head with bare LF line endings (refused at once)'],
    ['/interim_flood', 'more than 8 interim 1xx responses'],
) {
    my ($path, $what) = @$case;
    my $r = http_req($port, path => $path);
    is($r->{status}, 502, "$what -> 502");
    ok(length($r->{body} // ''), '... with a body');
}
ok($px->wait_log(qr/127\.0\.0\.1:$refused_port/, 5), 'the log names the refused endpoint');

# ---- the body was cut short: the client must see a truncated response ----

# Content-Length: 100 with 10 bytes, then close.
my ($data, $closed) = raw_http($port, "GET /truncated HTTP/1.1\r\nHost: a\r\n\r\n", timeout => 5);
my ($r) = parse_responses($data, closed => $closed);
is($r->{status}, 200, 'truncated body: the status line was already sent');
ok($closed, '... the client connection is closed');
ok(!$r->{complete}, '... and the response is visibly incomplete')
    or diag "received: $data";
ok(length($r->{body} // '') < 100 && index('0123456789', $r->{body} // '') == 0,
    '... holding only bytes the backend sent (never padded)');

# Chunked, closed before the last chunk: no terminating 0-size chunk may reach the client.
($data, $closed) = raw_http($port, "GET /truncated_chunked HTTP/1.1\r\nHost: a\r\n\r\n",
    timeout => 5);
($r) = parse_responses($data, closed => $closed);
is($r->{status}, 200, 'truncated chunked body: the status line was already sent');
ok($closed, '... the client connection is closed');
ok(!$r->{complete}, '... the response is visibly incomplete') or diag "received: $data";
unlike($data, qr/\r\n0\r\n\r\n\z/, '... no terminating chunk was invented');

# A truncated response does not poison the next exchange.
is(http_req($port, path => '/malformed')->{status}, 502, 'pyxis keeps serving afterwards');

done_testing;
