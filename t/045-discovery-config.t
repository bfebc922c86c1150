# 045-discovery-config: a bad `discovery` or `resolvers` config is refused by `pyxis -t` with
# FILE:LINE:COL at the offending key or value (the line marked "# <- error", the column where
# the text given in each case starts); a good one is accepted.
use strict;
use warnings;
use Test::More;
use PxTest;

my $head = <<'YAML';
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - upstream: api
resolvers:
  local: { servers: ["127.0.0.1:5353", "[::1]", 10.0.0.53] }
upstreams:
YAML

my $u = qr/upstreams\.api/;
my $d = qr/upstreams\.api\.discovery(?:\.\w+)?/;
config_errors_ok($head, $u, [
    ['endpoints and discovery', 'discovery', qr/endpoints or discovery, not both/, <<'YAML'],
  api: { endpoints: [10.0.0.7:80], discovery: { dns: api.internal, port: 80 } }   # <- error
YAML
    ['neither', '{ balance', qr/missing required key "endpoints" \(or "discovery"\)/, <<'YAML'],
  api: { balance: random }   # <- error
YAML
]);
config_errors_ok($head, $d, [
    ['no source', '{ port', qr/exactly one of dns, srv or file/, <<'YAML'],
  api: { discovery: { port: 80 } }   # <- error
YAML
    ['two sources', 'file', qr/exactly one of dns, srv or file/, <<'YAML'],
  api: { discovery: { srv: _http._tcp.api, file: eps.txt } }   # <- error
YAML
    ['dns without a port', 'dns', qr/discovery\.dns needs a port/, <<'YAML'],
  api: { discovery: { dns: api.internal } }   # <- error
YAML
    ['a port with srv', 'port', qr/"port" does not apply to discovery\.srv/, <<'YAML'],
  api: { discovery: { srv: _http._tcp.api, port: 80 } }   # <- error
YAML
    ['an interval with dns', 'interval', qr/"interval" does not apply to discovery\.dns/, <<'YAML'],
  api: { discovery: { dns: api.internal, port: 80, interval: 1s } }   # <- error
YAML
    ['max_ttl below min_ttl', 'max_ttl', qr/max_ttl \(1000ms\) is below min_ttl \(5000ms\)/, <<'YAML'],
  api: { discovery: { dns: api.internal, port: 80, max_ttl: 1s } }   # <- error
YAML
    ['a bad name', '"api..internal"', qr/invalid DNS name "api\.\.internal"/, <<'YAML'],
  api: { discovery: { dns: "api..internal", port: 80 } }   # <- error
YAML
    ['a bad family', 'ipv5', qr/unknown family "ipv5"/, <<'YAML'],
  api: { discovery: { dns: api.internal, port: 80, family: ipv5 } }   # <- error
YAML
    ['an unknown resolver', 'locl', qr/unknown resolver "locl"/, <<'YAML'],
  api: { discovery: { dns: api.internal, port: 80, resolver: locl } }   # <- error
YAML
]);
config_errors_ok($head =~ s/^resolvers:\n.*\n//mr, qr/resolvers\.r\.servers\[0\]/, [
    ['a resolver by name', 'ns1', qr/invalid server "ns1.example:53" \(write an IP address/,
        <<'YAML'],
resolvers:
  r: { servers: [ns1.example:53] }   # <- error
upstreams:
  api: { endpoints: [10.0.0.7:80] }
YAML
]);

my $ok = PxTest::Pyxis->check(yaml => $head . <<'YAML');
  api:
    discovery: { dns: api.internal, port: 8080, resolver: local, family: ipv6, min_ttl: 1s,
                 max_ttl: 10s }
  legacy: { discovery: { srv: _http._tcp.legacy.service.consul } }
  files: { discovery: { file: endpoints/api.txt, interval: 250ms } }
YAML
is($ok->{exit}, 0, 'a good discovery config is accepted') or diag($ok->{err});

done_testing;
