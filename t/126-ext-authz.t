# 126-ext-authz: the ext_authz filter against a scripted authorization service: what the service
# receives, allow (fields for the upstream, var.auth_user for a later headers and Lua filter),
# deny (status, body and client fields), failures (timeout, refused, garbage; closed and open),
# the body limit, a client leaving while the check waits, the worker serving others meanwhile,
# and examples/auth-external.yaml.
use strict;
use warnings;
use Test::More;
use PxTest;

my $app = PxTest::Backend->echo(name => 'app');
my $release = PxTest::testdir() . '/release';
my $authz = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $r = $c->read_request) {
        my ($t, $auth) = ($r->{target}, $r->{h}{authorization} // '');
        $c->note("got $r->{method} $t");
        if ($t =~ m{^/check/(slow|abort)/}) {    # never answers; notes when pyxis hangs up
            $c->drain_to_eof(30);
            return $c->note("closed $t");
        }
        if ($t =~ m{^/check/hold/}) {            # answers once the test says so
            $c->sleep(0.01) until -e $release;
        }
        return $c->write("SPDY/9 nonsense\r\n\r\n") if $t =~ m{^/check/garbage/};
        if ($auth eq 'Bearer tok-bad') {
            $c->respond(401, ['WWW-Authenticate' => 'Bearer realm="api"', 'X-Debug' => 'internal',
                'Content-Type' => 'text/plain'], "token rejected\n");
        } elsif ($auth eq 'Bearer tok-forbidden') {
            $c->respond(403, [], "not for you\n");
        } elsif ($t =~ m{^/check/api/login}) {
            $c->respond(302, ['Location' => '/login', 'Set-Cookie' => 'a=1',
                'Set-Cookie' => 'b=2'], '');
        } elsif ($auth eq 'Bearer tok-anon' || $t =~ m{^/authz}) {
            $c->respond(200, ['X-Other' => 'x'], 'ok');
        } else {
            $c->respond(200, ['X-User' => 'alice', 'X-Tenant' => 'acme', 'X-Other' => 'x'], 'ok');
        }
    }
});
my $closed = PxTest::free_port();

my $px = PxTest::Pyxis->start(
    vars => { APP => $app->port, AUTHZ => $authz->port, CLOSED => $closed }, yaml => <<'YAML');
workers: 1
error_log: { level: debug }
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /api/ }
        filters:
          - ext_authz:
              upstream: authz
              path_prefix: /check
              forward_headers: [authorization, cookie]
              upstream_headers: [x-user, x-tenant]
              user_header: x-user
              client_headers: [www-authenticate, location, set-cookie, content-type]
          - headers:
              request: { set: { x-seen-user: "${var.auth_user}", x-seen-how: "${var.auth_method}" } }
          - lua:
              code: |
                return { on_request = function(txn)
                  txn.req.headers["x-lua-user"] = tostring(txn:var("var.auth_user"))
                end }
        upstream: app
      - match: { path_prefix: /fixed/ }
        filters:
          - ext_authz:
              url: "http://127.0.0.1:%%AUTHZ%%/"
              path: /authz?v=1
              forward_headers: [content-type]
              include_body: { max_bytes: 16 }
        upstream: app
      - match: { path_prefix: /slow/ }
        filters: [ { ext_authz: { upstream: authz, path_prefix: /check, timeout: 300ms } } ]
        upstream: app
      - match: { path_prefix: /open/ }
        filters:
          - ext_authz:
              upstream: authz
              path: /check/slow/open
              timeout: 300ms
              failure_mode_allow: true
              upstream_headers: [x-user]
        upstream: app
      - match: { path_prefix: /down/ }
        filters: [ { ext_authz: { url: "http://127.0.0.1:%%CLOSED%%" } } ]
        upstream: app
      - match: { path_prefix: /garbage/ }
        filters: [ { ext_authz: { upstream: authz, path_prefix: /check, failure_status: 502 } } ]
        upstream: app
      - match: { path_prefix: /hold/ }
        filters: [ { ext_authz: { upstream: authz, path_prefix: /check, timeout: 20s } } ]
        upstream: app
      - match: { path_prefix: /abort/ }
        filters: [ { ext_authz: { upstream: authz, path_prefix: /check, timeout: 20s } } ]
        upstream: app
      - upstream: app
upstreams:
  app: { endpoints: [ "127.0.0.1:%%APP%%" ] }
  authz: { endpoints: [ "127.0.0.1:%%AUTHZ%%" ] }
YAML
my $port = $px->port('front');
my $last_check = sub { ($authz->requests)[-1] };

# Allowed: what the service saw, and what the upstream gets.
my $r = http_req($port, path => '/api/doc?q=1', headers => ['Authorization' => 'Bearer tok-good',
    'Cookie' => 'sess=c00kie', 'X-Secret' => 's', 'X-User' => 'mallory', 'X-Tenant' => 'evil']);
is($r->{status}, 200, 'allowed -> proxied');
my $chk = $last_check->();
is("$chk->{method} $chk->{target}", 'GET /check/api/doc?q=1',
    'the check: same method, path_prefix + path + query');
is($chk->{h}{host}, '127.0.0.1:' . $authz->port, '... Host is the service');
is($chk->{h}{authorization}, 'Bearer tok-good', '... forward_headers: authorization');
is($chk->{h}{cookie}, 'sess=c00kie', '... and cookie');
ok(!exists $chk->{h}{'x-secret'} && !exists $chk->{h}{'x-user'}, '... and no other field');
is(join('|', map { $chk->{h}{"x-forwarded-$_"} // '-' } qw(for host proto method uri)),
    '127.0.0.1|localhost|http|GET|/api/doc?q=1', '... X-Forwarded-For, -Host, -Proto, -Method, -Uri');
my $up = parse_echo($r->{body})->{h};
is($up->{'x-user'}, 'alice', 'the upstream gets the service\'s X-User (the client\'s is dropped)');
is($up->{'x-tenant'}, 'acme', '... and X-Tenant');
ok(!exists $up->{'x-other'}, '... not fields outside upstream_headers');
is($up->{authorization}, 'Bearer tok-good', '... and the request as it was');
is("$up->{'x-seen-user'} $up->{'x-seen-how'}", 'alice ext_authz',
    'a later headers filter reads ${var.auth_user} and ${var.auth_method}');
is($up->{'x-lua-user'}, 'alice', 'a later Lua filter reads txn:var("var.auth_user")');

$r = http_req($port, path => '/api/doc', headers => ['Authorization' => 'Bearer tok-anon',
    'X-User' => 'mallory']);
$up = parse_echo($r->{body})->{h};
is($r->{status}, 200, 'allowed without an identity -> proxied');
ok(!exists $up->{'x-user'} && !exists $up->{'x-seen-user'}, '... with no X-User at all');
is($up->{'x-lua-user'}, 'nil', '... and no var.auth_user');

# Denied: the service's answer goes to the client; nothing goes upstream.
my $before = $app->requests;
$r = http_req($port, path => '/api/doc', headers => ['Authorization' => 'Bearer tok-bad']);
is($r->{status}, 401, 'the service says 401 -> 401');
is($r->{body}, "token rejected\n", '... with its body');
is($r->{h}{'www-authenticate'}, 'Bearer realm="api"', '... and client_headers');
is($r->{h}{'content-type'}, 'text/plain', '... (content-type too)');
ok(!exists $r->{h}{'x-debug'}, '... but no other field');
$r = http_req($port, path => '/api/doc', headers => ['Authorization' => 'Bearer tok-forbidden']);
is("$r->{status} $r->{body}", "403 not for you\n", 'the service says 403 -> 403 with its body');
$r = http_req($port, path => '/api/login');
is("$r->{status} $r->{h}{location}", '302 /login', 'a 302 with Location goes to the client');
is($r->{h}{'set-cookie'}, 'a=1, b=2', '... with every Set-Cookie');
is(scalar $app->requests, $before, 'no denied request reached the upstream');

# The body: sent with the check up to max_bytes; longer is 413, with no check.
$r = http_req($port, method => 'POST', path => '/fixed/p?z=2', body => 'hello',
    headers => ['Content-Type' => 'text/plain']);
is($r->{status}, 200, 'include_body: allowed -> proxied');
$chk = $last_check->();
is("$chk->{method} $chk->{target} $chk->{body}", 'POST /authz?v=1 hello',
    'url + fixed path; the check carries the body');
is("$chk->{h}{'content-type'} $chk->{h}{'x-forwarded-uri'}", 'text/plain /fixed/p?z=2',
    '... the chosen field, and the original path in X-Forwarded-Uri');
is(parse_echo($r->{body})->{body}, 'hello', 'the upstream gets the body too');
my $checks = $authz->requests;
$r = http_req($port, method => 'POST', path => '/fixed/p', body => 'x' x 17);
is($r->{status}, 413, 'a body longer than max_bytes -> 413');
is(scalar $authz->requests, $checks, '... without asking the service');

# Failures: closed by default, open with failure_mode_allow; the log says why.
$r = http_req($port, path => '/slow/x');
is("$r->{status} $r->{body}", "503 authorization check failed\n", 'a timeout -> 503');
ok($px->wait_log(qr/authorization service upstream authz failed: timeout; answering 503/),
    '... logged');
ok($authz->wait_note(qr{^closed /check/slow/x$}), '... and the check\'s connection closed');
$r = http_req($port, path => '/open/x', headers => ['X-User' => 'mallory']);
is($r->{status}, 200, 'a timeout with failure_mode_allow -> proxied');
ok(!exists parse_echo($r->{body})->{h}{'x-user'}, '... without the owned field');
ok($px->wait_log(qr/\[warn\].*failed: timeout; failure_mode_allow/), '... logged at warn');
$r = http_req($port, path => '/down/x');
is($r->{status}, 503, 'the service is down -> 503');
ok($px->wait_log(qr/failed: connection refused; answering 503/), '... logged');
$r = http_req($port, path => '/garbage/x');
is($r->{status}, 502, 'a malformed answer -> failure_status (502)');
ok($px->wait_log(qr/authz failed: .+; answering 502/), '... logged');

# A client that leaves while the check waits: the call-out is cancelled, the worker goes on.
my $gone = client($port);
$gone->write("GET /abort/x HTTP/1.1\r\nHost: a\r\n\r\n");
ok($authz->wait_note(qr{^got GET /check/abort/x$}), 'a check is waiting');
$gone->close;
ok($authz->wait_note(qr{^closed /check/abort/x$}), 'the client leaves -> the check is cancelled');
ok($px->wait_log(qr/client gone: client closed the connection before the response/),
    '... and the request ended');

# A slow check does not hold up the worker.
my $held = client($port);
$held->write("GET /hold/x HTTP/1.1\r\nHost: a\r\n\r\n");
ok($authz->wait_note(qr{^got GET /check/hold/x$}), 'a check is held by the service');
$r = http_req($port, path => '/other');
is($r->{status}, 200, 'a request without auth on the same worker completes meanwhile');
is($held->received, '', '... while the held one has no answer yet');
open my $f, '>', $release or die "$release: $!";
close $f;
is($held->read_response->{status}, 200, 'the held request completes once the service answers');

unlike($px->log, qr/tok-|c00kie/, 'credentials never reach the error log');
is($px->stop, 0, 'pyxis exits cleanly');

# examples/auth-external.yaml, with this test's ports.
open my $ex, '<', "$ENV{PYXIS_SRCDIR}/examples/auth-external.yaml" or die "example: $!";
my $yaml = do { local $/; <$ex> };
$yaml =~ s/127\.0\.0\.1:8080/127.0.0.1:%%PORT_front%%/g;
$yaml =~ s/127\.0\.0\.1:3000/127.0.0.1:%%APP%%/g;
$yaml =~ s/127\.0\.0\.1:3001/127.0.0.1:%%AUTHZ%%/g;
$px = PxTest::Pyxis->start(yaml => $yaml, vars => { APP => $app->port, AUTHZ => $authz->port });
$r = http_req($px->port('front'), path => '/doc', headers => ['Authorization' => 'Bearer tok-good']);
is($r->{status}, 200, 'example: allowed');
is(parse_echo($r->{body})->{h}{'x-user'}, 'alice', 'example: the upstream gets X-User');
$r = http_req($px->port('front'), path => '/doc', headers => ['Authorization' => 'Bearer tok-bad']);
is("$r->{status} $r->{h}{'www-authenticate'}", '401 Bearer realm="api"', 'example: denied');

done_testing;
