# 037-retry: retry policies. Each condition (connect failure, 5xx/gateway errors, reset before
# a response, per-try timeout) is retried on another endpoint; only idempotent methods are
# retried once the upstream may have seen the request, unless the route opts in; bodies are
# replayed within retry.buffer; the budget and the attempt limit stop retries; backoff stays
# within its bounds; x-pyxis-attempts appears only when configured.
use strict;
use warnings;
use Test::More;
use PxTest;

my $ok = PxTest::Backend->echo(name => 'ok');
my $e503 = PxTest::Backend->start(sub {
    my ($c) = @_;
    while ($c->read_request) { $c->respond(503, ['Content-Type' => 'text/plain'], "busy\n") }
});
my $reset = PxTest::Backend->start(sub { my ($c) = @_; $c->read_request or return; $c->reset });
my $hang = PxTest::Backend->start(sub { my ($c) = @_; $c->read_request or return; $c->sleep(30) });
my $refused = free_port();    # nothing listens here

my $px = PxTest::Pyxis->start(
    vars => { OK => $ok->port, E503 => $e503->port, RESET => $reset->port, HANG => $hang->port,
              REFUSED => $refused },
    yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path: /cf }
        upstream: cf
        retry: { attempts: 2, on: [connect-failure], backoff: { base: 1ms, max: 5ms } }
      - match: { path: /gw }
        upstream: gw
        retry: { on: [gateway-error], backoff: { base: 1ms, max: 5ms } }
      - match: { path: /gw-any }
        upstream: gw
        retry: { on: [gateway-error], methods: any, backoff: { base: 1ms, max: 5ms } }
      - match: { path: /gw-small-buffer }
        upstream: gw
        retry: { on: [gateway-error], methods: any, buffer: 16, backoff: { base: 1ms, max: 5ms } }
      - match: { path: /gw-no-budget }
        upstream: gw
        retry: { on: [gateway-error], budget: { percent: 1, min_concurrency: 0 } }
      - match: { path: /gw-header }
        upstream: gw
        retry: { on: [503], attempts_header: true, backoff: { base: 1ms, max: 5ms } }
      - match: { path: /gw-none }
        upstream: gw
      - match: { path: /reset }
        upstream: rs
        retry: { on: [reset], backoff: { base: 1ms, max: 5ms } }
      - match: { path: /per-try }
        upstream: hg
        retry: { on: [per-try-timeout], per_try_timeout: 300ms, backoff: { base: 1ms, max: 5ms } }
      - match: { path: /all-fail }
        upstream: bad
      - match: { path: /inherit }
        upstream: inherit
upstreams:
  cf: { endpoints: [ "127.0.0.1:%%REFUSED%%", "127.0.0.1:%%OK%%" ] }
  gw: { endpoints: [ "127.0.0.1:%%E503%%", "127.0.0.1:%%OK%%" ] }
  rs: { endpoints: [ "127.0.0.1:%%RESET%%", "127.0.0.1:%%OK%%" ] }
  hg: { endpoints: [ "127.0.0.1:%%HANG%%", "127.0.0.1:%%OK%%" ] }
  bad:
    endpoints: [ "127.0.0.1:%%E503%%" ]
    retry: { attempts: 3, on: [5xx], attempts_header: true, backoff: { base: 1ms, max: 5ms } }
  inherit:
    endpoints: [ "127.0.0.1:%%E503%%", "127.0.0.1:%%OK%%" ]
    retry: { on: [gateway-error], backoff: { base: 1ms, max: 5ms } }
YAML
my $port = $px->port('front');

sub statuses {
    my ($n, %req) = @_;
    return [map { http_req($port, %req)->{status} } 1 .. $n];
}
sub all_200 { my ($s) = @_; return !grep { $_ != 200 } @$s }

# Round robin alternates the two endpoints, so four requests start twice on each.
ok(all_200(statuses(4, path => '/cf')), 'connect failure: retried on the other endpoint');
my $r = http_req($port, method => 'POST', path => '/cf', body => 'payload-1');
is($r->{status}, 200, 'a POST whose connect failed is retried: it never reached the upstream');
$r = http_req($port, method => 'POST', path => '/cf', body => 'payload-2');
is($r->{status}, 200, '... whichever endpoint it starts on');
ok((grep { $_->{method} eq 'POST' && $_->{body} =~ /\Apayload-[12]\z/ } $ok->requests) == 2,
   'both POST bodies reached the backend whole');

ok(all_200(statuses(4, path => '/gw')), 'gateway error (503): retried on the other endpoint');
ok(all_200(statuses(4, path => '/reset')), 'reset before any response byte: retried');
ok(all_200(statuses(2, path => '/per-try')), 'per-try timeout: retried');
ok(all_200(statuses(4, path => '/inherit')), "a route without retry takes its upstream's");
ok((grep { $_ == 503 } @{statuses(4, path => '/gw-none')}),
   'without a policy, the 503 reaches the client');

# Once the upstream may have seen it, a POST is only retried when the route opts in.
my $posts = statuses(4, method => 'POST', path => '/gw', body => 'x');
ok((grep { $_ == 503 } @$posts), 'POST not retried after a 503 by default');
ok($px->wait_log(qr/not retried: method not retried/), '... and the log says why');
my $before = () = grep { $_->{target} eq '/gw-any' } $ok->requests;
ok(all_200(statuses(4, method => 'POST', path => '/gw-any', body => 'replay-me')),
   'methods: any: the POST is retried');
my @replayed = grep { $_->{target} eq '/gw-any' } $ok->requests;
is(scalar(@replayed) - $before, 4, 'each POST reached the good backend once');
ok(!grep({ $_->{body} ne 'replay-me' } @replayed), '... with its whole body, replayed');

ok((grep { $_ == 503 } @{statuses(4, method => 'POST', path => '/gw-small-buffer',
                                  body => 'a body larger than sixteen bytes')}),
   'a body larger than retry.buffer is not retried');
ok($px->wait_log(qr/not retried: request body not kept for replay/), '... logged');

# Chunked bodies: read up to retry.buffer before the first attempt. One that ends within it is
# replayed like a Content-Length body, and sent with a Content-Length.
sub chunked { my %o = @_; return (method => 'POST', headers => ['Transfer-Encoding' => 'chunked'], %o) }
$before = () = grep { $_->{target} eq '/gw-small-buffer' } $ok->requests;
ok(all_200(statuses(4, chunked(path => '/gw-small-buffer', body => "4\r\ntiny\r\n3\r\n-ok\r\n0\r\n\r\n"))),
   'a chunked body within retry.buffer is retried');
@replayed = grep { $_->{target} eq '/gw-small-buffer' } $ok->requests;
is(scalar(@replayed) - $before, 4, '... each POST reached the good backend once');
ok(!grep({ $_->{body} ne 'tiny-ok' || ($_->{h}{'content-length'} // '') ne '7' || $_->{chunked} }
         @replayed[$before .. $#replayed]),
   '... with its whole body, sent with Content-Length: 7 instead of chunked');

# One that goes past the buffer: what was read goes first, the rest streams, no retry.
my $long = "a\r\n" . ('a' x 10) . "\r\n14\r\n" . ('b' x 20) . "\r\n5\r\nccccc\r\n0\r\nX-Sum: 35\r\n\r\n";
my $n503long = () = grep { $_->{target} eq '/gw-small-buffer' } $e503->requests;
$before = () = grep { $_->{target} eq '/gw-small-buffer' } $ok->requests;
my $longs = statuses(4, chunked(path => '/gw-small-buffer', body => $long));
is(join(',', sort @$longs), '200,200,503,503', 'a chunked body past retry.buffer is not retried');
ok($px->wait_log(qr/not retried: request body not kept for replay/), '... logged');
my @streamed = ((grep { $_->{target} eq '/gw-small-buffer' } $ok->requests)[$before .. $before + 1],
                (grep { $_->{target} eq '/gw-small-buffer' } $e503->requests)[$n503long .. $n503long + 1]);
is(scalar(grep { defined } @streamed), 4, '... each reached one backend once');
ok(!grep({ !defined || $_->{body} ne ('a' x 10) . ('b' x 20) . 'ccccc' || !$_->{chunked}
           || join(',', map { "$_->[0]=$_->[1]" } @{$_->{trailers}}) ne 'X-Sum=35' } @streamed),
   '... whole: the part read ahead, then the rest, chunked, with its trailer');

ok((grep { $_ == 503 } @{statuses(4, path => '/gw-no-budget')}), 'an empty budget stops retries');
ok($px->wait_log(qr/not retried: retry budget exhausted/), '... logged');

my @att = map { my $x = http_req($port, path => '/gw-header'); [$x->{status}, $x->{h}{'x-pyxis-attempts'}] } 1 .. 4;
ok(!grep({ $_->[0] != 200 } @att), 'listed status 503 is retried');
is(join(',', sort map { $_->[1] // 'none' } @att), '1,1,2,2', 'x-pyxis-attempts: 1 or 2');
$r = http_req($port, path => '/gw');
ok(!exists $r->{h}{'x-pyxis-attempts'}, 'no x-pyxis-attempts unless configured');

my $n503 = () = $e503->requests;
$r = http_req($port, path => '/all-fail');
is($r->{status}, 503, 'attempts exhausted: the last 503 reaches the client');
is($r->{h}{'x-pyxis-attempts'}, 3, '... after 3 attempts');
is(scalar(() = $e503->requests) - $n503, 3, '... the backend saw 3 requests');
like($r->{body}, qr/busy/, "... with the upstream's own body");

my @delays = $px->log =~ /retrying in (\d+)ms/g;
ok(@delays > 10, 'retries logged with their delay');
ok(!grep({ $_ > 5 } @delays), 'every backoff within backoff.max (5ms)');

# Config errors.
my $chk = PxTest::Pyxis->check(yaml => <<'YAML');
listeners:
  - listen: 127.0.0.1:1
    routes:
      - match: { path: / }
        upstream: u
        retry: { attempts: 11, on: [teapot, 302], methods: [BREW], backoff: { base: 2s, max: 1s } }
upstreams:
  u: { endpoints: [ "127.0.0.1:2" ] }
YAML
like($chk->{err}, qr/:6:\d+: .*attempts/, 'attempts above 10 refused with file:line');
like($chk->{err}, qr/unknown retry condition "teapot"/, 'unknown condition refused');
like($chk->{err}, qr/unknown method "BREW"/, 'unknown method refused');
like($chk->{err}, qr/retry status "302" is not an error/, 'a status below 400, never retried, refused');

done_testing;
