# 061-drain: SIGTERM and SIGINT drain: pyxis logs "draining", stops accepting, closes idle
# keep-alive connections, lets in-flight requests finish (with Connection: close), then exits 0
# logging "exiting". drain_timeout bounds the wait; a second signal stops at once.
use strict;
use warnings;
use Test::More;
use IO::Socket::IP;
use Time::HiRes qw(time);
use PxTest;

# GET /slow/NAME: the backend notes "got NAME", then answers once the test creates go-NAME (or
# never, if it does not).
my $dir = PxTest::testdir();
my $slow = PxTest::Backend->start(sub {
    my ($c) = @_;
    my $r = $c->read_request or return;
    my ($name) = $r->{target} =~ m{^/slow/(\w+)};
    $c->note("got $name");
    wait_until(sub { -e "$dir/go-$name" }, timeout => 60) or return;
    $c->respond(200, [], "done $name");
});
sub release { open my $f, '>', "$dir/go-$_[0]" or die "go-$_[0]: $!"; close $f }

my $yaml = <<'YAML';
workers: 1
drain_timeout: %%DRAIN%%
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - { match: { path_prefix: /slow/ }, upstream: slow }
      - respond: { body: "fast\n" }
upstreams:
  slow: { endpoints: [ "127.0.0.1:%%BACKEND_slow%%" ] }
YAML
sub start_pyxis {
    return PxTest::Pyxis->start(vars => { BACKEND_slow => $slow->port, DRAIN => $_[0] },
        yaml => $yaml);
}
sub refuses {
    my ($port) = @_;
    return !IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port, Proto => 'tcp');
}

# ---- SIGTERM and SIGINT: the whole drain ----
for my $sig (qw(TERM INT)) {
    my $px = start_pyxis('30s');
    my $port = $px->port('front');
    my $idle = client($port);    # an idle keep-alive connection
    $idle->write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    is($idle->read_response->{body}, "fast\n", "SIG$sig: a keep-alive connection, now idle");
    my $busy = client($port);    # a request in flight
    $busy->write("GET /slow/$sig HTTP/1.1\r\nHost: a\r\n\r\n");
    ok($slow->wait_note(qr/^got $sig$/), '... and a request in flight at the backend');

    $px->signal($sig);
    ok($px->wait_log(qr/\[info\] draining: /), "SIG$sig -> the log says draining");
    ok(wait_until(sub { refuses($port) }, timeout => 5), '... new connections are refused');
    ok($idle->wait_closed(5), '... the idle keep-alive connection is closed');
    ok(!defined $px->exit_status, '... pyxis waits for the request in flight');

    release($sig);
    my $r = $busy->read_response;
    is("$r->{status} $r->{body}", "200 done $sig", '... which completes with 200');
    like($r->{h}{connection} // '', qr/\bclose\b/i, '... and Connection: close');
    ok($busy->wait_closed(5), '... then its connection is closed');
    is($px->wait_exit(10), 0, '... and pyxis exits with status 0');
    like($px->log, qr/\[info\] exiting\n/, '... logging "exiting"');
    $px->stop;    # only returns the status now (and checks for sanitizer reports)
}

# ---- drain_timeout: 500ms and a backend that never answers ----
{
    my $px = start_pyxis('500ms');
    my $port = $px->port('front');
    my $busy = client($port);
    $busy->write("GET /slow/never HTTP/1.1\r\nHost: a\r\n\r\n");
    ok($slow->wait_note(qr/^got never$/),
        'drain_timeout 500ms: a request in flight, never answered');
    my $t0 = time;
    $px->signal('TERM');
    is($px->wait_exit(15), 0, '... SIGTERM: pyxis exits with status 0');
    my $took = time - $t0;
    ok($took >= 0.45, sprintf('... once the drain timeout has passed (after %.2fs)', $took));
    ok($busy->wait_closed(5), '... and the client connection is closed');
    my $r = $busy->read_response(timeout => 0);
    ok(!$r->{complete} || $r->{status} >= 500,
        '... without a complete response that could pass for the backend\'s')
        or diag explain $r;
    like($px->log, qr/\[info\] exiting\n/, '... logging "exiting"');
    $px->stop;
}

# ---- a second SIGTERM stops at once, without waiting for drain_timeout (30s) ----
{
    my $px = start_pyxis('30s');
    my $busy = client($px->port('front'));
    $busy->write("GET /slow/second HTTP/1.1\r\nHost: a\r\n\r\n");
    ok($slow->wait_note(qr/^got second$/), 'second signal: a request in flight, never answered');
    $px->signal('TERM');
    ok($px->wait_log(qr/\[info\] draining: /), '... first SIGTERM: draining');
    $px->signal('TERM');
    my $t0 = time;
    ok(defined $px->wait_exit(15), '... second SIGTERM: pyxis exits without waiting 30s')
        and diag sprintf('exit status %d after %.2fs', $px->exit_status, time - $t0);
    ok($busy->wait_closed(5), '... and the client connection is closed');
    $px->stop;
}

done_testing;
