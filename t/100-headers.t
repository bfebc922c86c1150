# 100-headers: the headers filter (docs/config.md, "Built-in filters" -> "headers"): fields
# set, added, appended and removed both ways, variables, path and Host rewrites, local replies,
# two filters on one route. Its config errors are in t/101-headers-config.t.
use strict;
use warnings;
use Test::More;
use PxTest;

my $be = PxTest::Backend->echo(name => 'be');
# Answers with fields for the response operations to work on.
my $rb = PxTest::Backend->start(sub {
    my ($c) = @_;
    while ($c->read_request) {
        $c->respond(200, ['Server' => 'perl', 'X-Powered-By' => 'perl', 'X-List' => 'a',
            'X-List' => 'b', 'X-Keep' => 'kept', 'X-Over' => 'old'], "resp\n");
    }
});

my $px = PxTest::Pyxis->start(
    vars => { BACKEND_be => $be->port, BACKEND_rb => $rb->port },
    yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /ops/ }
        upstream: be
        filters:
          - headers:
              request:
                append: { x-chain: http, x-fresh-chain: one }
                add: { x-trace: pyxis, x-dup: second }
                set: { x-over: new, x-price: "$$5", x-user: "${var.user}" }
                remove: [x-debug, X-Internal-Token]
      - match: { path_prefix: /rename }
        upstream: be
        filters:
          - headers: { request: { remove: [x-old], set: { x-new: "${header.x-old}" } } }
      - name: vars
        match: { path_prefix: /vars/ }
        upstream: be
        filters:
          - headers:
              request:
                set:
                  x-remote-addr: "${remote_addr}"
                  x-remote-port: "${remote_port}"
                  x-request-id: "${request_id}"
                  x-host: "${host}"
                  x-path: "${path}"
                  x-query: "${query}"
                  x-request-uri: "${request_uri}"
                  x-method: "${method}"
                  x-scheme: "${scheme}"
                  x-route: "${route}"
                  x-upstream: "${upstream}"
                  x-in-copy: "[${header.x-in}]"
                  x-missing: "${header.x-nowhere}"
                  x-var: "${var.nothing}"
              response:
                set:
                  x-status: "${status}"
                  x-upstream-addr: "${upstream_addr}"
                  x-backend-was: "${resp_header.x-backend}"
                  x-in-echo: "${header.x-in}"
                  x-route: "${route}"
      - match: { path_prefix: /resp/ }
        upstream: rb
        filters:
          - headers:
              response:
                remove: [server, x-powered-by]
                set: { x-over: new, x-served-by: pyxis }
                add: { x-keep: again }
                append: { x-list: c, x-fresh: one }
      - match: { path_prefix: /api/v1/ }
        upstream: be
        filters:
          - headers: { path: { prefix: { from: /api/v1/, to: /v1/ } } }
      - match: { path_prefix: /users/ }
        upstream: be
        filters:
          - headers: { path: { regex: { match: "^/users/([0-9]+)$", replace: "/u/$1" } } }
      - match: { path_prefix: /named/ }
        upstream: be
        filters:
          - headers:
              path:
                regex:
                  match: "^/named/(?<id>[0-9]+)/(?<rest>.*)$"
                  replace: "/r/${rest}/${id}$$"
      - match: { path_prefix: /first/ }
        upstream: be
        filters:
          - headers: { path: { regex: { match: "/old/", replace: "/new/" } } }
      - match: { path_prefix: /host/ }
        upstream: be
        filters:
          - headers: { host: backend.internal }
      - match: { path_prefix: /vhost/ }
        upstream: be
        filters:
          - headers: { host: "${header.x-tenant}.internal:8080" }
      - match: { path_prefix: /thost/ }
        upstream: be
        filters:
          - headers: { host: "${header.x-tenant}" }
      - match: { path: /local }
        respond: { status: 201, headers: { x-local: "1", x-gone: "1" }, body: "local\n" }
        filters:
          - headers:
              response:
                remove: [x-gone]
                set: { x-served-by: pyxis, x-status: "${status}", x-upstream: "${upstream}" }
      - match: { path_prefix: /two/ }
        upstream: be
        filters:
          - headers:
              request: { set: { x-a: one } }
              response: { append: { x-order: f1 } }
          - headers:
              request: { set: { x-b: "${header.x-a}-two" }, append: { x-a: two } }
              response: { append: { x-order: f2 } }
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BACKEND_be%%" ] }
  rb: { endpoints: [ "127.0.0.1:%%BACKEND_rb%%" ] }
YAML
my $port = $px->port('front');

# What the backend saw, for a request.
sub seen {
    my (%o) = @_;
    my $r = http_req($port, %o);
    is($r->{status}, 200, "$o{path} -> 200") or diag explain $r;
    return parse_echo($r->{body});
}

# Request operations: remove, then set, then add, then append.
my $e = seen(path => '/ops/x', headers => [
    'X-Debug' => 1, 'x-internal-token' => 'secret', 'X-Over' => 'old', 'X-Over' => 'older',
    'X-Dup' => 'first', 'X-Chain' => 'https', 'X-User' => 'evil']);
is($e->{h}{'x-debug'}, undef, 'remove: x-debug is gone');
is($e->{h}{'x-internal-token'}, undef, 'remove: names are case-insensitive');
is($e->{h}{'x-over'}, 'new', 'set: replaces every field of the name with one');
is($e->{h}{'x-price'}, '$5', 'set: $$ is a literal $');
is($e->{h}{'x-user'}, undef, 'set: a value that expands to nothing removes the client\'s field');
is($e->{h}{'x-trace'}, 'pyxis', 'add: a new field');
is($e->{h}{'x-dup'}, 'first, second', 'add: appended even if present');
is($e->{h}{'x-chain'}, 'https, http', 'append: to the existing value as ", v"');
is(scalar(grep { lc $_->[0] eq 'x-chain' } @{$e->{headers}}), 1, '... in one field');
is($e->{h}{'x-fresh-chain'}, 'one', 'append: added when absent');

$e = seen(path => '/rename', headers => ['X-Old' => 'moved']);
is($e->{h}{'x-new'}, 'moved', 'values are expanded before any field changes (rename)');
is($e->{h}{'x-old'}, undef, '... and the old field is removed');

# Every variable.
my $r = http_req($port, path => '/vars/p?a=1&b=2', method => 'POST', host => 'vars.test:8080',
    headers => ['X-In' => 'hello'], body => '');
$e = parse_echo($r->{body});
my %want = ('x-remote-addr' => '127.0.0.1', 'x-host' => 'vars.test:8080', 'x-path' => '/vars/p',
    'x-query' => 'a=1&b=2', 'x-request-uri' => '/vars/p?a=1&b=2', 'x-method' => 'POST',
    'x-scheme' => 'http', 'x-route' => 'vars', 'x-upstream' => 'be', 'x-in-copy' => '[hello]');
is($e->{h}{$_}, $want{$_}, "request: $_") for sort keys %want;
like($e->{h}{'x-remote-port'}, qr/^\d+$/, 'request: ${remote_port}');
like($e->{h}{'x-request-id'}, qr/\S/, 'request: ${request_id}');
is($e->{h}{'x-missing'}, undef, 'request: a missing header expands to nothing: field not set');
is($e->{h}{'x-var'}, undef, 'request: an unset ${var.NAME} expands to nothing');
is($r->{h}{'x-status'}, '200', 'response: ${status}');
is($r->{h}{'x-upstream-addr'}, '127.0.0.1:' . $be->port, 'response: ${upstream_addr}');
is($r->{h}{'x-backend-was'}, 'be', 'response: ${resp_header.NAME}');
is($r->{h}{'x-in-echo'}, 'hello', 'response: ${header.NAME} reads the request');
is($r->{h}{'x-route'}, 'vars', 'response: ${route}');

# Response operations.
$r = http_req($port, path => '/resp/x');
is($r->{status}, 200, 'response ops: 200');
is($r->{h}{server}, undef, 'response remove: server');
is($r->{h}{'x-powered-by'}, undef, 'response remove: x-powered-by');
is($r->{h}{'x-over'}, 'new', 'response set: replaces');
is($r->{h}{'x-served-by'}, 'pyxis', 'response set: adds');
is($r->{h}{'x-keep'}, 'kept, again', 'response add: a second field');
is(scalar(grep { lc $_->[0] eq 'x-list' } @{$r->{headers}}), 1, 'response append: one field');
is($r->{h}{'x-list'}, 'a, b, c', '... holding the joined list');
is($r->{h}{'x-fresh'}, 'one', 'response append: added when absent');
is($r->{body}, "resp\n", 'the body passes untouched');

# Path rewrites keep the query.
my @paths = (
    ['/api/v1/users?id=7', '/v1/users?id=7', 'prefix: replaced, query kept'],
    ['/api/v1/', '/v1/', 'prefix: the prefix alone'],
    ['/users/42?x=y', '/u/42?x=y', 'regex: $1, query kept'],
    ['/users/abc', '/users/abc', 'regex: no match, path unchanged'],
    ['/named/7/a/b', '/r/a/b/7$', 'regex: ${name} groups and $$'],
    ['/first/old/x/old/?q', '/first/new/x/old/?q', 'regex: the first match only, the rest kept'],
);
for my $p (@paths) {
    my ($in, $out, $what) = @$p;
    is(seen(path => $in)->{target}, $out, "$what: $in -> $out");
}

# Host.
is(seen(path => '/host/x', host => 'front.test')->{h}{host}, 'backend.internal', 'host: literal');
is(seen(path => '/vhost/x', host => 'front.test', headers => ['X-Tenant' => 'acme'])->{h}{host},
    'acme.internal:8080', 'host: with a variable');
is(seen(path => '/thost/x', host => 'front.test')->{h}{host}, 'front.test',
    'host: an empty expansion keeps the client\'s Host');

# Response filters run on a respond route's local reply.
$r = http_req($port, path => '/local');
is($r->{status}, 201, 'local reply: status');
is($r->{body}, "local\n", 'local reply: body');
is($r->{h}{'x-local'}, '1', 'local reply: its own fields kept');
is($r->{h}{'x-gone'}, undef, 'local reply: remove');
is($r->{h}{'x-served-by'}, 'pyxis', 'local reply: set');
is($r->{h}{'x-status'}, '201', 'local reply: ${status}');
is($r->{h}{'x-upstream'}, undef, 'local reply: ${upstream} is empty');

# Two filters: requests in written order, responses in reverse.
$r = http_req($port, path => '/two/x');
$e = parse_echo($r->{body});
is($e->{h}{'x-a'}, 'one, two', 'two filters: the second appends to what the first set');
is($e->{h}{'x-b'}, 'one-two', 'two filters: the second reads what the first set');
is($r->{h}{'x-order'}, 'f2, f1', 'two filters: response operations in reverse order');

is($px->stop, 0, 'SIGTERM -> exit 0');

done_testing;
