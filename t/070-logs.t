# 070-logs: the access log (combined and JSON, global and per listener, reopened on SIGUSR1),
# the error log's levels, one error-log line per local error reply naming who and why, and no
# secret from a request header in either log.
use strict;
use warnings;
use Test::More;
use JSON::PP ();
use PxTest;

my $be = PxTest::Backend->echo(name => 'app');
my $slow = PxTest::Backend->start(sub { $_[0]->read_request; $_[0]->sleep(10) });
my %vars = (BACKEND_app => $be->port, BACKEND_slow => $slow->port, REFUSED => free_port());
my $px = PxTest::Pyxis->start(vars => \%vars, yaml => <<'YAML');
workers: 1
error_log: { path: stderr, level: debug }
access_log: { path: "%%DIR%%/access.log", format: combined }
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - { name: app, match: { path_prefix: /app/ }, upstream: app }
      - { name: down, match: { path_prefix: /down/ }, upstream: refused }
      - { name: slow, match: { path_prefix: /slow/ }, upstream: slow }
      - { name: hello, match: { path_prefix: /hello }, respond: { body: "hello\n" } }
  - name: json
    listen: 127.0.0.1:%%PORT_json%%
    access_log: { path: "%%DIR%%/access.json", format: json }
    routes:
      - { name: japp, match: { path_prefix: /app/ }, upstream: app }
      - { name: jdown, match: { path_prefix: /down/ }, upstream: refused }
  - name: quiet
    listen: 127.0.0.1:%%PORT_quiet%%
    access_log: off
    routes: [ { upstream: app } ]
upstreams:
  app: { endpoints: [ "127.0.0.1:%%BACKEND_app%%" ] }
  refused: { endpoints: [ "127.0.0.1:%%REFUSED%%" ] }
  slow: { endpoints: [ "127.0.0.1:%%BACKEND_slow%%" ], first_byte_timeout: 300ms }
YAML
my ($front, $json) = ($px->port('front'), $px->port('json'));
my $app = '127.0.0.1:' . $be->port;
my $refused = "127.0.0.1:$vars{REFUSED}";
my $slow_ep = '127.0.0.1:' . $slow->port;

sub lines_of { open my $f, '<', $_[0] or return (); my @l = <$f>; chomp @l; return @l }
my $alog = $px->dir . '/access.log';
my $jlog = $px->dir . '/access.json';
# Waits (bounded) until $file has $n lines, and returns them.
sub wait_lines {
    my ($file, $n) = @_;
    my @l;
    wait_until(sub { (@l = lines_of($file)) >= $n }, timeout => 5);
    return @l;
}

# ---- the combined format: one line per request ----
my $date = qr{\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]};
# [ request, [request line, status, referer, user agent, route, endpoint], least duration, what ]
my @combined = (
    [[path => '/app/x?q=1', headers => ['Referer' => 'http://ref.test/p', 'User-Agent' => 'ua/1']],
     ['GET /app/x?q=1 HTTP/1.1', 200, 'http://ref.test/p', 'ua/1', 'app', $app], 0,
     'proxied: request line, status, bytes, referer, agent, duration, route, endpoint'],
    [[path => '/hello'], ['GET /hello HTTP/1.1', 200, '-', '-', 'hello', '-'], 0,
     'answered locally: no referer, agent or endpoint'],
    [[path => '/hello/10', version => 'HTTP/1.0'],
     ['GET /hello/10 HTTP/1.0', 200, '-', '-', 'hello', '-'], 0, 'HTTP/1.0'],
    [[path => '/hello/q', headers => ['User-Agent' => 'a "quoted" agent']],
     ['GET /hello/q HTTP/1.1', 200, '-', qr/a [^"]*quoted[^"]* agent/, 'hello', '-'], 0,
     'a quote in the user agent cannot end its field early'],
    [[path => '/slow/x'], ['GET /slow/x HTTP/1.1', 504, '-', '-', 'slow', $slow_ep], 0.3,
     '504 after first_byte_timeout 300ms, with a duration of at least 0.3'],
);
for my $i (0 .. $#combined) {
    my ($req, $fields, $least, $what) = @{$combined[$i]};
    my $r = http_req($front, @$req);
    my @l = wait_lines($alog, $i + 1);
    is(scalar @l, $i + 1, "combined: one line per request ($what)");
    my ($rl, $st, $ref, $agent, $route, $ep) = map { ref $_ ? $_ : qr/\Q$_\E/ } @$fields;
    my $bytes = length $r->{body};
    my $re = join ' ', qr{\A127\.0\.0\.1 - - $date "$rl" $st $bytes "$ref" "$agent"},
        qr{(\d+\.\d{3}) "$route" "$ep"\z};
    my ($secs) = ($l[$i] // '') =~ $re;
    ok(defined $secs && $secs >= $least, "combined: $what") or diag $l[$i];
}

# ---- JSON: every line is an object with the documented keys and the right values ----
my @keys = sort qw(time remote_addr method uri host protocol status bytes_sent duration route
    upstream endpoint attempts request_id user_agent referer error);
my $ua = 'agent "with" \\ quotes';
my @r = (http_req($json, path => '/app/j?x=1', host => 'json.test',
             headers => ['User-Agent' => $ua, 'Referer' => 'http://ref.test/']),
         http_req($json, path => '/down/j'),
         http_req($json, path => '/app/10', version => 'HTTP/1.0'));
my @j = map { my $o = eval { JSON::PP::decode_json($_) }; $o // { unparsed => $_ } }
    wait_lines($jlog, 3);
is(scalar @j, 3, 'json: one line per request');
is_deeply([sort keys %$_], \@keys, 'json: a line parses as an object with the documented keys')
    for @j;
my %want = (remote_addr => '127.0.0.1', method => 'GET', uri => '/app/j?x=1',
    host => 'json.test', protocol => 'HTTP/1.1', status => 200,
    bytes_sent => length $r[0]{body}, route => 'japp', upstream => 'app', endpoint => $app,
    attempts => 1, user_agent => $ua, referer => 'http://ref.test/', error => '');
is_deeply({ map { ($_ => $j[0]{$_}) } keys %want }, \%want, 'json: a proxied 200, field by field');
like($j[0]{time} // '', qr/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\z/,
    'json: time is ISO 8601 UTC');
ok(($j[0]{duration} // -1) >= 0, 'json: duration is a number >= 0');
is_deeply([@{$j[1]}{qw(status upstream endpoint bytes_sent)}],
    [502, 'refused', $refused, length $r[1]{body}], 'json: a 502 names the upstream and endpoint');
ok(length($j[1]{error} // ''), "json: ... and its error ($j[1]{error})");
is($j[2]{protocol}, 'HTTP/1.0', 'json: an HTTP/1.0 request');
my %ids = map { ($_->{request_id} // '') => 1 } @j;
ok(!exists $ids{''} && keys %ids == 3, 'json: every request_id is set and different');

# ---- a listener with access_log: off logs nothing, wherever ----
is(http_req($px->port('quiet'), path => "/quiet/$_")->{status}, 200, "quiet listener: request $_")
    for 1 .. 2;
is(http_req($front, path => '/hello/marker')->{status}, 200, 'then a request on front');
my @l = wait_lines($alog, @combined + 1);
is(scalar @l, @combined + 1, 'access_log: off on a listener: no line for its requests');
unlike(join("\n", @l, lines_of($jlog)), qr/quiet/, '... in neither access log');

# ---- an error-log line for every local error reply: route or listener, client, cause ----
my $secrets = ['Authorization' => 'Bearer SECRET123', 'Cookie' => 'session=SECRET456'];
# [ status, raw request, route or listener named, endpoint named, level ]
for my $case (
    [404, build_request(path => '/nothing', headers => $secrets), 'front', undef, 'info'],
    [400, "GET /app/s HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer SECRET123\r\n"
        . "Cookie: session=SECRET456\r\nContent-Length: abc\r\n\r\n", 'front', undef, 'info'],
    [400, "GET /app/s HTTP/1.1\r\nHost: a\r\nCookie : session=SECRET456\r\n\r\n", 'front',
        undef, 'info'],
    [502, build_request(path => '/down/s', headers => $secrets), 'down', $refused, 'error'],
    [504, build_request(path => '/slow/s', headers => $secrets), 'slow', $slow_ep, 'error'],
) {
    my ($status, $bytes, $who, $endpoint, $level) = @$case;
    my ($first) = parse_responses(scalar raw_http($front, $bytes, responses => 1));
    is($first->{status}, $status, "$status from pyxis");
    # docs/proxy.md: "front#0 127.0.0.1: 502: upstream connection failed (endpoint ...)"
    my $line = $px->wait_log(qr/^.* \Q$who\E 127\.0\.0\.1: $status\b.*$/m, 5) // '';
    like($line, qr/\[$level\] \Q$who\E 127\.0\.0\.1: $status(?: [A-Z][A-Za-z ]+)?: \S/,
        "... an error-log line at $level: $who, the client, the status, the cause");
    like($line, $endpoint ? qr/\(endpoint \Q$endpoint\E\)$/ : qr/^(?!.*\(endpoint )/,
        $endpoint ? "... and the endpoint $endpoint" : '... and no endpoint');
}
http_req($json, path => '/down/secret', headers => $secrets);
my @all = (lines_of($alog), lines_of($jlog));
ok(@all >= @combined + 8, 'the access logs have lines for the requests with secrets');
for my $secret (qw(SECRET123 SECRET456)) {
    unlike($px->log, qr/$secret/, "$secret is not in the error log (level debug)");
    unlike(join("\n", @all), qr/$secret/, "$secret is not in the access logs");
}

# ---- SIGUSR1 reopens the access log files (after a rotation) ----
rename $alog, "$alog.1" or die "rename: $!";
$px->signal('USR1');
ok($px->wait_log(qr/\[info\] logs reopened/), 'SIGUSR1 -> "logs reopened"');
is(http_req($front, path => '/hello/after-rotation')->{status}, 200, 'a request after it');
@l = wait_lines($alog, 1);
ok(@l == 1 && $l[0] =~ m{"GET /hello/after-rotation }, '... is logged in the new file');
unlike(join("\n", lines_of("$alog.1")), qr/after-rotation/, '... not in the rotated one');
like($px->log, qr/\[info\] pyxis \S+ started: /, 'level debug shows info lines ("started")');
is($px->stop, 0, 'pyxis exits 0');

# ---- error_log level error: only errors ----
my $quiet = PxTest::Pyxis->start(vars => \%vars, yaml => <<'YAML');
workers: 1
error_log: { path: stderr, level: error }
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes: [ { name: down, match: { path: /down }, upstream: refused } ]
upstreams:
  refused: { endpoints: [ "127.0.0.1:%%REFUSED%%" ] }
YAML
is(http_req($quiet->port('front'), path => '/nothing')->{status}, 404, 'level error: a 404');
is(http_req($quiet->port('front'), path => '/down')->{status}, 502, '... and a 502');
ok($quiet->wait_log(qr/\[error\] down 127\.0\.0\.1: 502/), '... the 502 is logged');
is($quiet->stop, 0, '... pyxis exits 0');
unlike($quiet->log, qr/\[(?:warn|info|debug)\]/, '... and nothing below error was logged')
    or diag $quiet->log;
unlike($quiet->log, qr/started/, '... not even "started"');

done_testing;
