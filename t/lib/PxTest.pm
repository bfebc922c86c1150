package PxTest;

=head1 NAME

PxTest - helpers for pyxis integration tests (t/*.t)

=head1 SYNOPSIS

    use strict;
    use warnings;
    use Test::More;
    use PxTest;

    my $be = PxTest::Backend->echo(name => 'a');
    my $px = PxTest::Pyxis->start(vars => { BACKEND_a => $be->port }, yaml => <<'YAML');
    workers: 1
    listeners:
      - name: front
        listen: 127.0.0.1:%%PORT_front%%
        routes:
          - match: { path_prefix: / }
            upstream: a
    upstreams:
      a: { endpoints: [ "127.0.0.1:%%BACKEND_a%%" ] }
    YAML

    my $r = http_req($px->port('front'), path => '/hello');
    is($r->{status}, 200, 'proxied');

    done_testing;

See t/lib/README.md for a short guide. Everything here uses core Perl modules only, talks to
loopback only, and bounds every wait (default 10 s).

Loading PxTest also: ignores SIGPIPE in the test process (writes to closed sockets return
errors instead of killing the test), and arms a safety alarm (PXTEST_TIMEOUT seconds, default
300) that ends a hung test file with exit status 124 after stopping the processes it started.

=cut

use strict;
use warnings;
use Exporter 'import';
use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use File::Basename qw(basename);
use File::Temp ();
use IO::Select;
use IO::Socket::IP;
use POSIX ();
use Socket qw(SOL_SOCKET SO_LINGER SHUT_WR);
use Test::More ();
use Time::HiRes ();

use PxTest::Pyxis;
use PxTest::Backend;
use PxTest::DNS;

our @EXPORT = qw(free_port raw_http parse_responses http_req build_request curl have_curl
    pyxis_run parse_echo wait_until client rejects_ok write_files write_file config_errors_ok
    s_client tls_client);

our $DEFAULT_TIMEOUT = 10;

$SIG{PIPE} = 'IGNORE';

# The safety alarm: a test file must never hang the harness.
our $OWNER_PID = $$;
if (!$ENV{PXTEST_NO_ALARM}) {
    $SIG{ALRM} = sub {
        Test::More::diag("test file timed out after " . ($ENV{PXTEST_TIMEOUT} || 300) . "s");
        exit 124;    # END blocks stop pyxis and the backends
    };
    alarm($ENV{PXTEST_TIMEOUT} || 300);
}

=head1 FUNCTIONS

=head2 testdir() / subdir($prefix)

C<testdir> is this test file's private temporary directory (removed at exit unless
PXTEST_KEEP=1 is set). C<subdir('backend')> makes a fresh directory inside it.

=cut

my $testdir;

sub testdir {
    $testdir //= File::Temp->newdir('pxtest-' . basename($0, '.t') . '-XXXXXX',
        TMPDIR => 1, CLEANUP => !$ENV{PXTEST_KEEP});
    return $testdir->dirname;
}

my %subdir_seq;

sub subdir {
    my ($prefix) = @_;
    my $d = testdir() . "/$prefix" . ++$subdir_seq{$prefix};
    mkdir $d or die "mkdir $d: $!";
    return $d;
}

=head2 write_files(NAME => CONTENT, ...)

Writes each file (Lua scripts, fixtures) into a fresh subdirectory of the test's temp dir and
returns that directory's path: C<my $dir = write_files('x.lua' => 'return {}')>.

=cut

sub write_files {
    my (%files) = @_;
    my $d = subdir('files');
    for my $name (sort keys %files) {
        open my $f, '>', "$d/$name" or die "write $d/$name: $!";
        print $f $files{$name};
        close $f or die "write $d/$name: $!";
    }
    return $d;
}

=head2 write_file(PATH, CONTENT)

Writes CONTENT to PATH through a temporary file renamed into place, so a pyxis reading the file
(at a reload) sees the old content or the new, never a part; returns PATH.

=cut

sub write_file {
    my ($path, $content) = @_;
    open my $f, '>', "$path.tmp" or die "write $path.tmp: $!";
    print $f $content;
    close $f or die "write $path.tmp: $!";
    rename "$path.tmp", $path or die "rename $path.tmp: $!";
    return $path;
}

=head2 free_port(host => '127.0.0.1')

Binds HOST:0, reads the port the kernel chose, closes the socket and returns the port. A port is
never handed out twice by the same test process.

=cut

my %ports_given;

sub free_port {
    my (%o) = @_;
    my $host = $o{host} // '127.0.0.1';
    for (1 .. 100) {
        my $s = IO::Socket::IP->new(LocalHost => $host, LocalPort => 0, Proto => 'tcp')
            or die "free_port: bind $host:0: $@";
        my $port = $s->sockport;
        close $s;
        return $port unless $ports_given{$port}++;
    }
    die "free_port: no fresh port after 100 tries";
}

=head2 wait_until(sub { ... }, timeout => 10, interval => 0.01)

Calls the sub until it returns true (returning that value) or the timeout passes (returning
undef). Polls with a short backoff (10 ms doubling to 100 ms).

=cut

sub wait_until {
    my ($cond, %o) = @_;
    my $deadline = Time::HiRes::time() + ($o{timeout} // $DEFAULT_TIMEOUT);
    my $pause = $o{interval} // 0.01;
    while (1) {
        my $v = $cond->();
        return $v if $v;
        return undef if Time::HiRes::time() >= $deadline;
        Time::HiRes::sleep($pause);
        $pause = 0.1 if ($pause *= 2) > 0.1;
    }
}

=head2 build_request(method => 'GET', path => '/', version => 'HTTP/1.1', host => 'localhost',
headers => [...], body => undef)

Returns the bytes of one request. C<headers> is a flat list (C<< [name => value, ...] >>) or a
list of pairs (C<< [[name, value], ...] >>), sent in order. A Host field is added first unless
one is in C<headers> or C<< host => undef >> is passed. With a C<body> and neither
Content-Length nor Transfer-Encoding in C<headers>, Content-Length is added.

=cut

sub _pairs {
    my ($h) = @_;
    return [] unless $h;
    return [map { [$_ => $h->{$_}] } sort keys %$h] if ref $h eq 'HASH';
    return [@$h] if !@$h || ref $h->[0] eq 'ARRAY';
    die "odd number of elements in header list" if @$h % 2;
    return [map { [$h->[2 * $_], $h->[2 * $_ + 1]] } 0 .. $#$h / 2];
}

sub build_request {
    my (%o) = @_;
    my $method = $o{method} // 'GET';
    my $path = $o{path} // '/';
    my $version = $o{version} // 'HTTP/1.1';
    my $headers = _pairs($o{headers});
    my %have = map { lc($_->[0]) => 1 } @$headers;
    my @h;
    my $host = exists $o{host} ? $o{host} : 'localhost';
    push @h, ['Host', $host] if defined $host && !$have{host};
    push @h, @$headers;
    if (defined $o{body} && !$have{'content-length'} && !$have{'transfer-encoding'}) {
        push @h, ['Content-Length', length $o{body}];
    }
    return "$method $path $version\r\n" . join('', map {"$_->[0]: $_->[1]\r\n"} @h) . "\r\n"
        . ($o{body} // '');
}

=head2 client($port, addr => '127.0.0.1', timeout => 10)

Opens a connection and returns a PxTest::Client for step-by-step conversations (see below).

=cut

sub client { return PxTest::Client->new(@_) }

=head2 raw_http($port, $bytes, timeout => 5, half_close => 0, responses => undef, addr => ...)

Connects, writes C<$bytes> (a write error such as EPIPE is tolerated: the server may close
early), optionally half-closes (C<< half_close => 1 >>), and reads until the server closes the
connection or the timeout passes. With C<< responses => N >> it stops as soon as N complete
responses have arrived (for keep-alive connections). Returns the bytes received; in list context
C<($bytes, $closed)> where C<$closed> is true if the server closed (or reset) the connection.

=cut

sub raw_http {
    my ($port, $bytes, %o) = @_;
    my $c = PxTest::Client->new($port, %o);
    $c->write($bytes);
    $c->shutdown_write if $o{half_close};
    my $timeout = $o{timeout} // 5;
    if (defined $o{responses}) {
        my $deadline = Time::HiRes::time() + $timeout;
        while (!$c->{closed}) {
            my @r = parse_responses($c->{received}, %o, closed => 0);
            last if @r >= $o{responses} && !grep { !$_->{complete} } @r[0 .. $o{responses} - 1];
            last unless $c->_fill($deadline);
        }
    } else {
        $c->read_to_eof($timeout);
    }
    $c->close;
    return wantarray ? ($c->{received}, $c->{closed}) : $c->{received};
}

=head2 parse_responses($bytes, closed => 1, head_requests => 0, methods => [...])

Splits C<$bytes> into responses and returns a list of hashrefs:

    { version => 'HTTP/1.1', status => 200, reason => 'OK',
      headers => [[name, value], ...],  h => { lc name => values joined with ", " },
      body => bytes (de-chunked), chunked => bool, trailers => [[name, value], ...],
      complete => bool, interim => [ ...1xx responses before this one... ], raw => bytes,
      error => 'why' (only when the bytes could not be parsed) }

Interim 1xx responses (except 101) are not returned on their own: they are attached, in order,
to the next final response's C<interim>. A response whose head is incomplete is returned with
C<status> set if the status line arrived, C<complete> false. The first C<head_requests>
responses are taken as answers to HEAD (no body); or give the request C<methods> in order.
A close-delimited body counts as complete when C<closed> is true (the default: the bytes are
taken to be everything the server sent before closing).

=cut

sub parse_responses {
    my ($bytes, %o) = @_;
    my $closed = $o{closed} // 1;
    my @methods = $o{methods} ? @{$o{methods}} : (('HEAD') x ($o{head_requests} // 0));
    my (@out, @interim);
    my $pos = 0;
    while ($pos < length $bytes) {
        my $method = $methods[scalar @out] // 'GET';
        my ($r, $used) = _parse_one(substr($bytes, $pos), $method, $closed);
        $pos += $used;
        if ($r->{status} && $r->{status} >= 100 && $r->{status} < 200 && $r->{status} != 101
            && $r->{complete})
        {
            push @interim, $r;
            next;
        }
        $r->{interim} = [@interim];
        @interim = ();
        push @out, $r;
        last if !$r->{complete} || $r->{error};
    }
    if (@interim) {    # interim responses with no final response after them
        push @out, { %{$interim[-1]}, interim => [@interim[0 .. $#interim - 1]], complete => 0,
            interim_only => 1 };
    }
    return @out;
}

# _parse_one($bytes, $method, $closed) -> ($response, $bytes_used)
sub _parse_one {
    my ($buf, $method, $closed) = @_;
    my %r = (headers => [], h => {}, body => '', complete => 0, trailers => [], chunked => 0);
    my $he = index($buf, "\r\n\r\n");
    if ($buf !~ m{\AHTTP/}) {
        return ({ %r, error => 'not a status line', raw => $buf }, length $buf);
    }
    if ($he < 0) {
        @r{qw(version status reason)} = $buf =~ m{\A(HTTP/\d\.\d) (\d{3})(?: ([^\r\n]*))?\r\n};
        return ({ %r, error => 'incomplete head', raw => $buf }, length $buf);
    }
    my @lines = split /\r\n/, substr($buf, 0, $he), -1;
    my $sl = shift @lines;
    unless ($sl =~ m{\A(HTTP/\d\.\d) (\d{3})(?: (.*))?\z}s) {
        return ({ %r, error => "bad status line: $sl", raw => $buf }, length $buf);
    }
    @r{qw(version status reason)} = ($1, $2 + 0, $3 // '');
    for my $l (@lines) {
        unless ($l =~ /\A([^:\s]+):[ \t]*(.*?)[ \t]*\z/s) {
            return ({ %r, error => "bad header line: $l", raw => $buf }, length $buf);
        }
        push @{$r{headers}}, [$1, $2];
        my $k = lc $1;
        $r{h}{$k} = exists $r{h}{$k} ? "$r{h}{$k}, $2" : $2;
    }
    my $rest = substr($buf, $he + 4);
    my $s = $r{status};
    my $head_len = $he + 4;
    if ($method eq 'HEAD' || $s < 200 || $s == 204 || $s == 304) {
        $r{complete} = 1;
        $r{raw} = substr($buf, 0, $head_len);
        return (\%r, $head_len);
    }
    if (($r{h}{'transfer-encoding'} // '') =~ /(?:^|,)\s*chunked\s*\z/i) {
        $r{chunked} = 1;
        my ($body, $used, $complete, $trailers, $err) = dechunk($rest);
        @r{qw(body complete trailers)} = ($body, $complete, $trailers);
        $r{error} = $err if $err;
        $r{raw} = substr($buf, 0, $head_len + $used);
        return (\%r, $head_len + $used);
    }
    if (defined(my $cl = $r{h}{'content-length'})) {
        if ($cl !~ /\A\d+\z/) {
            return ({ %r, error => "bad content-length: $cl", raw => $buf }, length $buf);
        }
        my $n = length($rest) < $cl ? length($rest) : $cl;
        $r{body} = substr($rest, 0, $n);
        $r{complete} = $n == $cl ? 1 : 0;
        $r{raw} = substr($buf, 0, $head_len + $n);
        return (\%r, $head_len + $n);
    }
    $r{body} = $rest;    # delimited by close
    $r{complete} = $closed ? 1 : 0;
    $r{close_delimited} = 1;
    $r{raw} = $buf;
    return (\%r, length $buf);
}

=head2 dechunk($bytes)

Decodes a chunked body from the start of C<$bytes>. Returns C<($body, $bytes_used, $complete,
\@trailers, $error)>; C<$complete> is true only when the last chunk and the end of the trailer
section were both seen.

=cut

sub dechunk {
    my ($buf) = @_;
    my ($body, $pos, @trailers) = ('', 0);
    while (1) {
        my $eol = index($buf, "\r\n", $pos);
        return ($body, length $buf, 0, \@trailers) if $eol < 0;
        my $line = substr($buf, $pos, $eol - $pos);
        return ($body, length $buf, 0, \@trailers, "bad chunk size line: $line")
            unless $line =~ /\A([0-9a-fA-F]+)[ \t]*(?:;.*)?\z/;
        my $size = hex $1;
        $pos = $eol + 2;
        if ($size == 0) {
            while (1) {
                my $e = index($buf, "\r\n", $pos);
                return ($body, length $buf, 0, \@trailers) if $e < 0;
                my $t = substr($buf, $pos, $e - $pos);
                $pos = $e + 2;
                return ($body, $pos, 1, \@trailers) if $t eq '';
                push @trailers, [$1, $2] if $t =~ /\A([^:\s]+):[ \t]*(.*?)[ \t]*\z/;
            }
        }
        if (length($buf) < $pos + $size + 2) {    # this chunk is cut short
            my $have = length($buf) - $pos;
            $body .= substr($buf, $pos, $have < $size ? $have : $size);
            return ($body, length $buf, 0, \@trailers);
        }
        $body .= substr($buf, $pos, $size);
        $pos += $size;
        return ($body, length $buf, 0, \@trailers, 'missing CRLF after chunk data')
            unless substr($buf, $pos, 2) eq "\r\n";
        $pos += 2;
    }
}

=head2 http_req($port, method => 'GET', path => '/', headers => [...], body => ..., host => ...,
version => 'HTTP/1.1', timeout => 5)

Sends one request (see C<build_request>) over a fresh connection and returns the parsed
response (see C<parse_responses>) with two more keys (C<addr> is the address to connect to,
C<host> the Host field): C<closed> (the server closed the
connection; when the response says C<Connection: close> or the request was HTTP/1.0 this waits,
bounded, for that close) and C<elapsed> (seconds until the response was complete). When nothing
parseable arrived it returns C<< { status => undef, error => ..., raw => ... } >>.

=cut

sub http_req {
    my ($port, %o) = @_;
    my $c = PxTest::Client->new($port, %o);
    my $t0 = Time::HiRes::time();
    $c->write(build_request(%o));
    my $r = $c->read_response(timeout => $o{timeout} // 5, method => $o{method});
    my $elapsed = Time::HiRes::time() - $t0;
    if ($r->{complete}
        && (($r->{h}{connection} // '') =~ /\bclose\b/i || ($o{version} // '') eq 'HTTP/1.0'))
    {
        $c->wait_closed(2);
    } else {
        $c->_fill(Time::HiRes::time());    # notice an EOF that has already arrived
    }
    $r->{closed} = $c->{closed};
    $r->{elapsed} = $elapsed;
    $c->close;
    return $r;
}

=head2 rejects_ok($port, $request_bytes, $status, $name, backend => $be, incomplete_ok => 0)

Sends raw bytes, and checks (as one subtest named C<$name>) that the answer is a single response
with C<$status>, a non-empty body, C<Connection: close>, and that the server then closes the
connection. With C<< backend => $be >>, also checks that the backend saw no request at all; with
C<< incomplete_ok => 1 >> as well (for errors found in a streamed body), only that the backend
saw no I<complete> request: it may have got the head and part of the body before the error.

=cut

sub rejects_ok {
    my ($port, $bytes, $status, $name, %o) = @_;
    my %which = (all => !$o{incomplete_ok});
    my $before = $o{backend} ? scalar $o{backend}->requests(%which) : 0;
    my ($data, $closed) = raw_http($port, $bytes, timeout => $o{timeout} // 5);
    my @r = parse_responses($data, closed => $closed);
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return Test::More::subtest($name => sub {
        Test::More::is(scalar @r, 1, 'one response') or Test::More::diag(_show($data));
        Test::More::is($r[0]{status}, $status, "status $status");
        Test::More::ok(length($r[0]{body} // ''), 'has a body');
        Test::More::like($r[0]{h}{connection} // '', qr/\bclose\b/i, 'Connection: close');
        Test::More::ok($closed, 'connection closed');
        if ($o{backend}) {
            Test::More::is(scalar $o{backend}->requests(%which), $before,
                $o{incomplete_ok} ? 'no complete request reached the backend'
                : 'nothing reached the backend');
        }
    });
}

sub _show {
    my ($s) = @_;
    $s //= '';
    $s = substr($s, 0, 2000) . "...(" . length($s) . " bytes)" if length $s > 2000;
    $s =~ s/([^\x20-\x7e\n])/sprintf('\\x%02x', ord $1)/ge;
    return "received: [$s]";
}

=head2 config_errors_ok($head, $where, \@cases, vars => {})

For a filter's config tests. Each case is C<[what, at, qr/message/, entry]>: C<$head . entry>
is checked with C<pyxis -t>, which must exit 1 and report C<FILE:LINE:COL: WHERE: ...message>,
LINE being the line of the entry marked C<# E<lt>- error> and COL where the text C<at> starts
on that line. Two assertions per case; returns the C<check> results (C<exit>, C<err>, ...).

=cut

sub config_errors_ok {
    my ($head, $where, $cases, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @results;
    for my $case (@$cases) {
        my ($what, $at, $msg, $entry) = @$case;
        my $yaml = $head . $entry;
        my @lines = split /\n/, $yaml;
        my ($i) = grep { $lines[$_] =~ /# <- error/ } 0 .. $#lines;
        die "config_errors_ok: no line marked '# <- error' in case '$what'\n" unless defined $i;
        my ($line, $col) = ($i + 1, index($lines[$i], $at) + 1);
        my $c = PxTest::Pyxis->check(yaml => $yaml, vars => $o{vars} // {});
        Test::More::is($c->{exit}, 1, "pyxis -t: $what -> exit 1");
        Test::More::like($c->{err}, qr/^\Q$c->{file}\E:$line:$col: $where: .*$msg/m,
            "... at $line:$col, $msg") or Test::More::diag("stderr: $c->{err}");
        push @results, $c;
    }
    return @results;
}

=head2 parse_echo($body)

Parses the body written by C<< PxTest::Backend->echo >>: returns C<{ method, target, version,
headers => [[name, value], ...], h => { lc name => joined }, body }>, i.e. what reached the
upstream. When the text is not an echo body, C<h> and C<headers> are empty and C<error> says so.

=cut

sub parse_echo {
    my ($text) = @_;
    my %none = (headers => [], h => {}, error => 'not an echo body');
    return \%none unless defined $text;
    my $i = index($text, "\n\n");
    return \%none if $i < 0;
    my ($first, @lines) = split /\n/, substr($text, 0, $i);
    my %e = (headers => [], h => {}, body => substr($text, $i + 2));
    @e{qw(method target version)} = split / /, $first, 3;
    for (@lines) {
        my ($n, $v) = /\A([^:]+): ?(.*)\z/s or next;
        push @{$e{headers}}, [$n, $v];
        $e{h}{lc $n} = exists $e{h}{lc $n} ? "$e{h}{lc $n}, $v" : $v;
    }
    return \%e;
}

=head2 pyxis_run(@args) / curl(@args) / have_curl()

C<pyxis_run> runs C<$PYXIS_BIN @args> to completion (bounded: 30 s) and returns
C<{ exit, out, err }>. C<curl> runs C<curl -sS --max-time 10 @args> the same way.
C<have_curl> is true when a curl binary is on PATH; tests use
C<plan skip_all> or C<SKIP> blocks without it.

=cut

sub run_cmd {
    my ($cmd, %o) = @_;
    my $dir = subdir('cmd');
    if (defined $o{stdin}) {
        open my $f, '>', "$dir/in" or die "$dir/in: $!";
        print $f $o{stdin};
        close $f;
    }
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', defined $o{stdin} ? "$dir/in" : '/dev/null';
        open STDOUT, '>', "$dir/out";
        open STDERR, '>', "$dir/err";
        $SIG{PIPE} = 'DEFAULT';
        { exec @$cmd }
        POSIX::_exit(127);
    }
    my $status;
    wait_until(sub { waitpid($pid, POSIX::WNOHANG()) == $pid and defined($status = $?) },
        timeout => $o{timeout} // 30);
    if (!defined $status) {
        kill 'KILL', $pid;
        waitpid $pid, 0;
        $status = $?;
        Test::More::diag("command timed out: @$cmd");
    }
    my $slurp = sub { open my $f, '<', $_[0] or return ''; local $/; my $s = <$f>; $s // '' };
    return { exit => _exit_code($status), out => $slurp->("$dir/out"),
        err => $slurp->("$dir/err") };
}

# A wait status as a shell would show it: the exit code, or 128 + the signal number.
sub _exit_code {
    my ($st) = @_;
    return POSIX::WIFSIGNALED($st) ? 128 + POSIX::WTERMSIG($st) : POSIX::WEXITSTATUS($st);
}

sub pyxis_bin {
    my $bin = $ENV{PYXIS_BIN};
    die "PYXIS_BIN is not set (run the tests with ./dev test)\n" unless defined $bin;
    die "PYXIS_BIN=$bin is not an executable file\n" unless -f $bin && -x _;
    return $bin;
}

sub pyxis_run { return run_cmd([pyxis_bin(), @_]) }

my $have_curl;

sub have_curl {
    $have_curl //= (grep { -x "$_/curl" } split /:/, $ENV{PATH} // '') ? 1 : 0;
    return $have_curl;
}

sub curl { return run_cmd(['curl', '-sS', '--max-time', '10', @_], timeout => 20) }

=head2 s_client($port, @args) / tls_client($port, ca => FILE, sni => NAME)

C<s_client> runs C<openssl s_client -connect 127.0.0.1:PORT @args -ign_eof> with one request
(C<GET / HTTP/1.1>, C<Connection: close>) as its input and returns C<{ exit, out, err }> like
C<pyxis_run>: C<out> holds what s_client reports (C<subject=>, C<ALPN protocol:>, C<New> or
C<Reused>, C<Verify return code:>) and the response.

C<tls_client> opens a TLS connection that stays open (C<t/lib/tls-client.py>): C<< ->{hello} >>
is C<connected CN=NAME TLSv1.3> (or C<error ...>), and C<< ->get('/path') >> sends a request on
that same connection and returns C<STATUS BODY> (the body's newlines as C<|>) or C<error ...>.

=cut

sub s_client {
    my ($port, @args) = @_;
    return run_cmd(['openssl', 's_client', '-connect', "127.0.0.1:$port", @args, '-ign_eof'],
        stdin => "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        timeout => 20);
}

sub tls_client { return PxTest::TlsClient->new(@_) }

=head1 PxTest::Client

A client connection for step-by-step conversations:

    my $c = client($px->port('front'));
    $c->write("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    my $r = $c->read_response;                 # the 100 Continue (an interim response)
    $c->write('hello');
    $r = $c->read_response;                    # the final response
    ok($c->wait_closed(2), 'closed');

Methods: C<write($bytes)> (false if the peer is gone), C<shutdown_write>,
C<read_response(timeout => 10, method => 'GET')> (returns the next response from the stream,
interim 1xx ones included, as a hash like C<parse_responses>; with C<complete> false if the
connection closed or the timeout passed first; C<< { status => undef, complete => 0, error =>
'no response' } >> if no byte of it arrived),
C<read_to_eof($timeout)> (true if the server closed), C<wait_closed($timeout)> (same),
C<received> (every byte received so far), C<closed>, C<close>.

=cut

package PxTest::Client;

use strict;
use warnings;
use Errno qw(EAGAIN EINTR EWOULDBLOCK ECONNRESET);
use IO::Select;
use IO::Socket::IP;
use Socket qw(SHUT_WR);
use Time::HiRes ();

sub new {
    my ($class, $port, %o) = @_;
    my $host = $o{addr} // '127.0.0.1';
    my $s = IO::Socket::IP->new(PeerHost => $host, PeerPort => $port, Proto => 'tcp',
        Timeout => $o{connect_timeout} // 5)
        or die "connect $host:$port: $@\n";
    $s->blocking(0);
    $s->autoflush(1);
    return bless { sock => $s, received => '', pos => 0, closed => 0,
        timeout => $o{timeout} // $PxTest::DEFAULT_TIMEOUT }, $class;
}

sub received { $_[0]{received} }
sub closed { $_[0]{closed} }

# write($bytes): writes everything (bounded by the timeout); false if the peer is gone.
sub write {
    my ($self, $bytes) = @_;
    my $deadline = Time::HiRes::time() + $self->{timeout};
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite($self->{sock}, $bytes, length($bytes) - $off, $off);
        if (defined $n) { $off += $n; next }
        return 0 unless $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
        my $left = $deadline - Time::HiRes::time();
        return 0 if $left <= 0;
        IO::Select->new($self->{sock})->can_write($left);
    }
    return 1;
}

sub shutdown_write { shutdown($_[0]{sock}, SHUT_WR) }

# _fill($deadline): waits until data, EOF or the deadline; appends what arrived.
# Returns the number of bytes read (0 at EOF/reset or timeout).
sub _fill {
    my ($self, $deadline) = @_;
    return 0 if $self->{closed} || !$self->{sock};
    while (1) {
        my $left = $deadline - Time::HiRes::time();
        $left = 0 if $left < 0;
        my @ready = IO::Select->new($self->{sock})->can_read($left);
        if (!@ready) {
            return 0 if Time::HiRes::time() >= $deadline;
            next;    # interrupted by a signal
        }
        my $n = sysread($self->{sock}, my $buf, 65536);
        if (defined $n && $n > 0) {
            $self->{received} .= $buf;
            return $n;
        }
        if (!defined $n && ($! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR)) {
            return 0 if Time::HiRes::time() >= $deadline;
            next;
        }
        $self->{reset} = 1 if !defined $n && $! == ECONNRESET;
        $self->{closed} = 1;
        return 0;
    }
}

sub read_to_eof {
    my ($self, $timeout) = @_;
    my $deadline = Time::HiRes::time() + ($timeout // $self->{timeout});
    1 while $self->_fill($deadline);
    return $self->{closed};
}

sub wait_closed { return $_[0]->read_to_eof($_[1]) }

sub read_response {
    my ($self, %o) = @_;
    my $deadline = Time::HiRes::time() + ($o{timeout} // $self->{timeout});
    while (1) {
        my $pending = substr($self->{received}, $self->{pos});
        if (length $pending) {
            my ($r, $used) = PxTest::_parse_one($pending, $o{method} // 'GET', $self->{closed});
            if ($r->{complete} && !$r->{close_delimited} || $self->{closed}
                || Time::HiRes::time() >= $deadline)
            {
                $self->{pos} += $used;
                return $r;
            }
        } elsif ($self->{closed} || Time::HiRes::time() >= $deadline) {
            return { status => undef, complete => 0, headers => [], h => {}, body => '',
                error => $self->{closed} ? 'closed before a response' : 'no response (timeout)' };
        }
        $self->_fill($deadline);
    }
}

sub close {
    my ($self) = @_;
    close $self->{sock} if $self->{sock};
    $self->{sock} = undef;
}

package PxTest::TlsClient;

use strict;
use warnings;
use File::Basename ();
use File::Spec;
use IO::Select;
use IPC::Open2 ();

my $script = File::Spec->rel2abs(File::Basename::dirname(__FILE__) . '/tls-client.py');

sub new {
    my ($class, $port, %o) = @_;
    my $pid = IPC::Open2::open2(my $out, my $in, 'python3', $script, $port, $o{ca},
        $o{sni} // ());
    my $self = bless { pid => $pid, out => $out, in => $in }, $class;
    $self->{hello} = $self->_line;
    return $self;
}

sub _line {
    my ($self) = @_;
    return 'error no answer' unless IO::Select->new($self->{out})->can_read(10);
    my $l = readline($self->{out}) // 'error closed';
    chomp $l;
    return $l;
}

sub get {
    my ($self, $path) = @_;
    print { $self->{in} } "GET $path\n";
    $self->{in}->flush;
    return $self->_line;
}

sub DESTROY {
    my ($self) = @_;
    close $self->{in};
    close $self->{out};
    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
}

1;
