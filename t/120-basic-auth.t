# 120-basic-auth: the basic_auth filter (docs/config.md, "Built-in filters" -> "basic_auth"):
# an htpasswd file made here with every accepted hash form; good, missing, wrong and malformed
# credentials; the user as a var for later filters (headers, Lua) and as a forwarded field;
# Authorization stripped or kept; a reload re-reads the file; refused hash forms and other bad
# lines (pyxis -t names the file and line); no password in any log; examples/auth-basic.yaml.
use strict;
use warnings;
use Test::More;
use File::Basename qw(dirname);
use MIME::Base64 qw(encode_base64);
use PxTest;

my $tmp = PxTest::testdir();

# Hashes as htpasswd tools make them: bcrypt with perl's crypt() (libxcrypt), SHA-crypt with
# openssl passwd.
sub bcrypt {
    my ($pw, $v) = @_;
    my @b64 = ('.', '/', 0 .. 9, 'A' .. 'Z', 'a' .. 'z');
    my $salt = join('', map { $b64[rand @b64] } 1 .. 21) . ('.', 'O', 'e', 'u')[rand 4];
    my $h = crypt($pw, "\$$v\$05\$$salt") // '';
    $h =~ /\A\$\Q$v\E\$05\$.{53}\z/ or die "crypt() made no $v bcrypt hash: '$h'\n";
    return $h;
}
sub shacrypt {
    my ($pw, $n) = @_;
    my $r = PxTest::run_cmd(['openssl', 'passwd', "-$n", $pw]);
    chomp(my $h = $r->{out});
    $h =~ /\A\$$n\$/ or die "openssl passwd -$n: $r->{err}\n";
    return $h;
}
sub users_file { my ($name, @lines) = @_; write_file("$tmp/$name", join '', map {"$_\n"} @lines) }
my @sent;    # every credential sent, to look for in the logs
sub basic {
    push @sent, encode_base64("$_[0]:$_[1]", '');
    return ('Authorization' => "Basic $sent[-1]");
}

my %hash = (alice => bcrypt('pw-alice', '2y'), bob => bcrypt('pw-bob', '2b'),
    carol => bcrypt('pw-carol', '2a'), dave => shacrypt('pw-dave', 6),
    erin => shacrypt('pw-erin', 5), "j\xc3\xb6rg" => shacrypt('pw-joerg', 6));
my @users = sort keys %hash;
users_file('users.htpasswd', '# made by t/120', '', map({ "$_:$hash{$_}" } @users), "  # end\r");

my $be = PxTest::Backend->echo(name => 'be');
my $yaml = <<'YAML';
workers: 1
access_log: "%%DIR%%/access.log"
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /plain/ }
        upstream: be
        filters:
          - basic_auth: { file: ../users.htpasswd }
      - match: { path_prefix: /fwd/ }
        upstream: be
        filters:
          - basic_auth:
              file: ../users.htpasswd
              realm: 'Staff "only" \ area'
              forward_user: X-Auth-User
              keep_authorization: true
              cache_size: 0
          - headers: { request: { set: { x-copy: "${var.auth_user}/${var.auth_method}" } } }
          - lua:
              code: |
                return { on_request = function(txn)
                  txn.req.headers["x-lua-user"] = txn:var("var.auth_user")
                end }
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BACKEND_be%%" ] }
YAML
my $px = PxTest::Pyxis->start(vars => { BACKEND_be => $be->port }, yaml => $yaml);
my $port = $px->port('front');
my $pw = sub { $_[0] eq "j\xc3\xb6rg" ? 'pw-joerg' : "pw-$_[0]" };

# Every hash form lets its user in; the upstream gets neither the credentials nor a user field.
for my $u (@users) {
    my $r = http_req($port, path => '/plain/x', headers => [basic($u, $pw->($u))]);
    my ($form) = $hash{$u} =~ /^(\$\w+\$)/;
    is($r->{status}, 200, "$u ($form) gets in") or diag $px->log;
    my $e = parse_echo($r->{body});
    ok(!exists $e->{h}{authorization} && !exists $e->{h}{'x-auth-user'},
        '... and the upstream gets no Authorization and no user field');
}
is(http_req($port, path => '/plain/x', headers => [basic('alice', 'pw-alice')])->{status}, 200,
    'alice again (from the cache)');

# Everything else is a 401 that never reaches the upstream.
my $seen = () = $be->requests;
my @denied = (
    ['no credentials', []],
    ['a wrong password', [basic('alice', 'wrong-pw-alice')]],
    ['a wrong password after a cached success', [basic('alice', 'pw-alice ')]],
    ['an unknown user', [basic('mallory', 'pw-mallory')]],
    ['another scheme', ['Authorization' => 'Bearer eyJhbGciOi.x.y']],
    ['"Basic" alone', ['Authorization' => 'Basic']],
    ['bad base64', ['Authorization' => 'Basic !!!!']],
    ['unpadded base64', ['Authorization' => 'Basic YWxpY2U6cHctYWxpY2']],
    ['no colon', ['Authorization' => 'Basic ' . encode_base64('alice', '')]],
    ['an empty user', [basic('', 'pw-alice')]],
    ['a NUL in the password', [basic('alice', "pw-alice\0x")]],
    ['a value over 4096 bytes', ['Authorization' => 'Basic ' . ('QUFB' x 1100)]],
    ['two Authorization fields', [basic('alice', 'pw-alice'), basic('bob', 'pw-bob')]],
);
for my $d (@denied) {
    my ($what, $h) = @$d;
    my $r = http_req($port, path => '/plain/x', headers => $h);
    is($r->{status}, 401, "$what -> 401");
    is($r->{h}{'www-authenticate'}, 'Basic realm="pyxis", charset="UTF-8"',
        '... with the challenge');
}
is(scalar(() = $be->requests), $seen, 'none of them reached the upstream');
like($px->log, qr/\[basic_auth\] .*denied: user "alice": wrong password/,
    'a wrong password is logged at info with the user');
like($px->log, qr/denied: user "mallory": unknown user/, '... an unknown user too');
like($px->log, qr/denied: malformed credentials \(credentials not in base64\)/,
    '... and malformed credentials with the reason');

# forward_user, keep_authorization, the var for a later headers filter and Lua; the realm quoted.
my @h = (basic('dave', 'pw-dave'), 'X-Auth-User' => 'mallory');
my $e = parse_echo(http_req($port, path => '/fwd/x', headers => \@h)->{body});
is($e->{h}{'x-auth-user'}, 'dave', 'forward_user: the user, not the client\'s copy');
like($e->{h}{authorization} // '', qr/^Basic /, 'keep_authorization: the credentials go on');
is($e->{h}{'x-copy'}, 'dave/basic', '${var.auth_user} and ${var.auth_method} in a headers filter');
is($e->{h}{'x-lua-user'}, 'dave', 'txn:var("var.auth_user") in Lua');
is(http_req($port, path => '/fwd/x')->{h}{'www-authenticate'},
    'Basic realm="Staff \"only\" \\\\ area", charset="UTF-8"', 'the realm as a quoted-string');

# A reload reads the file again: a changed password, a removed user.
$hash{alice} = bcrypt('pw-alice-2', '2y');
delete $hash{bob};
users_file('users.htpasswd', map { "$_:$hash{$_}" } sort keys %hash);
like($px->reload(yaml => $yaml) // 'no reload line', qr/generation 2 active/, 'reload');
is(http_req($port, path => '/plain/x', headers => [basic('alice', 'pw-alice')])->{status}, 401,
    'alice\'s old password (cached before) -> 401');
is(http_req($port, path => '/plain/x', headers => [basic('alice', 'pw-alice-2')])->{status}, 200,
    '... her new one -> 200');
is(http_req($port, path => '/plain/x', headers => [basic('bob', 'pw-bob')])->{status}, 401,
    'bob, removed from the file -> 401');

# No password, and no Authorization value, in either log.
my $logs = $px->log . do { local (@ARGV, $/) = ($px->dir . '/access.log'); <> // '' };
like($logs, qr{"GET /plain/x HTTP/1.1" 401}, 'the access log has the denials');
my @secrets = grep { $logs =~ /\Q$_\E/ } 'pw-', 'Basic Y', @sent;
is_deeply(\@secrets, [], 'no password or credentials in the error or access log');

# Refused hash forms and bad lines: pyxis -t names the users file and line, and never shows the
# hash or password.
my $bad = users_file('bad.htpasswd', '# refused forms', "ok:$hash{dave}", 'p1:plain-secret',
    'p2:$apr1$abcdefgh$5VEbMkemELfbhC5ck.U.z1', 'p3:$1$abc$Kb85XxsXB.VXinPhbS4431',
    'p4:{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=', 'p5:abzlUXK5ed5rs', 'p6:$2b$05$tooshort',
    "ok:$hash{erin}", ":$hash{erin}", "no-colon", ' sp:' . $hash{erin}, 'p7:$y$j9T$abc$def');
my $c = PxTest::Pyxis->check(yaml => <<"YAML");
listeners:
  - listen: 127.0.0.1:%%PORT_front%%
    routes:
      - respond: { body: x }
        filters:
          - basic_auth: { file: $bad }
YAML
is($c->{exit}, 1, 'pyxis -t with refused hashes -> exit 1');
my $col = index((split /\n/, $c->{yaml})[5], $bad) + 1;
my $at = qr/^\Q$c->{file}\E:6:$col: listeners\[0\]\.routes\[0\]\.filters\[0\]\.basic_auth: file: \Q$bad\E/m;
my $forms = qr/; accepted: bcrypt \(\$2y\$, \$2b\$, \$2a\$\), SHA-512-crypt \(\$6\$\) or SHA-256-crypt \(\$5\$\)$/m;
for my $x (['3:4', 'user "p1": not a supported hash \(plaintext passwords are refused\)'],
    ['4:4', 'user "p2": MD5 \(\$apr1\$\) hashes are refused'],
    ['5:4', 'user "p3": MD5-crypt \(\$1\$\) hashes are refused'],
    ['6:4', 'user "p4": SHA-1 \(\{SHA\}\) hashes are refused'],
    ['7:4', 'user "p5": DES crypt hashes'], ['8:4', 'user "p6": malformed bcrypt hash'],
    ['13:4', 'user "p7": an unsupported hash method'])
{
    like($c->{err}, qr/$at:$x->[0]: $x->[1].*$forms/m, "file:$x->[0]: $x->[1]");
}
like($c->{err}, qr/$at:10:1: empty user name$/m, 'file:10: an empty user name');
like($c->{err}, qr/$at:11:1: no ":" between the user name and the hash$/m, 'file:11: no ":"');
like($c->{err}, qr/$at:12:1: the user name begins or ends with a space$/m, 'file:12: a space');
like($c->{err}, qr/$at:9:1: user "ok" is already on line 2$/m, 'file:9: a duplicate user');
unlike($c->{err}, qr/plain-secret|5VEbMkem|GpHWL3/, 'no hash or password in the messages');
$c = PxTest::Pyxis->check(yaml => $c->{yaml} =~ s/\Q$bad\E/missing.htpasswd/r);
like($c->{err}, qr/basic_auth: cannot open \Q${\dirname($c->{file})}\E\/missing\.htpasswd: No such/,
    'a missing file -> cannot open, relative to the config file');
my $empty = users_file('empty.htpasswd', '# nobody yet');
$c = PxTest::Pyxis->check(yaml => $c->{yaml} =~ s/missing\.htpasswd/$empty/r);
like($c->{err}, qr/basic_auth: file: \Q$empty\E holds no users/, 'a file without users is refused');

# examples/auth-basic.yaml, with this test's ports and the example's users file.
my $ex = "$ENV{PYXIS_SRCDIR}/examples";
my $exyaml = do { local (@ARGV, $/) = ("$ex/auth-basic.yaml"); <> };
$exyaml =~ s/127\.0\.0\.1:8080/127.0.0.1:%%PORT_front%%/g;
$exyaml =~ s/127\.0\.0\.1:8081/127.0.0.1:%%PORT_back%%/g;
$exyaml =~ s/file: auth-basic\.htpasswd/file: $ex\/auth-basic.htpasswd/ or die;
$exyaml =~ s/access_log: stderr/access_log: off/;
my $xp = PxTest::Pyxis->start(yaml => $exyaml);
my $r = http_req($xp->port('front'), path => '/', headers => [basic('alice', 'correct-horse')]);
is($r->{status}, 200, 'example: alice with the documented password');
is($r->{h}{'x-seen-user'}, 'alice', '... the backend saw the user');
is($r->{h}{'x-hello'}, 'alice', '... and a later filter had it as ${var.auth_user}');
is($r->{h}{'x-seen-authorization'}, undef, '... but not the credentials');
is(http_req($xp->port('front'), path => '/', headers => [basic('bob', 'battery-staple')])
    ->{h}{'x-seen-user'}, 'bob', 'example: bob too');
$r = http_req($xp->port('front'), path => '/');
is($r->{status}, 401, 'example: no credentials -> 401');
is($r->{h}{'www-authenticate'}, 'Basic realm="example", charset="UTF-8"', '... realm "example"');

done_testing;
