# 032-pool-retry: upstream connections are pooled per endpoint (keepalive.max_idle,
# .max_requests, .idle_timeout), and a request that fails on a pooled connection before any
# response byte is sent again once, on a new connection, only when that is harmless
# (docs/proxy.md, "The stale-connection retry").
use strict;
use warnings;
use Test::More;
use JSON::PP ();
use Time::HiRes qw(time);
use PxTest;

# The stale-connection race, made deterministic: the backend answers every request except one
# under /drop/ that is not the first on its connection; that one it reads, then drops the
# connection without a byte of response (close, or RST for /drop/reset/). On a new connection
# /drop/ is answered like anything else.
my $flaky = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $r = $c->read_request) {
        if ($r->{target} =~ m{^/drop/} && $r->{seq} > 1) {
            $r->{target} =~ m{^/drop/reset/} ? $c->reset : $c->close;
            return;
        }
        $c->respond(200, ['X-Conn' => $c->id, 'X-Seq' => $r->{seq}],
            $r->{method} eq 'HEAD' ? '' : "ok $r->{target}");
    }
});
# Reads the request and closes without answering, on every connection.
my $dead = PxTest::Backend->start(sub { $_[0]->read_request; $_[0]->close });
# Keep-alive echo backends for the pool settings; "idle" notes when pyxis closes a connection.
my %echo = map { ($_ => PxTest::Backend->echo(name => $_)) } qw(dflt max2 none);
my $idle = PxTest::Backend->start(sub {
    my ($c) = @_;
    $c->respond(200, ['X-Conn' => $c->id], 'idle') while $c->read_request(timeout => 60);
    $c->note('eof ' . $c->id);    # pyxis closed it (well before the 60s read timeout)
});

my $px = PxTest::Pyxis->start(
    vars => { BACKEND_flaky => $flaky->port, BACKEND_dead => $dead->port,
              BACKEND_idle => $idle->port, map { ("BACKEND_$_" => $echo{$_}->port) } keys %echo },
    yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    access_log: { path: "%%DIR%%/access.json", format: json }
    routes:
      - { match: { path_prefix: /dead/ }, upstream: dead }
      - { match: { path_prefix: /dflt/ }, upstream: dflt }
      - { match: { path_prefix: /max2/ }, upstream: max2 }
      - { match: { path_prefix: /none/ }, upstream: none }
      - { match: { path_prefix: /idle/ }, upstream: idle }
      - { upstream: flaky }
upstreams:
  flaky: { endpoints: [ "127.0.0.1:%%BACKEND_flaky%%" ] }
  dead: { endpoints: [ "127.0.0.1:%%BACKEND_dead%%" ] }
  dflt: { endpoints: [ "127.0.0.1:%%BACKEND_dflt%%" ] }
  max2:
    endpoints: [ "127.0.0.1:%%BACKEND_max2%%" ]
    keepalive: { max_requests: 2 }
  none:
    endpoints: [ "127.0.0.1:%%BACKEND_none%%" ]
    keepalive: { max_idle: 0 }
  idle:
    endpoints: [ "127.0.0.1:%%BACKEND_idle%%" ]
    keepalive: { idle_timeout: 300ms }
YAML
my $port = $px->port('front');

# The backend's records of requests for $path: [[conn, seq], ...] in order.
sub seen {
    my ($be, $path) = @_;
    return [map { [$_->{conn}, $_->{seq}] } grep { $_->{target} eq $path } $be->requests];
}

# The JSON access-log record of the last request for $path.
sub logged {
    my ($path) = @_;
    my $rec;
    wait_until(sub {
        open my $f, '<', $px->dir . '/access.json' or return 0;
        ($rec) = reverse grep { $_->{uri} eq $path } map { JSON::PP::decode_json($_) } <$f>;
        return $rec;
    }, timeout => 5);
    return $rec // {};
}

# ---- retried: an idempotent request without a body, failing on a pooled connection ----
# [ method, path, what the backend does to it ]
for my $case (['GET', '/drop/close/get', 'closes'], ['GET', '/drop/reset/get', 'resets'],
    ['DELETE', '/drop/close/delete', 'closes'], ['HEAD', '/drop/close/head', 'closes'],
    ['OPTIONS', '/drop/close/options', 'closes'])
{
    my ($method, $path, $how) = @$case;
    my $warm = http_req($port, path => "/warm$path");    # leaves one idle pooled connection
    is($warm->{status}, 200, "$method $path: a first request pools a connection");
    my $r = http_req($port, method => $method, path => $path);
    is($r->{status}, 200, "$method $path: backend $how the pooled connection -> retried, 200");
    is($r->{h}{'x-seq'}, 1, '... answered as the first request of its connection');
    my $pooled = [$warm->{h}{'x-conn'}, $warm->{h}{'x-seq'} + 1];
    is_deeply(seen($flaky, $path), [$pooled, [$r->{h}{'x-conn'}, 1]],
        '... the backend saw it twice: on the pooled connection, then on a new one');
    is(logged($path)->{attempts}, 2, '... the access log says 2 attempts');
}

# ---- not retried: a body, a non-idempotent method, or a connection that was new ----
# [ method, path, body, why it must not be sent again ]
for my $case (['POST', '/drop/close/post', 'data', 'POST with a body'],
    ['POST', '/drop/close/post-nobody', undef, 'POST without a body (not idempotent)'],
    ['PUT', '/drop/close/put', 'data', 'PUT with a body (its body was consumed)'],
    ['PATCH', '/drop/reset/patch', undef, 'PATCH (not idempotent), reset'])
{
    my ($method, $path, $body, $what) = @$case;
    my $warm = http_req($port, path => "/warm$path");
    is($warm->{status}, 200, "$what: a first request pools a connection");
    my $r = http_req($port, method => $method, path => $path, body => $body);
    is($r->{status}, 502, "$what: dropped on the pooled connection -> 502");
    is_deeply(seen($flaky, $path), [[$warm->{h}{'x-conn'}, $warm->{h}{'x-seq'} + 1]],
        '... the backend saw it once, on the pooled connection');
    is(logged($path)->{attempts}, 1, '... the access log says 1 attempt');
}

my $r = http_req($port, path => '/dead/get');
is($r->{status}, 502, 'GET dropped on a new connection -> 502');
is(scalar(() = $dead->requests), 1, '... not retried: the backend saw exactly one request');
is($dead->connections, 1, '... on one connection');
is(http_req($port, path => '/warm/after')->{status}, 200, 'pyxis keeps serving afterwards');

# ---- pool settings ----
# Default keepalive: sequential requests (each on a new client connection) share one upstream
# connection.
my @r = map { http_req($port, path => "/dflt/$_") } 1 .. 3;
is(join(' ', map { "$_->{h}{'x-conn-id'}/$_->{h}{'x-conn-seq'}" } @r), '1/1 1/2 1/3',
    'default keepalive: three requests on one upstream connection');
is($echo{dflt}->connections, 1, '... the backend accepted one connection');

# max_requests: 2 -> the third request opens a new connection.
@r = map { http_req($port, path => "/max2/$_") } 1 .. 5;
is(join(' ', map { "$_->{h}{'x-conn-id'}/$_->{h}{'x-conn-seq'}" } @r), '1/1 1/2 2/1 2/2 3/1',
    'keepalive.max_requests: 2 -> at most two requests per upstream connection');

# max_idle: 0 -> nothing is kept; every request opens a connection.
@r = map { http_req($port, path => "/none/$_") } 1 .. 3;
is(join(' ', map { "$_->{h}{'x-conn-id'}/$_->{h}{'x-conn-seq'}" } @r), '1/1 2/1 3/1',
    'keepalive.max_idle: 0 -> a new upstream connection per request');

# idle_timeout: 300ms -> pyxis closes the idle connection, and the next request opens another.
my $t0 = time;
is(http_req($port, path => '/idle/1')->{h}{'x-conn'}, 1, 'idle_timeout: first request, conn 1');
ok($idle->wait_note(qr/^eof 1$/, 10), '... pyxis closes the idle connection');
my $took = time - $t0;
ok($took >= 0.25, sprintf('... not before idle_timeout (after %.2fs)', $took));
is(http_req($port, path => '/idle/2')->{h}{'x-conn'}, 2, '... the next request opens conn 2');

done_testing;
