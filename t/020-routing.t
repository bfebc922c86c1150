# 020-routing: how a request picks its route. Routes are tried in order; the first whose every
# condition matches wins; no match is 404. Each respond route below answers with its own name.
use strict;
use warnings;
use Test::More;
use PxTest;

my $be = PxTest::Backend->echo(name => 'be');
my $px = PxTest::Pyxis->start(vars => { BACKEND_be => $be->port }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { host: exact.test }
        respond: { body: "exact-host" }
      - match: { host: "*.example.com" }
        respond: { body: "wildcard-host" }
      - match: { path: /exact }
        respond: { body: "exact-path" }
      - match: { path_prefix: /prefix/ }
        respond: { body: "prefix" }
      - match: { path_regex: "^/re/[0-9]+$" }
        respond: { body: "regex" }
      - match: { path: /m, methods: [POST, PUT] }
        respond: { body: "methods" }
      - match: { path: /h, headers: { x-env: canary } }
        respond: { body: "header-value" }
      - match: { path: /h, headers: { x-any: "*" } }
        respond: { body: "header-present" }
      - match: { path_prefix: /first }
        respond: { body: "first" }
      - match: { path_prefix: /first }
        respond: { body: "second" }
      - match: { path: /teapot }
        respond:
          status: 418
          headers: { content-type: text/plain, x-custom: "custom value" }
          body: "short and stout\n"
      - match: { path_regex: "^/old/(.*)$" }
        redirect: { location: "https://${host}${request_uri}", status: 301 }
      - match: { path_prefix: /api/ }
        upstream: be
        host_rewrite: internal.local
      - match: { path_prefix: /pass/ }
        upstream: be
upstreams:
  be:
    endpoints: [ "127.0.0.1:%%BACKEND_be%%" ]
YAML
my $port = $px->port('front');

# [ method, path, host, extra headers, expected route (or 404) ]
my @cases = (
    ['GET', '/', 'exact.test', [], 'exact-host'],
    ['GET', '/', 'EXACT.Test', [], 'exact-host'],              # host names are case-insensitive
    ['GET', '/', 'exact.test:8080', [], 'exact-host'],         # the port in Host is ignored
    ['GET', '/', 'a.exact.test', [], 404],
    ['GET', '/', 'a.example.com', [], 'wildcard-host'],
    ['GET', '/', 'x.y.example.com', [], 'wildcard-host'],      # several labels before the suffix
    ['GET', '/', 'a.example.com:8080', [], 'wildcard-host'],
    ['GET', '/', 'example.com', [], 404],                      # "*." needs at least one label
    ['GET', '/', 'badexample.com', [], 404],
    ['GET', '/exact', 'localhost', [], 'exact-path'],
    ['GET', '/exact/', 'localhost', [], 404],                  # path is exact
    ['GET', '/exact?q=1', 'localhost', [], 'exact-path'],      # the query is not part of the path
    ['GET', '/prefix/a/b', 'localhost', [], 'prefix'],
    ['GET', '/prefix', 'localhost', [], 404],
    ['GET', '/re/123', 'localhost', [], 'regex'],
    ['GET', '/re/12a', 'localhost', [], 404],
    ['POST', '/m', 'localhost', [], 'methods'],
    ['PUT', '/m', 'localhost', [], 'methods'],
    ['GET', '/m', 'localhost', [], 404],
    ['GET', '/h', 'localhost', ['X-Env' => 'canary'], 'header-value'],   # names: any case
    ['GET', '/h', 'localhost', ['x-env' => 'prod'], 404],                # values: exact
    ['GET', '/h', 'localhost', ['x-any' => 'whatever'], 'header-present'],
    ['GET', '/h', 'localhost', [], 404],
    ['GET', '/first/x', 'localhost', [], 'first'],             # the first match wins
    ['GET', '/nothing/here', 'localhost', [], 404],
);

for my $case (@cases) {
    my ($method, $path, $host, $headers, $want) = @$case;
    my $r = http_req($port, method => $method, path => $path, host => $host,
        headers => $headers, body => $method =~ /POST|PUT/ ? '' : undef);
    my $name = "$method $path (Host: $host" . (@$headers ? ", @$headers" : '') . ')';
    if ($want eq '404') {
        is($r->{status}, 404, "$name -> no route, 404");
        ok(length $r->{body}, '... with a body');
    } else {
        is(($r->{status} // "none") . " " . ($r->{body} // ""), "200 $want",
            "$name -> route $want");
    }
}

# A respond route answers with its status, headers and body.
my $r = http_req($port, path => '/teapot');
is($r->{status}, 418, 'respond: status');
is($r->{h}{'x-custom'}, 'custom value', 'respond: headers');
is($r->{h}{'content-type'}, 'text/plain', 'respond: content-type');
is($r->{body}, "short and stout\n", 'respond: body');

# A redirect route substitutes variables into Location.
$r = http_req($port, path => '/old/page?x=1', host => 'a.test');
is($r->{status}, 301, 'redirect: status 301');
is($r->{h}{location}, 'https://a.test/old/page?x=1', 'redirect: ${host}${request_uri} substituted');

# Upstream routes: Host passes through unchanged unless host_rewrite is set.
$r = http_req($port, path => '/pass/x', host => 'front.test');
is(parse_echo($r->{body})->{h}{host}, 'front.test', 'Host passes through to the upstream');
$r = http_req($port, path => '/api/x', host => 'front.test');
is(parse_echo($r->{body})->{h}{host}, 'internal.local', 'host_rewrite replaces Host upstream');
is(scalar $be->requests, 2, 'only the two upstream routes reached the backend');

done_testing;
