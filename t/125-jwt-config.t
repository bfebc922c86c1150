# 125-jwt-config: a bad jwt_auth config is refused by `pyxis -t` with FILE:LINE:COL at the
# offending key or value (the line marked "# <- error", the column where the text given in each
# case starts), without the secret in the message; reloads switch keys and key sources.
use strict;
use warnings;
use Test::More;
use PxTest;
use PxTest::JWT;

my $j = PxTest::JWT->new;
$j->key('rsa', 'rsa');
my $files = write_files('bad.json' => '{"keys": {}}');
my %vars = (RSA => $j->pub('rsa'), PRIV => $j->private('rsa'), BADJWKS => "$files/bad.json");

my $head = <<'YAML';
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - respond: { body: "x" }
        filters:
YAML

# [ what, where COL points, the message, the filter entry ]
my @bad = (
    ['no key source', 'audiences',
        qr/no key: give one of secret, secret_file, public_key_file/, <<'YAML'],
          - jwt_auth:
              audiences: [api]   # <- error
YAML
    ['two key sources', '"http', qr/jwks_url: give one of .* \(secret is given too\)/, <<'YAML'],
          - jwt_auth:
              secret: 0123456789abcdef0123456789abcdef
              jwks_url: "http://idp/jwks"   # <- error
YAML
    ['a short secret', 'hunter2-short',
        qr/secret: an HMAC secret needs at least 32 bytes \(has 13\)/, <<'YAML'],
          - jwt_auth:
              secret: hunter2-short   # <- error
YAML
    ['a missing PEM file', '/nonexistent',
        qr{public_key_file: cannot open /nonexistent\.pem: No such file}, <<'YAML'],
          - jwt_auth:
              public_key_file: /nonexistent.pem   # <- error
YAML
    ['a private key as the public key', '"%%PRIV%%"',
        qr/public_key_file: holds a private key/, <<'YAML'],
          - jwt_auth:
              public_key_file: "%%PRIV%%"   # <- error
YAML
    ['a bad JWKS file', '"%%BADJWKS%%"', qr/jwks_file: not a JWK Set/, <<'YAML'],
          - jwt_auth:
              jwks_file: "%%BADJWKS%%"   # <- error
YAML
    ['an ftp JWKS URL', 'ftp:', qr{jwks_url: expected an http:// or https:// URL}, <<'YAML'],
          - jwt_auth:
              jwks_url: ftp://idp/jwks   # <- error
YAML
    ['alg none', 'none',
        qr/algorithms: unknown algorithm "none" .*none is never accepted/, <<'YAML'],
          - jwt_auth:
              secret: 0123456789abcdef0123456789abcdef
              algorithms: [HS256, none]   # <- error
YAML
    ['an alg the key cannot verify', 'ES256',
        qr/algorithms: ES256 cannot be verified with the configured key/, <<'YAML'],
          - jwt_auth:
              public_key_file: "%%RSA%%"
              algorithms: [ES256]   # <- error
YAML
    ['jwks_refresh without a URL', '5m', qr/jwks_refresh: only with jwks_url/, <<'YAML'],
          - jwt_auth:
              public_key_file: "%%RSA%%"
              jwks_refresh: 5m   # <- error
YAML
    ['jwks_min_refresh under 1s', '500ms', qr/jwks_min_refresh: at least 1s/, <<'YAML'],
          - jwt_auth:
              jwks_url: "http://idp/jwks"
              jwks_min_refresh: 500ms   # <- error
YAML
    ['header and cookie', 'sid', qr/cookie: give header or cookie, not both/, <<'YAML'],
          - jwt_auth:
              public_key_file: "%%RSA%%"
              header: X-T
              cookie: sid   # <- error
YAML
    ['a claim forwarded as Content-Length', 'Content-Length',
        qr/forward_claims\.sub: pyxis manages this field/, <<'YAML'],
          - jwt_auth:
              public_key_file: "%%RSA%%"
              forward_claims: { sub: Content-Length }   # <- error
YAML
    ['a bad field name', '"X User"', qr/forward_claims\.sub: not a valid field name/, <<'YAML'],
          - jwt_auth:
              public_key_file: "%%RSA%%"
              forward_claims: { sub: "X User" }   # <- error
YAML
    ['a realm with a quote', "'a\"b'", qr/realm: no quotes/, <<'YAML'],
          - jwt_auth:
              public_key_file: "%%RSA%%"
              realm: 'a"b'   # <- error
YAML
    ['leeway in ms', '1500ms', qr/leeway: whole seconds/, <<'YAML'],
          - jwt_auth:
              public_key_file: "%%RSA%%"
              leeway: 1500ms   # <- error
YAML
    ['max_token_size 1m', '1m', qr/max_token_size: from 16 to 64k/, <<'YAML'],
          - jwt_auth:
              public_key_file: "%%RSA%%"
              max_token_size: 1m   # <- error
YAML
    ['an unknown key', 'audience', qr/unknown key "audience".*did you mean "audiences"/, <<'YAML'],
          - jwt_auth:
              public_key_file: "%%RSA%%"
              audience: api   # <- error
YAML
    ['a bare "- jwt_auth"', 'jwt_auth', qr/expected a map with a key source/, <<'YAML'],
          - jwt_auth   # <- error
YAML
);


my @checks = config_errors_ok($head, qr/listeners\[0\]\.routes\[0\]\.filters\[0\]\.jwt_auth/,
    \@bad, vars => \%vars);
unlike(join('', map { $_->{err} } @checks), qr/hunter2/, 'no secret in any message');

# Every independent error of one entry is reported.
my $c = PxTest::Pyxis->check(vars => \%vars, yaml => $head . <<'YAML');
          - jwt_auth:
              public_key_file: "%%RSA%%"
              leeway: 1500ms
              realm: 'a"b'
              forward_claims: { sub: "X User" }
YAML
is(scalar(() = $c->{err} =~ /^\Q$c->{file}\E:\d+:\d+: /mg), 3, 'three errors, three lines')
    or diag $c->{err};

# ---- reloads: a new key, then a JWKS URL, then back ----------------------------------------
$j->key('rsa2', 'rsa');
my $set = $j->jwks(['rsa2', kid => 'k2']);
my $jwks = PxTest::Backend->start(sub {
    my ($cn) = @_;
    $cn->respond(200, [], $set) while $cn->read_request;
});
my $route = <<'YAML';
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - respond: { body: "in\n" }
        filters: [ { jwt_auth: { KEY } } ]
YAML
my %v = (%vars, RSA2 => $j->pub('rsa2'), J => $jwks->port);
my $px = PxTest::Pyxis->start(vars => \%v, yaml => $route =~ s/KEY/public_key_file: "%%RSA%%"/r);
my $port = $px->port('front');
my $t1 = $j->token(alg => 'RS256', key => 'rsa');
my $t2 = $j->token(alg => 'RS256', key => 'rsa2', kid => 'k2');
my $st = sub { http_req($port, headers => [Authorization => "Bearer $_[0]"])->{status} };
is($st->($t1), 200, 'generation 1: the first key');
is($st->($t2), 401, 'generation 1: the second key is refused');
like($px->reload(vars => \%v, yaml => $route =~ s/KEY/public_key_file: "%%RSA2%%"/r) // '',
    qr/generation 2 active/, 'reload to the second key');
is($st->($t2), 200, 'generation 2: the second key');
is($st->($t1), 401, 'generation 2: the first key is refused');
like($px->reload(vars => \%v, yaml => $route =~ s{KEY}{jwks_url: "http://127.0.0.1:%%J%%/"}r)
        // '', qr/generation 3 active/, 'reload to a JWKS URL');
is($st->($t2), 200, 'generation 3: the JWKS key');
like($px->reload(vars => \%v, yaml => $route =~ s/KEY/secret: 0123456789abcdef0123456789abcdef/r)
        // '', qr/generation 4 active/, 'reload to a secret');
is($st->($t2), 401, 'generation 4: the JWKS key is refused');
is($px->stop, 0, 'pyxis exits cleanly');
done_testing;
