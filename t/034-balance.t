# 034-balance: endpoints are chosen by smooth weighted round robin, per worker
# (docs/proxy.md). With one worker the shares are exact, and the choices are interleaved rather
# than sent in bursts of one endpoint.
use strict;
use warnings;
use Test::More;
use PxTest;

my %be = map { ($_ => PxTest::Backend->echo(name => $_)) } qw(a b c);
my $px = PxTest::Pyxis->start(vars => { map { ("BACKEND_$_" => $be{$_}->port) } keys %be },
    yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    keepalive_requests: 0
    routes:
      - { match: { path_prefix: /weighted/ }, upstream: weighted }
      - { match: { path_prefix: /equal2/ }, upstream: equal2 }
      - { match: { path_prefix: /equal3/ }, upstream: equal3 }
upstreams:
  weighted:
    endpoints:
      - { address: "127.0.0.1:%%BACKEND_a%%", weight: 1 }
      - { address: "127.0.0.1:%%BACKEND_b%%", weight: 2 }
      - { address: "127.0.0.1:%%BACKEND_c%%", weight: 3 }
  equal2:
    endpoints: [ "127.0.0.1:%%BACKEND_a%%", "127.0.0.1:%%BACKEND_b%%" ]
  equal3:
    endpoints: [ "127.0.0.1:%%BACKEND_a%%", "127.0.0.1:%%BACKEND_b%%", "127.0.0.1:%%BACKEND_c%%" ]
YAML

# $n sequential requests on one keep-alive client connection; returns the backends that
# answered, in order ('?' for a failed request).
sub pick_sequence {
    my ($path, $n) = @_;
    my $c = client($px->port('front'));
    my @seq;
    for my $i (1 .. $n) {
        $c->write("GET $path/$i HTTP/1.1\r\nHost: a\r\n\r\n") or last;
        my $r = $c->read_response;
        push @seq, ($r->{status} // 0) == 200 ? $r->{h}{'x-backend'} // '?' : '?';
    }
    $c->close;
    return @seq;
}
sub counts { my %n; $n{$_}++ for @_; return \%n }
# The longest run of one backend answering in a row: { backend => length }.
sub longest_runs {
    my %max;
    my ($prev, $run) = ('', 0);
    for (@_) {
        $run = $_ eq $prev ? $run + 1 : 1;
        $prev = $_;
        $max{$_} = $run if $run > ($max{$_} // 0);
    }
    return \%max;
}

# ---- weights 1, 2, 3 over 600 requests ----
my @seq = pick_sequence('/weighted', 600);
is(scalar(grep { $_ ne '?' } @seq), 600, 'weights 1/2/3: 600 requests, all 200');
my $n = counts(@seq);
my %share = (a => 100, b => 200, c => 300);
for my $name (qw(a b c)) {
    my $got = $n->{$name} // 0;
    ok(abs($got - $share{$name}) <= 12,
        "endpoint $name (weight " . $share{$name} / 100 . ") gets its share: "
        . "$got of 600, expected $share{$name} +- 2%");
}
# Smooth WRR spreads the heavy endpoint out: with weights 1/2/3 a cycle of six is like
# "c b a c b c", so no endpoint answers more than twice in a row (a plain WRR would send
# "c c c"), and the weight-1 endpoint never twice.
my $runs = longest_runs(@seq);
ok(!grep({ $_ > 2 } values %$runs), 'interleaved: no endpoint answers more than twice in a row')
    or diag 'longest runs: ' . join(', ', map {"$_=$runs->{$_}"} sort keys %$runs);
is($runs->{a}, 1, '... and the weight-1 endpoint never twice');
my @off = grep {
    my $w = counts(@seq[$_ .. $_ + 5]);
    ($w->{a} // 0) != 1 || ($w->{b} // 0) != 2 || ($w->{c} // 0) != 3
} 0 .. $#seq - 5;
is(scalar @off, 0, 'any six consecutive requests go 1/2/3 to a/b/c')
    or diag 'first 24: ' . join(' ', @seq[0 .. 23]);

# ---- equal weights: strict rotation ----
@seq = pick_sequence('/equal2', 20);
is(scalar(grep { $_ ne '?' } @seq), 20, 'two equal endpoints: 20 requests, all 200');
ok(!grep({ $seq[$_] eq $seq[$_ - 1] } 1 .. $#seq), '... they alternate')
    or diag "@seq";
is_deeply(counts(@seq), { a => 10, b => 10 }, '... 10 each');

@seq = pick_sequence('/equal3', 30);
is(scalar(grep { $_ ne '?' } @seq), 30, 'three equal endpoints: 30 requests, all 200');
ok(!grep({ my @w = @seq[$_ .. $_ + 2]; keys %{counts(@w)} != 3 } 0 .. $#seq - 2),
    '... any three consecutive requests reach all three') or diag "@seq";

done_testing;
