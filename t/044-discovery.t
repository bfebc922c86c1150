# Service discovery: DNS A and AAAA records (family ipv4, ipv6, any), DNS SRV records and an
# endpoints file, followed without a reload; a failed lookup or a bad file keeps the last
# endpoints; a reload hands them over.
use strict;
use warnings;
use Test::More;
use PxTest;

plan skip_all => PxTest::DNS->missing if PxTest::DNS->missing;
my $P = eval { free_port(host => '127.0.0.2') };
plan skip_all => '127.0.0.2 is not a loopback address here' unless $P;

# a: keep-alive, notes when pyxis closes its connection (a pool drained).
my $a = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $r = $c->read_request(timeout => 60)) {
        $c->respond(200, ['x-backend' => 'a'], "a\n");
    }
    $c->note('closed ' . $c->id);
}, host => '127.0.0.2', port => $P);
my $b = PxTest::Backend->echo(name => 'b', host => '127.0.0.3', port => $P);
my $c = PxTest::Backend->echo(name => 'c', host => '127.0.0.2');
my $d = PxTest::Backend->echo(name => 'd', host => '127.0.0.3');
my ($Q, $R) = ($c->port, $d->port);

my %hosts = ('api.px.test' => ['127.0.0.2', '127.0.0.3'], 't1.px.test' => ['127.0.0.2'],
    't2.px.test' => ['127.0.0.3']);
my $dns = PxTest::DNS->start(hosts => \%hosts, srv => [
    ['_http._tcp.svc.px.test', 't1.px.test', $Q, 10, 1],
    ['_http._tcp.svc.px.test', 't2.px.test', $R, 20, 1]]);
my $dir = write_files('eps.txt' => "127.0.0.3:$R\n");

my $yaml = <<'YAML';
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - { match: { path_prefix: /api }, upstream: api }
      - { match: { path_prefix: /srv }, upstream: srv }
      - { match: { path_prefix: /file }, upstream: files }
      - { match: { path_prefix: /late }, upstream: late }
resolvers:
  local: { servers: ["127.0.0.1:%%DNS%%"], timeout: 200ms, attempts: 2 }
upstreams:
  api:
    discovery: { dns: api.px.test, port: %%P%%, resolver: local, family: ipv4,
                 min_ttl: 100ms, max_ttl: 300ms }
  srv:
    discovery: { srv: _http._tcp.svc.px.test, resolver: local, min_ttl: 100ms, max_ttl: 300ms }
  files:
    discovery: { file: %%EPS%%, interval: 100ms }
  late:
    discovery: { dns: late.px.test, port: %%P%%, resolver: local, min_ttl: 100ms, max_ttl: 300ms }
YAML
my %vars = (DNS => $dns->port, P => $P, EPS => "$dir/eps.txt");
my $px = PxTest::Pyxis->start(vars => \%vars, yaml => $yaml);
my $front = $px->port('front');

sub who { my $r = http_req($front, path => $_[0]); return $r->{status} == 200 ? $r->{h}{'x-backend'} : $r->{status} }
sub seen_all { my ($path, @want) = @_; my %s; return wait_until(sub { $s{who($path)} = 1; !grep { !$s{$_} } @want }) }
sub only { my ($path, $n) = @_; my %s; $s{who($path)}++ for 1 .. $n; return join ',', sort keys %s }

# Before its first answer an upstream has no endpoint: 503, and the log says why.
is(who('/late'), 503, 'no answer yet (NXDOMAIN): 503');
ok($px->wait_log(qr/503 Service Unavailable: no endpoints: discovery has found none yet/),
    '... logged with its cause');
$dns->set(hosts => { %hosts, 'late.px.test' => ['127.0.0.3'] });
ok(wait_until(sub { who('/late') eq 'b' }, timeout => 20), 'the name appears: traffic flows');

# DNS A records: both addresses get traffic; a change is followed without a reload.
ok(seen_all('/api', 'a', 'b'), 'A records: both backends get traffic');
like($px->log, qr/upstream api: discovery \(dns api\.px\.test\): 2 endpoints: \+127\.0\.0\.2:$P \+127\.0\.0\.3:$P/,
    'the endpoints found are logged');
$dns->set(hosts => { %hosts, 'late.px.test' => ['127.0.0.3'], 'api.px.test' => ['127.0.0.3'] });
ok($px->wait_log(qr/upstream api: discovery \(dns api\.px\.test\): 1 endpoint: -127\.0\.0\.2:$P/),
    'a removed address is logged');
is(only('/api', 6), 'b', 'all traffic to the remaining address');
ok($a->wait_note(qr/^closed/), "the removed endpoint's pool drains: its idle connection closes");

# SRV: the lowest priority group that resolves; ports from the records.
is(only('/srv', 4), 'c', 'SRV: priority 10 (t1, port Q) only');
$dns->set(hosts => { 'api.px.test' => ['127.0.0.3'], 't2.px.test' => ['127.0.0.3'] });
ok(wait_until(sub { who('/srv') eq 'd' }), "t1 no longer resolves: priority 20 (t2, port R) serves");
$dns->set(hosts => { 'api.px.test' => ['127.0.0.3'], %hosts{qw(t1.px.test t2.px.test)} },
    srv => [['_http._tcp.svc.px.test', 't1.px.test', $Q, 10, 1],
            ['_http._tcp.svc.px.test', 't2.px.test', $R, 10, 3]]);
ok(seen_all('/srv', 'c', 'd'), 'SRV: one priority, two targets on two ports');
my %n;
$n{who('/srv')}++ for 1 .. 8;
ok(($n{d} // 0) > ($n{c} // 0) && ($n{c} // 0) >= 1, "SRV weights 1:3 (c $n{c}, d $n{d})");

# The endpoints file: followed; a bad or incomplete file keeps the last good set.
is(only('/file', 3), 'd', 'file: its one endpoint');
write_file("$dir/eps.txt", "# two now\n127.0.0.2:$Q weight=2\n127.0.0.3:$R\n");
ok(seen_all('/file', 'c', 'd'), 'file rewritten (renamed into place): both endpoints');
write_file("$dir/eps.txt", "127.0.0.2:$Q\nbackend-3:80\n");
ok($px->wait_log(qr/eps\.txt:2:1: invalid IPv4 address.*keeping 2 endpoints/), 'a bad file: file:line:col logged');
write_file("$dir/eps.txt", "127.0.0.2:$Q\n127.0.0.3:$R");
ok($px->wait_log(qr/eps\.txt:2:\d+: the last line has no newline/), 'an incomplete file is refused');
ok(seen_all('/file', 'c', 'd'), '... and the last good set still serves');

# A failed lookup (NXDOMAIN) keeps the last set; a reload hands it over.
$dns->set(hosts => { %hosts{qw(t1.px.test t2.px.test)} });
ok($px->wait_log(qr/discovery \(dns api\.px\.test\) failed: .*keeping 1 endpoint/), 'NXDOMAIN is logged');
is(only('/api', 4), 'b', '... and the last address keeps serving');
like($px->reload(yaml => $yaml . "# reloaded\n", vars => \%vars), qr/generation 2 active/, 'reload');
is(only('/api', 4), 'b', 'the new generation has the last known address at once');

# AAAA records: family ipv6 asks for them only, family any for A and AAAA together.
SKIP: {
    my $P6 = eval { free_port(host => '::1') };
    skip "IPv6 loopback ::1 is not available here: $@", 6 unless $P6;
    my $e6 = PxTest::Backend->echo(name => 'e6', host => '::1', port => $P6);
    my $e4 = PxTest::Backend->echo(name => 'e4', host => '127.0.0.2', port => $P6);
    $dns->set(hosts => { 'dual.px.test' => ['127.0.0.2', '::1'] });
    my $px6 = PxTest::Pyxis->start(vars => { DNS => $dns->port, P6 => $P6 }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - { match: { path_prefix: /v6 }, upstream: v6 }
      - { match: { path_prefix: /any }, upstream: any }
resolvers:
  local: { servers: ["127.0.0.1:%%DNS%%"], timeout: 200ms, attempts: 2 }
upstreams:
  v6:
    discovery: { dns: dual.px.test, port: %%P6%%, resolver: local, family: ipv6,
                 min_ttl: 100ms, max_ttl: 300ms }
  any:
    discovery: { dns: dual.px.test, port: %%P6%%, resolver: local, family: any,
                 min_ttl: 100ms, max_ttl: 300ms }
YAML
    my $f6 = $px6->port('front');
    my $who6 = sub {
        my $r = http_req($f6, path => $_[0]);
        return $r->{status} == 200 ? $r->{h}{'x-backend'} : $r->{status};
    };
    ok(wait_until(sub { $who6->('/v6') eq 'e6' }, timeout => 20),
        'family ipv6: the AAAA record (::1) gets traffic');
    like($px6->log, qr/upstream v6: discovery \(dns dual\.px\.test\): 1 endpoint: \+\[::1\]:$P6/,
        '... the only endpoint found');
    my %s6;
    $s6{$who6->('/v6')}++ for 1 .. 4;
    is(join(',', sort keys %s6), 'e6', '... and the A record is not asked for');
    my %sa;
    ok(wait_until(sub { $sa{$who6->('/any')} = 1; $sa{e4} && $sa{e6} }, timeout => 20),
        'family any: the A and the AAAA record both get traffic');
    my ($found) = $px6->log =~ /(upstream any: discovery \(dns dual\.px\.test\): 2 endpoints: .*)/;
    ok($found, '... two endpoints found');
    ok(($found // '') =~ /\+127\.0\.0\.2:$P6\b/ && ($found // '') =~ /\+\[::1\]:$P6\b/,
        '... one of each family: ' . ($found // 'none'));
}

done_testing;
