# 050-config-check: `pyxis -t` validates a config; a bad config is refused with FILE:LINE:COL
# pointing at the offending line (marked "# <- error" below), at start and at reload, and a
# refused reload leaves the running config in place.
use strict;
use warnings;
use Test::More;
use PxTest;

# The 1-based number of the line marked "# <- error".
sub marked_line {
    my ($yaml) = @_;
    my @lines = split /\n/, $yaml;
    my ($i) = grep { $lines[$_] =~ /# <- error/ } 0 .. $#lines;
    return $i + 1;
}

my $valid = <<'YAML';
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /api/ }
        upstream: be
      - match: { path: /version }
        respond: { body: "v1\n" }
upstreams:
  be: { endpoints: [ "127.0.0.1:%%PORT_be%%" ] }
YAML

my $check = PxTest::Pyxis->check(yaml => $valid);
is($check->{exit}, 0, 'pyxis -t: a valid config -> exit 0') or diag $check->{err};
is($check->{out}, "$check->{file}: configuration OK\n",
    'pyxis -t: prints "FILE: configuration OK"');

my %invalid = (
    'an unknown key' => <<'YAML',
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path: /version }
        respond: { body: "v1\n" }
        timeuot: 5s   # <- error
YAML
    'an unknown upstream' => <<'YAML',
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: / }
        upstream: nowhere   # <- error
upstreams:
  be: { endpoints: [ "127.0.0.1:%%PORT_be%%" ] }
YAML
    'a bad listen address' => <<'YAML',
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:99999   # <- error
    routes:
      - match: { path: /version }
        respond: { body: "v1\n" }
YAML
    'a YAML syntax error' => <<'YAML',
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%: x   # <- error
    routes:
      - match: { path: /version }
        respond: { body: "v1\n" }
YAML
);

for my $what (sort keys %invalid) {
    my $r = PxTest::Pyxis->check(yaml => $invalid{$what});
    my $line = marked_line($invalid{$what});
    is($r->{exit}, 1, "pyxis -t: $what -> exit 1");
    like($r->{err}, qr/^\Q$r->{file}\E:$line:\d+: \S/m, "... error at $r->{file}:$line:COL")
        or diag "stderr: $r->{err}";
    is($r->{out}, '', '... nothing on stdout');
}

# Starting with a bad config fails the same way.
my $bad = PxTest::Pyxis->start(yaml => $invalid{'an unknown upstream'}, expect_fail => 1);
is($bad->exit_status, 1, 'start with a bad config -> exit 1');
my $bad_line = marked_line($invalid{'an unknown upstream'});
like($bad->log, qr/:$bad_line:\d+: /, '... with the error location in the log');

# Reload (SIGHUP): a broken config is refused and the running one keeps serving.
my $px = PxTest::Pyxis->start(yaml => $valid);
is(http_req($px->port('front'), path => '/version')->{body}, "v1\n", 'generation 1 serves v1');

my $broken = $valid =~ s/upstream: be/upstream: nowhere   # <- error/r;
my $line = marked_line($broken);
my $file = $px->config_file;
like($px->reload(yaml => $broken) // 'no reload log line',
    qr/\[error\] reload failed, keeping generation 1: \Q$file\E:$line:\d+: /,
    'reload with a broken config -> "reload failed, keeping generation 1: FILE:LINE:COL: ..."');
is(http_req($px->port('front'), path => '/version')->{body}, "v1\n", '... and v1 is still served');

(my $v2 = $valid) =~ s/v1/v2/;
like($px->reload(yaml => $v2) // 'no reload log line', qr/\[info\] reload: generation 2 active/,
    'reload with a valid config -> "reload: generation 2 active"');
is(http_req($px->port('front'), path => '/version')->{body}, "v2\n", '... and v2 is served');

is($px->stop, 0, 'SIGTERM after reloads -> exit 0');

done_testing;
