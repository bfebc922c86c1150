# 040-timeouts: every wait pyxis does on someone else is bounded: a client slow to send its
# request head (408), an idle keep-alive connection (closed), a backend slow to answer (504).
use strict;
use warnings;
use Test::More;
use PxTest;
use Time::HiRes qw(time);

my $be = PxTest::Backend->echo(name => 'be');
my $slow = PxTest::Backend->start(sub {    # reads the request, then never answers
    my ($c) = @_;
    $c->read_request or return;
    $c->sleep(30);
});

my $px = PxTest::Pyxis->start(vars => { BACKEND_be => $be->port, BACKEND_slow => $slow->port },
    yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    client_header_timeout: 300ms
    keepalive_timeout: 300ms
    routes:
      - match: { path: /first-byte }
        upstream: slow
      - match: { path: /route-timeout }
        upstream: slow_upstream_long_fbt
        timeout: 500ms
      - match: { path_prefix: / }
        upstream: be
upstreams:
  be:
    endpoints: [ "127.0.0.1:%%BACKEND_be%%" ]
  slow:
    endpoints: [ "127.0.0.1:%%BACKEND_slow%%" ]
    first_byte_timeout: 300ms
  slow_upstream_long_fbt:
    endpoints: [ "127.0.0.1:%%BACKEND_slow%%" ]
    first_byte_timeout: 60s
YAML
my $port = $px->port('front');

# client_header_timeout: 300ms. Half a request line, then silence -> 408, then close.
my $c = client($port);
my $t0 = time;
$c->write('GET /half HT');
my $r = $c->read_response(timeout => 5);
my $took = time - $t0;
is($r->{status}, 408, 'half a request line, then silence -> 408');
ok($took >= 0.25 && $took < 3, sprintf('... after about 300ms (took %.2fs)', $took));
like($r->{h}{connection} // '', qr/\bclose\b/i, '... with Connection: close');
ok($c->wait_closed(2), '... and the connection is closed');
is(scalar $be->requests(all => 1), 0, '... nothing was forwarded');

# keepalive_timeout: 300ms. After a response, an idle connection is closed by pyxis.
$c = client($port);
$c->write("GET /idle HTTP/1.1\r\nHost: a\r\n\r\n");
is($c->read_response->{status}, 200, 'a request on a keep-alive connection -> 200');
$t0 = time;
ok($c->wait_closed(3), 'the idle connection is closed by pyxis');
$took = time - $t0;
ok($took >= 0.2 && $took < 3, sprintf('... after about 300ms idle (took %.2fs)', $took));

# A connection that never sends a byte is not kept forever either.
$c = client($port);
ok($c->wait_closed(3), 'a connection that sends nothing is closed within 3s');

# Upstream first_byte_timeout: 300ms. The backend takes the request and never answers -> 504.
$r = http_req($port, path => '/first-byte', timeout => 5);
is($r->{status}, 504, 'backend silent past first_byte_timeout -> 504');
ok($r->{elapsed} >= 0.25 && $r->{elapsed} < 3,
    sprintf('... after about 300ms (took %.2fs)', $r->{elapsed}));
ok(length($r->{body} // ''), '... with a body');

# Route timeout: 500ms for the whole exchange, exceeded before any response -> 504.
$r = http_req($port, path => '/route-timeout', timeout => 5);
is($r->{status}, 504, 'route timeout exceeded before a response started -> 504');
ok($r->{elapsed} >= 0.45 && $r->{elapsed} < 3,
    sprintf('... after about 500ms (took %.2fs)', $r->{elapsed}));

# Nothing above took pyxis down.
is(http_req($port, path => '/still-here')->{status}, 200, 'pyxis still serves');

done_testing;
