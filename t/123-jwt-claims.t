# 123-jwt-claims: what jwt_auth hands on once a token is good: forward_claims as request fields
# (the client's own copies removed first), auth_user / auth_method and jwt_claim.NAME variables
# that later filters (headers, Lua) read, the token stripped or kept; tokens from a named field
# or a cookie; and examples/auth-jwt.yaml as shipped.
use strict;
use warnings;
use Test::More;
use PxTest;
use PxTest::JWT;

my $j = PxTest::JWT->new;
$j->key('ec', 'p256');
my $secret = 'claims-secret-0123456789-0123456789-xyz';
my $be = PxTest::Backend->echo(name => 'be');

my $px = PxTest::Pyxis->start(vars => { BE => $be->port, SECRET => $secret }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /fwd/ }
        filters:
          - jwt_auth:
              secret: "%%SECRET%%"
              forward_claims: { sub: X-User, roles: X-Roles, n: X-N, gone: X-Gone, ctl: X-Ctl }
              claim_vars: true
          - headers:
              request:
                set: { x-method: "${var.auth_method}", x-var-roles: "${var.jwt_claim.roles}" }
          - lua:
              code: |
                return { on_request = function(txn)
                  txn.req.headers["x-lua-user"] = txn:var("var.auth_user")
                end }
        upstream: be
      - match: { path_prefix: /keep/ }
        filters: [ { jwt_auth: { secret: "%%SECRET%%", forward_token: true } } ]
        upstream: be
      - match: { path_prefix: /hdr/ }
        filters: [ { jwt_auth: { secret: "%%SECRET%%", header: X-Token } } ]
        upstream: be
      - match: { path_prefix: /cookie/ }
        filters: [ { jwt_auth: { secret: "%%SECRET%%", cookie: session, realm: shop } } ]
        upstream: be
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BE%%" ] }
YAML
my $port = $px->port('front');
my $tok = sub { $j->token(alg => 'HS256', secret => $secret, claims => {@_}) };
sub seen { my ($r) = @_; return ($r->{status}, parse_echo($r->{body})->{h}) }

# ---- forwarded claims and variables -----------------------------------------------------------
my $t = $tok->(sub => 'alice', roles => ['admin', 'dev'], n => 7, gone => undef,
    ctl => "a\nb");
my ($st, $h) = seen(http_req($port, path => '/fwd/x', headers => [Authorization => "Bearer $t",
            'X-User' => 'mallory', 'X-Gone' => 'client', 'X-Roles' => 'root']));
is($st, 200, 'a good token passes');
is($h->{'x-user'}, 'alice', 'sub -> X-User (the client\'s X-User replaced)');
is($h->{'x-roles'}, '["admin","dev"]', 'an array claim -> compact JSON');
is($h->{'x-n'}, '7', 'a number claim -> its JSON text');
ok(!exists $h->{'x-gone'}, 'a null claim: the field is only removed');
ok(!exists $h->{'x-ctl'}, 'a claim with a newline is left out (not a valid field value)');
is($h->{'x-method'}, 'jwt', 'var auth_method = jwt, read by the headers filter');
is($h->{'x-var-roles'}, '["admin","dev"]', 'claim_vars: var jwt_claim.roles');
is($h->{'x-lua-user'}, 'alice', 'Lua sees txn:var("var.auth_user")');
ok(!exists $h->{authorization}, 'the token is stripped by default');
like($px->log, qr/claim ctl is not a valid field value; X-Ctl not set/, '... and logged');

($st, $h) = seen(http_req($port, path => '/fwd/x',
        headers => [Authorization => 'Bearer ' . $tok->(roles => 'r'), 'X-User' => 'mallory']));
ok(!exists $h->{'x-user'}, 'a token without sub: the client\'s X-User is still removed');
ok(!exists $h->{'x-lua-user'}, '... and auth_user is not set');

($st, $h) = seen(http_req($port, path => '/keep/x',
        headers => [Authorization => 'Bearer ' . $tok->(sub => 'a')]));
like($h->{authorization} // '', qr/^Bearer ey/, 'forward_token: true keeps the token');

# ---- a named field ------------------------------------------------------------------------------
$t = $tok->(sub => 'bob');
($st, $h) = seen(http_req($port, path => '/hdr/x', headers => ['X-Token' => $t]));
is($st, 200, 'header: X-Token: the bare token');
ok(!exists $h->{'x-token'}, '... stripped');
is(http_req($port, path => '/hdr/x', headers => ['X-Token' => "Bearer $t"])->{status}, 200,
    '... or with "Bearer "');
my $r = http_req($port, path => '/hdr/x', headers => [Authorization => "Bearer $t"]);
is($r->{status}, 401, '... Authorization is not looked at');

# ---- a cookie -----------------------------------------------------------------------------------
$r = http_req($port, path => '/cookie/x', headers => [Cookie => "theme=dark; session=$t; lang=en"]);
($st, $h) = seen($r);
is($st, 200, 'cookie: session');
is($h->{cookie}, 'theme=dark; lang=en', '... removed from Cookie, the others kept in order');
($st, $h) = seen(http_req($port, path => '/cookie/x', headers => [Cookie => "session=\"$t\""]));
is($st, 200, 'a quoted cookie value');
ok(!exists $h->{cookie}, '... a Cookie field left empty is removed');
$r = http_req($port, path => '/cookie/x', headers => [Cookie => 'theme=dark']);
is($r->{status}, 401, 'no session cookie -> 401');
is($r->{h}{'www-authenticate'}, 'Bearer realm="shop"', '... with the configured realm');
$r = http_req($port, path => '/cookie/x', headers => [Cookie => "session=$t; session=$t"]);
is($r->{status}, 400, 'the cookie twice -> 400');
$r = http_req($port, path => '/cookie/x', headers => [Cookie => "session=x$t"]);
is($r->{h}{'www-authenticate'}, 'Bearer realm="shop", error="invalid_token"',
    'a bad cookie token -> invalid_token');
$px->stop;

# ---- examples/auth-jwt.yaml -------------------------------------------------------------------
my $set = $j->jwks(['ec', kid => 'ec-1']);
my $jwks = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $req = $c->read_request) {
        $c->respond(200, ['Content-Type' => 'application/json'], $set);
    }
});
my $ex = "$ENV{PYXIS_SRCDIR}/examples/auth-jwt.yaml";
my $yaml = do { open my $f, '<', $ex or die "$ex: $!"; local $/; <$f> };
$yaml =~ s/127\.0\.0\.1:8080/127.0.0.1:%%PORT_front%%/g;
$yaml =~ s/127\.0\.0\.1:3000/127.0.0.1:%%APP%%/g;
$yaml =~ s/127\.0\.0\.1:3001/127.0.0.1:%%JWKS%%/g;
$px = PxTest::Pyxis->start(yaml => "workers: 1\n$yaml",
    vars => { APP => $be->port, JWKS => $jwks->port });
$port = $px->port('front');
my %claims = (iss => 'https://idp.example.com', aud => 'api', sub => 'carol', scope => 'read',
    exp => time + 600);
$t = $j->token(alg => 'ES256', key => 'ec', kid => 'ec-1', claims => \%claims);
($st, $h) = seen(http_req($port, path => '/api/orders', headers => [Authorization => "Bearer $t"]));
is($st, 200, 'example: a token from the IdP passes');
is($h->{'x-user'}, 'carol', 'example: the upstream gets X-User');
is($h->{'x-scope'}, 'read', 'example: ... and X-Scope');
is(http_req($port, path => '/api/orders')->{status}, 401, 'example: no token -> 401');
$t = $j->token(alg => 'ES256', key => 'ec', kid => 'ec-1', claims => { %claims, aud => 'web' });
is(http_req($port, path => '/api/orders', headers => [Authorization => "Bearer $t"])->{status},
    401, 'example: a token for another audience -> 401');
is(http_req($port, path => '/healthz')->{status}, 200, 'example: /healthz needs no token');
is($px->stop, 0, 'pyxis exits cleanly');
done_testing;
