# 060-reload: SIGHUP swaps the configuration without dropping anything: under wrk load, ten
# reloads in a row cost no error and no failed connection; after a reload new listeners serve,
# removed ones refuse, upstream changes apply, a keep-alive client connection gets the new
# configuration on its next request, and a request in flight finishes.
use strict;
use warnings;
use Test::More;
use IO::Socket::IP;
use POSIX ();
use PxTest;

my $have_wrk = grep { -x "$_/wrk" } split /:/, $ENV{PATH} // '';

# ---- reloads under load ----
# pyxis is its own upstream: "front" proxies to "backend", a respond route whose answer changes
# with each reload (A, B, A, ...). keepalive_requests: 0 keeps wrk's connections open for the
# whole run, so that any connection closed under wrk is the reloads' doing.
my $load_yaml = <<'YAML';
workers: 2
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    keepalive_requests: 0
    routes:
      - upstream: self
  - name: backend
    listen: 127.0.0.1:%%PORT_backend%%
    routes:
      - respond: { headers: { x-config: "%%WHICH%%" }, body: "config %%WHICH%%\n" }
upstreams:
  self: { endpoints: [ "127.0.0.1:%%PORT_backend%%" ] }
YAML

# Established connections accepted on local port $port (from /proc/net/tcp).
sub established_on {
    my ($port) = @_;
    open my $f, '<', '/proc/net/tcp' or return 0;
    return scalar grep {
        my @f = split ' ';
        $f[1] && $f[1] =~ /:([0-9A-F]{4})\z/ && hex($1) == $port && $f[3] eq '01'
    } <$f>;
}

SKIP: {
    skip 'wrk is not installed (./dev test installs it)', 11 unless $have_wrk;
    my $px = PxTest::Pyxis->start(vars => { WHICH => 'A' }, yaml => $load_yaml);
    my $front = $px->port('front');
    my $out = PxTest::testdir() . '/wrk.out';
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', $out;
        open STDERR, '>&', \*STDOUT;
        { exec 'wrk', '-t2', '-c20', '-d8s', '--timeout', '5s', "http://127.0.0.1:$front/" }
        POSIX::_exit(127);
    }
    ok(wait_until(sub { established_on($front) >= 20 }), 'wrk has its 20 connections open');

    my @which = map { $_ % 2 ? 'A' : 'B' } 2 .. 11;
    my ($active, $answers) = (0, 0);
    for my $gen (2 .. 11) {
        my $which = $which[$gen - 2];
        my $line = $px->reload(yaml => $load_yaml, vars => { WHICH => $which }) // 'timeout';
        $active++ if $line =~ /reload: generation $gen active/;
        diag "reload $gen: $line" unless $line =~ /generation $gen active/;
        my $r = http_req($front, path => '/check');
        $answers++ if ($r->{body} // '') eq "config $which\n" && $r->{h}{'x-config'} eq $which;
    }
    is($active, 10, 'ten reloads under load: each logged "generation N active" (N = 2..11)');
    is($answers, 10, '... and after each one a new request got that configuration\'s answer');
    ok(waitpid($pid, POSIX::WNOHANG()) == 0, '... all while wrk was still running');

    my $status;
    wait_until(sub { waitpid($pid, POSIX::WNOHANG()) == $pid and defined($status = $?) },
        timeout => 30);
    if (!defined $status) { kill 'KILL', $pid; waitpid $pid, 0 }
    is($status, 0, 'wrk exits 0');
    my $report = do { open my $f, '<', $out; local $/; <$f> } // '';
    my ($requests) = $report =~ /(\d+) requests in /;
    ok(($requests // 0) > 0, 'wrk made requests (' . ($requests // 'none') . ')')
        or diag $report;
    unlike($report, qr/Non-2xx or 3xx responses/, 'no response other than 2xx/3xx')
        or diag $report;
    unlike($report, qr/Socket errors/, 'no socket error (connect, read, write, timeout)')
        or diag $report;
    is($px->stop, 0, 'pyxis exits 0 afterwards');
    unlike($px->log, qr/\[error\]/, 'no error in the log') or diag $px->log;
    unlike($px->log, qr/reload failed/, 'no reload failed');
}

# ---- what a reload changes ----
my %be = map { ($_ => PxTest::Backend->echo(name => $_)) } qw(one two);
my $go = PxTest::testdir() . '/go';
my $slow = PxTest::Backend->start(sub {    # answers once the test creates $go
    my ($c) = @_;
    $c->read_request or return;
    $c->note('got');
    wait_until(sub { -e $go }, timeout => 30);
    $c->respond(200, [], 'slow done');
});
my %vars = (BACKEND_one => $be{one}->port, BACKEND_two => $be{two}->port,
    BACKEND_slow => $slow->port);
my $v1 = <<'YAML';
workers: 2
listeners:
  - name: main
    listen: 127.0.0.1:%%PORT_main%%
    keepalive_requests: 3
    routes:
      - { match: { path: /where }, upstream: app }
      - { match: { path: /slow }, upstream: slow }
      - respond: { body: "v1\n" }
  - name: old
    listen: 127.0.0.1:%%PORT_old%%
    routes: [ { respond: { body: "old listener\n" } } ]
upstreams:
  app: { endpoints: [ "127.0.0.1:%%BACKEND_one%%" ] }
  slow: { endpoints: [ "127.0.0.1:%%BACKEND_slow%%" ] }
YAML
my $v2 = <<'YAML';    # listener "old" removed, "new" added, app -> two, "v2"
workers: 2
listeners:
  - name: main
    listen: 127.0.0.1:%%PORT_main%%
    keepalive_requests: 3
    routes:
      - { match: { path: /where }, upstream: app }
      - { match: { path: /slow }, upstream: slow }
      - respond: { body: "v2\n" }
  - name: new
    listen: 127.0.0.1:%%PORT_new%%
    routes: [ { respond: { body: "new listener\n" } } ]
upstreams:
  app: { endpoints: [ "127.0.0.1:%%BACKEND_two%%" ] }
  slow: { endpoints: [ "127.0.0.1:%%BACKEND_slow%%" ] }
YAML

my $px = PxTest::Pyxis->start(vars => \%vars, yaml => $v1);
my $main = $px->port('main');
my $old = $px->port('old');

my $kc = client($main);    # a keep-alive client connection that lives across the reload
$kc->write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
is($kc->read_response->{body}, "v1\n", 'before: a keep-alive connection gets v1');
is(http_req($main, path => '/where')->{h}{'x-backend'}, 'one', 'before: upstream app is "one"');
is(http_req($old, path => '/')->{body}, "old listener\n", 'before: listener "old" serves');

my $inflight = client($main);    # a request in flight during the reload
$inflight->write("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
ok($slow->wait_note(qr/^got$/), 'a request is in flight at the slow backend');

like($px->reload(yaml => $v2) // 'timeout', qr/reload: generation 2 active/,
    'reload to v2 (listener "old" removed, "new" added, app -> "two"): generation 2 active');

open my $g, '>', $go or die "create $go: $!";
close $g;
my $r = $inflight->read_response;
is("$r->{status} $r->{body}", '200 slow done', 'the request in flight finishes with 200');

ok(!$kc->closed, 'the keep-alive connection is still open');
$kc->write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
is($kc->read_response->{body}, "v2\n", '... and its next request gets v2');
# keepalive_requests: 3 -> its third request is its last, and the response must say so
# (RFC 9112 section 9.6); a client reusing the connection would otherwise see a failure.
$kc->write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
$r = $kc->read_response;
is($r->{status}, 200, 'keepalive_requests: 3 -> the third request on a connection -> 200');
like($r->{h}{connection} // '', qr/\bclose\b/i, '... with Connection: close');
ok($kc->wait_closed(2), '... then the connection is closed');
is(http_req($main, path => '/')->{body}, "v2\n", 'a new connection gets v2');
is(http_req($px->port('new'), path => '/')->{body}, "new listener\n",
    'the added listener serves');
ok(wait_until(sub {
    !IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $old, Proto => 'tcp') }),
    'the removed listener refuses connections');
my $before = () = $be{one}->requests;
is(http_req($main, path => '/where')->{h}{'x-backend'}, 'two', 'upstream app is now "two"');
is(scalar(() = $be{one}->requests), $before, '... and "one" saw nothing more');
is($px->stop, 0, 'pyxis exits 0');

done_testing;
