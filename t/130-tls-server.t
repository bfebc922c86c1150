# 130-tls-server: listeners over TLS. TLS 1.2 and 1.3 with curl; the certificate chosen by SNI
# (exact and wildcard names, the first certificate as the default); ALPN http/1.1 (h2 alone is
# refused); session resumption with tickets, on any worker; protocols; plain HTTP and silence
# on a TLS port; a reload with a new certificate seen by new connections while an open one
# keeps working; bad certificates and keys refused with FILE:LINE:COL.
use strict;
use warnings;
use Test::More;
use PxTest;

plan skip_all => 'curl is needed' unless have_curl;

my $certs = PxTest::Backend->tls_certs;    # CA, and "srv": localhost, 127.0.0.1
my $api = PxTest::Backend->tls_issue('api', 'DNS:api.example,DNS:*.b.example');
my $srv2 = PxTest::Backend->tls_issue('srv2', 'DNS:localhost');
my $be = PxTest::Backend->echo(name => 'app');

my $yaml = <<'YAML';
workers: 2
error_log: { level: info }
listeners:
  - name: tls
    listen: 127.0.0.1:%%PORT_tls%%
    client_header_timeout: 1s
    tls:
      certificates:
        - { cert: "%%CERT%%", key: "%%KEY%%" }
        - { cert: "%%API_CERT%%", key: "%%API_KEY%%" }
    routes:
      - filters:
          - headers:
              request:
                set:
                  x-scheme: "${scheme}"
                  x-tls: "${tls_version} ${tls_sni} ${tls_alpn}"
                  x-cipher: "${tls_cipher}"
        upstream: app
  - name: only13
    listen: 127.0.0.1:%%PORT_only13%%
    tls:
      certificates: [ { cert: "%%CERT%%", key: "%%KEY%%" } ]
      protocols: [TLSv1.3]
      session_tickets: false
    routes:
      - respond: { body: "only13\n" }
upstreams:
  app: { endpoints: [ "127.0.0.1:%%APP%%" ] }
YAML
my %vars = (CERT => $certs->{cert}, KEY => $certs->{key}, API_CERT => $api->{cert},
    API_KEY => $api->{key}, APP => $be->port);
my $px = PxTest::Pyxis->start(vars => \%vars, yaml => $yaml);
my ($port, $p13) = ($px->port('tls'), $px->port('only13'));
my @ca = ('--cacert', $certs->{ca});

# ---- curl, TLS 1.2 and 1.3 ----
for my $v (['1.2', '--tlsv1.2', '--tls-max', '1.2'], ['1.3', '--tlsv1.3']) {
    my ($name, @opt) = @$v;
    my $r = curl(@ca, @opt, "https://localhost:$port/x");
    is($r->{exit}, 0, "curl over TLS $name") or diag $r->{err};
    my $e = parse_echo($r->{out});
    is($e->{h}{'x-tls'}, "TLSv$name localhost http/1.1", "... \${tls_version} \${tls_sni} \${tls_alpn}");
    is($e->{h}{'x-scheme'}, 'https', '... ${scheme} is https');
    is($e->{h}{'x-forwarded-proto'}, 'https', '... X-Forwarded-Proto: https');
    like($e->{h}{'x-cipher'}, $name eq '1.3' ? qr/^TLS_AES_|^TLS_CHACHA/ : qr/^ECDHE-/,
        '... ${tls_cipher}');
}
my $r = curl(@ca, '--tls-max', '1.2', "https://localhost:$p13/");
isnt($r->{exit}, 0, 'protocols: [TLSv1.3] refuses a TLS 1.2 client');
is(curl(@ca, "https://localhost:$p13/")->{out}, "only13\n", '... and serves a TLS 1.3 one');

# ---- the certificate by SNI ----
my %sni = ('api.example' => 'CN = api', 'x.b.example' => 'CN = api', 'X.B.Example' => 'CN = api',
    'y.x.b.example' => 'CN = srv', 'localhost' => 'CN = srv', 'unknown.example' => 'CN = srv');
for my $name (sort keys %sni) {
    my $o = s_client($port, '-servername', $name, '-CAfile', $certs->{ca})->{out};
    like($o, qr/^subject=\Q$sni{$name}\E$/m, "SNI $name: certificate $sni{$name}");
}
my $o = s_client($port, '-noservername', '-CAfile', $certs->{ca})->{out};
like($o, qr/^subject=CN = srv$/m, 'no SNI: the first certificate');
like($o, qr/^Verify return code: 0 \(ok\)/m, '... verified against the CA');
like($o, qr/^x-backend: app/mi, '... and the request was answered');

# ---- ALPN ----
like(s_client($port, '-alpn', 'http/1.1')->{out}, qr/^ALPN protocol: http\/1\.1$/m,
    'ALPN http/1.1 is accepted');
like(s_client($port, '-alpn', 'h2,http/1.1')->{out}, qr/^ALPN protocol: http\/1\.1$/m,
    'h2,http/1.1: http/1.1 is chosen');
$r = s_client($port, '-alpn', 'h2');
like($r->{out} . $r->{err}, qr/no application protocol/i, 'h2 alone: no_application_protocol');
like(s_client($port)->{out}, qr/^No ALPN negotiated$/m, 'no ALPN offered: HTTP/1.1 all the same');

# ---- resumption (tickets, keys shared by the two workers) ----
for my $v (['-tls1_3'], ['-tls1_2']) {
    my $sess = PxTest::testdir() . "/sess$v->[0]";
    my $first = s_client($port, @$v, '-sess_out', $sess)->{out};
    like($first, qr/^New, TLSv1\.[23]/m, "$v->[0]: the first connection is a full handshake");
    my @reused = grep { /^Reused, /m } map { s_client($port, @$v, '-sess_in', $sess)->{out} } 1 .. 4;
    is(scalar(@reused), 4, "$v->[0]: four new connections resume the session");
}
my $sess = PxTest::testdir() . '/sess-off';
like(s_client($p13, '-sess_out', $sess)->{out}, qr/^New, TLSv1\.3/m, 'session_tickets: false');
ok(!-e $sess, '... no ticket came, so there is no session to resume');

# ---- plain HTTP and silence on a TLS port ----
$px->mark_log;
my ($bytes, $closed) = raw_http($port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
ok($closed && $bytes !~ /^HTTP/, 'plain HTTP to a TLS port: no HTTP answer, closed');
ok($px->wait_log(qr/\[info\] tls 127\.0\.0\.1: TLS handshake failed: http request/),
    '... logged at info with the peer and the reason');
my $c = client($port);
$c->write("\x16\x03\x01");    # the start of a record, then nothing
ok($c->wait_closed(5), 'a stalled handshake is closed (client_header_timeout)');
ok($px->wait_log(qr/\[info\] tls 127\.0\.0\.1: TLS handshake timed out/), '... and logged');

# ---- reload with a new certificate ----
my $old = tls_client($port, ca => $certs->{ca}, sni => 'localhost');
is($old->{hello}, 'connected CN=srv TLSv1.3', 'a connection before the reload: old certificate');
like($old->get('/before'), qr/^200 GET \/before /, '... serves');
like($px->reload(vars => { CERT => $srv2->{cert}, KEY => $srv2->{key} }, yaml => $yaml),
    qr/generation 2 active/, 'reload with a new certificate');
my $new = tls_client($port, ca => $certs->{ca}, sni => 'localhost');
is($new->{hello}, 'connected CN=srv2 TLSv1.3', 'a new connection gets the new certificate');
like($old->get('/after'), qr/^200 GET \/after /, '... while the old connection keeps working');
like($new->get('/new'), qr/^200 GET \/new /, '... as does the new one');

# A reload with a broken certificate is refused; the running one stays.
like($px->reload(vars => { KEY => $api->{key} }, yaml => $yaml),
    qr/reload failed, keeping generation 2: .*certificates\[0\]\.key: the key in .*api\.key does not match/,
    'a reload with a mismatched key is refused');
like(tls_client($port, ca => $certs->{ca}, sni => 'localhost')->{hello}, qr/CN=srv2 /,
    '... the certificate in use stays');

# ---- bad certificates and keys: FILE:LINE:COL and OpenSSL's reason ----
my $bad = write_files('garbage.pem' => "not a certificate\n");
my @cases = (
    ['a missing certificate file', { CERT => "$bad/none.pem" },
        qr/:9:19: listeners\[0\]\.tls\.certificates\[0\]\.cert: cannot open \S*none\.pem: No such file or directory/],
    ['a file that holds no certificate', { CERT => "$bad/garbage.pem" },
        qr/:9:19: listeners\[0\]\.tls\.certificates\[0\]\.cert: cannot load a certificate from \S*garbage\.pem: no start line/],
    ['a key of another certificate', { KEY => $api->{key} },
        qr/:9:\d+: listeners\[0\]\.tls\.certificates\[0\]\.key: the key in \S*api\.key does not match the certificate in \S*srv\.pem: key values mismatch/],
    ['a certificate as the key', { KEY => $certs->{cert} },
        qr/:9:\d+: listeners\[0\]\.tls\.certificates\[0\]\.key: cannot load a private key from \S*srv\.pem: /],
);
for my $case (@cases) {
    my ($what, $v, $re) = @$case;
    my $chk = PxTest::Pyxis->check(vars => { %vars, %$v }, yaml => $yaml);
    is($chk->{exit}, 1, "refused: $what");
    like($chk->{err}, $re, '... at the key, with the reason');
}
my @keys = (
    ['alpn: [h2]', qr/:6:14: listeners\[0\]\.tls\.alpn\[0\]: h2 is not written in alpn: a listener offers h2 with http2/],
    ['protocols: [TLSv1.1]', qr/:6:19: listeners\[0\]\.tls\.protocols\[0\]: TLSv1\.1 is not supported/],
    ['ciphers: NOPE', qr/:6:16: listeners\[0\]\.tls\.ciphers: OpenSSL refuses "NOPE": no cipher match/],
    ['verify_client: require', qr/:6:22: listeners\[0\]\.tls\.verify_client: verify_client needs client_ca/],
    ['session_timeout: 2d', qr/:6:24: listeners\[0\]\.tls\.session_timeout: /],
);
for my $k (@keys) {
    my ($line, $re) = @$k;
    my $chk = PxTest::Pyxis->check(vars => \%vars, yaml => <<"YAML");
listeners:
  - listen: 127.0.0.1:%%PORT_x%%
    tls:
      certificates:
        - { cert: "%%CERT%%", key: "%%KEY%%" }
      $line
    routes: [ { respond: { status: 204 } } ]
YAML
    like($chk->{err}, $re, "refused: $line");
}

is($px->stop, 0, 'pyxis exits cleanly');
done_testing;
