# 030-proxy-basic: what pyxis changes in a proxied exchange (hop-by-hop fields, X-Forwarded-*)
# and how it reuses upstream connections.
use strict;
use warnings;
use Test::More;
use PxTest;

my $be = PxTest::Backend->echo(name => 'be');
my $pool = PxTest::Backend->echo(name => 'pool');

# Answers with hop-by-hop fields that must not reach the client.
my $hop = PxTest::Backend->start(sub {
    my ($c) = @_;
    while ($c->read_request) {
        $c->respond(200, ['Connection' => 'x-bar', 'X-Bar' => 1, 'Keep-Alive' => 'timeout=5',
            'X-Kept' => 'yes'], 'hop');
    }
});

# Answers like a keep-alive server, then closes the connection anyway.
my $closer = PxTest::Backend->start(sub {
    my ($c) = @_;
    $c->read_request or return;
    $c->respond(200, ['X-Conn' => $c->id], 'closing');
    $c->close;
    $c->note('closed ' . $c->id);
});

my $px = PxTest::Pyxis->start(
    vars => { BACKEND_be => $be->port, BACKEND_pool => $pool->port, BACKEND_hop => $hop->port,
              BACKEND_closer => $closer->port },
    yaml => <<'YAML');
workers: 1
listeners:
  - name: untrusted
    listen: 127.0.0.1:%%PORT_untrusted%%
    forwarded: { mode: append, trusted_proxies: [] }
    routes:
      - { match: { path_prefix: /pool/ }, upstream: pool }
      - { match: { path_prefix: /hop/ }, upstream: hop }
      - { match: { path_prefix: /closer/ }, upstream: closer }
      - { match: { path_prefix: / }, upstream: be }
  - name: trusted
    listen: 127.0.0.1:%%PORT_trusted%%
    forwarded: { mode: append, trusted_proxies: [127.0.0.1] }
    routes:
      - { match: { path_prefix: / }, upstream: be }
  - name: off
    listen: 127.0.0.1:%%PORT_off%%
    forwarded: { mode: off }
    routes:
      - { match: { path_prefix: / }, upstream: be }
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BACKEND_be%%" ] }
  pool:
    endpoints: [ "127.0.0.1:%%BACKEND_pool%%" ]
    keepalive: { max_idle: 4, idle_timeout: 60s }
  hop: { endpoints: [ "127.0.0.1:%%BACKEND_hop%%" ] }
  closer: { endpoints: [ "127.0.0.1:%%BACKEND_closer%%" ] }
YAML

# What the echo backend saw for one request through listener $listener.
sub upstream_view {
    my ($listener, %req) = @_;
    my $r = http_req($px->port($listener), %req);
    is($r->{status}, 200, "$listener: $req{path} -> 200") or diag explain $r;
    return parse_echo($r->{body});
}

# A plain request: method, target, Host and body arrive unchanged.
my $seen = upstream_view('untrusted', method => 'POST', path => '/a/b?c=d', host => 'site.test',
    body => 'hello');
is("$seen->{method} $seen->{target}", 'POST /a/b?c=d', 'method and target unchanged');
is($seen->{h}{host}, 'site.test', 'Host unchanged');
is($seen->{body}, 'hello', 'body unchanged');

# Hop-by-hop request fields stay between the client and pyxis.
$seen = upstream_view('untrusted', path => '/hop-by-hop', headers => [
    'Connection' => 'close, x-foo', 'X-Foo' => 1, 'Keep-Alive' => 300, 'TE' => 'trailers',
    'Proxy-Connection' => 'x', 'Upgrade' => 'h2c', 'X-End-To-End' => 'kept']);
for my $field (qw(connection x-foo keep-alive te proxy-connection upgrade)) {
    ok(!exists $seen->{h}{$field}, "request field $field is not forwarded");
}
is($seen->{h}{'x-end-to-end'}, 'kept', 'an end-to-end field is forwarded');

# ... and hop-by-hop response fields stay between the backend and pyxis.
my $r = http_req($px->port('untrusted'), path => '/hop/x');
is($r->{body}, 'hop', 'response with hop-by-hop fields -> 200');
ok(!exists $r->{h}{'x-bar'}, 'response field named in Connection is not forwarded');
ok(!exists $r->{h}{'keep-alive'}, 'response Keep-Alive is not forwarded');
unlike($r->{h}{connection} // '', qr/x-bar/i, 'the backend\'s Connection is not forwarded');
is($r->{h}{'x-kept'}, 'yes', 'an end-to-end response field is forwarded');

# X-Forwarded-*: an untrusted client's values are replaced by what pyxis knows.
my @spoofed = ('X-Forwarded-For' => '6.6.6.6', 'X-Forwarded-Proto' => 'https',
    'X-Forwarded-Host' => 'evil.test');
$seen = upstream_view('untrusted', path => '/xff', host => 'site.test', headers => \@spoofed);
is($seen->{h}{'x-forwarded-for'}, '127.0.0.1', 'untrusted: X-Forwarded-For is the client address');
is($seen->{h}{'x-forwarded-proto'}, 'http', 'untrusted: X-Forwarded-Proto is http');
is($seen->{h}{'x-forwarded-host'}, 'site.test', 'untrusted: X-Forwarded-Host is the Host');

# A trusted client's chain is extended and its -Proto/-Host kept.
$seen = upstream_view('trusted', path => '/xff', host => 'site.test', headers => [
    'X-Forwarded-For' => '10.1.1.1', 'X-Forwarded-Proto' => 'https',
    'X-Forwarded-Host' => 'orig.test']);
is($seen->{h}{'x-forwarded-for'}, '10.1.1.1, 127.0.0.1', 'trusted: client address appended');
is($seen->{h}{'x-forwarded-proto'}, 'https', 'trusted: X-Forwarded-Proto kept');
is($seen->{h}{'x-forwarded-host'}, 'orig.test', 'trusted: X-Forwarded-Host kept');

# mode: off passes them through untouched and adds nothing.
$seen = upstream_view('off', path => '/xff', headers => \@spoofed);
is($seen->{h}{'x-forwarded-for'}, '6.6.6.6', 'mode off: X-Forwarded-For untouched');
is($seen->{h}{'x-forwarded-host'}, 'evil.test', 'mode off: X-Forwarded-Host untouched');
$seen = upstream_view('off', path => '/xff');
ok(!grep({ /^x-forwarded-/ } keys %{$seen->{h}}), 'mode off: nothing added');

# Pooling: two requests on two client connections share one upstream connection.
my @r = map { http_req($px->port('untrusted'), path => "/pool/$_") } 1 .. 2;
is($r[0]{h}{'x-conn-seq'}, 1, 'first request: first on its upstream connection');
is($r[1]{h}{'x-conn-seq'}, 2, 'second request (new client connection): same upstream connection');
is($pool->connections, 1, 'the backend accepted one connection');

# A pooled connection the backend has closed is not used for the next request.
$r = http_req($px->port('untrusted'), path => '/closer/1');
is($r->{body}, 'closing', 'first request to a backend that closes after answering');
ok($closer->wait_note(qr/^closed 1$/), '... which has closed its connection');
for my $n (2 .. 3) {
    $r = http_req($px->port('untrusted'), path => "/closer/$n");
    is($r->{status}, 200, "request $n after the backend closed a pooled connection -> 200");
}

done_testing;
