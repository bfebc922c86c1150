# 001-smoke: pyxis starts, says who it is, proxies one request, and stops cleanly.
use strict;
use warnings;
use Test::More;
use PxTest;

# pyxis -V: the version and the libraries it was linked against.
my $v = pyxis_run('-V');
is($v->{exit}, 0, 'pyxis -V exits 0');
like($v->{out}, qr/^pyxis 0\.1\.0\b/m, 'pyxis -V prints the version');
for my $lib (qw(libevent OpenSSL libyaml PCRE2 LuaJIT nghttp2)) {
    like($v->{out}, qr/\b\Q$lib\E\b/i, "pyxis -V names $lib");
}

# A quickstart-like setup: a health check answered locally, everything else proxied.
my $be = PxTest::Backend->echo(name => 'app');
my $px = PxTest::Pyxis->start(vars => { BACKEND_app => $be->port }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path: /healthz }
        respond: { status: 200, headers: { content-type: text/plain }, body: "ok\n" }
      - match: { path_prefix: / }
        upstream: app
upstreams:
  app:
    endpoints: [ "127.0.0.1:%%BACKEND_app%%" ]
YAML

ok($px->wait_log(qr/\[info\] pyxis 0\.1\.0 started: 1 workers, generation 1\n/),
    'start is logged with the worker count and generation') or diag $px->log;

# GET /healthz -> 200 "ok\n", from pyxis itself.
my $r = http_req($px->port('front'), path => '/healthz');
is($r->{status}, 200, 'GET /healthz -> 200');
is($r->{body}, "ok\n", 'GET /healthz -> the configured body');
is($r->{h}{'content-type'}, 'text/plain', 'GET /healthz -> the configured header');
is(scalar $be->requests, 0, 'the backend did not see /healthz');

# GET /hello -> proxied to the backend.
$r = http_req($px->port('front'), path => '/hello?x=1');
is($r->{status}, 200, 'GET /hello -> 200');
is($r->{h}{'x-backend'}, 'app', 'GET /hello is answered by the backend');
like($r->{body}, qr{\AGET /hello\?x=1 HTTP/1\.1\n}, 'the backend got GET /hello?x=1');

SKIP: {
    skip 'curl is not installed', 3 unless have_curl();
    my $c = curl('-i', $px->url('front', '/from-curl'));
    is($c->{exit}, 0, 'curl succeeds') or diag($c->{err});
    like($c->{out}, qr{\AHTTP/1\.1 200 }, 'curl gets 200');
    like($c->{out}, qr{^GET /from-curl HTTP/1\.1$}m, 'curl gets the backend\'s answer');
}

# SIGTERM: drain, exit 0.
is($px->stop, 0, 'SIGTERM -> exit status 0');
like($px->log, qr/\[info\] draining.*\n(?:.*\n)*.*\[info\] exiting/, 'logs draining, then exiting');
like($px->log, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[info\] /m,
    'log lines start with an ISO 8601 UTC timestamp and a level');

done_testing;
