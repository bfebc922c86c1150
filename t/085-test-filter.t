# 085-test-filter: `pyxis test-filter` runs a route's filter chain offline, on a request read
# from a file, with the upstream answered from a file, and prints what the upstream and the
# client received. Filters here are the testfilter module (t/modules/testfilter.c).
use strict;
use warnings;
use Test::More;
use PxTest;

my $yaml = <<'YAML';
listeners:
  - name: front
    listen: 127.0.0.1:1        # never opened by test-filter
    routes:
      - match: { path_prefix: /order/ }
        filters:
          - testfilter: { tag: A }
          - testfilter: { tag: B, path: /rewritten, append: { request: "+req", response: "+resp" } }
        upstream: be
      - match: { path_prefix: /deny/ }
        filters:
          - testfilter: { tag: A }
          - testfilter: { tag: B, respond_in: request_headers }
        upstream: be
      - match: { path_prefix: /paused/ }
        filters:
          - testfilter: { tag: P, pause: [request_headers, response_headers], pause_ms: 5ms }
          - testfilter: { tag: S, upstream: other }
        upstream: be
      - match: { path_prefix: /authz/ }
        filters:
          - testfilter: { tag: C, callout: { upstream: authz, path: /check, in: request_headers } }
        upstream: be
      - match: { path_prefix: /url/ }
        filters:
          - testfilter:
              tag: U
              callout: { url: "http://Auth.Example.com:80/v1/check?x=1", in: response_headers }
        upstream: be
      - match: { path_prefix: /surl/ }
        filters:
          - testfilter:
              tag: S
              callout: { url: "https://Auth.Example.com:443/v1/check", in: response_headers }
        upstream: be
      - match: { path_prefix: /log/ }
        filters:
          - testfilter: { tag: L, callout: { upstream: authz, path: /after, in: log } }
        respond: { status: 204 }
  - name: back
    listen: 127.0.0.1:2
    routes:
      - match: { path_prefix: / }
        filters: [ { testfilter: { tag: K, upper: [response] } } ]
        upstream: be
upstreams:
  be: { endpoints: [ "127.0.0.1:9" ] }
  other: { endpoints: [ "127.0.0.1:10" ] }
  authz: { endpoints: [ "127.0.0.1:11" ] }
YAML

my $upstream_response = <<'HTTP';
HTTP/1.1 200 OK
Content-Type: text/plain
Date: Mon, 01 Jan 2024 00:00:00 GMT
Content-Length: 6

hello
HTTP

# Write the files, run `pyxis test-filter`, split its output into the two sections.
sub test_filter {
    my (%o) = @_;
    my $dir = PxTest::subdir('tf');
    my %file = (config => $o{yaml} // $yaml, request => $o{request});
    $file{'upstream-response'} = $o{response} if defined $o{response};
    my @args;
    for my $k (sort keys %file) {
        open my $fh, '>', "$dir/$k" or die "$dir/$k: $!";
        print $fh $file{$k};
        close $fh;
        push @args, "--$k", "$dir/$k";
    }
    # callouts => [ TARGET => RESPONSE, ... ]: --callout-response TARGET=FILE, in order.
    my @co = @{ $o{callouts} // [] };
    for (my $i = 0; 2 * $i < @co; $i++) {
        my ($target, $text) = @co[2 * $i, 2 * $i + 1];
        open my $fh, '>', "$dir/callout$i" or die $!;
        print $fh $text;
        close $fh;
        push @args, '--callout-response', "$target=$dir/callout$i";
    }
    my $r = pyxis_run('test-filter', @args, @{ $o{args} // [] });
    ($r->{up}, $r->{client}) =
        $r->{out} =~ /\A--- upstream request ---\n(.*?)--- client response ---\n(.*)\z/s;
    $r->{dir} = $dir;
    if ($ENV{PYXIS_ASAN}) {
        unlike($r->{err}, qr/ERROR: (?:Address|Leak)Sanitizer|runtime error:/,
            "$o{name}: no sanitizer report");
    }
    return $r;
}

# The request file is written by hand, with bare LF line ends; the body is kept as it is.
my $r = test_filter(name => 'proxied', response => $upstream_response,
    request => "POST /order/x?q=1 HTTP/1.1\nHost: example.test\nContent-Length: 4\n\ndata");
is($r->{exit}, 0, 'a proxied request: exit 0') or diag($r->{err});
is($r->{up}, join('', map { "$_\r\n" }
        'POST /rewritten?q=1 HTTP/1.1',    # req_set_path() of filter B, query kept
        'Host: example.test',
        'X-Forwarded-For: 127.0.0.1',
        'X-Forwarded-Proto: http',
        'X-Forwarded-Host: example.test',
        'x-order: A,B',                    # request filters in written order
        'Transfer-Encoding: chunked',      # B appends to the body: re-framed
        '', '8', 'data+req', '0', ''),
    'the upstream request shows every filter change, exactly as sent');
is($r->{client}, join('', map { "$_\r\n" }
        'HTTP/1.1 200 OK',
        'Content-Type: text/plain',
        'Date: <date>',                    # any Date value is printed as <date>
        'x-order: B,A',                    # response filters in reverse order
        'Transfer-Encoding: chunked',
        '', 'b', "hello\n+resp", '0', ''),
    'the client response shows the response filters\' changes');
like($r->{err}, qr/connection to upstream be \(127\.0\.0\.1:9\)/, 'stderr names the upstream');
like($r->{err}, qr/\[testfilter\] .*testfilter B log: status=200/, 'on_log ran; log on stderr');

# The same request with CRLF line ends gives the same output.
my $crlf = test_filter(name => 'crlf', response => $upstream_response,
    request => "POST /order/x?q=1 HTTP/1.1\r\nHost: example.test\r\nContent-Length: 4\r\n\r\ndata");
is($crlf->{out}, $r->{out}, 'CRLF and bare-LF request files are the same request');

# A filter answers locally: nothing reaches the upstream.
$r = test_filter(name => 'local', request => "GET /deny/x HTTP/1.1\nHost: a\n");
is($r->{exit}, 0, 'a local reply: exit 0');
is($r->{up}, "(none)\n", 'the upstream request is (none)');
like($r->{client}, qr{\AHTTP/1\.1 403 Forbidden\r\n}, 'the client got the 403');
like($r->{client}, qr/^x-denied-by: B\r$/m, '... with the header filter B set');
like($r->{client}, qr/^x-order: A\r$/m, '... filtered by A only');
like($r->{client}, qr/^Date: <date>\r$/m, '... and the Date placeholder');
like($r->{client}, qr/\r\n\r\ndenied by B\n\z/, '... and the body');

# Without --upstream-response the upstream answers 200 with an empty body; pauses (timers) and
# set_upstream() work as in a running pyxis.
$r = test_filter(name => 'default', request => "GET /paused/y HTTP/1.1\nHost: a\n\n");
is($r->{exit}, 0, 'paused filters, default upstream response: exit 0');
like($r->{up}, qr{\AGET /paused/y HTTP/1\.1\r\n.*^x-order: P,S\r$}ms, 'upstream request filtered');
like($r->{err}, qr/connection to upstream other \(127\.0\.0\.1:10\)/, 'set_upstream() was followed');
like($r->{client}, qr{\AHTTP/1\.1 200 OK\r\n.*^Content-Length: 0\r$}ms, 'default answer: 200, empty');
like($r->{client}, qr/^x-order: S,P\r$/m, '... filtered on the way back');

# --listener picks another listener's routes; --keep-date prints the Date as received.
$r = test_filter(name => 'listener', request => "GET /z HTTP/1.1\nHost: a\n\n",
    response => $upstream_response, args => ['--listener', 'back', '--keep-date']);
like($r->{client}, qr/^x-order: K\r$/m, '--listener back: its route ran');
like($r->{client}, qr/\r\n\r\nHELLO\n\z/, '... and its body filter');
like($r->{client}, qr/^Date: Mon, 01 Jan 2024 00:00:00 GMT\r$/m, '--keep-date');
$r = test_filter(name => 'no-listener', request => "GET / HTTP/1.1\nHost: a\n\n",
    args => ['--listener', 'nope']);
is($r->{exit}, 1, 'an unknown listener: exit 1');
like($r->{err}, qr/no listener named "nope"/, '... saying so');

# A config error: file:line:col on stderr, nothing run.
$r = test_filter(name => 'bad-config', request => "GET / HTTP/1.1\nHost: a\n\n",
    yaml => $yaml =~ s/\{ tag: K,/{ tag: K, bogus: 1,/r);
isnt($r->{exit}, 0, 'a config error: non-zero exit');
my ($bad_line) = grep { (split /\n/, $yaml)[$_ - 1] =~ /tag: K,/ } 1 .. ($yaml =~ tr/\n//);
like($r->{err}, qr{/config:$bad_line:44: .*unknown key "bogus"}, '... with file:line:col');
is($r->{out}, '', '... and no output');

# A body shorter than its Content-Length: pyxis waits for the rest; --timeout ends the wait.
$r = test_filter(name => 'short-body', args => ['--timeout', '300ms'],
    request => "POST /order/x HTTP/1.1\nHost: a\nContent-Length: 10\n\ndata");
is($r->{exit}, 1, 'no complete response: exit 1');
like($r->{err}, qr/no complete response after 300 ms/, '... and why, on stderr');
like($r->{up}, qr/\r\n\r\n4\r\ndata\r\n\(incomplete\)\n\z/, 'what reached the upstream so far');
is($r->{client}, "(none)\n", 'the client got nothing');

# A newline ending the file is a body byte: test-filter says so rather than repair it.
$r = test_filter(name => 'long-body',
    request => "POST /order/x HTTP/1.1\nHost: a\nContent-Length: 4\n\ndata\n");
is($r->{exit}, 0, 'a body longer than its Content-Length: the first request is answered');
like($r->{err}, qr/warning: .*request: 1 bytes after the body's Content-Length \(4\)/,
    '... with a warning about the extra byte');
like($r->{up}, qr/\r\n\r\n8\r\ndata\+req\r\n0\r\n\r\n\z/, '... which is not part of the body');

# Call-outs are answered from fixtures: by upstream name, or by URL prefix (scheme and host
# compared case-insensitively, :80 implied); the first matching fixture answers.
my @fixtures = (
    authz => "HTTP/1.1 200 OK\nX-Plan: gold\nContent-Length: 5\n\nallow",
    'http://auth.example.com/v1/' => "HTTP/1.1 403 Forbidden\nContent-Length: 3\n\nno\n",
    'http://auth.example.com/' => "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
);
$r = test_filter(name => 'callout-upstream', request => "GET /authz/x HTTP/1.1\nHost: a\n",
    callouts => \@fixtures);
is($r->{exit}, 0, 'a call-out to an upstream: exit 0') or diag($r->{err});
like($r->{up}, qr/^x-callout: 200 5\r$/m, 'the filter got the fixture\'s answer (200, 5 bytes)');
like($r->{err}, qr{call-out GET /check \(upstream authz\) answered from \S+/callout0},
    '... and stderr says which fixture answered');
$r = test_filter(name => 'callout-url', request => "GET /url/x HTTP/1.1\nHost: a\n",
    callouts => \@fixtures);
like($r->{client}, qr/^x-callout: 403 3\r$/m, 'a URL call-out: the first matching prefix answers');
like($r->{err}, qr{call-out GET http://auth\.example\.com/v1/check\?x=1 answered from \S+/callout1},
    '... with the URL in canonical form');
$r = test_filter(name => 'callout-https', request => "GET /surl/x HTTP/1.1\nHost: a\n",
    response => $upstream_response,
    callouts => [ @fixtures, 'HTTPS://auth.example.com/v1' => "HTTP/1.1 201 Created\n\n" ]);
like($r->{client}, qr/^x-callout: 201 0\r$/m,
    'an https call-out: only an https:// fixture matches it (:443 implied)');
like($r->{err}, qr{call-out GET https://auth\.example\.com/v1/check answered from \S+/callout3},
    '... named with its scheme');
$r = test_filter(name => 'callout-none', request => "GET /url/x HTTP/1.1\nHost: a\n",
    callouts => [ authz => $fixtures[1] ]);
is($r->{exit}, 0, 'an unmatched call-out: the request still completes');
like($r->{client},
    qr{^x-callout: 0 no fixture for GET http://auth\.example\.com/v1/check\?x=1\r$}m,
    '... the call-out failed with status 0, "no fixture for ..."');
$r = test_filter(name => 'callout-log', request => "GET /log/x HTTP/1.1\nHost: a\n",
    callouts => \@fixtures);
like($r->{client}, qr{\AHTTP/1\.1 204 No Content\r\n}, 'on_log call-out: the response is sent');
like($r->{err}, qr/log-phase call-out answered 200 \(5 bytes\)/,
    '... and the call-out made after it completes before test-filter exits');

# No listening socket is ever opened.
SKIP: {
    my $probe = PxTest::run_cmd(['strace', '-f', '-o', '/dev/null', 'true']);
    skip 'strace is not available (or not allowed here)', 2 if $probe->{exit} != 0;
    my $dir = PxTest::testdir();
    # LeakSanitizer cannot run under ptrace; the other runs above check for leaks.
    local $ENV{ASAN_OPTIONS} = join(':', grep { length } $ENV{ASAN_OPTIONS} // '', 'detect_leaks=0');
    my $t = PxTest::run_cmd(['strace', '-f', '-e', 'trace=listen,bind', '-o', "$dir/strace",
        PxTest::pyxis_bin(), 'test-filter', '--config', "$crlf->{dir}/config", '--request',
        "$crlf->{dir}/request"]);
    is($t->{exit}, 0, 'under strace: exit 0') or diag($t->{err});
    open my $fh, '<', "$dir/strace" or die $!;
    my @calls = grep { /\b(?:listen|bind)\(/ } <$fh>;
    is(scalar @calls, 0, 'no listen() or bind() call') or diag(@calls);
}

done_testing;
