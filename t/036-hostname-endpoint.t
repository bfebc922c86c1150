# 036-hostname-endpoint: endpoints and listeners may name a host; it is resolved when the
# configuration loads (the first address getaddrinfo gives), and a name that does not resolve
# refuses the configuration with its place in the file.
use strict;
use warnings;
use Test::More;
use Socket qw(getaddrinfo getnameinfo AF_INET NI_NUMERICHOST SOCK_STREAM);
use PxTest;

my ($err, @ai) = getaddrinfo('localhost', '80', { socktype => SOCK_STREAM });
my ($nerr, $first) = $err ? ('x') : getnameinfo($ai[0]{addr}, NI_NUMERICHOST);
plan skip_all => 'localhost does not resolve to 127.0.0.1 first here'
    if $err || $nerr || $first ne '127.0.0.1';

my $be = PxTest::Backend->echo(name => 'named');
my $px = PxTest::Pyxis->start(vars => { BACKEND_be => $be->port }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: localhost:%%PORT_front%%
    routes:
      - upstream: be
upstreams:
  be: { endpoints: [ "localhost:%%BACKEND_be%%" ] }
YAML

my $r = http_req($px->port('front'), path => '/named', host => 'app.example');
is($r->{status}, 200, 'a listener and an endpoint given as localhost:PORT work');
is($r->{h}{'x-backend'}, 'named', '... and the request reaches the named endpoint');
is(parse_echo($r->{body})->{h}{host}, 'app.example', '... with the client\'s Host passed through');

my $bad = PxTest::Pyxis->check(yaml => <<'YAML');
listeners:
  - listen: 127.0.0.1:1
    routes: [ { upstream: be } ]
upstreams:
  be: { endpoints: [ "no-such-host.invalid:80" ] }
YAML
isnt($bad->{exit}, 0, 'an endpoint name that does not resolve refuses the configuration');
like($bad->{err}, qr/:5:\d+: .*cannot resolve "no-such-host\.invalid"/,
    '... naming the line and the host');

done_testing;
