# 041-connect-timeout: an upstream that never completes the TCP handshake gets a 504 after
# connect_timeout, and the exchange is logged with the endpoint.
#
# The never-answering upstream is a listening socket with a backlog of 0 whose one accept slot
# is taken and never accepted: Linux then drops further SYNs, so a connect to it hangs.
use strict;
use warnings;
use Test::More;
use Socket;
use IO::Socket::IP;
use Time::HiRes qw(time);
use PxTest;

socket(my $listener, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
bind($listener, pack_sockaddr_in(0, inet_aton('127.0.0.1'))) or die "bind: $!";
listen($listener, 0) or die "listen: $!";
my $port = (unpack_sockaddr_in(getsockname($listener)))[0];
my @fill = map {
    IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port, Blocking => 0)
} 1 .. 3;

# Make sure the trick works here before relying on it.
my $probe = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port, Timeout => 0.5);
plan skip_all => 'this kernel completes connects to a full listen queue' if $probe;

my $px = PxTest::Pyxis->start(vars => { BLACKHOLE => $port }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - upstream: blackhole
upstreams:
  blackhole:
    endpoints: [ "127.0.0.1:%%BLACKHOLE%%" ]
    connect_timeout: 300ms
YAML

my $r = http_req($px->port('front'), path => '/x', timeout => 5);
is($r->{status}, 504, 'an upstream that never accepts the connection -> 504');
ok($r->{elapsed} >= 0.29, sprintf('... not before connect_timeout (took %.2fs)', $r->{elapsed}));
ok(length($r->{body} // ''), '... with a body');
ok($px->wait_log(qr/504 Gateway Timeout: upstream connect timeout \(endpoint 127\.0\.0\.1:$port\)/),
    '... and one error-log line naming the cause and the endpoint');

done_testing;
