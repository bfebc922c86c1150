# 128-auth-combined: the auth filters on one route, with Lua before and after, run in the
# written order and each must pass: a refusal stops the chain there (the later filters and the
# upstream see nothing); the fields one filter forwards reach the next (ext_authz gets what
# basic_auth, api_key and jwt_auth set); var.auth_user / var.auth_method are the last
# authenticating filter's, and Lua reads them.
use strict;
use warnings;
use Test::More;
use MIME::Base64 qw(encode_base64);
use PxTest;
use PxTest::JWT;

my $tmp = PxTest::testdir();
my $r = PxTest::run_cmd(['openssl', 'passwd', '-6', 'pw-alice']);
chomp(my $hash = $r->{out});
write_file("$tmp/users.htpasswd", "alice:$hash\n");
my $secret = 'k' x 32;
my $jwt = PxTest::JWT->new;
my $token = $jwt->token(alg => 'HS256', secret => $secret,
    claims => { sub => 'svc-42', exp => time + 600 });
my $forged = $jwt->token(alg => 'HS256', secret => 'x' x 32,
    claims => { sub => 'svc-42', exp => time + 600 });

my $app = PxTest::Backend->echo(name => 'app');
my $authz = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $q = $c->read_request) {
        my $h = $q->{h};
        $c->note(join ' ', 'check', map { "$_=" . ($h->{$_} // '-') }
            qw(x-basic-user x-consumer x-jwt-sub x-step));
        if (($h->{'x-jwt-sub'} // '') eq 'svc-42') {
            $c->respond(200, ['X-User' => 'policy-user'], '');
        } else {
            $c->respond(403, [], "no\n");
        }
    }
});

my $px = PxTest::Pyxis->start(
    vars => { APP => $app->port, AUTHZ => $authz->port, TMP => $tmp, SECRET => $secret },
    yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /all/ }
        upstream: app
        filters:
          - lua:
              code: |
                return { on_request = function(txn)
                  txn.req.headers["x-step"] = "lua-first"
                end }
          - basic_auth: { file: "%%TMP%%/users.htpasswd", forward_user: x-basic-user }
          - lua:
              code: |
                return { on_request = function(txn)
                  txn.req.headers["x-after-basic"] = txn:var("var.auth_user") .. "/"
                    .. txn:var("var.auth_method")
                end }
          - api_key: { keys: { billing: key-billing-0123456789 }, forward_consumer: x-consumer }
          - jwt_auth: { secret: "%%SECRET%%", header: x-token, forward_claims: { sub: x-jwt-sub } }
          - ext_authz:
              url: http://127.0.0.1:%%AUTHZ%%
              path: /check
              forward_headers: [x-basic-user, x-consumer, x-jwt-sub, x-step]
              upstream_headers: [x-user]
              user_header: x-user
          - lua:
              code: |
                return { on_request = function(txn)
                  txn.req.headers["x-last"] = txn:var("var.auth_user") .. "/"
                    .. txn:var("var.auth_method")
                end }
upstreams:
  app: { endpoints: [ "127.0.0.1:%%APP%%" ] }
YAML
my $port = $px->port('front');

my @basic = ('Authorization' => 'Basic ' . encode_base64('alice:pw-alice', ''));
my @key = ('X-API-Key' => 'key-billing-0123456789');
my @tok = ('X-Token' => $token);

# Every filter passes: each one's fields reach the ones after it and the upstream.
$r = http_req($port, path => '/all/x', headers => [@basic, @key, @tok]);
is($r->{status}, 200, 'basic_auth, api_key, jwt_auth and ext_authz all pass') or diag $px->log;
my $e = parse_echo($r->{body});
ok($authz->wait_note(qr/^check x-basic-user=alice x-consumer=billing x-jwt-sub=svc-42 x-step=lua-first$/),
    'ext_authz got the fields the filters before it set, in the written order');
is($e->{h}{'x-after-basic'}, 'alice/basic', 'Lua after basic_auth sees its user');
is($e->{h}{'x-last'}, 'policy-user/ext_authz',
    'Lua at the end sees the last authenticating filter\'s identity');
is($e->{h}{'x-user'}, 'policy-user', 'the service\'s X-User reaches the upstream');
ok(!exists $e->{h}{authorization} && !exists $e->{h}{'x-api-key'} && !exists $e->{h}{'x-token'},
    'no credential reaches the upstream');

# A refusal stops the chain where it happens.
my @cases = (
    ['no Basic credentials', [@key, @tok], 401, qr/^Basic /],
    ['no API key', [@basic, @tok], 401, undef],
    ['a wrong API key', [@basic, 'X-API-Key' => 'nope', @tok], 403, undef],
    ['a token signed with another secret', [@basic, @key, 'X-Token' => $forged], 401,
        qr/^Bearer .*invalid_token/],
);
my $checks = () = $authz->requests;
my $seen = () = $app->requests;
for my $c (@cases) {
    my ($what, $h, $status, $challenge) = @$c;
    $r = http_req($port, path => '/all/x', headers => $h);
    is($r->{status}, $status, "$what -> $status");
    like($r->{h}{'www-authenticate'} // '', $challenge, '... with its challenge') if $challenge;
}
is(scalar(() = $authz->requests), $checks, 'ext_authz was never asked: the chain stopped before it');
is(scalar(() = $app->requests), $seen, 'nothing reached the upstream');

# The last filter refuses too: 403 from the service, after the others passed.
my $other = $jwt->token(alg => 'HS256', secret => $secret,
    claims => { sub => 'svc-7', exp => time + 600 });
$r = http_req($port, path => '/all/x', headers => [@basic, @key, 'X-Token' => $other]);
is($r->{status}, 403, 'the authorization service refusing -> its 403');
ok($authz->wait_note(qr/x-jwt-sub=svc-7 /), '... after it was asked with the token\'s subject');
is(scalar(() = $app->requests), $seen, '... and the upstream saw nothing');

unlike($px->log, qr/\Q$token\E|pw-alice|key-billing-0123456789|cHctYWxpY2U/,
    'no credential in the error log');
is($px->stop, 0, 'pyxis exits cleanly');
done_testing;
