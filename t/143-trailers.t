# 143-trailers: trailer fields travel through the txn, both ways, for HTTP/1.1 and HTTP/2
# clients of an HTTP/1.1 upstream: parsed (strictly, within the limits), framing, routing and
# hop-by-hop fields dropped, written again as a chunked trailer section (HTTP/1.1) or as a
# trailers HEADERS frame (HTTP/2). A route with body filters keeps them too.
use strict;
use warnings;
use Test::More;
use PxTest;
use PxTest::H2;

plan skip_all => 'python3-h2 is needed' unless PxTest::H2::python();
sub h2 { return PxTest::H2::request(@_) }
sub fields { return PxTest::H2::fields(@_) }

# /tr answers chunked with trailers, some of which must not travel; /many with 5 trailer
# fields; anything else echoes the raw request in a note.
my $be = PxTest::Backend->start(sub {
    my ($c) = @_;
    while (my $r = $c->read_request) {
        if ($r->{target} =~ m{/tr$}) {
            $c->write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
                . "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc123\r\nContent-Length: 5\r\n"
                . "Host: evil\r\nConnection: close\r\nGrpc-Status:  0 \r\n\r\n");
        } elsif ($r->{target} =~ m{/many$}) {
            $c->write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                . "2\r\nok\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n");
        } else {
            (my $raw = $r->{raw}) =~ s/([\r\n])/$1 eq "\r" ? '\r' : '\n'/ge;
            $c->note("raw $raw");
            $c->respond(200, [], "got\n");
        }
    }
});

my $lua = write_files('filter.lua' => <<'LUA');
local M = {}
function M.on_response(txn) txn.resp:body_will_change() end
function M.on_response_body(txn, chunk, last) return chunk:upper() end
function M.on_request(txn) txn.req:body_will_change() end
function M.on_request_body(txn, chunk, last) return chunk:upper() end
return M
LUA

my $px = PxTest::Pyxis->start(vars => { BACKEND => $be->port, LUA => $lua }, yaml => <<'YAML');
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    http2: { enabled: true }
    routes:
      - match: { path_prefix: /filtered }
        filters: [ { lua: "%%LUA%%/filter.lua" } ]
        upstream: be
      - upstream: be
  - name: small
    listen: 127.0.0.1:%%PORT_small%%
    limits: { max_headers: 4 }
    routes:
      - upstream: be
upstreams:
  be: { endpoints: [ "127.0.0.1:%%BACKEND%%" ] }
YAML
my $port = $px->port('front');

# ---- responses -------------------------------------------------------------------------------

# HTTP/1.1 client: the trailer section is written again, without the fields that must not travel.
my ($data) = raw_http($port, "GET /tr HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
like($data, qr/\r\n0\r\nX-Checksum: abc123\r\nGrpc-Status: 0\r\n\r\n\z/,
    'h1 client: response trailers after the last chunk, value trimmed');
unlike($data, qr/evil|\r\n0\r\n.*Content-Length/s, '... without Host or Content-Length');
is((parse_responses($data))[0]{body}, 'hello world', '... and the whole body');

# HTTP/2 client: a trailers HEADERS frame ends the stream.
my $r = h2($port, 'GET', '/tr');
is($r->{status}, 200, 'h2 client: 200');
is($r->{body}, 'hello world', '... the body');
is_deeply($r->{trailers}, [['x-checksum', 'abc123'], ['grpc-status', '0']],
    '... then the trailers, lowercased, in a HEADERS frame');
is($r->{frames}[-1], 'trailers', '... which is the last frame');
ok($r->{end}, '... and ends the stream');

# A route with response body filters: the body is changed, the trailers still pass.
($data) = raw_http($port, "GET /filtered/tr HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
like($data, qr/HELLO WORLD.*\r\n0\r\nX-Checksum: abc123\r\nGrpc-Status: 0\r\n\r\n\z/s,
    'body filters: h1 client gets the filtered body and the trailers');
$r = h2($port, 'GET', '/filtered/tr');
is($r->{body}, 'HELLO WORLD', 'body filters: h2 client gets the filtered body');
is_deeply(fields($r->{trailers}, 'x-checksum'), ['abc123'], '... and the trailers');

# More trailer fields than limits.max_headers: the response is cut short, not completed.
($data) = raw_http($px->port('small'), "GET /many HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
unlike($data, qr/\r\n0\r\n/, 'too many trailer fields: no last chunk reaches the client');
like($px->wait_log(qr/response aborted.*too many trailer fields/),
    qr/too many trailer fields/, '... and the log says why');

# ---- requests --------------------------------------------------------------------------------

# HTTP/1.1 client, chunked: the trailers reach the upstream, checked and filtered.
($data) = raw_http($port, "POST /up1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
    . "Connection: close\r\n\r\n4\r\nabcd\r\n0\r\nX-Req: 42\r\nTransfer-Encoding: x\r\n\r\n");
is((parse_responses($data))[0]{status}, 200, 'h1 chunked request with trailers -> 200');
my $note = $be->wait_note(qr{raw POST /up1 });
like($note, qr/\\r\\n0\\r\\nX-Req: 42\\r\\n\\r\\n$/,
    '... the upstream gets the trailer section, without Transfer-Encoding');

# A malformed trailer section is refused (400), never forwarded.
($data) = raw_http($port, "POST /up2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
    . "\r\n4\r\nabcd\r\n0\r\nX-Req : 42\r\n\r\n");
is((parse_responses($data))[0]{status}, 400, 'h1: whitespace before the colon of a trailer -> 400');

# HTTP/2 client: the body without content-length goes upstream chunked, with the trailers.
$r = h2($port, 'POST', '/up3', -d => 'body', -T => 'x-req: 43', -T => 'x-other: y');
is($r->{status}, 200, 'h2 request with trailers -> 200');
$note = $be->wait_note(qr{raw POST /up3 });
like($note, qr/\\r\\n4\\r\\nbody\\r\\n0\\r\\nx-req: 43\\r\\nx-other: y\\r\\n\\r\\n$/,
    '... the upstream gets them as a chunked trailer section');

# Request body filters: the trailers still go after the filtered body.
$r = h2($port, 'POST', '/filtered/up4', -d => 'body', -T => 'x-req: 44');
$note = $be->wait_note(qr{raw POST /filtered/up4 });
like($note, qr/BODY\\r\\n0\\r\\nx-req: 44\\r\\n\\r\\n$/,
    'body filters: request trailers follow the filtered body');

done_testing;
