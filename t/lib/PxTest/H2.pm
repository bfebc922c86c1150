package PxTest::H2;
# HTTP/2 requests for the tests through t/lib/h2-tool.py (python3-h2), for what curl and nghttp
# do not show apart: request trailers, the response's trailers HEADERS frame, trailers-only
# responses. PxTest::H2::python() is a python3 that has the module (the Debian package's), undef
# when none has.
use strict;
use warnings;
use File::Basename qw(dirname);
use JSON::PP;
use PxTest;

my $tool = dirname(__FILE__) . '/../h2-tool.py';
my $py;

sub python {
    ($py) = grep { system("$_ -c 'import h2' 2>/dev/null") == 0 } '/usr/bin/python3', 'python3'
        unless defined $py;
    return $py;
}

# request($port, $method, $path, -H => 'name: value', -d => BODY, -T => 'name: value', ...):
# the response as a hash (status, headers, trailers, body, reset, end, frames; see the tool).
sub request {
    my ($port, @args) = @_;
    my $r = PxTest::run_cmd([python(), $tool, $port, @args], timeout => 30);
    my $out = eval { decode_json($r->{out}) };
    Test::More::diag("h2-tool: $r->{err}") unless $out;
    return $out // {};
}

# The values of the fields named $name in a list of [name, value].
sub fields {
    my ($list, $name) = @_;
    return [map { $_->[1] } grep { $_->[0] eq $name } @$list];
}

1;
