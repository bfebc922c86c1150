# 038-balance-policies: each balancing policy's distribution over a few thousand requests
# (within a tolerance), weights, and consistent hashing on a header, a cookie and the client
# address (the same key always lands on the same endpoint, and keys spread over all of them).
use strict;
use warnings;
use Test::More;
use PxTest;

my @be = map { PxTest::Backend->echo(name => "b$_") } 1 .. 3;
my $slow = PxTest::Backend->start(sub {
    my ($c) = @_;
    while ($c->read_request) { $c->sleep(10); $c->respond(200, ['x-backend' => 'slow'], "slow\n") }
});
my %vars = map { ("B$_" => $be[$_ - 1]->port) } 1 .. 3;
$vars{SLOW} = $slow->port;
my $px = PxTest::Pyxis->start(vars => \%vars, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - { match: { path_prefix: /random }, upstream: random }
      - { match: { path_prefix: /weighted }, upstream: weighted }
      - { match: { path_prefix: /least }, upstream: least }
      - { match: { path_prefix: /hdr }, upstream: by_header }
      - { match: { path_prefix: /cookie }, upstream: by_cookie }
      - { match: { path_prefix: /addr }, upstream: by_addr }
upstreams:
  random:
    balance: random
    endpoints: [ "127.0.0.1:%%B1%%", "127.0.0.1:%%B2%%", "127.0.0.1:%%B3%%" ]
  weighted:
    balance: random
    endpoints:
      - { address: "127.0.0.1:%%B1%%", weight: 1 }
      - { address: "127.0.0.1:%%B2%%", weight: 3 }
  least:
    balance: least_request
    endpoints: [ "127.0.0.1:%%SLOW%%", "127.0.0.1:%%B1%%" ]
  by_header:
    balance: hash
    hash_key: header:x-user
    endpoints: [ "127.0.0.1:%%B1%%", "127.0.0.1:%%B2%%", "127.0.0.1:%%B3%%" ]
  by_cookie:
    balance: hash
    hash_key: cookie:sid
    endpoints: [ "127.0.0.1:%%B1%%", "127.0.0.1:%%B2%%", "127.0.0.1:%%B3%%" ]
  by_addr:
    balance: hash
    hash_key: client_address
    endpoints: [ "127.0.0.1:%%B1%%", "127.0.0.1:%%B2%%", "127.0.0.1:%%B3%%" ]
YAML
my $port = $px->port('front');

# Requests on keep-alive connections (a new one every 500: keepalive_requests is 1000);
# counts per backend.
sub spread {
    my ($n, $path, $headers) = @_;
    my $c;
    my %count;
    for my $i (1 .. $n) {
        $c = client($port) if $i % 500 == 1;
        $c->write(build_request(path => $path, headers => $headers // []));
        my $r = $c->read_response;
        $count{$r->{h}{'x-backend'} // 'none'}++;
    }
    return \%count;
}

my $n = 3000;
my $c = spread($n, '/random');
for my $b (qw(b1 b2 b3)) {
    my $share = ($c->{$b} // 0) / $n;
    ok(abs($share - 1 / 3) < 0.05, sprintf('random: %s got %.3f of the requests (1/3 +- 0.05)', $b, $share));
}
$c = spread($n, '/weighted');
ok(abs(($c->{b2} // 0) / $n - 0.75) < 0.05, sprintf('random with weights 1:3: b2 got %.3f (0.75 +- 0.05)', ($c->{b2} // 0) / $n));

# least_request: once a request is in flight on the slow endpoint, the others go to b1 (with
# two endpoints, the two choices are always both). Busy requests are sent one by one until one
# lands on the slow endpoint (one that lands on b1 is answered at once).
my @busy;
for (1 .. 20) {
    my $before = grep { $_->{target} eq '/least/busy' } $be[0]->requests;
    my $bc = client($port);
    $bc->write(build_request(path => '/least/busy'));
    push @busy, $bc;
    wait_until(sub { $slow->requests >= 1 or (grep { $_->{target} eq '/least/busy' } $be[0]->requests) > $before }, timeout => 10);
    last if $slow->requests >= 1;
}
ok(scalar($slow->requests) >= 1, 'a request is in flight on the slow endpoint');
$c = spread(20, '/least');
is($c->{b1} // 0, 20, 'least_request: every request meanwhile avoided the busy endpoint');
# Hashing: the same key, the same endpoint; many keys use every endpoint.
my (%where, %used);
for my $user (map { "user$_" } 1 .. 60) {
    my $first = spread(1, '/hdr', ['X-User' => $user]);
    my $again = spread(3, '/hdr', ['X-User' => $user]);
    my ($b) = keys %$first;
    $where{$user} = $b;
    $used{$b}++;
    is_deeply($again, { $b => 3 }, "hash on header: $user sticks to $b") if $user =~ /user[1-5]\z/;
    ok(0, "hash on header: $user moved") if ($again->{$b} // 0) != 3;
}
is(scalar(keys %used), 3, 'hash on header: 60 keys use all 3 endpoints');
my $ck = spread(5, '/cookie', [Cookie => 'theme=dark; sid=abc123']);
is(scalar(keys %$ck), 1, 'hash on cookie: one endpoint for one sid');
my $ck2 = spread(5, '/cookie', [Cookie => 'sid=abc123']);
is_deeply($ck2, $ck, '... the same one whatever other cookies come with it');
my $ad = spread(10, '/addr');
is(scalar(keys %$ad), 1, 'hash on client address: one endpoint for one client');

my $chk = PxTest::Pyxis->check(yaml => <<'YAML');
listeners:
  - listen: 127.0.0.1:1
    routes: [ { match: { path: / }, upstream: u } ]
upstreams:
  u: { balance: fastest, hash_key: "header:", endpoints: [ "127.0.0.1:2" ] }
YAML
like($chk->{err}, qr/:5:\d+: .*unknown balance "fastest"/, 'unknown balance refused with file:line');
like($chk->{err}, qr/invalid name in hash_key/, 'empty hash_key name refused');

done_testing;
