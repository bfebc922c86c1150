# 101-headers-config: a bad headers filter config is refused by `pyxis -t` (and at start and
# reload) with FILE:LINE:COL pointing at the offending key or value: the line marked
# "# <- error", the column where the text given in each case starts.
use strict;
use warnings;
use Test::More;
use PxTest;

my $head = <<'YAML';
workers: 1
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - respond: { body: "x" }
        filters:
YAML

# [ what, where COL points, the message, the filter entry ]
my @bad = (
    ['an unknown key', 'appendd', qr/unknown key "appendd".*did you mean "append"/, <<'YAML'],
          - headers:
              response: { appendd: { x-a: b } }   # <- error
YAML
    ['a bad header name', '"x a"', qr/request\.set: invalid header name "x a"/, <<'YAML'],
          - headers:
              request: { set: { "x a": b } }   # <- error
YAML
    ['an unknown variable', '"${reqest_id}"',
        qr/request\.set\.x-id: unknown variable \$\{reqest_id\} \(known: .*\$\{request_id\}/,
        <<'YAML'],
          - headers:
              request: { set: { x-id: "${reqest_id}" } }   # <- error
YAML
    ['a response-only variable in the request', '"${status}"',
        qr/\$\{status\} has no value in the request phase/, <<'YAML'],
          - headers:
              request: { set: { x-s: "${status}" } }   # <- error
YAML
    ['a lone $', '"5$"', qr/a lone "\$" \(write \$\{name\} for a variable, \$\$/, <<'YAML'],
          - headers:
              request: { add: { x-price: "5$" } }   # <- error
YAML
    ['a field pyxis manages', 'content-length', qr/content-length is managed by pyxis/, <<'YAML'],
          - headers:
              response: { remove: [content-length] }   # <- error
YAML
    ['Host as a field', 'Host',
        qr/Host cannot be changed with set; use the filter's host key/, <<'YAML'],
          - headers:
              request: { set: { Host: a.test } }   # <- error
YAML
    ['a name given twice', 'X-A', qr/"X-A" is given twice/, <<'YAML'],
          - headers:
              request: { remove: [x-a, X-A] }   # <- error
YAML
    ['a bad regex', '"^/(a"',
        qr/path\.regex\.match: missing closing parenthesis at offset 4/, <<'YAML'],
          - headers:
              path: { regex: { match: "^/(a", replace: /b } }   # <- error
YAML
    ['a group the regex lacks', '/$2', qr/group 2 does not exist \(the pattern has 1\)/, <<'YAML'],
          - headers:
              path: { regex: { match: "^/(a)", replace: /$2 } }   # <- error
YAML
    ['prefix and regex together', 'regex',
        qr/path: give one of prefix and regex, not both/, <<'YAML'],
          - headers:
              path: { prefix: { from: /a/, to: /b/ }, regex: { match: a, replace: b } }   # <- error
YAML
    ['a bare "- headers"', 'headers', qr/expected a map with request, response, path/, <<'YAML'],
          - headers   # <- error
YAML
);

config_errors_ok($head, qr/listeners\[0\]\.routes\[0\]\.filters\[0\]\.headers/, \@bad);

# Every independent error of one entry is reported.
my $c = PxTest::Pyxis->check(yaml => $head . <<'YAML');
          - headers:
              request: { set: { "x a": b, x-b: "${nope}" } }
              host: "a b"
YAML
is(scalar(() = $c->{err} =~ /^\Q$c->{file}\E:\d+:\d+: /mg), 3, 'three errors, three lines')
    or diag $c->{err};

my $valid = $head . <<'YAML';
          - headers:
              request: { set: { x-a: "${header.x-b}" } }
              response: { set: { x-version: v1 } }
YAML
$c = PxTest::Pyxis->check(yaml => $valid);
is($c->{exit}, 0, 'pyxis -t: a valid headers filter -> exit 0') or diag $c->{err};

# A reload with a broken headers filter keeps the running generation.
my $px = PxTest::Pyxis->start(yaml => $valid);
my $port = $px->port('front');
is(http_req($port, path => '/')->{h}{'x-version'}, 'v1', 'generation 1 answers with x-version v1');
(my $broken = $valid) =~ s/x-version: v1/x-version: "\${statuss}"/;
like($px->reload(yaml => $broken) // 'no reload log line',
    qr/reload failed, keeping generation 1: .*unknown variable \$\{statuss\}/,
    'reload with an unknown variable -> refused');
is(http_req($port, path => '/')->{h}{'x-version'}, 'v1', '... and generation 1 still answers');
(my $v2 = $valid) =~ s/v1/v2/;
like($px->reload(yaml => $v2) // 'no reload log line', qr/generation 2 active/, 'reload with v2');
is(http_req($port, path => '/')->{h}{'x-version'}, 'v2', '... and v2 is served');
is($px->stop, 0, 'SIGTERM -> exit 0');

done_testing;
