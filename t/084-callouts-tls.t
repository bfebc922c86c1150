# 084-callouts-tls: https:// call-outs (Lua's pyxis.http.request and a C module's callout()):
# verified against a test CA given with SSL_CERT_FILE, keep-alive over TLS, bodies larger than
# a TLS record both ways, and the failures: unknown CA, hostname and IP mismatch, a server that
# never finishes the handshake, a plain-HTTP server.
use strict;
use warnings;
use Test::More;
use PxTest;

my $certs = PxTest::Backend->tls_certs;
my $good = PxTest::Backend->tls(cert => $certs->{cert}, key => $certs->{key}, name => 'good');
my $selfs = PxTest::Backend->tls(cert => $certs->{self_cert}, key => $certs->{self_key});
my $other = PxTest::Backend->tls(cert => $certs->{other_cert}, key => $certs->{other_key});
my $hang = PxTest::Backend->start(sub { $_[0]->note('accepted'); $_[0]->sleep(30) });
my $plain = PxTest::Backend->start(sub {
    $_[0]->write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    $_[0]->sleep(2);
});

# The client trusts the test CA only (pyxis reads these when its first TLS call-out starts).
local $ENV{SSL_CERT_FILE} = $certs->{ca};
local $ENV{SSL_CERT_DIR} = $certs->{dir};

# The filter calls the URL in x-url (POST of x-body bytes when given) and answers with the
# outcome: "STATUS conn=N seq=N len=N" or "0 ERROR".
my $dir = write_files('co.lua' => <<'LUA');
local M = {}
function M.on_request(txn)
  local h = txn.req.headers
  local n = tonumber(h["x-body"] or "0")
  local res, err = pyxis.http.request{ url = h["x-url"], method = n > 0 and "POST" or "GET",
    body = n > 0 and string.rep("b", n) or nil, timeout = tonumber(h["x-timeout"] or "5"),
    max_body = 4 * 1024 * 1024 }
  if not res then return txn:respond(200, "0 " .. err) end
  return txn:respond(200, string.format("%d conn=%s seq=%s len=%d", res.status,
    res.headers["x-conn-id"] or "-", res.headers["x-conn-seq"] or "-", #res.body))
end
return M
LUA
my $px = PxTest::Pyxis->start(vars => { CO => $dir, GOOD => $good->port }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /lua/ }
        filters:
          - lua: { file: "%%CO%%/co.lua" }
        respond: { status: 204 }
      - match: { path_prefix: /c/ }
        filters:
          - testfilter:
              tag: C
              callout: { url: "https://localhost:%%GOOD%%/from-c", in: response_headers }
        respond: { status: 200, body: "ok\n" }
YAML
my $port = $px->port('front');
sub call {
    my ($url, %h) = @_;
    my $r = http_req($port, path => '/lua/x', headers => ['X-Url' => $url, %h]);
    return $r->{status} == 200 ? $r->{body} : "pyxis answered $r->{status}";
}
my $g = $good->port;

like(call("https://127.0.0.1:$g/a"), qr/^200 conn=1 seq=1 len=\d+$/,
    'https call-out to an IP literal: verified against the test CA');
like(call("https://127.0.0.1:$g/b"), qr/^200 conn=1 seq=2 /, '... the next one reuses it');
like(call("https://localhost:$g/c"), qr/^200 conn=2 seq=1 /,
    'by name (SNI, hostname verified): its own pool, a new connection');
like(call("https://LOCALHOST:$g/d"), qr/^200 conn=2 seq=2 /, '... reused, case does not matter');
is($good->connections, 2, 'the TLS server accepted two connections for four call-outs');

like(call("https://127.0.0.1:$g/size/300000"), qr/^200 conn=1 seq=3 len=300000$/,
    'a 300 kB response over TLS (many records)');
like(call("https://127.0.0.1:$g/post", 'X-Body' => 200000), qr/^200 conn=1 seq=4 /,
    'a 200 kB request body over TLS');
ok($good->wait_note(qr/^got POST \/post 200000$/), '... arrived whole');

# Failures: status 0 and why.
like(call('https://127.0.0.1:' . $selfs->port . '/'),
    qr/^0 certificate verify failed: (self-signed certificate|unable to get local issuer)/,
    'a certificate no trusted CA vouches for: refused, saying why');
ok($selfs->wait_note(qr/^handshake failed/), '... the server saw the handshake fail');
like(call('https://localhost:' . $other->port . '/'),
    qr/^0 certificate verify failed: hostname mismatch$/, 'a certificate for another name');
like(call('https://127.0.0.1:' . $other->port . '/'),
    qr/^0 certificate verify failed: IP address mismatch$/, 'an address the certificate lacks');
is(scalar(grep {/^got /} $selfs->notes, $other->notes), 0, '... no request was ever sent');

like(call('https://127.0.0.1:' . $hang->port . '/', 'X-Timeout' => '0.5'), qr/^0 timeout$/,
    'a server that never answers the handshake: timeout');
like(call('https://127.0.0.1:' . $plain->port . '/'),
    qr/^0 TLS handshake failed: (wrong version number|packet length too long|record layer)/,
    'a plain-HTTP server on an https URL: a clean TLS error');
like(call("http://127.0.0.1:$g/"), qr/^0 (connection (reset|closed before the response)|invalid)/,
    'plain HTTP to the TLS server fails too (and uses no TLS pool)');
like(call("https://127.0.0.1:$g/again"), qr/^200 conn=1 seq=5 /,
    '... while the TLS connection is still pooled apart');

# A C module's callout() takes https URLs too.
my $r = http_req($port, path => '/c/x');
like($r->{h}{'x-callout'} // '', qr/^200 \d+$/, 'callout() from a C module over https');
ok($good->wait_note(qr/^got GET \/from-c 0$/), '... reached the TLS server');

is($px->stop, 0, 'pyxis exits cleanly');
done_testing;
