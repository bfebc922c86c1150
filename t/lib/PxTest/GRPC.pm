package PxTest::GRPC;
# Real gRPC peers for the tests (python3-grpcio, Debian's): t/lib/grpc-server.py as a server
# process and t/lib/grpc-tool.py as a client. python() is a python3 that has grpc and h2 (the
# Debian packages'), undef when none has: skip then.
use strict;
use warnings;
use File::Basename qw(dirname);
use PxTest;

my $lib = dirname(__FILE__) . '/..';
my ($py, @servers);

sub python {
    ($py) = grep { system("$_ -c 'import grpc, h2' 2>/dev/null") == 0 } '/usr/bin/python3'
        unless defined $py;
    return $py;
}

# server(), or server($cert, $key) for TLS: a grpc-server.py process (its methods are listed at
# the top of that file), killed when the test ends; returns its port.
sub server {
    my (@tls) = @_;
    my $pf = PxTest::subdir('grpc') . '/port';
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        exec python(), "$lib/grpc-server.py", $pf, @tls;
        die "exec: $!";
    }
    push @servers, $pid;
    PxTest::wait_until(sub { -s $pf }) or die 'grpc-server.py did not start';
    open my $f, '<', $pf or die "$pf: $!";
    chomp(my $port = <$f>);
    return $port;
}
END { kill 'KILL', @servers if @servers }

# call($kind, $port, $method, @options): grpc-tool.py's output line (see that file).
sub call {
    my ($kind, $port, $method, @opt) = @_;
    my $r = PxTest::run_cmd([python(), "$lib/grpc-tool.py", $kind, "127.0.0.1:$port", $method,
        @opt], timeout => 30);
    return $r->{out};
}

1;
