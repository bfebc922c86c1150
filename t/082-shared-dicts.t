# 082-shared-dicts: shared_dicts in the config, used by a module through the SDK: one dict seen
# by every worker, kept across a reload that keeps its name, and refused config values.
use strict;
use warnings;
use Test::More;
use PxTest;

my $be = PxTest::Backend->echo(name => 'be');
my $yaml = <<'YAML';
workers: 2
shared_dicts: { counts: 1m }
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: / }
        filters: [ { testfilter: { tag: %%TAG%%, shdict: counts } } ]
        upstream: be
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BE%%" ] }
YAML
my $px = PxTest::Pyxis->start(vars => { BE => $be->port, TAG => 'one' }, yaml => $yaml);
my $port = $px->port('front');

# 20 requests on 20 connections spread over both workers; the counter is one.
my @hits = map { http_req($port, path => "/$_")->{h}{'x-hits'} } 1 .. 20;
is_deeply([sort { $a <=> $b } @hits], [1 .. 20], 'one counter across workers: 1..20, no gaps');

# A reload that keeps the dict keeps its contents.
like($px->reload(vars => { BE => $be->port, TAG => 'two' }, yaml => $yaml),
    qr/generation 2 active/, 'reload');
my $r = http_req($port, path => '/after');
is($r->{h}{'x-order'}, 'two', 'the new generation serves');
is($r->{h}{'x-hits'}, 21, 'the dict kept its contents across the reload');

is($px->stop, 0, 'pyxis exits cleanly');

# Config errors.
my %bad = (
    'shared_dicts: { counts: 1k }' => qr/shared_dicts\.counts: a shared dict needs at least 16k/,
    'shared_dicts: { Bad-Name: 1m }' => qr/invalid shared dict name "Bad-Name"/,
    'shared_dicts: { counts: lots }' => qr/shared_dicts\.counts: /,
    'shared_dicts: [ counts ]' => qr/shared_dicts: /,
);
for my $line (sort keys %bad) {
    my $c = PxTest::Pyxis->check(vars => {}, yaml => <<"YAML");
$line
listeners:
  - listen: 127.0.0.1:%%PORT_front%%
    routes: [ { respond: { status: 200 } } ]
YAML
    isnt($c->{exit}, 0, "refused: $line");
    like($c->{err}, qr/pyxis\.yaml:1:\d+: .*$bad{$line}/, "... with file:line:col") or diag $c->{err};
}
my $c = PxTest::Pyxis->check(vars => {}, yaml => <<'YAML');
listeners:
  - listen: 127.0.0.1:%%PORT_front%%
    routes:
      - filters: [ { testfilter: { shdict: nope } } ]
        respond: { status: 200 }
YAML
like($c->{err}, qr/pyxis\.yaml:4:\d+: .*no shared dict named "nope"/,
    'a module can check a dict exists at config time') or diag $c->{err};

done_testing;
