# 131-mtls: client certificates on TLS listeners. verify_client: require refuses a client
# without a valid certificate; optional lets it in with tls_client_verified false. The
# certificate's facts reach the upstream through a headers template and Lua; the
# X-Forwarded-Client-Cert field is set, appended to for a trusted proxy, and stripped when a
# client sends one it may not; a resumed session keeps its client certificate.
use strict;
use warnings;
use Test::More;
use PxTest;

plan skip_all => 'curl is needed' unless have_curl;

my $certs = PxTest::Backend->tls_certs;
my $web = PxTest::Backend->tls_issue('web',
    'URI:spiffe://example.org/ns/default/sa/web,DNS:web.internal', cn => 'web');
my $fp = lc `openssl x509 -in $web->{cert} -noout -fingerprint -sha256`;
$fp =~ s/^.*=//;
$fp =~ s/[:\s]//g;
my $be = PxTest::Backend->echo(name => 'app');

my $routes = <<'YAML';
    routes:
      - filters:
          - headers:
              request:
                set:
                  x-subject: "${tls_client_subject}"
                  x-uri: "${tls_client_san_uri}"
                  x-dns: "${tls_client_san_dns}"
                  x-fp: "${tls_client_fingerprint}"
                  x-verified: "${tls_client_verified}"
          - lua: { code: "return { on_request = function(txn) txn.req.headers['x-lua'] = (txn:var('tls_client_verified') or 'nil') .. ' ' .. (txn:var('tls_client_san_uri') or 'nil') end }" }
        upstream: app
YAML
my $tls = '{ cert: "%%CERT%%", key: "%%KEY%%" }';
my $px = PxTest::Pyxis->start(vars => { CERT => $certs->{cert}, KEY => $certs->{key},
    CA => $certs->{ca}, APP => $be->port }, yaml => <<"YAML");
workers: 1
listeners:
  - name: require
    listen: 127.0.0.1:%%PORT_require%%
    tls:
      certificates: [ $tls ]
      client_ca: "%%CA%%"
      forward_client_cert: { mode: sanitize }
$routes
  - name: optional
    listen: 127.0.0.1:%%PORT_optional%%
    forwarded: { trusted_proxies: [127.0.0.1] }
    tls:
      certificates: [ $tls ]
      client_ca: "%%CA%%"
      verify_client: optional
      forward_client_cert: { mode: append, header: X-Client-Cert }
$routes
  - name: untrusted
    listen: 127.0.0.1:%%PORT_untrusted%%
    forwarded: { trusted_proxies: ["10.0.0.0/8"] }
    tls:
      certificates: [ $tls ]
      client_ca: "%%CA%%"
      forward_client_cert: { mode: append }
$routes
  - name: off
    listen: 127.0.0.1:%%PORT_off%%
    tls:
      certificates: [ $tls ]
      client_ca: "%%CA%%"
$routes
upstreams:
  app: { endpoints: [ "127.0.0.1:%%APP%%" ] }
YAML

my @ca = ('--cacert', $certs->{ca});
my @web = ('--cert', $web->{cert}, '--key', $web->{key});
my @self = ('--cert', $certs->{self_cert}, '--key', $certs->{self_key});
my $xfcc = qq{Hash=$fp;Subject="CN=web";URI=spiffe://example.org/ns/default/sa/web;DNS=web.internal};
sub get {
    my ($listener, @opt) = @_;
    my $r = curl(@ca, @opt, 'https://localhost:' . $px->port($listener) . '/');
    return $r->{exit} == 0 ? parse_echo($r->{out}) : { failed => $r->{err} };
}

# ---- require (the default with client_ca) ----
$px->mark_log;
ok(get('require')->{failed}, 'require: no client certificate, no handshake');
ok($px->wait_log(qr/\[info\] require 127\.0\.0\.1: TLS handshake failed: peer did not return a certificate/),
    '... logged with the reason');
ok(get('require', @self)->{failed}, 'require: a certificate no trusted CA issued is refused');
ok($px->wait_log(qr/require 127\.0\.0\.1: certificate verify failed: self-signed certificate/),
    '... logged with the verify error');
my $e = get('require', @web, '-H', 'X-Forwarded-Client-Cert: By=spoofed');
is($e->{h}{'x-verified'}, 'true', 'require: a valid certificate: ${tls_client_verified} true');
is($e->{h}{'x-subject'}, 'CN=web', '... ${tls_client_subject}');
is($e->{h}{'x-uri'}, 'spiffe://example.org/ns/default/sa/web', '... ${tls_client_san_uri}');
is($e->{h}{'x-dns'}, 'web.internal', '... ${tls_client_san_dns}');
is($e->{h}{'x-fp'}, $fp, '... ${tls_client_fingerprint}: SHA-256 of the certificate');
is($e->{h}{'x-lua'}, 'true spiffe://example.org/ns/default/sa/web', '... and Lua reads them');
is($e->{h}{'x-forwarded-client-cert'}, $xfcc, 'sanitize: the spoofed field is replaced by ours');

# ---- optional, append for a trusted proxy ----
$e = get('optional', '-H', 'X-Client-Cert: Hash=abc');
is($e->{h}{'x-verified'}, 'false', 'optional: no certificate: verified false');
ok(!exists $e->{h}{'x-subject'} && !exists $e->{h}{'x-fp'}, '... and no certificate facts');
is($e->{h}{'x-lua'}, 'false nil', '... Lua sees the same');
is($e->{h}{'x-client-cert'}, 'Hash=abc', "... a trusted proxy's field is kept");
$e = get('optional', @self);
is($e->{h}{'x-verified'}, 'false', 'optional: an unverifiable certificate: verified false');
ok(!exists $e->{h}{'x-subject'}, '... and its subject is not believed');
$e = get('optional', @web, '-H', 'X-Client-Cert: Hash=abc');
is($e->{h}{'x-verified'}, 'true', 'optional: a valid certificate: verified true');
is($e->{h}{'x-client-cert'}, "Hash=abc,$xfcc", 'append: ours after the trusted ones');

# ---- a client that is not a trusted proxy; no forward_client_cert ----
$e = get('untrusted', @web, '-H', 'X-Forwarded-Client-Cert: Hash=spoofed');
is($e->{h}{'x-forwarded-client-cert'}, $xfcc, 'append, untrusted client: its field is replaced');
$e = get('off', @web, '-H', 'X-Forwarded-Client-Cert: Hash=spoofed');
ok(!exists $e->{h}{'x-forwarded-client-cert'},
    'without forward_client_cert: a client field is stripped, none is added');
is($e->{h}{'x-verified'}, 'true', '... the certificate was verified all the same');

# ---- a resumed session keeps its client certificate ----
my $sess = PxTest::testdir() . '/sess';
my @cert = ('-cert', $web->{cert}, '-key', $web->{key}, '-CAfile', $certs->{ca});
like(s_client($px->port('require'), @cert, '-sess_out', $sess)->{out}, qr/^New, /m,
    'mTLS with a ticket');
my $o = s_client($px->port('require'), '-sess_in', $sess)->{out};
like($o, qr/^Reused, /m, '... resumed without sending the certificate again');
like($o, qr/^x-subject: CN=web$/m, '... and the request still knows it');

is($px->stop, 0, 'pyxis exits cleanly');
done_testing;
