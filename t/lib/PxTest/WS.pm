package PxTest::WS;

# WebSocket peers for the tests: t/lib/ws-tool.py (python3-websockets) as an echo server and
# as scripted clients. PxTest::WS::python() is the python3 that has the module (the Debian
# package's; a python3 earlier on PATH, e.g. pyenv's, may lack it), undef when none has.

use strict;
use warnings;
use File::Basename qw(dirname);
use POSIX ();
use PxTest ();

my $tool = dirname(__FILE__) . '/../ws-tool.py';
my @servers;
my $py;

END { kill 'TERM', @servers if @servers }

sub python {
    ($py) = grep { system("$_ -c 'import websockets' 2>/dev/null") == 0 } '/usr/bin/python3',
        'python3'
        unless defined $py;
    return $py;
}

# An echo server on a free port of 127.0.0.1 (over TLS with cert => ..., key => ...);
# returns (port, notes file).
sub server {
    my (%o) = @_;
    my $d = PxTest::subdir('ws');
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDERR, '>>', "$d/stderr.log";
        { exec python(), $tool, 'serve', "$d/port", "$d/notes", $o{cert} ? ($o{cert}, $o{key}) : () }
        POSIX::_exit(127);
    }
    push @servers, $pid;
    PxTest::wait_until(sub { -s "$d/port" }) or die "ws server did not start";
    open my $f, '<', "$d/port" or die "$d/port: $!";
    chomp(my $port = <$f>);
    return ($port, "$d/notes");
}

# Run a client scenario (see ws-tool.py); returns what it printed.
sub client {
    my ($url, @args) = @_;
    my $out = PxTest::run_cmd([python(), $tool, 'client', $url, @args], timeout => 60);
    return $out->{out} . $out->{err};
}

1;
