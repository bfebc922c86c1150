# 039-outlier-breakers: passive outlier detection ejects an endpoint after consecutive failures
# (never more than max_ejection_percent of the upstream), skips it while ejected, takes it back
# afterwards; with no usable endpoint the answer is 503. Circuit breakers (max_requests,
# max_connections, max_pending, max_retries) answer 503 at once
# with x-pyxis-overflow naming the limit.
use strict;
use warnings;
use Test::More;
use PxTest;

my $ok = PxTest::Backend->echo(name => 'ok');
my $e503 = PxTest::Backend->start(sub {
    my ($c) = @_;
    while ($c->read_request) { $c->respond(503, ['Content-Type' => 'text/plain'], "busy\n") }
});
my $slow = PxTest::Backend->start(sub {
    my ($c) = @_;
    while ($c->read_request) { $c->sleep(10); $c->respond(200, [], "slow\n") }
});
# Accepts and never answers: a TLS handshake with it never ends (the connection stays pending).
my $silent = PxTest::Backend->start(sub {
    my ($c) = @_;
    $c->note('accepted');
    $c->sleep(30);
});
# The first attempt of a path gets 503, its retry hangs.
my $marks = PxTest::testdir();
my $flip = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $r = $c->read_request) {
        my $mark = "$marks/" . ($r->{target} =~ s{\W}{_}gr);
        if (-e $mark) {
            $c->note("hang $r->{target}");
            $c->sleep(30);
            return;
        }
        open my $fh, '>', $mark or die "$mark: $!";
        close $fh;
        $c->respond(503, [], "first\n");
    }
});

my $px = PxTest::Pyxis->start(
    vars => { OK => $ok->port, E503 => $e503->port, SLOW => $slow->port,
        SILENT => $silent->port, FLIP => $flip->port },
    yaml => <<'YAML');
workers: 1
drain_timeout: 2s
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - { match: { path: /pair }, upstream: pair }
      - { match: { path: /single }, upstream: single }
      - { match: { path: /alone }, upstream: alone }
      - { match: { path_prefix: /req }, upstream: max_req }
      - { match: { path_prefix: /conn }, upstream: max_conn }
      - { match: { path_prefix: /pend }, upstream: max_pend }
      - { match: { path_prefix: /retry }, upstream: max_retry }
upstreams:
  pair:
    endpoints: [ "127.0.0.1:%%E503%%", "127.0.0.1:%%OK%%" ]
    outlier_detection: { consecutive_5xx: 3, base_ejection_time: 1s }
  single:
    endpoints: [ "127.0.0.1:%%E503%%" ]
    outlier_detection: { consecutive_5xx: 2, max_ejection_percent: 50 }
  alone:
    endpoints: [ "127.0.0.1:%%E503%%" ]
    outlier_detection: { consecutive_5xx: 2, max_ejection_percent: 100, base_ejection_time: 1h, max_ejection_time: 1h }
  max_req:
    endpoints: [ "127.0.0.1:%%SLOW%%" ]
    circuit_breakers: { max_requests: 1 }
  max_conn:
    endpoints: [ "127.0.0.1:%%SLOW%%" ]
    circuit_breakers: { max_connections: 1 }
  max_pend:
    endpoints: [ "127.0.0.1:%%SILENT%%" ]
    tls: { verify: false }
    connect_timeout: 30s
    circuit_breakers: { max_pending: 1 }
  max_retry:
    endpoints: [ "127.0.0.1:%%FLIP%%" ]
    retry: { attempts: 2, on: [5xx], backoff: { base: 1ms, max: 1ms } }
    circuit_breakers: { max_retries: 1 }
YAML
my $port = $px->port('front');

# Round robin alternates: the 503 endpoint fails three times in six requests.
my @st = map { http_req($port, path => '/pair')->{status} } 1 .. 6;
ok($px->wait_log(qr/upstream pair: endpoint 127\.0\.0\.1:\d+ ejected for 1000ms after 3 consecutive 5xx responses \(ejection 1\)/),
   'three 5xx in a row eject the endpoint (logged)');
my @after = map { http_req($port, path => '/pair')->{status} } 1 .. 10;
is_deeply(\@after, [(200) x 10], 'while ejected, every request goes to the other endpoint');
ok($px->wait_log(qr/upstream pair: endpoint 127\.0\.0\.1:\d+ returns after its ejection/, 10),
   'the ejection ends');
my @back = map { http_req($port, path => '/pair')->{status} } 1 .. 4;
ok((grep { $_ == 503 } @back), 'the endpoint takes requests again');

http_req($port, path => '/single') for 1 .. 2;
ok($px->wait_log(qr/upstream single: endpoint \S+ failed 2 times in a row \(5xx responses\) but stays: max_ejection_percent \(50%\) reached/),
   'max_ejection_percent keeps the endpoint');
like(http_req($port, path => '/single')->{body}, qr/busy/, '... and it still answers');

http_req($port, path => '/alone') for 1 .. 2;
ok($px->wait_log(qr/upstream alone: endpoint \S+ ejected/), 'the only endpoint ejected');
my $r = http_req($port, path => '/alone');
is($r->{status}, 503, 'no usable endpoint: 503');
unlike($r->{body}, qr/busy/, "... from pyxis, not the upstream's");
ok($px->wait_log(qr/no healthy endpoint/), '... logged with the reason');

# Circuit breakers: one slow request holds the only slot.
my $first = client($port);
$first->write(build_request(path => '/req/1'));
ok($slow->wait_requests(1, 10), 'one request in flight (max_requests: 1)');
$r = http_req($port, path => '/req/2');
is($r->{status}, 503, 'max_requests: the next one is refused at once');
is($r->{h}{'x-pyxis-overflow'}, 'max_requests', '... x-pyxis-overflow names the limit');

my $held = client($port);
$held->write(build_request(path => '/conn/1'));
ok($slow->wait_requests(2, 10), 'one connection busy (max_connections: 1)');
$r = http_req($port, path => '/conn/2');
is($r->{status}, 503, 'max_connections: a request needing another connection is refused');
is($r->{h}{'x-pyxis-overflow'}, 'max_connections', '... x-pyxis-overflow: max_connections');

my $pending = client($port);
$pending->write(build_request(path => '/pend/1'));
ok($silent->wait_note(qr/accepted/), 'one connection still connecting (its TLS handshake hangs)');
$r = http_req($port, path => '/pend/2');
is($r->{status}, 503, 'max_pending: a request that would wait for another connection is refused');
is($r->{h}{'x-pyxis-overflow'}, 'max_pending', '... x-pyxis-overflow: max_pending');

my $retrying = client($port);
$retrying->write(build_request(path => '/retry/1'));
ok($flip->wait_note(qr{hang /retry/1}), 'one retry in flight (max_retries: 1)');
$r = http_req($port, path => '/retry/2');
is($r->{status}, 503, 'max_retries: the next failure is answered, not retried');
is($r->{body}, "first\n", "... with the upstream's answer");
is($r->{h}{'x-pyxis-overflow'}, 'max_retries', '... and x-pyxis-overflow: max_retries');
ok(!(grep { /hang \/retry\/2/ } $flip->notes), '... its retry never went out');
$_->close for $first, $held, $pending, $retrying;

# examples/resilience.yaml as shipped (its ports swapped for free ones): every request gets 200
# although one endpoint refuses and one answers 503, and both get ejected.
{
    open my $fh, '<', 'examples/resilience.yaml' or die "examples/resilience.yaml: $!";
    my $yaml = do { local $/; <$fh> };
    my %port = (8080 => '%%PORT_front%%', 8091 => '%%PORT_good%%', 8092 => '%%PORT_flaky%%',
                8093 => '%%DEAD%%');
    $yaml =~ s/127\.0\.0\.1:(80[89]\d)/127.0.0.1:$port{$1}/g;
    my $ex = PxTest::Pyxis->start(vars => { DEAD => free_port() }, yaml => $yaml);
    my @s = map { http_req($ex->port('front'), path => '/')->{status} } 1 .. 8;
    is_deeply(\@s, [(200) x 8], 'examples/resilience.yaml: every request answered 200');
    ok($ex->wait_log(qr/endpoint \S+ ejected .* consecutive connect failures/), '... the dead endpoint ejected');
}

done_testing;
