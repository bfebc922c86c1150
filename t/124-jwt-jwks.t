# 124-jwt-jwks: jwt_auth with jwks_url: the JWKS is fetched by the worker with a call-out
# (served here by a scripted backend that reads the key sets from files), a token with a new
# kid is accepted after the refresh that kid triggers, those refreshes are rate-limited
# (counted as fetches the JWKS server saw), requests wait for the first fetch (and one whose
# route times out meanwhile is forgotten cleanly), a JWKS that cannot be had answers 503,
# algorithm confusion is refused, and the set is refreshed on its interval (keeping the old
# keys when a refresh fails).
use strict;
use warnings;
use Test::More;
use PxTest;
use PxTest::JWT;

my $j = PxTest::JWT->new;
$j->key($_, 'p256') for qw(k1 k2 k3);
$j->key('r1', 'rsa');
my $d = PxTest::subdir('jwks');

sub put {    # replace a file the JWKS server reads, atomically
    my ($name, $text) = @_;
    open my $f, '>', "$d/$name.tmp" or die $!;
    print $f $text;
    close $f;
    rename "$d/$name.tmp", "$d/$name" or die $!;
}

# Serves /NAME from $d/NAME; holds a request while $d/hold-NAME exists; answers 500 when
# $d/fail-NAME exists.
my $jwks = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $r = $c->read_request) {
        (my $name = $r->{target}) =~ s{^/}{};
        $c->note("fetch $name");
        $c->sleep(0.02) while -e "$d/hold-$name";
        if (-e "$d/fail-$name" || !-e "$d/$name") {
            $c->respond(500, [], "no\n");
            next;
        }
        open my $f, '<', "$d/$name" or die $!;
        $c->respond(200, ['Content-Type' => 'application/json'], do { local $/; <$f> });
    }
});
sub fetches { my ($name) = @_; return scalar grep { $_->{target} eq "/$name" } $jwks->requests }

my $be = PxTest::Backend->echo(name => 'be');
put('rot.json', $j->jwks(['k1', kid => 'k1'], ['r1', kid => 'r1']));
put('slow.json', $j->jwks(['k1', kid => 'k1']));
put('hold-slow.json', '');
put('held.json', $j->jwks(['k1', kid => 'k1']));
put('hold-held.json', '');
put('broken.json', $j->jwks(['k1', kid => 'k1']));
put('fail-broken.json', '');

my $px = PxTest::Pyxis->start(
    vars => { BE => $be->port, J => $jwks->port, CLOSED => PxTest::free_port() },
    yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /rot/ }
        filters:
          - jwt_auth:
              jwks_url: "http://127.0.0.1:%%J%%/rot.json"
              jwks_refresh: 1h
              jwks_min_refresh: 1h
        upstream: be
      - match: { path_prefix: /slow/ }
        filters:
          - jwt_auth: { jwks_url: "http://127.0.0.1:%%J%%/slow.json", jwks_timeout: 30s }
        upstream: be
      - match: { path_prefix: /held/ }
        filters:
          - jwt_auth: { jwks_url: "http://127.0.0.1:%%J%%/held.json", jwks_timeout: 30s }
        upstream: be
        timeout: 1s
      - match: { path_prefix: /broken/ }
        filters: [ { jwt_auth: { jwks_url: "http://127.0.0.1:%%J%%/broken.json" } } ]
        upstream: be
      - match: { path_prefix: /down/ }
        filters: [ { jwt_auth: { jwks_url: "http://127.0.0.1:%%CLOSED%%/jwks.json" } } ]
        upstream: be
      - match: { path_prefix: /open/ }
        upstream: be
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BE%%" ] }
YAML
my $port = $px->port('front');
my $url = "http://127.0.0.1:" . $jwks->port;
sub get {
    my ($path, $token) = @_;
    return http_req($port, path => $path, headers => [Authorization => "Bearer $token"]);
}
sub logged { my ($re) = @_; return wait_until(sub { $px->log =~ $re }) }
sub tok { my ($key, %o) = @_; return $j->token(alg => 'ES256', key => $key, kid => $key, %o) }

# ---- rotation and the rate limit ------------------------------------------------------------
ok($px->wait_log(qr{JWKS \Q$url\E/rot\.json: keys loaded: 2}),
    'the worker fetched the JWKS at start');
is(fetches('rot.json'), 1, '... once');
is(get('/rot/a', tok('k1'))->{status}, 200, 'a token signed by k1 -> 200');
is(get('/rot/a', $j->token(alg => 'RS256', key => 'r1', kid => 'r1'))->{status}, 200,
    'an RS256 token of the RSA key -> 200');
is(fetches('rot.json'), 1, 'served from the cached set');

put('rot.json', $j->jwks(['k1', kid => 'k1'], ['k2', kid => 'k2']));
is(get('/rot/b', tok('k2'))->{status}, 200,
    'the IdP rotated in k2: a k2 token -> 200 after the refresh its kid triggered');
is(fetches('rot.json'), 2, '... which was one more fetch');
is(get('/rot/b', tok('k2'))->{status}, 200, 'k2 again -> 200 from the cache');

put('rot.json', $j->jwks(['k1', kid => 'k1'], ['k2', kid => 'k2'], ['k3', kid => 'k3']));
is(get('/rot/c', tok('k3'))->{status}, 401,
    'k3 within jwks_min_refresh of the last kid-triggered fetch -> 401');
is(get('/rot/c', tok('k3', claims => { n => $_ }))->{status}, 401, "... again ($_)") for 1 .. 3;
is(get('/rot/c', tok('k1', kid => 'nope'))->{status}, 401, 'an unknown kid -> 401');
is(fetches('rot.json'), 2, 'none of them made the JWKS server fetch again (rate-limited)');
is(get('/rot/d', $j->token(alg => 'RS256', key => 'r1', kid => 'r1'))->{status}, 401,
    'r1 was rotated out: its token -> 401');

# Confusion: the default algorithms include HS*, but no HMAC key is in the set.
my $jwk = $j->jwk('k1');
for my $secret ($jwk->{x}, do { open my $f, '<', $j->pub('k1') or die; local $/; <$f> }) {
    is(get('/rot/e', $j->token(alg => 'HS256', kid => 'k1', secret => $secret))->{status}, 401,
        'HS256 with kid k1, keyed with the EC public key: 401');
}
like($px->log, qr/request refused \(401\): the key with the token's kid does not verify HS256/,
    '... logged as such');

# ---- waiting for the first fetch --------------------------------------------------------------
ok($jwks->wait_note(qr/^fetch slow\.json$/), 'the slow JWKS server is holding the first fetch');
my $waiting = client($port);
$waiting->write("GET /slow/x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " . tok('k1') .
        "\r\n\r\n");
is(http_req($port, path => '/open/x')->{status}, 200, 'the worker serves others meanwhile');
ok(!length($waiting->received // ''), '... while the request with a token waits for the JWKS');
unlink "$d/hold-slow.json";
my $wr = $waiting->read_response(timeout => 10);
is($wr->{status}, 200, 'the waiting request is let through once the JWKS arrives');
is(fetches('slow.json'), 1, '... one fetch for both the worker start and the request');

# A request that ends while it waits (its route's timeout) leaves the waiting list.
ok($jwks->wait_note(qr/^fetch held\.json$/), 'another JWKS fetch is held');
is(get('/held/x', tok('k1'))->{status}, 504, 'the route timeout ends a request waiting for it');
unlink "$d/hold-held.json";
ok(logged(qr{JWKS \Q$url\E/held\.json: keys loaded: 1}), '... the fetch then ends');
is(get('/held/x', tok('k1'))->{status}, 200, '... and the next request passes');

# ---- no JWKS: 503 -----------------------------------------------------------------------------
ok(logged(qr{JWKS \Q$url\E/broken\.json: fetch answered 500}), 'a JWKS answering 500');
my $r = get('/broken/x', tok('k1'));
is($r->{status}, 503, '... -> 503 until a fetch succeeds');
ok(!exists $r->{h}{'www-authenticate'}, '... without a challenge (the token was not judged)');
ok(logged(qr{JWKS http://127\.0\.0\.1:\d+/jwks\.json: fetch failed: .*refused}i),
    'a JWKS server that is down');
is(get('/down/x', tok('k1'))->{status}, 503, '... -> 503');
is(http_req($port, path => '/rot/x')->{status}, 401, 'no token is still 401, keys or not');

is($px->stop, 0, 'pyxis exits cleanly');

# ---- periodic refresh -------------------------------------------------------------------------
put('periodic.json', $j->jwks(['k1', kid => 'k1']));
$px = PxTest::Pyxis->start(vars => { BE => $be->port, J => $jwks->port }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - filters:
          - jwt_auth:
              jwks_url: "http://127.0.0.1:%%J%%/periodic.json"
              jwks_refresh: 1s
              jwks_min_refresh: 1s
        upstream: be
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BE%%" ] }
YAML
$port = $px->port('front');
ok(wait_until(sub { fetches('periodic.json') >= 3 }), 'jwks_refresh: 1s: fetched again and again');
put('fail-periodic.json', '');
ok($px->wait_log(qr/periodic\.json: keeping the previous keys/), 'a refresh fails');
is(get('/x', tok('k1'))->{status}, 200, '... and the previous keys still verify');
unlink "$d/fail-periodic.json";
ok($px->wait_log(qr/periodic\.json: keys loaded: 1/), 'the next refresh works again');
is($px->stop, 0, 'pyxis exits cleanly');
done_testing;
