# 116-lua-examples: each policy of examples/lua/ with its own config (ports and paths filled
# in), against echo backends: tenant header, external authorization, canary routing, rate
# limit, response header rewrite, JSON body validation.
use strict;
use warnings;
use Test::More;
use PxTest;

my $ex = "$ENV{PYXIS_SRCDIR}/examples/lua";
my $app = PxTest::Backend->echo(name => 'app');
my $canary = PxTest::Backend->echo(name => 'canary');
my $authz = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $r = $c->read_request) {
        if (($r->{h}{authorization} // '') eq 'Bearer good') {
            $c->respond(200, ['X-User' => 'alice'], 'ok');
        } else {
            $c->respond(403, [], 'no');
        }
    }
});

# Start pyxis on examples/lua/NAME.yaml with this test's ports.
sub example {
    my ($name, %o) = @_;
    open my $f, '<', "$ex/$name.yaml" or die "$ex/$name.yaml: $!";
    my $yaml = do { local $/; <$f> };
    $yaml =~ s/127\.0\.0\.1:8080/127.0.0.1:%%PORT_front%%/g;
    $yaml =~ s/127\.0\.0\.1:3000/127.0.0.1:%%APP%%/g;
    $yaml =~ s/127\.0\.0\.1:3001/127.0.0.1:%%AUTHZ%%/g;
    $yaml =~ s/127\.0\.0\.1:3002/127.0.0.1:%%CANARY%%/g;
    $yaml =~ s/file: ([\w.-]+\.lua)/file: "$ex\/$1"/g;
    $yaml = "workers: 1\n$yaml";
    my $px = PxTest::Pyxis->start(yaml => $yaml,
        vars => { APP => $o{app} // $app->port, AUTHZ => $authz->port, CANARY => $canary->port });
    return ($px, $px->port('front'));
}

{
    my ($px, $port) = example('tenant');
    my $r = http_req($port, path => '/', headers => ['X-Tenant' => 'acme']);
    is($r->{status}, 200, 'tenant: a known tenant passes');
    is(parse_echo($r->{body})->{h}{'x-tenant-plan'}, 'gold', 'tenant: the upstream gets the plan');
    is($r->{h}{'x-served-for'}, 'acme', 'tenant: the response names the tenant');
    is(http_req($port, path => '/')->{status}, 400, 'tenant: no X-Tenant -> 400');
    is(http_req($port, path => '/', headers => ['X-Tenant' => 'evil'])->{status}, 403,
        'tenant: an unknown tenant -> 403');
    $px->stop;
}
{
    my ($px, $port) = example('authz');
    my $r = http_req($port, path => '/doc', headers => ['Authorization' => 'Bearer good']);
    is($r->{status}, 200, 'authz: the service says yes -> proxied');
    my $h = parse_echo($r->{body})->{h};
    is($h->{'x-user'}, 'alice', 'authz: the upstream gets the user');
    ok(!exists $h->{authorization}, 'authz: ... and not the credentials');
    my ($check) = grep { $_->{target} eq '/check' } $authz->requests;
    is($check && $check->{h}{'x-original-path'}, '/doc', 'authz: the service saw the path');
    is(http_req($port, path => '/', headers => ['Authorization' => 'Bearer bad'])->{status}, 403,
        'authz: the service says no -> 403');
    is(http_req($port, path => '/')->{status}, 401, 'authz: no credentials -> 401');
    $px->stop;
}
{
    my ($px, $port) = example('canary');
    my $r = http_req($port, path => '/', headers => ['X-Canary' => '1']);
    is($r->{h}{'x-backend'}, 'canary', 'canary: X-Canary: 1 goes to the canary');
    is($r->{h}{'x-canary'}, '1', 'canary: ... and says so');
    is(http_req($port, path => '/', headers => ['X-Canary' => '0'])->{h}{'x-backend'}, 'app',
        'canary: X-Canary: 0 stays on stable');
    my %seen;
    for my $u (1 .. 200) {
        my $b = http_req($port, path => '/', headers => ['X-User' => "user$u"])->{h}{'x-backend'};
        $seen{$b}++;
    }
    ok($seen{canary} && $seen{canary} < 60, "canary: ~10% of users go to the canary ($seen{canary}/200)");
    my $first = http_req($port, path => '/', headers => ['X-User' => 'user7'])->{h}{'x-backend'};
    is(http_req($port, path => '/', headers => ['X-User' => 'user7'])->{h}{'x-backend'}, $first,
        'canary: the same user always lands on the same side');
    $px->stop;
}
{
    my ($px, $port) = example('ratelimit');
    my @st = map { http_req($port, path => '/', headers => ['X-Api-Key' => 'k1'])->{status} } 1 .. 4;
    is("@st", '200 200 200 429', 'ratelimit: the 4th request in the window -> 429');
    my $r = http_req($port, path => '/', headers => ['X-Api-Key' => 'k1']);
    ok($r->{h}{'retry-after'} > 0, 'ratelimit: with Retry-After');
    $r = http_req($port, path => '/', headers => ['X-Api-Key' => 'k2']);
    is($r->{status}, 200, 'ratelimit: another key has its own budget');
    is($r->{h}{'x-ratelimit-remaining'}, '2', 'ratelimit: X-RateLimit-Remaining');
    $px->stop;
}
{
    my $be = PxTest::Backend->start(sub {
        my ($c) = @_;
        while (my $r = $c->read_request) {
            $c->respond(302, ['Server' => 'legacy/1.0', 'X-Powered-By' => 'PHP',
                'Location' => 'http://10.0.0.7:8080/next'], '');
        }
    });
    my ($px, $port) = example('response-headers', app => $be->port);
    my $r = http_req($port, path => '/');
    ok(!exists $r->{h}{server} && !exists $r->{h}{'x-powered-by'},
        'response-headers: Server and X-Powered-By removed');
    is($r->{h}{'x-content-type-options'}, 'nosniff', 'response-headers: security headers added');
    is($r->{h}{location}, 'http://www.example.com/next', 'response-headers: Location rewritten');
    $px->stop;
}
{
    my ($px, $port) = example('json-validate');
    my @ct = ('Content-Type' => 'application/json');
    my $r = http_req($port, method => 'POST', path => '/', headers => \@ct,
        body => '{"name":"a","email":"b@c"}');
    is($r->{status}, 200, 'json-validate: a valid body passes');
    $r = http_req($port, method => 'POST', path => '/', headers => \@ct, body => '{"name":"a"}');
    is($r->{status}, 400, 'json-validate: a missing field -> 400');
    like($r->{body}, qr/missing field: email/, 'json-validate: ... saying which');
    is(http_req($port, method => 'POST', path => '/', headers => \@ct, body => '[1')->{status},
        400, 'json-validate: not JSON -> 400');
    $px->stop;
}

done_testing;
