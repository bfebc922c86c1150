# 086-test-filter-cases: filters tested offline with `pyxis test-filter`, one directory per case
# under t/test-filter/: config.yaml, request.http, optionally upstream.http and callouts (lines
# of TARGET=FILE, FILE relative to the case), and expected.txt, the expected stdout (compared
# with CR removed). To add a case, write the files and check the output by hand once:
#   pyxis test-filter -c config.yaml -r request.http [-u upstream.http] | tr -d '\r'
use strict;
use warnings;
use Test::More;
use PxTest;

my $root = "$ENV{PYXIS_SRCDIR}/t/test-filter";
opendir(my $dh, $root) or die "$root: $!";
my @cases = sort grep { -f "$root/$_/config.yaml" } readdir $dh;
closedir $dh;
ok(scalar @cases >= 2, 'there are cases: ' . join(', ', @cases));

for my $case (@cases) {
    my $dir = "$root/$case";
    my @args = ('test-filter', '-c', "$dir/config.yaml", '-r', "$dir/request.http");
    push @args, '-u', "$dir/upstream.http" if -f "$dir/upstream.http";
    if (open my $fh, '<', "$dir/callouts") {
        while (my $line = <$fh>) {
            next if $line =~ /^\s*(#|$)/;
            chomp $line;
            my ($target, $file) = $line =~ /\A(.*)=([^=]+)\z/ or die "$dir/callouts: $line";
            push @args, '--callout-response', "$target=$dir/$file";
        }
    }
    my $r = pyxis_run(@args);
    is($r->{exit}, 0, "$case: exit 0") or diag $r->{err};
    open my $ef, '<', "$dir/expected.txt" or die "$dir/expected.txt: $!";
    my $expected = do { local $/; <$ef> };
    (my $got = $r->{out}) =~ s/\r//g;
    is($got, $expected, "$case: output as expected") or diag $r->{err};
}

done_testing;
