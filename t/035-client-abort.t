# 035-client-abort: a client that goes away while pyxis waits for the upstream ends the exchange;
# the upstream connection is closed rather than kept busy (or pooled) for nobody.
use strict;
use warnings;
use Test::More;
use PxTest;

# /slow: takes the request, tells the test, then waits for pyxis to close the connection.
my $be = PxTest::Backend->start(sub {
    my ($c) = @_;
    my $r = $c->read_request or return;
    return $c->respond(200, [], "fine\n") if $r->{target} eq '/after';
    $c->note("got $r->{target}");
    $c->drain_to_eof;
    $c->note("eof after $r->{target}");
});

my $px = PxTest::Pyxis->start(vars => { BACKEND_be => $be->port }, yaml => <<'YAML');
workers: 1
access_log: { path: "%%DIR%%/access.log" }
error_log: { level: debug }     # "client gone" is a debug line
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - upstream: be
upstreams:
  be:
    endpoints: [ "127.0.0.1:%%BACKEND_be%%" ]
    first_byte_timeout: 60s
YAML

my $c = client($px->port('front'));
$c->write("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
ok($be->wait_note(qr/got \/slow/), 'the request reaches the backend');
$c->close;
ok($be->wait_note(qr/eof after \/slow/),
    'the client closes before the response -> pyxis closes the upstream connection');
ok($px->wait_log(qr/client gone: client closed the connection before the response/),
    '... and says so in the error log');

# The next request is served normally, on a new upstream connection.
my $r = http_req($px->port('front'), path => '/after');
is($r->{status}, 200, 'pyxis still serves after a client abort');
is($be->connections, 2, '... on a new upstream connection (the aborted one was not pooled)');

done_testing;
