# 121-api-key: the api_key filter (docs/config.md, "Built-in filters" -> "api_key"): keys
# inline, from a keys file and pre-hashed (sha256:); in a header or a query parameter (header
# first); 401 without a key, 403 with a wrong one; the consumer as a var for later filters
# (headers, Lua) and as a forwarded field; the key removed before the upstream or kept; a reload
# re-reads the file; config errors with file:line:col; no key in any log (the access log shows
# a query key as REDACTED).
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);
use Test::More;
use PxTest;

my $tmp = PxTest::testdir();
sub keys_file { my ($name, @lines) = @_; write_file("$tmp/$name", join '', map {"$_\n"} @lines) }

my %key = (mobile => 'mobile-key-0123456789', ci => 'ci-bot-key-0123456789',
    billing => 'billing+key/0123456789', partner => 'partner-key-0123456789');
keys_file('keys.txt', '# consumers of t/121', '', "ci-bot: $key{ci}",
    "billing:\t sha256:" . uc(sha256_hex($key{billing})) . "  \r", '  # the end');

my $be = PxTest::Backend->echo(name => 'be');
my $yaml = <<"YAML";
workers: 1
access_log: "%%DIR%%/access.log"
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /h/ }
        upstream: be
        filters:
          - api_key: { keys: { mobile: $key{mobile} }, file: ../keys.txt }
      - match: { path_prefix: /q/ }
        upstream: be
        filters:
          - api_key: { file: ../keys.txt, query: api_key, forward_consumer: X-Consumer }
          - headers: { request: { set: { x-copy: "\${var.auth_user}/\${var.auth_method}" } } }
          - lua:
              code: |
                return { on_request = function(txn)
                  txn.req.headers["x-lua-user"] = txn:var("var.auth_user")
                end }
      - match: { path_prefix: /both/ }
        upstream: be
        filters:
          - api_key: { file: ../keys.txt, header: X-Token, query: token, keep_key: true }
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BACKEND_be%%" ] }
YAML
my $px = PxTest::Pyxis->start(vars => { BACKEND_be => $be->port }, yaml => $yaml);
my $port = $px->port('front');
sub req { my ($path, @h) = @_; return http_req($port, path => $path, headers => \@h) }

# From the default header: inline, file and sha256: keys; the field does not go upstream.
for my $c (['mobile', 'mobile'], ['ci', 'ci-bot'], ['billing', 'billing']) {
    my $r = req('/h/x', 'X-API-Key' => $key{$c->[0]});
    is($r->{status}, 200, "$c->[1]'s key in X-API-Key -> 200");
    ok(!exists parse_echo($r->{body})->{h}{'x-api-key'}, '... and the key stays here');
}

# From the query, with forward_consumer, the var in a headers filter and in Lua.
(my $plus = $key{billing}) =~ s{([+/])}{sprintf '%%%02X', ord $1}ge;
for my $q ("a=1&api_key=$key{ci}&b=2", "api_key=$plus&a=1", "a=1&api_key=$key{billing}") {
    my $r = req("/q/x?$q", 'X-Consumer' => 'evil');
    is($r->{status}, 200, "?$q -> 200") or next;
    my $e = parse_echo($r->{body});
    my $who = $q =~ /ci-bot/ ? 'ci-bot' : 'billing';
    is($e->{target}, '/q/x?a=1' . ($q =~ /b=2/ ? '&b=2' : ''), '... the parameter is removed');
    is($e->{h}{'x-consumer'}, $who, '... X-Consumer names the consumer, not the client\'s copy');
    is($e->{h}{'x-copy'}, "$who/api_key", '... ${var.auth_user} and ${var.auth_method}');
    is($e->{h}{'x-lua-user'}, $who, '... txn:var("var.auth_user") in Lua');
}

# Both places, header first; keep_key passes the key on.
my $e = parse_echo(req("/both/x?token=$key{mobile}&z=1", 'X-Token' => $key{ci})->{body});
is($e->{h}{'x-token'}, $key{ci}, 'keep_key: the header goes upstream');
is($e->{target}, "/both/x?token=$key{mobile}&z=1", '... and the query is untouched');
is(req("/both/x?token=$key{ci}")->{status}, 200, 'no header: the query parameter is used');

# Denials never reach the upstream: 401 without a key, 403 with a wrong one.
my $seen = () = $be->requests;
for my $d ([401, 'no key', '/h/x'], [401, 'an empty field', '/h/x', 'X-API-Key' => ''],
    [401, 'the key twice', '/h/x', 'X-API-Key' => $key{ci}, 'X-API-Key' => $key{ci}],
    [401, 'the query when only the header counts', '/h/x?api_key=not-looked-at'],
    [401, 'the header when only the query counts', '/q/x', 'X-API-Key' => $key{ci}],
    [401, 'the parameter twice', "/q/x?api_key=$key{ci}&api_key=$key{ci}"],
    [401, 'an empty parameter', '/q/x?api_key='],
    [403, 'a wrong key', '/h/x', 'X-API-Key' => 'wrong-key-0123456789'],
    [403, 'a key of another case', '/h/x', 'X-API-Key' => uc $key{ci}],
    [403, 'the sha256: form itself', '/h/x', 'X-API-Key' => 'sha256:' . sha256_hex($key{billing})],
    [403, 'a wrong key in the query', '/q/x?api_key=wrong-key-0123456789'],
    [403, 'bad percent-encoding', '/q/x?api_key=%zz-key-0123456789'],
    [403, 'a wrong header beats a good parameter', "/both/x?token=$key{ci}", 'X-Token' => 'nope'])
{
    my ($status, $what, $path, @h) = @$d;
    my $r = req($path, @h);
    is($r->{status}, $status, "$what -> $status");
    is($r->{body}, $status == 401 ? "API key required\n" : "invalid API key\n", '... with a body');
}
is(scalar(() = $be->requests), $seen, 'none of them reached the upstream');
like($px->log, qr/\[api_key\] .*denied: unknown key \(field x-api-key\)/, 'denials are logged');
like($px->log, qr/denied: unknown key \(query parameter api_key\)/, '... with where the key was');

# A reload reads the keys file again.
keys_file('keys.txt', "partner: $key{partner}");
like($px->reload(yaml => $yaml) // 'no reload line', qr/generation 2 active/, 'reload');
is(req('/h/x', 'X-API-Key' => $key{partner})->{status}, 200, 'a key added to the file -> 200');
is(req('/h/x', 'X-API-Key' => $key{ci})->{status}, 403, 'a key removed from it -> 403');

# No key in either log; the access log shows query keys as REDACTED, kept or not.
my $access = do { local (@ARGV, $/) = ($px->dir . '/access.log'); <> // '' };
like($access, qr{"GET /q/x\?a=1&api_key=REDACTED&b=2 HTTP/1.1" 200}, 'access log: REDACTED');
like($access, qr{"GET /both/x\?token=REDACTED&z=1 HTTP/1.1" 200}, '... also with keep_key');
like($access, qr{"GET /q/x\?api_key=REDACTED&api_key=REDACTED HTTP/1.1" 401}, '... and denied');
my @found = grep { ($px->log . $access) =~ /\Q$_\E/ } values(%key), $plus, 'key-0123456789';
is_deeply(\@found, [], 'no key in the error or access log');

# Config errors: FILE:LINE:COL of the key in the config, and of the line in a keys file.
my $head = <<'YAML';
listeners:
  - listen: 127.0.0.1:%%PORT_front%%
    routes:
      - respond: { body: x }
        filters:
YAML
my $bad = keys_file('bad.txt', 'ok: ok-key-0123456789', 'short: short-key', 'b d: x-key-0123456789',
    'dup: ok-key-0123456789', 'ok: other-key-0123456789', 'nokey:', 'h: sha256:00ff', 'sp: a key 0123456789');
for my $x (
    ['a short key', 'tiny', qr/keys\.a: the key is shorter than 16 characters/,
        "- api_key: { keys: { a: tiny } }"],
    ['a key used twice', '"same-key',
        qr/keys\.b: the same key as consumer "a" \(first at \S+:6:33\)/,
        "- api_key: { keys: { a: same-key-0123456789, b: \"same-key-0123456789\" } }"],
    ['a bad consumer name', '"a b"', qr/keys: a consumer name is 1 to 128 of/,
        "- api_key: { keys: { \"a b\": good-key-0123456789 } }"],
    ['no keys', '{ header', qr/give keys \(a map of consumer: key\) and\/or file/,
        "- api_key: { header: x-key }"],
    ['Authorization as the header', 'Authorization', qr/header: Authorization cannot be used here/,
        "- api_key: { keys: { a: good-key-0123456789 }, header: Authorization }"],
    ['a bad parameter name', '"a b"', qr/query: expected a parameter name/,
        "- api_key: { keys: { a: good-key-0123456789 }, query: \"a b\" }"])
{
    my ($what, $at, $msg, $entry) = @$x;
    my $c = PxTest::Pyxis->check(yaml => "$head        $entry\n");
    my $col = index($entry, $at) + 9;
    like($c->{err}, qr/^\Q$c->{file}\E:6:$col: \S+\.api_key: $msg/m, "pyxis -t: $what at 6:$col")
        or diag $c->{err};
    unlike($c->{err}, qr/same-key|good-key/, '... without the key');
}
my $c = PxTest::Pyxis->check(yaml => "$head        - api_key: { file: $bad }\n");
my $at = qr/^\Q$c->{file}\E:6:\d+: \S+\.api_key: file: \Q$bad\E/m;
for my $x (['2:8', 'the key is shorter than 16 characters'], ['3:1', 'a consumer name is'],
    ['6:6', 'no key after the ":"'], ['7:4', 'a sha256: key is 64 hex digits'],
    ['8:5', 'a key is printable ASCII without spaces'],
    ['5:1', 'consumer "ok": the consumer is given twice \(first at ' . quotemeta($bad) . ':1:1\)'],
    ['4:6', 'consumer "dup": the same key as consumer "ok"'])
{
    like($c->{err}, qr/$at:$x->[0]: $x->[1]/, "keys file $x->[0]: $x->[1]") or diag $c->{err};
}
unlike($c->{err}, qr/key-0123456789|short-key/, 'no key in the messages');

done_testing;
