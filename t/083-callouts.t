# 083-callouts: HTTP call-outs from a module (the SDK's callout()): to a named upstream and to a
# URL, from the request and response phases and after the request (on_log), failures, and the
# worker serving other requests while one waits.
use strict;
use warnings;
use Test::More;
use PxTest;

my $be = PxTest::Backend->echo(name => 'be');
my $authz = PxTest::Backend->echo(name => 'authz');
# Answers after 1 second (the call-out waits up to 5).
my $slow = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $r = $c->read_request) {
        $c->note("got $r->{target}");
        $c->sleep(1);
        $c->respond(200, [], 'late');
    }
});
my $closed = PxTest::free_port();

my $px = PxTest::Pyxis->start(
    vars => { BE => $be->port, AUTHZ => $authz->port, SLOW => $slow->port, CLOSED => $closed },
    yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /req/ }
        filters:
          - testfilter: { tag: C, callout: { upstream: authz, path: /check, in: request_headers } }
        upstream: be
      - match: { path_prefix: /resp/ }
        filters:
          - testfilter: { tag: C, callout: { upstream: authz, path: /r, in: response_headers } }
        upstream: be
      - match: { path_prefix: /url/ }
        filters:
          - testfilter:
              tag: C
              callout: { url: "http://127.0.0.1:%%AUTHZ%%/by-url?x=1", in: request_headers }
        upstream: be
      - match: { path_prefix: /down/ }
        filters:
          - testfilter:
              tag: C
              callout: { url: "http://127.0.0.1:%%CLOSED%%/", in: request_headers }
        upstream: be
      - match: { path_prefix: /ftp/ }
        filters:
          - testfilter: { tag: C, callout: { url: "ftp://127.0.0.1/", in: request_headers } }
        upstream: be
      - match: { path_prefix: /log/ }
        filters:
          - testfilter: { tag: C, callout: { upstream: authz, path: /after, in: log } }
        respond: { status: 200, body: "ok\n" }
      - match: { path_prefix: /slow/ }
        filters:
          - testfilter: { tag: C, callout: { upstream: slow, path: /wait, in: request_headers } }
        upstream: be
      - match: { path_prefix: /fast/ }
        upstream: be
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BE%%" ] }
  authz: { endpoints: [ "127.0.0.1:%%AUTHZ%%" ] }
  slow: { endpoints: [ "127.0.0.1:%%SLOW%%" ] }
YAML
my $port = $px->port('front');

my $r = http_req($port, path => '/req/x');
is($r->{status}, 200, 'call-out in the request phase -> 200');
my $seen = parse_echo($r->{body});
like($seen->{h}{'x-callout'} // '', qr/^200 \d+$/, 'the upstream request carries its result');
my ($check) = grep { $_->{target} eq '/check' } $authz->requests;
ok($check, 'the authz upstream got GET /check');
is($check && $check->{h}{host}, "127.0.0.1:" . $authz->port, '... with the endpoint as Host');

$r = http_req($port, path => '/resp/x');
like($r->{h}{'x-callout'} // '', qr/^200 \d+$/, 'call-out in the response phase: header set');
like($r->{body}, qr/^GET \/resp\/x /, '... and the upstream response body follows');

$r = http_req($port, path => '/url/x');
$seen = parse_echo($r->{body});
like($seen->{h}{'x-callout'} // '', qr/^200 \d+$/, 'call-out to a URL');
ok((grep { $_->{target} eq '/by-url?x=1' } $authz->requests), '... path and query as given');

$r = http_req($port, path => '/down/x');
$seen = parse_echo($r->{body});
like($seen->{h}{'x-callout'} // '', qr/^0 .*refused/i, 'a refused call-out reports status 0');

$r = http_req($port, path => '/ftp/x');
is($r->{status}, 500, 'an ftp:// call-out is refused (the filter fails the request)');
ok($px->wait_log(qr/callout\(\) refused: unsupported URL scheme/, 5), '... saying why');

$r = http_req($port, path => '/log/x');
is($r->{status}, 200, 'the response does not wait for the log-phase call-out');
ok($px->wait_log(qr/\[testfilter\] log-phase call-out answered 200/, 5),
    'a call-out made from on_log completes after the request');
ok((grep { $_->{target} eq '/after' } $authz->requests), '... and reached the service');

# A request waiting on a slow call-out does not hold up the worker.
my $waiting = client($port);
$waiting->write("GET /slow/x HTTP/1.1\r\nHost: t\r\n\r\n");
ok($slow->wait_note(qr/^got \/wait$/, 5), 'the slow service got its call-out');
$r = http_req($port, path => '/fast/x');
is($r->{status}, 200, 'a fast request on the same worker completes meanwhile');
ok(!length($waiting->received // ''), '... while the waiting one has no answer yet');
my $wr = $waiting->read_response(timeout => 10);
is($wr->{status}, 200, 'the waiting request completes when its call-out answers');
$seen = parse_echo($wr->{body});
is($seen->{h}{'x-callout'}, '200 4', '... with the call-out\'s result');

is($px->stop, 0, 'pyxis exits cleanly');
done_testing;
