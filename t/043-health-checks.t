# 043-health-checks: active health checks (upstreams.NAME.health_check). Checks run on their
# own, with no request coming in; an endpoint that fails unhealthy_threshold checks in a row
# gets no traffic until it passes healthy_threshold checks; TCP checks connect only;
# expected_statuses decides; with every endpoint unhealthy the answer is 503; a timeout and a
# TLS failure fail a check; a reload keeps the verdicts of endpoints that stay, applies changed
# settings and stops the checks of endpoints that left. Bad settings are refused with FILE:LINE:COL.
use strict;
use warnings;
use Test::More;
use PxTest;

my $dir = write_files();

# Check timeouts are long (5s) wherever a timeout is not the point: a loaded machine must not
# turn a slow fork of a backend into a failed check.
# A backend whose health endpoints answer what the file $dir/NAME.PATH says (200 when absent;
# "sleep": nothing for 5 s); other paths answer 200 naming the backend.
sub backend {
    my ($name) = @_;
    return PxTest::Backend->start(sub {
        my ($c) = @_;
        while (my $r = $c->read_request) {
            if ($r->{target} =~ m{^/(healthz|ready)$}) {
                my $st = 200;
                if (open my $fh, '<', "$dir/$name.$1") { $st = <$fh>; chomp $st }
                $c->note("check $r->{target} $st");
                $c->sleep(5), next if $st eq 'sleep';
                $c->respond($st, [], "health\n");
            } else {
                $c->respond(200, ['X-Backend' => $name], "$name\n");
            }
        }
    });
}
sub set_health { my ($name, $path, $st) = @_; write_file("$dir/$name.$path", "$st\n") }
sub logged { my ($px, $re) = @_; return wait_until(sub { $px->log =~ $re }) }    # anywhere in the log
sub checks { my ($be, $path) = @_; return scalar grep { /^check \/$path / } $be->notes }

my %be = map { $_ => backend($_) } qw(a b c d e);
my %vars = (map({ uc($_) => $be{$_}->port } keys %be), CLOSED => free_port());
my $yaml = <<'YAML';
workers: 2
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - { match: { path: /pair }, upstream: pair }
      - { match: { path: /tcp }, upstream: tcp }
      - { match: { path: /st }, upstream: st }
upstreams:
  pair:
    endpoints: [ "127.0.0.1:%%A%%", "127.0.0.1:%%B%%" ]
    health_check: { path: /healthz, interval: 100ms, timeout: 5s, healthy_threshold: 2, unhealthy_threshold: 3 }
  tcp:
    endpoints: [ "127.0.0.1:%%CLOSED%%", "127.0.0.1:%%B%%" ]
    health_check: { type: tcp, interval: 100ms, timeout: 5s }
  st:
    endpoints: [ "127.0.0.1:%%C%%" ]
    health_check: { path: /healthz, expected_statuses: [200-299, 302], interval: 100ms, timeout: 5s, healthy_threshold: 1, unhealthy_threshold: 1 }
  slow:
    endpoints: [ "127.0.0.1:%%D%%" ]
    health_check: { path: /healthz, interval: 100ms, timeout: 200ms }
  gone:
    endpoints: [ "127.0.0.1:%%E%%" ]
    health_check: { path: /healthz, interval: 100ms, timeout: 5s }
YAML
set_health('c', 'healthz', 500);
set_health('d', 'healthz', 'sleep');
set_health('a', 'ready', 200);
my $px = PxTest::Pyxis->start(vars => \%vars, yaml => $yaml);
my $port = $px->port('front');
my $ep = sub { "127\\.0\\.0\\.1:$vars{uc $_[0]}" };
my $backends = sub { join ' ', map { http_req($port, path => $_[0])->{body} =~ s/\n//r } 1 .. $_[1] };

# The check request, seen by the backend, with no client request sent.
ok($be{a}->wait_note(qr{^check /healthz 200}), 'endpoints are checked while no request comes in');
my ($chk) = grep { $_->{target} eq '/healthz' } $be{a}->requests;
is_deeply([@$chk{qw(method version)}, @{$chk->{h}}{qw(host connection user-agent)}],
    ['GET', 'HTTP/1.1', "127.0.0.1:$vars{A}", 'close', 'pyxis-health-check'],
    'GET /healthz HTTP/1.1, Host: the endpoint, Connection: close, User-Agent');
like($backends->('/pair', 4), qr/(?=.*a)(?=.*b)/, 'both endpoints healthy: both take requests');

# Failing: unhealthy after unhealthy_threshold failed checks, then no traffic.
set_health('a', 'healthz', 503);
my $a = $ep->('a');
ok($px->wait_log(qr/upstream pair: endpoint $a is unhealthy after 3 failed health checks \(status 503\)/),
    'three failed checks in a row: unhealthy (logged with the reason)');
is($backends->('/pair', 6), 'b b b b b b', '... and every request goes to the other endpoint');
set_health('a', 'healthz', 200);
ok($px->wait_log(qr/upstream pair: endpoint $a is healthy again after 2 passed health checks \(status 200\)/),
    'two passed checks: healthy again');
like($backends->('/pair', 4), qr/a/, '... and it takes requests again');

# TCP: a closed port is unhealthy from its first check; requests only reach the open one.
my $closed = $ep->('closed');
ok(logged($px, qr/upstream tcp: endpoint $closed is unhealthy after 1 failed health check \(connection refused\)/),
    'tcp: a closed port fails its first check: unhealthy at once');
is($backends->('/tcp', 4), 'b b b b', '... no request goes to it');

# expected_statuses: 500 fails, 302 passes, 301 fails. With no healthy endpoint: 503.
my $c = $ep->('c');
ok(logged($px, qr/upstream st: endpoint $c is unhealthy after 1 failed health check \(status 500\)/),
    'expected_statuses [200-299, 302]: 500 fails');
my $r = http_req($port, path => '/st');
is($r->{status}, 503, 'the only endpoint unhealthy: 503');
unlike($r->{body}, qr/^c$/m, "... from pyxis, not the backend's");
ok($px->wait_log(qr/no healthy endpoint/), '... logged as "no healthy endpoint"');
set_health('c', 'healthz', 302);
ok($px->wait_log(qr/upstream st: endpoint $c is healthy again after 1 passed health check \(status 302\)/),
    '302 is expected: healthy again');
is(http_req($port, path => '/st')->{status}, 200, '... and requests reach it');
set_health('c', 'healthz', 301);
ok($px->wait_log(qr/upstream st: endpoint $c is unhealthy after 1 failed health check \(status 301\)/),
    '301 is not expected: unhealthy');

my $d = $ep->('d');
ok(logged($px, qr/upstream slow: endpoint $d is unhealthy after 1 failed health check \(timeout\)/),
    'no status line within timeout: the check fails');

# Reload: `a` fails /healthz but passes /ready. The path changes, `gone` leaves.
set_health('a', 'healthz', 503);
ok($px->wait_log(qr/upstream pair: endpoint $a is unhealthy after 3 failed/), 'a is unhealthy again');
(my $y2 = $yaml) =~ s{(pair:.*?path: )/healthz}{$1/ready}s;
$y2 =~ s/  gone:.*\z//s;
like($px->reload(yaml => $y2), qr/generation 2 active/, 'reload: path /ready, upstream gone removed');
my $gone = checks($be{e}, 'healthz');
ok($px->wait_log(qr/upstream pair: endpoint $a is healthy again after 2 passed health checks \(status 200\)/),
    'the verdict survived the reload (a transition back), and the new path applies');
my $ready = checks($be{a}, 'ready');
ok(wait_until(sub { checks($be{a}, 'ready') >= $ready + 3 }), 'checks go on');
cmp_ok(checks($be{e}, 'healthz'), '<=', $gone + 1, '... but not those of the endpoint that left');
like($backends->('/pair', 4), qr/(?=.*a)(?=.*b)/, 'a takes requests again');

# TLS upstreams: the check speaks TLS with the upstream's context (and verifies its name).
{
    my $certs = PxTest::Backend->tls_certs;
    my $tls = PxTest::Backend->tls(cert => $certs->{cert}, key => $certs->{key});
    my $t = PxTest::Pyxis->start(vars => { T => $tls->port, CA => $certs->{ca} }, yaml => <<'YAML');
workers: 1
listeners:
  - { name: front, listen: 127.0.0.1:%%PORT_front%%, routes: [ { upstream: good } ] }
upstreams:
  good:
    endpoints: [ "127.0.0.1:%%T%%" ]
    tls: { ca: "%%CA%%" }
    health_check: { path: /tls-check, interval: 100ms, timeout: 5s }
  wrong:
    endpoints: [ "127.0.0.1:%%T%%" ]
    tls: { ca: "%%CA%%", server_name: wrong.example }
    health_check: { interval: 100ms, timeout: 5s }
YAML
    ok($tls->wait_note(qr{^got GET /tls-check}), 'tls: the check is sent over TLS');
    ok($t->wait_log(qr/upstream wrong: endpoint \S+ is unhealthy after 1 failed health check \(certificate verify failed: hostname mismatch\)/),
        '... and a certificate that does not match fails it');
}

my $head = <<'YAML';
listeners:
  - { name: front, listen: 127.0.0.1:1, routes: [ { upstream: u } ] }
upstreams:
  u:
    endpoints: [ 127.0.0.1:2 ]
YAML
config_errors_ok($head, qr/upstreams\.u\.health_check(\.[a-z_]+(\[\d\])?)?/, [
    ['unknown type', 'udp', qr/unknown health check type "udp"/, "    health_check: { type: udp }  # <- error\n"],
    ['relative path', 'x', qr/invalid path "x"/, "    health_check: { path: x }  # <- error\n"],
    ['space in path', '"/a b"', qr/invalid character in path/, "    health_check: { path: \"/a b\" }  # <- error\n"],
    ['bad host', '"a/b"', qr/invalid host/, "    health_check: { host: \"a/b\" }  # <- error\n"],
    ['status 600', '600', qr/invalid status "600"/, "    health_check: { expected_statuses: [200, 600] }  # <- error\n"],
    ['inverted range', '299-200', qr/empty status range/, "    health_check: { expected_statuses: [299-200] }  # <- error\n"],
    ['zero interval', '0', qr/must be greater than 0/, "    health_check: { interval: 0 }  # <- error\n"],
    ['fraction', '1.5s', qr/invalid duration "1\.5s"/, "    health_check: { timeout: 1.5s }  # <- error\n"],
    ['threshold 0', '0', qr/out of range \(1\.\.1000\)/, "    health_check: { healthy_threshold: 0 }  # <- error\n"],
    ['not a map', '[1]', qr/expected a map/, "    health_check: [1]  # <- error\n"],
    ['path on tcp', 'path', qr/path applies to "type: http" only/, "    health_check: { type: tcp, path: /x }  # <- error\n"],
]);
like(PxTest::Pyxis->check(yaml => $head . "    health_check: { intervall: 1s }\n")->{err},
    qr/:6:21: unknown key "intervall" in upstreams\.u\.health_check \(did you mean "interval"\?\)/,
    'an unknown key, with a suggestion');
is(PxTest::Pyxis->check(yaml => $head . "    health_check: {}\n")->{exit}, 0, 'health_check: {} (all defaults) is valid');

done_testing;
