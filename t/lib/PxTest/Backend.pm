package PxTest::Backend;

=head1 NAME

PxTest::Backend - scriptable upstream servers for pyxis tests

=head1 SYNOPSIS

    # A backend whose behaviour is the subject of the test:
    my $be = PxTest::Backend->start(sub {
        my ($c) = @_;                        # one accepted connection, in its own process
        my $req = $c->read_request or return;
        $c->write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        $c->close;                           # truncated: 10 of 100 bytes
    });

    # A keep-alive backend that answers with a description of what it received:
    my $echo = PxTest::Backend->echo(name => 'a');

    $be->port;                               # for vars => { BACKEND_x => $be->port }
    my @seen = $be->requests;                # every complete request it has read so far
    $be->stop;

=head1 THE BACKEND

C<start($handler, port => 0, host => '127.0.0.1')> listens on HOST (127.0.0.1 unless given,
e.g. C<< host => '::1' >>) at PORT (a free port unless given) and forks a
server process; the server forks one child per accepted connection and calls
C<< $handler->($c) >> there, so a handler that sleeps or hangs blocks nobody else. When the
handler returns the connection is closed. A handler that dies has its message printed to
stderr. Connection children are bounded by an alarm (PXTEST_BACKEND_TIMEOUT, 120 s).

Methods of the backend object:

=over

=item port

=item requests(all => 0)

Every request read by C<read_request> in any connection, in the order they completed, as
hashrefs (see C<read_request>) with C<conn> (the connection number, from 1) and C<seq> (the
request's position on its connection, from 1). With C<< all => 1 >>, requests that ended early
(the peer closed mid-head or mid-body) are included, marked C<< complete => 0 >>.

=item wait_requests($n, $timeout)

Waits until at least C<$n> complete requests were recorded; returns them (undef on timeout).

=item connections

How many connections the backend has accepted so far.

=item notes / wait_note(qr/.../, $timeout)

Lines that handlers wrote with C<< $c->note($text) >>, in order; C<wait_note> waits until one
matches and returns it (undef on timeout). A readiness check for things only the handler sees,
such as "I have closed the connection".

=item stop

Kills the server and all its connection processes.

=back

=head1 THE CONNECTION ($c)

=over

=item read_request(timeout => 10)

Reads one request and returns C<{ method, target, version, headers => [[name, value], ...],
h => { lc name => values joined with ", " }, body, chunked, trailers => [[name, value], ...],
raw, seq, conn }>: C<body> is de-chunked for chunked requests and Content-Length-delimited
otherwise (no body when neither is present); C<raw> is the bytes as received (head and body).
Returns undef at EOF or after the timeout, recording a partial request if some bytes came.

=item read_head(timeout => 10) / read_body($r, $sink, timeout => 10)

For bodies too large to hold in memory: C<read_head> reads one request head and returns it like
C<read_request> (with C<chunked> set, C<body> empty) but leaves the body unread; C<read_body>
then passes the body (Content-Length or de-chunked) to C<< $sink->($bytes) >> piece by piece and
returns its length, or undef if the connection ended or went idle for C<timeout> first. These
requests are not recorded in C<requests>.

=item write($bytes), respond($status, $headers, $body)

C<respond> writes a status line, the headers (a flat list, a list of pairs, or a hashref) and
the body; it adds Content-Length unless the headers hold Content-Length or Transfer-Encoding
or the status is 1xx, 204 or 304 (with Transfer-Encoding the body is written as given: frame
it yourself).

=item close, reset, shutdown_write, sleep($seconds), drain_to_eof($timeout), note($text)

C<reset> closes with SO_LINGER {1, 0} so the peer gets a RST. C<drain_to_eof> reads and
returns everything until the peer closes (bounded). C<id> is the connection number.

=back

=cut

use strict;
use warnings;
use Data::Dumper ();
use Errno qw(EINTR);
use Fcntl qw(:flock);
use File::Basename ();
use File::Spec;
use IO::Select;
use IO::Socket::IP;
use POSIX ();
use Time::HiRes ();

my %running;    # server pid => 1, for the END cleanup

sub start {
    my ($class, $handler, %o) = @_;
    my $dir = PxTest::subdir('backend');
    my $lsock = IO::Socket::IP->new(LocalHost => $o{host} // '127.0.0.1',
        LocalPort => $o{port} // 0, Proto => 'tcp', Listen => 128, ReuseAddr => 1)
        or die "backend: listen: $@";
    my $self = bless { dir => $dir, port => $lsock->sockport, owner => $$ }, $class;
    my $parent = $$;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        POSIX::setpgid(0, 0);
        $SIG{$_} = 'DEFAULT' for qw(TERM ALRM CHLD);
        alarm 0;
        eval { _serve($lsock, $handler, $dir, $parent); 1 } or print STDERR "backend: $@";
        POSIX::_exit(0);
    }
    POSIX::setpgid($pid, $pid);
    close $lsock;
    $self->{pid} = $pid;
    $running{$pid} = 1;
    return $self;
}

sub _serve {
    my ($lsock, $handler, $dir, $parent) = @_;
    my $sel = IO::Select->new($lsock);
    my $n = 0;
    while (1) {
        1 while waitpid(-1, POSIX::WNOHANG()) > 0;
        POSIX::_exit(0) if getppid() != $parent;    # the test is gone
        next unless $sel->can_read(0.2);
        my $s = $lsock->accept or next;
        $n++;
        _append("$dir/conns", "$n\n");
        my $kid = fork;
        if (!defined $kid) { close $s; next }
        if (!$kid) {
            close $lsock;
            alarm($ENV{PXTEST_BACKEND_TIMEOUT} || 120);
            my $c = PxTest::Backend::Conn->_new($s, $n, $dir);
            eval { $handler->($c); 1 } or print STDERR "backend handler (conn $n) died: $@";
            $c->close;
            POSIX::_exit(0);
        }
        close $s;
    }
}

sub _append {
    my ($file, $line) = @_;
    open my $f, '>>', $file or die "open $file: $!";
    flock $f, LOCK_EX;
    syswrite $f, $line;
    close $f;
}

sub _lines {
    my ($file) = @_;
    open my $f, '<', $file or return ();
    flock $f, LOCK_SH;
    my @l = <$f>;
    chomp @l;
    return @l;
}

sub port { $_[0]{port} }
sub dir { $_[0]{dir} }

sub requests {
    my ($self, %o) = @_;
    my @r;
    for my $line (_lines("$self->{dir}/requests")) {
        my $r = eval $line;    ## no critic (the file is written by Data::Dumper below)
        die "backend: bad request record: $@" unless $r;
        push @r, $r if $o{all} || $r->{complete};
    }
    return @r;
}

sub wait_requests {
    my ($self, $n, $timeout) = @_;
    my @r;
    PxTest::wait_until(sub { (@r = $self->requests) >= $n }, timeout => $timeout) or return;
    return @r;
}

sub connections { return scalar(() = _lines("$_[0]{dir}/conns")) }

sub notes { return _lines("$_[0]{dir}/notes") }

sub wait_note {
    my ($self, $re, $timeout) = @_;
    my ($hit) = (undef);
    PxTest::wait_until(sub { ($hit) = grep { $_ =~ $re } $self->notes; defined $hit },
        timeout => $timeout);
    return $hit;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    delete $running{$pid};
    kill('KILL', -$pid) or kill('KILL', $pid);
    waitpid $pid, 0;
}

sub DESTROY {
    my ($self) = @_;
    local $?;    # at global destruction, stop's waitpid must not change the exit status
    $self->stop if $$ == $self->{owner};
}

sub _stop_all {
    for my $pid (keys %running) {
        kill('KILL', -$pid) or kill('KILL', $pid);
        waitpid $pid, 0;
    }
    %running = ();
}

=head2 echo(name => 'a')

A keep-alive backend answering every request with 200, C<x-backend: NAME>,
C<x-conn-seq: N> (the request's position on its upstream connection, from 1) and
C<x-conn-id: N> (the connection number), and a text body describing what it received: the
request line, each header as C<name: value> in received order, an empty line, then the body
bytes (C<parse_echo> in PxTest reads it back). HEAD gets the same head with no body. It closes
after a request with C<Connection: close>.

=cut

sub echo {
    my ($class, %o) = @_;
    my $name = $o{name} // 'echo';
    return $class->start(sub {
        my ($c) = @_;
        while (my $r = $c->read_request) {
            my $body = "$r->{method} $r->{target} $r->{version}\n"
                . join('', map {"$_->[0]: $_->[1]\n"} @{$r->{headers}}) . "\n" . $r->{body};
            my @h = ('x-backend' => $name, 'x-conn-seq' => $r->{seq}, 'x-conn-id' => $c->id,
                'content-type' => 'text/plain');
            if ($r->{method} eq 'HEAD') {
                $c->respond(200, [@h, 'content-length' => length $body], '');
            } else {
                $c->respond(200, \@h, $body);
            }
            last if ($r->{h}{connection} // '') =~ /\bclose\b/i;
        }
    }, %o);
}

=head2 tls(cert => FILE, key => FILE, name => 'a', client_ca => FILE)

A TLS keep-alive backend answering like C<echo> (C<x-backend>, C<x-conn-id>, C<x-conn-seq>
and the same body); C<GET /size/N> answers N bytes of C<x> instead. Each connection is served
by C<t/lib/tls-conn.py> (python3's C<ssl>), which notes C<sni NAME> (when the client sent
one), C<handshake ok>, C<handshake failed: ...> and C<got METHOD TARGET BODY_LENGTH>
(C<notes>, C<wait_note>); C<requests> stays empty. With C<client_ca>, a client certificate
chaining to that CA is required, and C<client CN=...> is noted after the handshake.
Certificates come from C<tls_certs> and C<tls_issue>.

=head2 tls_certs

Makes (once per test process, with the C<openssl> command) and returns the paths of a test CA
and certificates: C<{ ca, cert, key }> (signed by the CA, SANs DNS:localhost and
IP:127.0.0.1), C<{ other_cert, other_key }> (signed by the CA, SAN DNS:other.example only) and
C<{ self_cert, self_key }> (self-signed for localhost and 127.0.0.1, no CA vouches for it).
Point the client at the CA with C<SSL_CERT_FILE>.

=head2 tls_issue($name, $san, cn => $name)

A certificate and key signed by the C<tls_certs> CA, with subjectAltName C<$san>
(C<'DNS:api.example,URI:spiffe://x/y'>) and subject C</CN=cn>: C<{ cert, key }>. Made once per
name and test process.

=cut

my $tls_conn = File::Spec->rel2abs(File::Basename::dirname(__FILE__) . '/../tls-conn.py');

sub tls {
    my ($class, %o) = @_;
    my $name = $o{name} // 'tls';
    return $class->start(sub {
        my ($c) = @_;
        open STDIN, '<&', $c->{sock} or die "dup: $!";
        exec 'python3', $tls_conn, $o{cert}, $o{key}, $name, $c->id, "$c->{dir}/notes",
            $o{client_ca} // ();
        die "exec python3: $!";
    }, %o);
}

=head2 h2(max_streams => N, cert => ..., key => ...)

An HTTP/2 backend (t/lib/h2-server.py, python3-h2; one process per connection): h2c, or TLS
offering h2 by ALPN with C<cert> and C<key>. It answers with JSON describing the request (see
the script for the fields and paths that steer it) and notes each stream; C<max_streams> is
its SETTINGS_MAX_CONCURRENT_STREAMS (default 100).

=cut
sub h2 {
    my ($class, %o) = @_;
    my $tool = File::Spec->rel2abs(File::Basename::dirname(__FILE__) . '/../h2-server.py');
    return $class->start(sub {
        my ($c) = @_;
        open STDIN, '<&', $c->{sock} or die "dup: $!";
        exec '/usr/bin/python3', $tool, $c->id, "$c->{dir}/notes", $c->{dir},
            $o{max_streams} // 100, $o{cert} ? ($o{cert}, $o{key}) : ();
        die "exec python3: $!";
    }, %o);
}

my $certs;
my %issued;
my $openssl = sub {
    my $out = `openssl @_ 2>&1`;
    die "openssl @_: $out" if $?;
};
my $ec = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';

sub tls_issue {
    my ($class, $name, $san, %o) = @_;
    return $issued{$name} if $issued{$name};
    my $c = $class->tls_certs;
    my $d = $c->{dir};
    my $cn = $o{cn} // $name;
    $openssl->("req $ec -keyout $d/$name.key -out $d/$name.csr -subj /CN=$cn"
        . " -addext subjectAltName=$san");
    $openssl->("x509 -req -in $d/$name.csr -CA $d/ca.pem -CAkey $d/ca.key -CAcreateserial"
        . " -days 2 -copy_extensions copy -out $d/$name.pem");
    return $issued{$name} = { cert => "$d/$name.pem", key => "$d/$name.key" };
}

sub tls_certs {
    return $certs if $certs;
    my $d = PxTest::subdir('certs');
    my $run = $openssl;
    $run->("req -x509 $ec -keyout $d/ca.key -out $d/ca.pem -days 2 -subj /CN=pyxis-test-ca"
        . " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign");
    for my $c ([srv => 'DNS:localhost,IP:127.0.0.1'], [other => 'DNS:other.example']) {
        my ($n, $san) = @$c;
        $run->("req $ec -keyout $d/$n.key -out $d/$n.csr -subj /CN=$n -addext subjectAltName=$san");
        $run->("x509 -req -in $d/$n.csr -CA $d/ca.pem -CAkey $d/ca.key -CAcreateserial"
            . " -days 2 -copy_extensions copy -out $d/$n.pem");
    }
    $run->("req -x509 $ec -keyout $d/self.key -out $d/self.pem -days 2 -subj /CN=localhost"
        . " -addext subjectAltName=DNS:localhost,IP:127.0.0.1");
    return $certs = { ca => "$d/ca.pem", cert => "$d/srv.pem", key => "$d/srv.key",
        other_cert => "$d/other.pem", other_key => "$d/other.key",
        self_cert => "$d/self.pem", self_key => "$d/self.key", dir => $d };
}

package PxTest::Backend::Conn;

use strict;
use warnings;
use Errno qw(EAGAIN EINTR ECONNRESET);
use IO::Select;
use Socket qw(SOL_SOCKET SO_LINGER SHUT_WR);
use Time::HiRes ();

my %REASON = (100 => 'Continue', 200 => 'OK', 201 => 'Created', 204 => 'No Content',
    301 => 'Moved Permanently', 302 => 'Found', 304 => 'Not Modified', 400 => 'Bad Request',
    404 => 'Not Found', 500 => 'Internal Server Error', 502 => 'Bad Gateway',
    503 => 'Service Unavailable');

sub _new {
    my ($class, $sock, $id, $dir) = @_;
    $sock->autoflush(1);
    return bless { sock => $sock, id => $id, dir => $dir, buf => '', seq => 0, eof => 0 }, $class;
}

sub id { $_[0]{id} }

# _fill($deadline): reads more into buf; returns bytes read, 0 at EOF/error/timeout.
sub _fill {
    my ($self, $deadline) = @_;
    return 0 if $self->{eof} || !$self->{sock};
    while (1) {
        my $left = $deadline - Time::HiRes::time();
        return 0 if $left <= 0;
        next unless IO::Select->new($self->{sock})->can_read($left);
        my $n = sysread($self->{sock}, my $b, 65536);
        next if !defined $n && ($! == EINTR || $! == EAGAIN);
        if (!$n) { $self->{eof} = 1; return 0 }
        $self->{buf} .= $b;
        return $n;
    }
}

sub _record {
    my ($self, $r) = @_;
    local $Data::Dumper::Indent = 0;
    local $Data::Dumper::Terse = 1;
    local $Data::Dumper::Useqq = 1;
    local $Data::Dumper::Sortkeys = 1;
    PxTest::Backend::_append("$self->{dir}/requests", Data::Dumper::Dumper($r) . "\n");
}

sub read_request {
    my ($self, %o) = @_;
    my $deadline = Time::HiRes::time() + ($o{timeout} // $PxTest::DEFAULT_TIMEOUT);
    my $he;
    while (($he = index($self->{buf}, "\r\n\r\n")) < 0) {
        next if $self->_fill($deadline);
        $self->_record({ complete => 0, raw => $self->{buf}, conn => $self->{id} })
            if length $self->{buf};
        $self->{buf} = '';
        return undef;
    }
    my $head = substr($self->{buf}, 0, $he + 4, '');
    my %r = (raw => $head, headers => [], h => {}, body => '', chunked => 0, trailers => [],
        conn => $self->{id}, complete => 0);
    my ($rl, @lines) = split /\r\n/, substr($head, 0, $he);
    @r{qw(method target version)} = split / /, $rl, 3;
    for (@lines) {
        my ($n, $v) = /\A([^:]+):[ \t]*(.*?)[ \t]*\z/s or next;
        push @{$r{headers}}, [$n, $v];
        $r{h}{lc $n} = exists $r{h}{lc $n} ? "$r{h}{lc $n}, $v" : $v;
    }
    if (($r{h}{'transfer-encoding'} // '') =~ /chunked\s*\z/i) {
        $r{chunked} = 1;
        while (1) {
            my ($body, $used, $complete, $trailers) = PxTest::dechunk($self->{buf});
            if ($complete) {
                $r{raw} .= substr($self->{buf}, 0, $used, '');
                @r{qw(body trailers)} = ($body, $trailers);
                last;
            }
            next if $self->_fill($deadline);
            $r{raw} .= $self->{buf};
            $self->{buf} = '';
            $self->_record(\%r);
            return undef;
        }
    } elsif (defined(my $cl = $r{h}{'content-length'})) {
        while (length($self->{buf}) < $cl) {
            next if $self->_fill($deadline);
            $r{raw} .= $self->{buf};
            $self->{buf} = '';
            $self->_record(\%r);
            return undef;
        }
        $r{body} = substr($self->{buf}, 0, $cl, '');
        $r{raw} .= $r{body};
    }
    $r{complete} = 1;
    $r{seq} = ++$self->{seq};
    $self->_record(\%r);
    return \%r;
}

sub read_head {
    my ($self, %o) = @_;
    my $deadline = Time::HiRes::time() + ($o{timeout} // $PxTest::DEFAULT_TIMEOUT);
    my $he;
    while (($he = index($self->{buf}, "\r\n\r\n")) < 0) {
        return undef unless $self->_fill($deadline);
    }
    my $head = substr($self->{buf}, 0, $he + 4, '');
    my %r = (raw => $head, headers => [], h => {}, body => '', conn => $self->{id});
    my ($rl, @lines) = split /\r\n/, substr($head, 0, $he);
    @r{qw(method target version)} = split / /, $rl, 3;
    for (@lines) {
        my ($n, $v) = /\A([^:]+):[ \t]*(.*?)[ \t]*\z/s or next;
        push @{$r{headers}}, [$n, $v];
        $r{h}{lc $n} = exists $r{h}{lc $n} ? "$r{h}{lc $n}, $v" : $v;
    }
    $r{chunked} = ($r{h}{'transfer-encoding'} // '') =~ /chunked\s*\z/i ? 1 : 0;
    return \%r;
}

sub read_body {
    my ($self, $r, $sink, %o) = @_;
    my $idle = $o{timeout} // $PxTest::DEFAULT_TIMEOUT;
    my $more = sub { $self->_fill(Time::HiRes::time() + $idle) };
    my $total = 0;
    my $pass = sub {    # up to $_[0] bytes of data from the buffer to the sink
        return 0 unless length $self->{buf} || $more->();
        my $n = length $self->{buf} < $_[0] ? length $self->{buf} : $_[0];
        $sink->(substr($self->{buf}, 0, $n, ''));
        $total += $n;
        return $n;
    };
    my $line = sub {    # the next CRLF-terminated line, without the CRLF
        my $eol;
        while (($eol = index($self->{buf}, "\r\n")) < 0) { return undef unless $more->() }
        my $l = substr($self->{buf}, 0, $eol + 2, '');
        return substr($l, 0, $eol);
    };
    if (!$r->{chunked}) {
        my $left = $r->{h}{'content-length'} // 0;
        while ($left > 0) { my $n = $pass->($left) or return undef; $left -= $n }
        return $total;
    }
    while (1) {
        my $sl = $line->() // return undef;
        $sl =~ /\A([0-9a-fA-F]+)/ or return undef;
        my $size = hex $1;
        if ($size == 0) {
            while (1) { my $t = $line->() // return undef; return $total if $t eq '' }
        }
        while ($size > 0) { my $n = $pass->($size) or return undef; $size -= $n }
        ($line->() // 'x') eq '' or return undef;
    }
}

sub write {
    my ($self, $bytes) = @_;
    return 0 unless $self->{sock};
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite($self->{sock}, $bytes, length($bytes) - $off, $off);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            return 0;
        }
        $off += $n;
    }
    return 1;
}

sub respond {
    my ($self, $status, $headers, $body) = @_;
    $body //= '';
    my $pairs = PxTest::_pairs($headers);
    my %have = map { lc($_->[0]) => 1 } @$pairs;
    push @$pairs, ['Content-Length', length $body]
        unless $have{'content-length'} || $have{'transfer-encoding'}
        || $status < 200 || $status == 204 || $status == 304;
    my $reason = $REASON{$status} // 'Status';
    return $self->write("HTTP/1.1 $status $reason\r\n"
        . join('', map {"$_->[0]: $_->[1]\r\n"} @$pairs) . "\r\n" . $body);
}

sub close {
    my ($self) = @_;
    close $self->{sock} if $self->{sock};
    $self->{sock} = undef;
}

sub reset {
    my ($self) = @_;
    return unless $self->{sock};
    setsockopt($self->{sock}, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    $self->close;
}

sub shutdown_write { shutdown($_[0]{sock}, SHUT_WR) if $_[0]{sock} }

sub sleep { Time::HiRes::sleep($_[1]) }

sub drain_to_eof {
    my ($self, $timeout) = @_;
    my $deadline = Time::HiRes::time() + ($timeout // $PxTest::DEFAULT_TIMEOUT);
    1 while $self->_fill($deadline);
    my $all = $self->{buf};
    $self->{buf} = '';
    return $all;
}

sub note {
    my ($self, $text) = @_;
    PxTest::Backend::_append("$self->{dir}/notes", "$text\n");
}

1;
