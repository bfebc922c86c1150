package PxTest::DNS;

=head1 NAME

PxTest::DNS - a real DNS server (dnsmasq) on loopback for discovery tests

=head1 SYNOPSIS

    plan skip_all => PxTest::DNS->missing if PxTest::DNS->missing;
    my $dns = PxTest::DNS->start(
        hosts => { 'api.px.test' => ['127.0.0.2', '127.0.0.3'] },
        srv   => [['_http._tcp.svc.px.test', 't1.px.test', 8080, 10, 5]],  # target, port, prio, weight
    );
    $dns->port;                                        # resolvers: { servers: ["127.0.0.1:PORT"] }
    $dns->set(hosts => { 'api.px.test' => ['127.0.0.3'] });   # SIGHUP: hosts re-read at once
    $dns->set(srv => [...]);                           # SRV changed: restarted on the same port

=head1 DESCRIPTION

C<start> runs C<dnsmasq> in the foreground on 127.0.0.1 at a free port (UDP and TCP), with no
upstream servers, no /etc/hosts, TTL 1 s for every answer, and authority over the domain
C<px.test> (C<domain>): a name in it that has no record gets NXDOMAIN. It returns once the
server answers a query. A records come from a hosts file (C<hosts>: name => [addresses]); SRV
records from the command line (C<srv>: [name, target, port, priority, weight]).

C<set> replaces the records: when only C<hosts> changes, the file is rewritten and dnsmasq gets
SIGHUP (it re-reads the file and clears its cache) and C<set> returns once the log says the
file was read; when C<srv> changes, dnsmasq is restarted on the same port. C<missing> returns
why the tests cannot run (no dnsmasq), or undef. C<log> is dnsmasq's output so far. The server
is stopped at the end of the test (or with C<stop>).

=cut

use strict;
use warnings;
use IO::Select;
use IO::Socket::IP;
use POSIX ();
use Time::HiRes ();

my %running;    # pid => 1, for the END cleanup

sub _bin {
    for my $d (split(/:/, $ENV{PATH} // ''), '/usr/sbin', '/sbin') {
        return "$d/dnsmasq" if -x "$d/dnsmasq";
    }
    return undef;
}

sub missing {
    return _bin() ? undef : 'dnsmasq is not installed (Debian package dnsmasq-base)';
}

sub start {
    my ($class, %o) = @_;
    my $self = bless { dir => PxTest::subdir('dns'), port => PxTest::free_port(),
        domain => $o{domain} // 'px.test', hosts => $o{hosts} // {}, srv => $o{srv} // [],
        owner => $$ }, $class;
    $self->_write_hosts;
    $self->_run;
    return $self;
}

sub port { $_[0]{port} }

sub log {
    my ($self) = @_;
    open my $f, '<', "$self->{dir}/dnsmasq.log" or return '';
    local $/;
    return <$f>;
}

sub _write_hosts {
    my ($self) = @_;
    my $text = '';
    for my $name (sort keys %{$self->{hosts}}) {
        $text .= "$_ $name\n" for @{$self->{hosts}{$name}};
    }
    PxTest::write_file("$self->{dir}/hosts", $text);
}

sub _reads { my @n = $_[0]->log =~ /^dnsmasq: read \S+\/hosts/mg; return scalar @n }

sub _run {
    my ($self) = @_;
    my @cmd = (_bin(), '--no-daemon', '--conf-file=/dev/null', "--port=$self->{port}",
        '--listen-address=127.0.0.1', '--bind-interfaces', '--no-resolv', '--no-hosts',
        '--pid-file=', "--addn-hosts=$self->{dir}/hosts", '--local-ttl=1',
        "--local=/$self->{domain}/");
    push @cmd, '--user=root' if $> == 0;    # keep reading the test's private directory
    push @cmd, map { '--srv-host=' . join(',', @$_) } @{$self->{srv}};
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        POSIX::setpgid(0, 0);
        open STDOUT, '>>', "$self->{dir}/dnsmasq.log" or POSIX::_exit(1);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(1);
        exec @cmd or POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    $running{$pid} = 1;
    PxTest::wait_until(sub { $self->_answers }) or die "dnsmasq does not answer:\n" . $self->log;
}

# One query for "ready.<domain>" A; any answer (NXDOMAIN included) means the server is up.
sub _answers {
    my ($self) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $self->{port},
        Proto => 'udp') or return 0;
    my $q = pack('n6', 0x1234, 0x0100, 1, 0, 0, 0)
        . join('', map { chr(length) . $_ } 'ready', split(/\./, $self->{domain})) . "\0"
        . pack('n2', 1, 1);
    $s->send($q) or return 0;
    my $sel = IO::Select->new($s);
    return 0 unless $sel->can_read(0.2);
    my $buf = '';
    $s->recv($buf, 512);
    return length($buf) >= 12 && unpack('n', $buf) == 0x1234;
}

sub set {
    my ($self, %o) = @_;
    my $srv_changed = exists $o{srv};
    $self->{srv} = $o{srv} if $srv_changed;
    $self->{hosts} = $o{hosts} if exists $o{hosts};
    $self->_write_hosts;
    if ($srv_changed) {
        $self->stop;
        $self->_run;
        return;
    }
    my $before = $self->_reads;
    kill 'HUP', $self->{pid};
    PxTest::wait_until(sub { $self->_reads > $before })
        or die "dnsmasq did not re-read its hosts file:\n" . $self->log;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    delete $running{$pid};
    kill 'TERM', $pid;
    waitpid $pid, 0;
}

sub DESTROY {
    my ($self) = @_;
    local $?;
    $self->stop if $$ == $self->{owner};
}

END {
    local $?;
    for my $pid (keys %running) {
        kill 'KILL', $pid;
        waitpid $pid, 0;
    }
}

1;
