package PxTest::Pyxis;

=head1 NAME

PxTest::Pyxis - run a pyxis process for one test

=head1 SYNOPSIS

    my $px = PxTest::Pyxis->start(yaml => $yaml, vars => { BACKEND_a => $be->port });
    my $port = $px->port('front');          # the port given to %%PORT_front%%
    like($px->log, qr/started/);
    $px->wait_log(qr/generation 2 active/, 5);
    is($px->stop, 0, 'exits 0 on SIGTERM');

=head1 CONFIG TEMPLATES

The YAML may hold C<%%NAME%%> placeholders, filled from C<vars> (C<< vars => { BACKEND_a =>
$be->port } >>). Every C<%%PORT_xxx%%> not given in C<vars> or C<< ports => { xxx => N } >>
gets a fresh free port, which C<< $px->port('xxx') >> returns. C<%%DIR%%> is the instance's
temporary directory. An unknown placeholder is an error.

=head1 METHODS

=over

=item start(yaml => ..., vars => {}, ports => {}, args => [], expect_fail => 0, timeout => 10)

Writes the config to DIR/pyxis.yaml, runs C<$PYXIS_BIN @args -c DIR/pyxis.yaml> with stdout to
DIR/stdout.log and stderr (the error log) to DIR/error.log, then waits until every
C<listen: ADDR:PORT> in the config accepts TCP connections. Dies with the log when pyxis exits
or the wait times out. With C<< expect_fail => 1 >> it instead waits for pyxis to exit and
returns; C<exit_status> then holds its status.

=item check(yaml => ..., vars => {}) (class method)

Writes the config like C<start> and runs C<pyxis -t -c FILE>. Returns
C<{ exit, out, err, file }>.

=item port(NAME), url(NAME, PATH), pid, dir, config_file

=item log

The error log (stderr) so far.

=item wait_log(qr/.../, $timeout)

Polls the log until the pattern matches text written after the previous C<wait_log> match (or
C<mark_log>); returns the matched text (in list context: the captures), or undef on timeout.

=item mark_log

Makes the next C<wait_log> look only at text written from now on.

=item reload(yaml => ..., vars => {})

Rewrites the config file (atomically) with the new template (ports already chosen keep their
values), sends SIGHUP, and waits for C<generation N active> or C<reload failed>; returns that
log line (undef on timeout).

=item signal(NAME)

Sends a signal (C<'HUP'>, C<'USR1'>, ...).

=item stop

SIGTERM, then waits (bounded; 10 s, 30 s under PYXIS_ASAN) for the exit and returns the exit
status (128 + N when killed by signal N). If pyxis does not exit in time it is killed with
SIGKILL and a failing test is recorded. Under PYXIS_ASAN it also runs C<sanitizer_clean>.
Calling C<stop> again returns the same status. Instances still running when the test ends are
stopped then; a sanitizer report found at that point makes the test file fail.

=item sanitizer_clean

A test assertion: the log holds no AddressSanitizer/LeakSanitizer/UBSan report.

=item exit_status

The exit status once pyxis has exited (undef while it runs).

=item wait_exit($timeout)

Waits (bounded; default as for C<start>) for pyxis to exit on its own, without signalling it;
returns the exit status, or undef if it is still running. For tests of how pyxis stops (after
C<< signal('TERM') >>); C<stop> afterwards only returns the status (and runs the sanitizer check
under PYXIS_ASAN).

=back

=cut

use strict;
use warnings;
use IO::Socket::IP;
use POSIX ();
use Scalar::Util qw(weaken);
use Test::More ();
use Time::HiRes ();

my %live;    # pid => weak ref to each running instance

sub _fill_template {
    my ($self, $yaml) = @_;
    my $vars = $self->{vars};
    $yaml =~ s{%%(\w+)%%}{
        my $k = $1;
        if (defined $vars->{$k}) { $vars->{$k} }
        elsif ($k =~ /\APORT_(\w+)\z/) {
            $self->{ports}{$1} //= PxTest::free_port();
            $vars->{$k} = $self->{ports}{$1};
        }
        elsif ($k eq 'DIR') { $self->{dir} }
        else { die "config template: no value for %%$k%%\n" }
    }ge;
    return $yaml;
}

sub _new {
    my ($class, %o) = @_;
    my $self = bless {
        dir => PxTest::subdir('pyxis'),
        vars => { %{$o{vars} // {}} },
        ports => { %{$o{ports} // {}} },
        args => $o{args} // [],
        timeout => $o{timeout} // ($ENV{PYXIS_ASAN} ? 30 : $PxTest::DEFAULT_TIMEOUT),
        log_pos => 0,
        owner => $$,
    }, $class;
    $self->{vars}{"PORT_$_"} //= $self->{ports}{$_} for keys %{$self->{ports}};
    $self->{conf} = "$self->{dir}/pyxis.yaml";
    $self->{log_file} = "$self->{dir}/error.log";
    $self->_write_config($o{yaml} // die "start: yaml => ... is required\n");
    return $self;
}

sub _write_config {
    my ($self, $template) = @_;
    $self->{yaml} = $self->_fill_template($template);
    PxTest::write_file($self->{conf}, $self->{yaml});
}

sub check {
    my ($class, %o) = @_;
    my $self = $class->_new(%o);
    my $r = PxTest::pyxis_run('-t', '-c', $self->{conf});
    $r->{file} = $self->{conf};
    $r->{yaml} = $self->{yaml};
    return $r;
}

sub start {
    my ($class, %o) = @_;
    my $self = $class->_new(%o);
    my $bin = PxTest::pyxis_bin();
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{dir}/stdout.log";
        open STDERR, '>>', $self->{log_file};
        $SIG{$_} = 'DEFAULT' for qw(PIPE ALRM);
        { exec $bin, @{$self->{args}}, "-c", $self->{conf} }
        print STDERR "exec $bin: $!\n";
        POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    $live{$pid} = $self;
    weaken($live{$pid});
    if ($o{expect_fail}) {
        $self->_wait_exit($self->{timeout});
        if (!defined $self->{exit_status}) {
            kill 'KILL', $pid;
            $self->_wait_exit(5);
        }
        return $self;
    }
    $self->_wait_ready;
    return $self;
}

# The addresses of every "listen: ADDR:PORT" in the current config, as [host, port] pairs.
sub _listen_addrs {
    my ($self) = @_;
    my @a;
    while ($self->{yaml} =~ /\blisten:\s*["']?(\[[^\]]+\]|[^\s"',}\[]+?):(\d+)\b/g) {
        my ($host, $port) = ($1, $2);
        $host =~ s/\A\[(.*)\]\z/$1/;
        $host = '127.0.0.1' if $host eq '0.0.0.0' || $host eq '*' || $host eq '';
        $host = '::1' if $host eq '::';
        push @a, [$host, $port];
    }
    return @a;
}

sub _wait_ready {
    my ($self) = @_;
    my $deadline = Time::HiRes::time() + $self->{timeout};
    for my $a ($self->_listen_addrs) {
        my $pause = 0.005;
        while (1) {
            $self->_wait_exit(0);
            if (defined $self->{exit_status}) {
                die "pyxis exited (status $self->{exit_status}) before listening on "
                    . "$a->[0]:$a->[1]; log:\n" . $self->log;
            }
            my $s = IO::Socket::IP->new(PeerHost => $a->[0], PeerPort => $a->[1],
                Proto => 'tcp', Timeout => 1);
            if ($s) { close $s; last }
            if (Time::HiRes::time() > $deadline) {
                die "pyxis did not listen on $a->[0]:$a->[1] within $self->{timeout}s; log:\n"
                    . $self->log;
            }
            Time::HiRes::sleep($pause);
            $pause = 0.1 if ($pause *= 2) > 0.1;
        }
    }
}

sub _wait_exit {
    my ($self, $timeout) = @_;
    return $self->{exit_status} if defined $self->{exit_status};
    my $got = PxTest::wait_until(sub { waitpid($self->{pid}, POSIX::WNOHANG()) == $self->{pid} },
        timeout => $timeout);
    if ($got) {
        $self->{exit_status} = PxTest::_exit_code($?);
        delete $live{$self->{pid}};
    }
    return $self->{exit_status};
}

sub wait_exit {
    my ($self, $timeout) = @_;
    return $self->_wait_exit($timeout // $self->{timeout});
}

sub port {
    my ($self, $name) = @_;
    die "no port named '$name'\n" unless defined $self->{ports}{$name};
    return $self->{ports}{$name};
}

sub url {
    my ($self, $name, $path) = @_;
    return "http://127.0.0.1:" . $self->port($name) . ($path // '/');
}

sub pid { $_[0]{pid} }
sub dir { $_[0]{dir} }
sub config_file { $_[0]{conf} }
sub exit_status { $_[0]{exit_status} }

sub log {
    my ($self) = @_;
    open my $f, '<', $self->{log_file} or return '';
    local $/;
    return scalar(<$f>) // '';
}

sub mark_log {
    my ($self) = @_;
    $self->{log_pos} = -s $self->{log_file} // 0;
}

sub wait_log {
    my ($self, $re, $timeout) = @_;
    my @caps;
    my $matched = PxTest::wait_until(sub {
        my $text = substr($self->log, $self->{log_pos});
        return 0 unless $text =~ $re;
        my $m = substr($text, $-[0], $+[0] - $-[0]);
        @caps = map { substr($text, $-[$_], $+[$_] - $-[$_]) if defined $-[$_] } 1 .. $#-;
        $self->{log_pos} += $+[0];
        return [$m];
    }, timeout => $timeout // $self->{timeout});
    return unless $matched;
    return wantarray ? (@caps ? @caps : $matched->[0]) : $matched->[0];
}

sub reload {
    my ($self, %o) = @_;
    $self->{vars}{$_} = $o{vars}{$_} for keys %{$o{vars} // {}};
    $self->mark_log;
    $self->_write_config($o{yaml} // die "reload: yaml => ... is required\n");
    $self->signal('HUP');
    my $line = $self->wait_log(qr/^.*(?:reload: generation \d+ active|reload failed).*$/m,
        $o{timeout});
    $self->_wait_ready if defined $line && $line =~ /active/;
    return $line;
}

sub signal {
    my ($self, $sig) = @_;
    return kill $sig, $self->{pid};
}

sub stop {
    my ($self) = @_;
    return $self->{exit_status} if $self->{stopped}++;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    $self->_terminate(sub { Test::More::fail($_[0]) });
    $self->sanitizer_clean if $ENV{PYXIS_ASAN};
    return $self->{exit_status};
}

# SIGTERM, a bounded wait, then SIGKILL; $complain->(message) reports a hang.
sub _terminate {
    my ($self, $complain) = @_;
    return if defined $self->{exit_status};
    kill 'TERM', $self->{pid};
    return if defined $self->_wait_exit($self->{timeout});
    $complain->("pyxis (pid $self->{pid}) did not exit within $self->{timeout}s of SIGTERM");
    kill 'KILL', $self->{pid};
    $self->_wait_exit(5);
}

sub _sanitizer_report {
    my ($self) = @_;
    my $log = $self->log;
    return $log =~ /ERROR: (?:Address|Leak|Thread|Memory)Sanitizer|runtime error:/ ? $log : '';
}

sub sanitizer_clean {
    my ($self) = @_;
    my $report = $self->_sanitizer_report;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::ok(!$report, 'pyxis: no sanitizer report in the log')
        or Test::More::diag($report);
    return !$report;
}

my $dirty;    # a sanitizer report was found by DESTROY: the END block fails the file

sub DESTROY {
    my ($self) = @_;
    return unless $self->{pid} && $$ == $self->{owner};
    $dirty = 1 unless $self->_end_stop;
}

# Stop without adding assertions (the test plan may be complete already).
sub _end_stop {
    my ($self) = @_;
    return $self->{end_clean} if defined $self->{end_clean};
    $self->{end_clean} = 1;
    $self->_terminate(sub { Test::More::diag("$_[0]; killed") });
    if ($ENV{PYXIS_ASAN} && !$self->{stopped} && (my $report = $self->_sanitizer_report)) {
        Test::More::diag("pyxis sanitizer report:\n$report");
        $self->{end_clean} = 0;
    }
    return $self->{end_clean};
}

# File-scoped objects are destroyed before END blocks run; the ones still alive here (held in
# globals, for instance) are stopped now. Either way a sanitizer report fails the file.
END {
    my $rc = $?;
    $rc ||= 1 if $dirty;
    for my $pid (keys %live) {
        my $px = $live{$pid} or next;
        next unless $px->{owner} == $$;
        $rc ||= 1 unless $px->_end_stop;
    }
    PxTest::Backend::_stop_all();
    $? = $rc;
}

1;
