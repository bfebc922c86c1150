# 046-stale-write: a request written to a pooled connection that the upstream has reset fails
# before one byte of it left pyxis; it provably never reached the upstream, so it is sent again
# on a new connection whatever its method (docs/proxy.md, "The stale-connection retry"). A
# request that failed after its bytes left is not (a POST, without `methods: any`).
#
# The race is made deterministic with the test hook PYXIS_TEST_IDLE_UNWATCHED (px_upstream.h):
# pyxis does not watch idle pooled connections, so the upstream's RST on an idle connection is
# not noticed before the next request is written to it, and that write fails for real.
use strict;
use warnings;
use Test::More;
use JSON::PP ();
use PxTest;

my $dir = write_files('README' => "the test creates a file here to let the backend reset\n");

# Answers every request. After /warm/NAME it waits until the test creates $dir/NAME, then
# resets the (by then idle, pooled) connection and notes it. /read-reset/ is read, then reset.
my $be = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $r = $c->read_request) {
        if ($r->{target} =~ m{^/[^/]+/read-reset}) {
            $c->reset;
            return;
        }
        $c->respond(200, ['X-Conn' => $c->id, 'X-Seq' => $r->{seq}],
            "$r->{method} " . length($r->{body}));
        if ($r->{target} =~ m{^/[^/]+/warm/(\w+)}) {
            my $name = $1;
            wait_until(sub { -e "$dir/$name" }, timeout => 20) or return;
            $c->reset;
            $c->note("reset $name");
            return;
        }
    }
});

my $px = do {
    local $ENV{PYXIS_TEST_IDLE_UNWATCHED} = 1;
    PxTest::Pyxis->start(vars => { BE => $be->port }, yaml => <<'YAML');
workers: 1
error_log: { level: debug }
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    access_log: { path: "%%DIR%%/access.json", format: json }
    routes:
      - match: { path_prefix: /plain/ }
        upstream: be
      - match: { path_prefix: /policy/ }
        upstream: be
        retry: { on: [reset], backoff: { base: 1ms, max: 5ms } }
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BE%%" ] }
YAML
};
like($px->log, qr/PYXIS_TEST_IDLE_UNWATCHED is set/, 'the test hook announces itself');
my $port = $px->port('front');

# Pool a connection with /PREFIX/warm/NAME, have the backend reset it while idle, then send
# %req: it is written to the reset connection.
sub on_stale {
    my ($prefix, $name, %req) = @_;
    my $warm = http_req($port, path => "/$prefix/warm/$name");
    is($warm->{status}, 200, "$name: a first request pools a connection");
    write_file("$dir/$name", '');
    ok($be->wait_note(qr/^reset $name$/), "$name: the backend reset the idle connection");
    return ($warm, http_req($port, %req));
}

sub seen { my ($path) = @_; return [grep { $_->{target} eq $path } $be->requests] }

# The JSON access-log record of $path.
sub logged {
    my ($path) = @_;
    my $rec;
    wait_until(sub {
        open my $f, '<', $px->dir . '/access.json' or return 0;
        ($rec) = grep { $_->{uri} eq $path } map { JSON::PP::decode_json($_) } <$f>;
        return $rec;
    }, timeout => 5);
    return $rec // {};
}

# Without a retry policy: a POST (no body) is not idempotent, but it never left.
my ($warm, $r) = on_stale('plain', 'nobody', method => 'POST', path => '/plain/post');
is($r->{status}, 200, 'POST without a body on the reset pooled connection: re-sent, 200');
is($r->{body}, 'POST 0', '... answered by the backend');
my $s = seen('/plain/post');
is(scalar @$s, 1, '... the backend saw it once');
isnt($s->[0]{conn}, $warm->{h}{'x-conn'}, '... on a new connection');
is(logged('/plain/post')->{attempts}, 2, '... the access log says 2 attempts');
ok($px->wait_log(qr/before any byte of the request left; retrying on a new one/),
    '... the log says why it was safe');

# With a retry policy (methods: the idempotent ones), the body is kept for replay: a POST with
# a body that never left is sent again too.
($warm, $r) = on_stale('policy', 'body', method => 'POST', path => '/policy/post',
    body => 'payload-1');
is($r->{status}, 200, 'POST with a kept body on the reset pooled connection: re-sent, 200');
$s = seen('/policy/post');
is(scalar @$s, 1, '... the backend saw it once');
is($s->[0]{body}, 'payload-1', '... with its whole body');
isnt($s->[0]{conn}, $warm->{h}{'x-conn'}, '... on a new connection');

# Without a policy a streamed body was consumed from the client: it cannot be sent again.
($warm, $r) = on_stale('plain', 'streamed', method => 'PUT', path => '/plain/put',
    body => 'payload-2');
is($r->{status}, 502, 'PUT with a streamed body on the reset pooled connection: 502');
is(scalar @{seen('/plain/put')}, 0, '... it never reached the backend');

# Once the request's bytes left, only `methods` are retried.
$r = http_req($port, method => 'POST', path => '/policy/read-reset', body => 'payload-3');
is($r->{status}, 502, 'POST reset after the backend read it: not retried, 502');
is(scalar(() = grep { $_->{target} eq '/policy/read-reset' } $be->requests(all => 1)), 1,
    '... the backend got it once');
ok($px->wait_log(qr/not retried: method not retried once the upstream may have seen the request/),
    '... the log says why');

done_testing;
