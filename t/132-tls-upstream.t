# 132-tls-upstream: upstreams over TLS (the python3 TLS backend). Verification against a CA
# file or the system store, by IP address or by name, SNI (server_name, or the endpoint's
# host), keep-alive over TLS, a client certificate for a backend that requires one, a call-out
# to a TLS upstream; failed verification and other TLS failures are 502 with the reason and
# the name verified in the error log.
use strict;
use warnings;
use Test::More;
use PxTest;

my $certs = PxTest::Backend->tls_certs;
my $web = PxTest::Backend->tls_issue('web', 'URI:spiffe://example.org/web', cn => 'web');
my $good = PxTest::Backend->tls(cert => $certs->{cert}, key => $certs->{key}, name => 'good');
my $other = PxTest::Backend->tls(cert => $certs->{other_cert}, key => $certs->{other_key});
my $selfs = PxTest::Backend->tls(cert => $certs->{self_cert}, key => $certs->{self_key},
    name => 'selfs');
my $mtls = PxTest::Backend->tls(cert => $certs->{cert}, key => $certs->{key}, name => 'mtls',
    client_ca => $certs->{ca});
my $plain = PxTest::Backend->echo(name => 'plain');
my $http = PxTest::Backend->start(sub {    # plain HTTP, and quick to say so
    $_[0]->write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    $_[0]->sleep(2);
});

local $ENV{SSL_CERT_FILE} = $certs->{ca};    # the "system store" of upstream `system`
local $ENV{SSL_CERT_DIR} = $certs->{dir};

my %ups = (
    good => ['G', 'ca: "%%CA%%"'],
    named => ['G', 'ca: "%%CA%%", server_name: localhost'],
    system => ['G', ''],
    wrongname => ['O', 'ca: "%%CA%%", server_name: localhost'],
    wrongip => ['O', 'ca: "%%CA%%"'],
    selfs => ['S', 'ca: "%%CA%%"'],
    noverify => ['S', 'verify: false'],
    mtls => ['M', 'ca: "%%CA%%", cert: "%%WEB%%", key: "%%WEBKEY%%"'],
    nocert => ['M', 'ca: "%%CA%%"'],
    plain => ['H', 'ca: "%%CA%%"'],
    disabled => ['P', 'enabled: false'],
);
my $routes = join '',
    map { "      - { match: { path_prefix: /$_/ }, upstream: $_ }\n" } 'byname', sort keys %ups;
my $upstreams = join '',
    map { "  $_: { endpoints: [\"127.0.0.1:%%$ups{$_}[0]%%\"], tls: { $ups{$_}[1] } }\n" }
    sort keys %ups;
my $px = PxTest::Pyxis->start(vars => { G => $good->port, O => $other->port, S => $selfs->port,
        M => $mtls->port, P => $plain->port, H => $http->port, CA => $certs->{ca}, WEB => $web->{cert},
        WEBKEY => $web->{key} }, yaml => <<"YAML");
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /callout/ }
        filters:
          - lua: { code: "return { on_request = function(txn) local r, err = pyxis.http.request{ upstream = 'good', path = '/from-lua' } txn:respond(200, r and (r.status .. ' ' .. r.headers['x-backend']) or ('0 ' .. err)) end }" }
        respond: { status: 204 }
$routes
upstreams:
  byname: { endpoints: ["localhost:%%G%%"], tls: { ca: "%%CA%%" } }
$upstreams
YAML
my $port = $px->port('front');
sub get { return http_req($port, path => $_[0]) }

# ---- verified connections ----
my $r = get('/good/a');
is($r->{status}, 200, 'TLS to an IP endpoint, verified against the CA file');
is($r->{h}{'x-backend'}, 'good', '... the TLS backend answered');
my $conn = $r->{h}{'x-conn-id'};
is(get('/good/b')->{h}{'x-conn-id'}, $conn, '... and the connection is kept alive');
is(scalar(grep {/^sni /} $good->notes), 0, '... an IP address is verified, not sent as SNI');
is(get('/named/a')->{status}, 200, 'server_name: localhost on an IP endpoint');
ok($good->wait_note(qr/^sni localhost$/), '... sent as SNI');
is(get('/byname/a')->{status}, 200, 'a host name endpoint: the name is verified');
is(scalar(grep {/^sni localhost$/} $good->notes), 2, '... and sent as SNI');
is(get('/system/a')->{status}, 200, 'no ca: the system store (SSL_CERT_FILE here)');
$r = http_req($port, path => '/callout/x');
is($r->{body}, '200 good', 'a call-out to a TLS upstream speaks TLS too');

# ---- client certificate ----
is(get('/mtls/a')->{status}, 200, 'a client certificate for a backend that requires one');
ok($mtls->wait_note(qr/^client CN=web$/), '... the backend saw it');
$px->mark_log;
is(get('/nocert/a')->{status}, 502, 'without one: 502');
ok($mtls->wait_note(qr/^handshake failed: .*certificate/i), '... the backend refused it');
# TLS 1.3: the server refuses the certificate after pyxis's side of the handshake is done, so
# pyxis learns it from the alert, or from the reset that follows it when that comes first.
ok($px->wait_log(qr/\[error\] front#\d+ 127\.0\.0\.1: 502 Bad Gateway: upstream (failed before responding: (TLS error: .*alert|Connection reset by peer)|closed the connection before responding)/),
    '... logged with the TLS alert (or the reset after it)');

# ---- failures ----
my @fail = (
    [wrongname => qr/upstream TLS failed \(server name localhost\): certificate verify failed: hostname mismatch/],
    [wrongip => qr/upstream TLS failed \(server name 127\.0\.0\.1\): certificate verify failed: IP address mismatch/],
    [selfs => qr/upstream TLS failed \(server name 127\.0\.0\.1\): certificate verify failed: self-signed certificate/],
    [plain => qr/upstream TLS failed \(server name 127\.0\.0\.1\): TLS handshake failed: (wrong version number|packet length too long|record layer)/],
);
for my $f (@fail) {
    my ($name, $re) = @$f;
    $px->mark_log;
    is(get("/$name/x")->{status}, 502, "$name: 502");
    ok($px->wait_log(qr/\[error\] front#\d+ 127\.0\.0\.1: 502 Bad Gateway: $re \(endpoint 127\.0\.0\.1:\d+\)/),
        '... the reason and the name verified in the error log');
}
is(scalar(grep {/^got /} $other->notes, $selfs->notes), 0, '... no request was sent to them');
$r = get('/noverify/x');
is($r->{status}, 200, 'verify: false accepts a certificate no CA issued');
is($r->{h}{'x-backend'}, 'selfs', '... still over TLS');
is(get('/disabled/x')->{h}{'x-backend'}, 'plain', 'enabled: false: plain HTTP');

# ---- config errors ----
for my $c (['ca: /nonexistent/ca.pem', qr/:4:47: upstreams\.u\.tls\.ca: cannot open \/nonexistent\/ca\.pem: No such file or directory/],
    ['cert: "%%WEB%%"', qr/:4:43: upstreams\.u\.tls: give both cert and key/],
    ['alpn: [h2]', qr/:4:50: upstreams\.u\.tls\.alpn\[0\]: h2 is not written in alpn: .* an upstream asks for it with protocol: http2 or auto/]) {
    my ($kv, $re) = @$c;
    my $chk = PxTest::Pyxis->check(vars => { WEB => $web->{cert} }, yaml => <<"YAML");
listeners:
  - { listen: "127.0.0.1:%%PORT_x%%", routes: [ { upstream: u } ] }
upstreams:
  u: { endpoints: ["127.0.0.1:1"], tls: { $kv } }
YAML
    like($chk->{err}, $re, "refused: $kv");
}

is($px->stop, 0, 'pyxis exits cleanly');
done_testing;
