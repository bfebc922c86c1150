# 122-jwt: the jwt_auth filter with static keys (docs/config.md, "Built-in filters" ->
# "jwt_auth"): every algorithm accepted with keys made here by openssl, and every kind of bad
# token refused with 401 (alg none, algorithm confusion, expired, not yet valid, wrong issuer
# or audience, missing claims, bad base64, truncated, too long, wrong claim types) while the
# worker goes on serving. Claims forwarding and token sources: t/123-jwt-claims.t; JWKS URLs:
# t/124-jwt-jwks.t; config errors: t/125-jwt-config.t.
use strict;
use warnings;
use Test::More;
use PxTest;
use PxTest::JWT;

my $j = PxTest::JWT->new;
$j->key('rsa', 'rsa')->key('p256', 'p256')->key('p384', 'p384')->key('ed', 'ed25519');
$j->key('other', 'rsa');
my $secret = 'hs-secret-0123456789-0123456789-0123456789';
my $dir = write_files('jwks.json' => $j->jwks(['rsa', kid => 'rsa'], ['p256', kid => 'p256'],
    ['p384', kid => 'p384'], ['ed', kid => 'ed']));
my $be = PxTest::Backend->echo(name => 'be');

my $px = PxTest::Pyxis->start(vars => { BE => $be->port, JWKS => "$dir/jwks.json",
        RSA => $j->pub('rsa'), P256 => $j->pub('p256'), P384 => $j->pub('p384'),
        ED => $j->pub('ed'), SECRET => $secret }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /hs/ }
        filters: [ { jwt_auth: { secret: "%%SECRET%%" } } ]
        upstream: be
      - match: { path_prefix: /rsa/ }
        filters: [ { jwt_auth: { public_key_file: "%%RSA%%" } } ]
        upstream: be
      - match: { path_prefix: /p256/ }
        filters: [ { jwt_auth: { public_key_file: "%%P256%%" } } ]
        upstream: be
      - match: { path_prefix: /p384/ }
        filters: [ { jwt_auth: { public_key_file: "%%P384%%" } } ]
        upstream: be
      - match: { path_prefix: /ed/ }
        filters: [ { jwt_auth: { public_key_file: "%%ED%%" } } ]
        upstream: be
      - match: { path_prefix: /jwks/ }
        filters: [ { jwt_auth: { jwks_file: "%%JWKS%%" } } ]
        upstream: be
      - match: { path_prefix: /ps-only/ }
        filters: [ { jwt_auth: { public_key_file: "%%RSA%%", algorithms: [PS256] } } ]
        upstream: be
      - match: { path_prefix: /policy/ }
        filters:
          - jwt_auth:
              jwks_file: "%%JWKS%%"
              issuers: https://idp.test
              audiences: [api, api2]
              required_claims: [sub, scope]
              leeway: 60s
              max_token_size: 2k
        upstream: be
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BE%%" ] }
YAML
my $port = $px->port('front');

sub get {
    my ($path, $token, @h) = @_;
    return http_req($port, path => $path,
        headers => [defined $token ? (Authorization => "Bearer $token") : (), @h]);
}

# ---- every algorithm --------------------------------------------------------------------------
my @algs = (
    [HS256 => '/hs/', secret => $secret], [HS384 => '/hs/', secret => $secret],
    [HS512 => '/hs/', secret => $secret],
    (map { [$_ => '/rsa/', key => 'rsa'], [$_ => '/jwks/', key => 'rsa', kid => 'rsa'] }
        qw(RS256 RS384 RS512 PS256 PS384 PS512)),
    [ES256 => '/p256/', key => 'p256'], [ES256 => '/jwks/', key => 'p256', kid => 'p256'],
    [ES384 => '/p384/', key => 'p384'], [ES384 => '/jwks/', key => 'p384', kid => 'p384'],
    [EdDSA => '/ed/', key => 'ed'], [EdDSA => '/jwks/', key => 'ed', kid => 'ed'],
);
for my $a (@algs) {
    my ($alg, $path, %o) = @$a;
    my $t = $j->token(alg => $alg, %o, claims => { sub => "user-$alg" });
    my $r = get("${path}x", $t);
    is($r->{status}, 200, "$alg on $path: accepted");
    my $seen = parse_echo($r->{body});
    ok($seen && !exists $seen->{h}{authorization}, "$alg on $path: the token is not forwarded");
}

# ---- refused tokens ---------------------------------------------------------------------------
my $now = time;
my %good = (iss => 'https://idp.test', aud => 'api', sub => 'alice', scope => 'read',
    exp => $now + 3600, iat => $now);
my $rsa = sub { $j->token(alg => 'RS256', key => 'rsa', kid => 'rsa', claims => { %good, @_ }) };
my $valid = $rsa->();
my $pem = do { open my $f, '<', $j->pub('rsa') or die; local $/; <$f> };
my $rsa_kid = $j->jwk('rsa', kid => 'rsa');
my $long = $rsa->(pad => 'x' x 2000);
(my $bad64 = $valid) =~ s/^(.)/+/;
my @refused = (
    ['alg none', $j->token(alg => 'none', claims => \%good, sig => 'none')],
    ['alg none with a signature', $j->token(alg => 'none', sign_as => 'HS256',
            secret => $secret, claims => \%good)],
    ['HS256 signed with the RSA public key PEM as the secret (confusion)',
        $j->token(alg => 'HS256', secret => $pem, kid => 'rsa', claims => \%good)],
    ['HS256 with the JWK modulus as the secret', $j->token(alg => 'HS256',
            secret => $rsa_kid->{n}, kid => 'rsa', claims => \%good)],
    ['ES256 header on an RSA signature', $j->token(alg => 'ES256', sign_as => 'RS256',
            key => 'rsa', kid => 'rsa', claims => \%good)],
    ['signed by another RSA key', $j->token(alg => 'RS256', key => 'other', kid => 'rsa',
            claims => \%good)],
    ['expired', $rsa->(exp => $now - 3600)],
    ['not yet valid', $rsa->(nbf => $now + 3600)],
    ['issued in the future', $rsa->(iat => $now + 3600)],
    ['wrong issuer', $rsa->(iss => 'https://evil.test')],
    ['wrong audience', $rsa->(aud => ['web', 'mobile'])],
    ['aud null', $j->token(alg => 'RS256', key => 'rsa', kid => 'rsa',
            claims => { %good, aud => undef })],
    ['missing required claim', $j->token(alg => 'RS256', key => 'rsa', kid => 'rsa',
            claims => { map { $_ eq 'scope' ? () : ($_ => $good{$_}) } keys %good })],
    ['exp a string', $rsa->(exp => "" . ($now + 3600))],
    ['sub a number', $rsa->(sub => 42)],
    ['aud an object', $rsa->(aud => { api => 1 })],
    ['iss an array', $rsa->(iss => ['https://idp.test'])],
    ['claims not an object', $j->token(alg => 'RS256', key => 'rsa', kid => 'rsa',
            claims => '["not", "an", "object"]')],
    ['bad base64 (a "+")', $bad64],
    ['padded base64', $valid =~ s/\./==./r],
    ['truncated', substr($valid, 0, length($valid) - 5)],
    ['cut in the payload', substr($valid, 0, index($valid, '.') + 10)],
    ['no signature part', $valid =~ s/\.[^.]*$//r],
    ['five parts (JWE)', "$valid.x.y"],
    ['longer than max_token_size', $long],
    ['garbage', 'not-a-token'],
);
$px->mark_log;
for my $case (@refused) {
    my ($name, $t) = @$case;
    my $r = get('/policy/x', $t);
    is($r->{status}, 401, "policy: $name -> 401");
    is($r->{h}{'www-authenticate'}, 'Bearer realm="pyxis", error="invalid_token"',
        "policy: $name -> invalid_token challenge");
}
is(get('/policy/x', $valid)->{status}, 200, 'the worker still serves: the good token passes');
is(get('/policy/x', $rsa->(exp => $now - 30))->{status}, 200,
    'expired 30 s ago, within the 60 s leeway: accepted');
is(scalar(grep { $_->{target} =~ m{^/policy/} } $be->requests), 2,
    'only the accepted requests reached the backend');

my $log = $px->log;
like($log, qr/\[jwt_auth\].*request refused \(401\): expired/, 'the reason is logged');
like($log, qr/request refused \(401\): alg none is refused/, 'alg none is named in the log');
my $sig = (split /\./, $valid)[2];
my $body = (split /\./, $valid)[1];
ok(index($log, $sig) < 0 && index($log, substr($sig, 0, 16)) < 0,
    'no signature bytes in the log');
ok(index($log, $body) < 0 && index($log, $valid) < 0, 'no token in the log');

# algorithms allow-list
is(get('/ps-only/x', $j->token(alg => 'RS256', key => 'rsa'))->{status}, 401,
    'algorithms: [PS256]: an RS256 token with the right key -> 401');
is(get('/ps-only/x', $j->token(alg => 'PS256', key => 'rsa'))->{status}, 200,
    'algorithms: [PS256]: a PS256 token -> 200');

# no token, and a huge one
my $r = get('/hs/x');
is($r->{status}, 401, 'no token -> 401');
is($r->{h}{'www-authenticate'}, 'Bearer realm="pyxis"', '... with a plain challenge (RFC 6750)');
$r = get('/hs/x', undef, Authorization => 'Basic dXNlcjpwYXNz');
is($r->{h}{'www-authenticate'}, 'Bearer realm="pyxis"', 'Basic credentials: no bearer token');
$r = get('/hs/x', 'x' x 12000);
is($r->{status}, 401, 'a 12 KB token -> 401 (over the 8k default)');
$r = get('/hs/x', 'x' x 20000);
is($r->{status}, 431, 'a 20 KB header -> 431 from the core before any filter');
$r = http_req($port, path => '/hs/x', headers => [Authorization => "Bearer $valid",
        Authorization => "Bearer $valid"]);
is($r->{status}, 400, 'two Authorization fields -> 400');
is($r->{h}{'www-authenticate'}, 'Bearer realm="pyxis", error="invalid_request"',
    '... invalid_request');
is(get('/hs/x', $j->token(alg => 'HS256', secret => $secret))->{status}, 200,
    'the worker still serves after all that');

is($px->stop, 0, 'pyxis exits cleanly');
done_testing;
