# 080-filter-chain: the filter chain with a real module (t/modules/testfilter.c): order of the
# phases, local replies from each phase, pauses that resume from timers, body filters that keep
# or change the length, errors, per-request variables, per-worker data and on_log.
use strict;
use warnings;
use Test::More;
use PxTest;

my $be = PxTest::Backend->echo(name => 'be');
my $other = PxTest::Backend->echo(name => 'other');

my $px = PxTest::Pyxis->start(
    vars => { BE => $be->port, OTHER => $other->port },
    yaml => <<'YAML');
workers: 1
testfilter: { global: "from the top level" }
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /order/ }
        filters:
          - testfilter: { tag: A }
          - testfilter: { tag: B }
        upstream: be
      - match: { path_prefix: /deny-req/ }
        filters:
          - testfilter: { tag: A }
          - testfilter: { tag: B, respond_in: request_headers }
          - testfilter: { tag: C }
        upstream: be
      - match: { path_prefix: /deny-resp/ }
        filters:
          - testfilter: { tag: A }
          - testfilter: { tag: B, respond_in: response_headers }
        upstream: be
      - match: { path_prefix: /deny-body/ }
        filters:
          - testfilter: { tag: A, respond_in: request_body }
        upstream: be
      - match: { path_prefix: /paused/ }
        filters:
          - testfilter:
              tag: P
              pause: [request_headers, request_body, response_headers, response_body]
              pause_ms: 10ms
          - testfilter: { tag: Q, pause: [request_headers, response_headers], pause_ms: 5ms }
        upstream: be
      - match: { path_prefix: /upper/ }
        filters:
          - testfilter: { tag: U, upper: [request, response] }
        upstream: be
      - match: { path_prefix: /append/ }
        filters:
          - testfilter: { tag: T, append: { request: "+req", response: "+resp" } }
        upstream: be
      - match: { path_prefix: /hold/ }
        filters:
          - testfilter: { tag: H, upper: [response], hold_response: true }
        upstream: be
      - match: { path_prefix: /fail-req/ }
        filters: [ { testfilter: { tag: F, fail_in: request_headers } } ]
        upstream: be
      - match: { path_prefix: /fail-resp/ }
        filters: [ { testfilter: { tag: F, fail_in: response_headers } } ]
        upstream: be
      - match: { path_prefix: /fail-body/ }
        filters: [ { testfilter: { tag: F, fail_in: response_body } } ]
        upstream: be
      - match: { path_prefix: /vars/ }
        filters:
          - testfilter: { tag: A, set_var: alice }
          - testfilter: { tag: B }
        upstream: be
      - match: { path_prefix: /switch/ }
        filters:
          - testfilter: { tag: S, upstream: other, path: /rewritten }
        upstream: be
      - match: { path_prefix: /count/ }
        filters: [ { testfilter: { tag: N, count: true } } ]
        upstream: be
      - match: { path_prefix: /local/ }
        filters:
          - testfilter: { tag: L, upper: [response], append: { response: "!" } }
        respond: { status: 200, body: "local reply\n" }
      - match: { path_prefix: /whole/ }
        filters:
          - testfilter: { tag: R, read_body: 100 }
          - testfilter: { tag: S, upper: [request] }
        upstream: be
      - match: { path_prefix: /whole-local/ }
        filters: [ { testfilter: { tag: R, read_body: 100 } } ]
        respond: { status: 200, body: "read\n" }
      - match: { path_prefix: /slow/ }
        filters: [ { testfilter: { tag: W, pause: request_headers, pause_ms: 3s } } ]
        upstream: be
      - match: { path_prefix: /timeout/ }
        filters: [ { testfilter: { tag: W, pause: request_headers, pause_ms: 10s } } ]
        timeout: 200ms
        upstream: be
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BE%%" ] }
  other: { endpoints: [ "127.0.0.1:%%OTHER%%" ] }
YAML
my $port = $px->port('front');

# Request filters run in written order, response filters in reverse.
my $r = http_req($port, path => '/order/x');
is($r->{status}, 200, 'two filters: 200');
my $seen = parse_echo($r->{body});
is($seen->{h}{'x-order'}, 'A,B', 'request headers: A then B');
is($r->{h}{'x-order'}, 'B,A', 'response headers: B then A');
is($r->{h}{'x-global'}, 'from the top level', 'a module\'s top-level key reached worker_init');

# A local reply from the request phase: later filters and the upstream never see the request;
# the response filters of the filters before it do run on it.
my $before = $be->requests;
$r = http_req($port, path => '/deny-req/x');
is($r->{status}, 403, 'respond() from on_request_headers -> 403');
is($r->{body}, "denied by B\n", '... with the filter\'s body');
is($r->{h}{'x-denied-by'}, 'B', '... and the header it added');
is($r->{h}{'x-order'}, 'A', 'only A (before B) filtered the reply');
is(scalar $be->requests, $before, 'the upstream saw nothing');
ok($px->wait_log(qr/testfilter B log: status=403 path=\/deny-req\/x/, 5),
    'the filter that answered gets on_log');
unlike($px->log, qr/testfilter C log: status=403 path=\/deny-req/, '... the one after it does not');

# From the response-headers phase the filter's reply replaces the upstream's.
$r = http_req($port, path => '/deny-resp/x');
is($r->{status}, 403, 'respond() from on_response_headers -> 403');
is($r->{body}, "denied by B\n", '... replacing the upstream response body');

# From the request body phase.
$r = http_req($port, method => 'POST', path => '/deny-body/x', body => 'payload');
is($r->{status}, 403, 'respond() from on_request_body -> 403');

# Pauses in every phase, resumed by timers: the exchange is intact.
my $body = 'x' x 100_000;
$r = http_req($port, method => 'POST', path => '/paused/x', body => $body, timeout => 10);
is($r->{status}, 200, 'paused in every phase -> 200');
$seen = parse_echo($r->{body});
is($seen->{h}{'x-order'}, 'P,Q', 'request phase went through both filters after pauses');
is(length($seen->{body} // ''), length $body, 'request body intact after paused body filters');
is($r->{h}{'x-order'}, 'Q,P', 'response phase went through both after pauses');

# Body filters that keep the length keep Content-Length.
$r = http_req($port, method => 'POST', path => '/upper/x', body => 'hello body');
is($r->{status}, 200, 'uppercasing filter -> 200');
like($r->{body}, qr/HELLO BODY/, 'request body uppercased on the way up, body echoed');
unlike($r->{body}, qr/[a-z]/, 'response body uppercased on the way down');
ok(defined $r->{h}{'content-length'}, 'same length: Content-Length kept');

# Filters that change the length announce it; the body is re-framed.
$r = http_req($port, method => 'POST', path => '/append/x', body => 'data');
is($r->{status}, 200, 'appending filter -> 200');
$seen = parse_echo($r->{body} =~ s/\+resp\z//r);
is($seen->{body}, 'data+req', 'upstream got the longer request body');
like($seen->{h}{'transfer-encoding'} // '', qr/chunked/, '... chunked, not the old length');
like($r->{body}, qr/\+resp\z/, 'client got the longer response body');
is($r->{h}{'transfer-encoding'}, 'chunked', '... chunked');
ok(!defined $r->{h}{'content-length'}, '... without the upstream Content-Length');

# HTTP/1.0 client: a changed length means close-delimited.
$r = http_req($port, method => 'POST', path => '/append/x', body => 'data', version => 'HTTP/1.0');
like($r->{body}, qr/\+resp\z/, 'HTTP/1.0 client gets the longer body');
ok($r->{closed}, '... delimited by closing the connection');

# A filter holding the whole body until the end.
$r = http_req($port, path => '/hold/x' . ('y' x 50));
is($r->{status}, 200, 'holding filter -> 200');
like($r->{body}, qr/^GET \/HOLD\/XY+ HTTP\/1.1/, 'whole body held then passed, uppercased');

# A filter reads the whole request body first (req_body_read), changes it; later body filters
# see it as one chunk; it goes upstream with its new length.
$r = http_req($port, method => 'POST', path => '/whole/x', body => 'abc');
is($r->{status}, 200, 'whole body read -> 200');
$seen = parse_echo($r->{body});
is($seen->{h}{'x-body-len'}, 3, 'the filter saw the whole body (3 bytes)');
is($seen->{body}, 'ABC+SEEN', 'changed by it, then by the next body filter');
is($seen->{h}{'content-length'}, 8, '... sent with its new Content-Length');
$r = http_req($port, method => 'POST', path => '/whole/x', body => "3\r\nchu\r\n3\r\nnky\r\n0\r\n\r\n",
    headers => ['Transfer-Encoding' => 'chunked']);
$seen = parse_echo($r->{body});
is($seen->{body}, 'CHUNKY+SEEN', 'a chunked body is read whole too');
$r = http_req($port, method => 'POST', path => '/whole/x', body => 'x' x 101);
is($r->{status}, 413, 'a body over the filter\'s limit -> 413');
$r = http_req($port, path => '/whole/x');
is($r->{status}, 200, 'no body: the filter goes on at once');
my $c = client($port);
$c->write("POST /whole-local/x HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody"
    . "GET /order/next HTTP/1.1\r\nHost: t\r\n\r\n");
my $r1 = $c->read_response(timeout => 5);
my $r2 = $c->read_response(timeout => 5);
is($r1->{body}, "read\n", 'a local reply after the body was read');
is($r2->{status}, 200, '... keeps the connection: the next request is answered');
$c->close;

# Errors: 500 before the response started, a cut connection after.
$r = http_req($port, path => '/fail-req/x');
is($r->{status}, 500, 'ERROR from on_request_headers -> 500');
$r = http_req($port, path => '/fail-resp/x');
is($r->{status}, 500, 'ERROR from on_response_headers -> 500');
$r = http_req($port, path => '/fail-body/x');
ok(!$r->{complete} || !defined $r->{status} || $r->{status} == 200,
    'ERROR from on_response_body after the head: response cut short');
ok($r->{closed}, '... and the connection closed');
ok($px->wait_log(qr/filter testfilter failed in on_response_body/, 5), 'the failure is logged');
$r = http_req($port, path => '/order/after-failures');
is($r->{status}, 200, 'the worker serves on after failing filters');

# Per-request variables cross filters.
$r = http_req($port, path => '/vars/x');
$seen = parse_echo($r->{body});
is($seen->{h}{'x-var'}, 'alice', 'var set by A is read by B (x-var)');

# set_upstream and req_set_path.
$r = http_req($port, path => '/switch/x?q=1');
is($r->{h}{'x-backend'}, 'other', 'set_upstream() sent the request elsewhere');
$seen = parse_echo($r->{body});
is($seen->{target}, '/rewritten?q=1', 'req_set_path() rewrote the path, query kept');

# Per-worker data from worker_init.
my @counts = map { http_req($port, path => "/count/$_")->{h}{'x-count'} } 1 .. 3;
is($counts[2] - $counts[0], 2, 'worker data counts requests (' . join(',', @counts) . ')');

# Local replies (a respond route) go through response body filters too.
$r = http_req($port, path => '/local/x');
is($r->{body}, "LOCAL REPLY\n!", 'respond route body filtered');
is($r->{h}{'content-length'}, length("LOCAL REPLY\n!"), '... Content-Length of the final body');

# on_log runs after the response, tagged with the module and the request.
ok($px->wait_log(qr/\[testfilter\] .*testfilter L log: status=200 path=\/local\/x/, 5),
    'on_log line in the error log');

# A paused request does not hold up the worker: a fast request completes meanwhile.
my $slow = client($port);
$slow->write("GET /slow/x HTTP/1.1\r\nHost: t\r\n\r\n");
$r = http_req($port, path => '/order/fast');
is($r->{status}, 200, 'a fast request completes while another one is paused');
ok(!length($slow->received // ''), '... and the paused one has no answer yet');
my $sr = $slow->read_response(timeout => 10);
is($sr->{status}, 200, 'the paused request completes after its timer');

# The route timeout covers a paused filter.
$r = http_req($port, path => '/timeout/x');
is($r->{status}, 504, 'route timeout while a filter is paused -> 504');

is($px->stop, 0, 'pyxis exits cleanly');
done_testing;
