# 062-workers-ipv6: `workers: N` runs N worker threads that all serve; `workers: auto` runs one
# per online CPU; IPv6 works on both sides: a [::1] listener, a [::1] upstream endpoint, and
# X-Forwarded-For carrying an IPv6 client address.
use strict;
use warnings;
use Test::More;
use IO::Socket::IP;
use PxTest;

# Threads of process $pid (the main thread plus the workers, docs/operations.md).
sub threads_of { my @t = glob("/proc/$_[0]/task/*"); return scalar @t }

# ---- workers: 3 ----
my $be = PxTest::Backend->echo(name => 'v4');
my $px = PxTest::Pyxis->start(vars => { BACKEND_v4 => $be->port }, yaml => <<'YAML');
workers: 3
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - { match: { path_prefix: /app/ }, upstream: v4 }
      - respond: { body: "local\n" }
upstreams:
  v4: { endpoints: [ "127.0.0.1:%%BACKEND_v4%%" ] }
YAML
my $port = $px->port('front');
ok($px->wait_log(qr/\[info\] pyxis \S+ started: 3 workers, generation 1\n/),
    'workers: 3 -> "started: 3 workers"');
is(threads_of($px->pid), 4, '... one process: the main thread and 3 workers');

# 50 new connections one after another, answered locally and proxied.
for my $path ('/local', '/app/x') {
    my @status = map { http_req($port, path => "$path/$_")->{status} // 'none' } 1 .. 50;
    is(scalar(grep { $_ eq '200' } @status), 50, "50 sequential new connections to $path: all 200")
        or diag "@status";
}

# 30 connections open at once, each with a request, answered in any order.
my @c = map { client($port) } 1 .. 30;
$_->write("GET /app/concurrent HTTP/1.1\r\nHost: a\r\n\r\n") for @c;
my @ok = grep { ($_->read_response->{status} // 0) == 200 } @c;
is(scalar @ok, 30, '30 concurrent connections: all 200');
$_->close for @c;
is($px->stop, 0, 'pyxis exits 0');

# ---- workers: auto -> one per online CPU ----
chomp(my $ncpu = `getconf _NPROCESSORS_ONLN 2>/dev/null` || '');
SKIP: {
    skip 'getconf _NPROCESSORS_ONLN is not available', 2 unless $ncpu =~ /^\d+$/;
    my $auto = PxTest::Pyxis->start(yaml => <<'YAML');
workers: auto
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes: [ { respond: { body: "auto\n" } } ]
YAML
    ok($auto->wait_log(qr/\[info\] pyxis \S+ started: $ncpu workers, generation 1\n/),
        "workers: auto -> \"started: $ncpu workers\" (online CPUs)") or diag $auto->log;
    is(http_req($auto->port('front'))->{body}, "auto\n", '... and it serves');
}

# ---- IPv6 ----
my $v6_ok = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0, Proto => 'tcp', Listen => 1);
SKIP: {
    skip "IPv6 loopback ::1 is not available: $@", 10 unless $v6_ok;
    undef $v6_ok;
    my $be6 = PxTest::Backend->echo(name => 'v6', host => '::1');
    my $px6 = PxTest::Pyxis->start(vars => { BACKEND_v6 => $be6->port, BACKEND_v4 => $be->port },
        ports => { six => free_port(host => '::1') }, yaml => <<'YAML');
workers: 2
listeners:
  - name: six
    listen: "[::1]:%%PORT_six%%"
    routes:
      - { match: { path_prefix: /to-v6/ }, upstream: v6 }
      - { upstream: v4 }
  - name: four
    listen: 127.0.0.1:%%PORT_four%%
    routes: [ { upstream: v6 } ]
upstreams:
  v6: { endpoints: [ "[::1]:%%BACKEND_v6%%" ] }
  v4: { endpoints: [ "127.0.0.1:%%BACKEND_v4%%" ] }
YAML
    my $six = $px6->port('six');

    # An IPv6 client on the [::1] listener, proxied to an IPv4 upstream.
    my $r = http_req($six, addr => '::1', path => '/to-v4', host => '[::1]:' . $six);
    is($r->{status}, 200, 'a [::1] listener: an IPv6 client is served');
    is($r->{h}{'x-backend'}, 'v4', '... proxied to the IPv4 upstream');
    my $seen = parse_echo($r->{body});
    is($seen->{h}{'x-forwarded-for'}, '::1', '... X-Forwarded-For is the IPv6 client address');
    is($seen->{h}{'x-forwarded-host'}, "[::1]:$six", '... X-Forwarded-Host is the Host');
    is($seen->{h}{host}, "[::1]:$six", '... Host with an IPv6 literal passes unchanged');

    # IPv6 client to an IPv6 upstream endpoint.
    $r = http_req($six, addr => '::1', path => '/to-v6/x');
    is("$r->{status} " . ($r->{h}{'x-backend'} // ''), '200 v6',
        'an IPv6 client, proxied to a [::1] endpoint -> 200 from the IPv6 backend');

    # IPv4 client to the IPv6 upstream endpoint.
    $r = http_req($px6->port('four'), path => '/x');
    is("$r->{status} " . ($r->{h}{'x-backend'} // ''), '200 v6',
        'an IPv4 client, proxied to a [::1] endpoint -> 200 from the IPv6 backend');
    is(parse_echo($r->{body})->{h}{'x-forwarded-for'}, '127.0.0.1',
        '... X-Forwarded-For is the IPv4 client address');

    # The [::1] listener is IPv6 only: nothing is served on 127.0.0.1 at that port.
    ok(!IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $six, Proto => 'tcp'),
        'the [::1] listener does not listen on 127.0.0.1');
    is($px6->stop, 0, 'pyxis exits 0');
}

done_testing;
