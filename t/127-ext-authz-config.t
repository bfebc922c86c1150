# 127-ext-authz-config: a bad ext_authz filter config is refused by `pyxis -t` with
# FILE:LINE:COL pointing at the offending key or value: the line marked "# <- error", the
# column where the text given in each case starts.
use strict;
use warnings;
use Test::More;
use PxTest;

my $head = <<'YAML';
workers: 1
upstreams:
  authz: { endpoints: [ "127.0.0.1:9" ] }
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - respond: { body: "x" }
        filters:
YAML

# [ what, where COL points, the message, the filter entry ]
my @bad = (
    ['a bare "- ext_authz"', 'ext_authz', qr/expected a map with upstream or url/, <<'YAML'],
          - ext_authz   # <- error
YAML
    ['no service', '{', qr/give upstream \(a named upstream\) or url/, <<'YAML'],
          - ext_authz: { timeout: 1s }   # <- error
YAML
    ['both upstream and url', '"http', qr/url: give one of upstream and url, not both/, <<'YAML'],
          - ext_authz: { upstream: authz, url: "http://a" }   # <- error
YAML
    ['an unknown upstream', 'authx', qr/upstream: no upstream named "authx"/, <<'YAML'],
          - ext_authz: { upstream: authx }   # <- error
YAML
    ['a URL with a path', 'http', qr/url: the URL has a path: .*path_prefix/, <<'YAML'],
          - ext_authz: { url: http://a:9000/check }   # <- error
YAML
    ['credentials in the URL', 'http', qr/url: credentials \(user\@\) are not allowed/, <<'YAML'],
          - ext_authz: { url: http://u:p@a }   # <- error
YAML
    ['another scheme', 'ftp', qr/url: expected a URL starting with http:\/\/ or https:\/\//,
        <<'YAML'],
          - ext_authz: { url: ftp://a }   # <- error
YAML
    ['path and path_prefix', '/b', qr/path: give one of path_prefix and path, not both/, <<'YAML'],
          - ext_authz: { upstream: authz, path_prefix: /a, path: /b }   # <- error
YAML
    ['a trailing "/" on path_prefix', '/check/', qr/path_prefix: drop the trailing "\/"/,
        <<'YAML'],
          - ext_authz: { upstream: authz, path_prefix: /check/ }   # <- error
YAML
    ['a path without "/"', 'check', qr/path: expected a path starting with "\/"/, <<'YAML'],
          - ext_authz: { upstream: authz, path: check }   # <- error
YAML
    ['forwarding Host', 'Host', qr/forward_headers: Host is written by ext_authz itself/,
        <<'YAML'],
          - ext_authz: { upstream: authz, forward_headers: [cookie, Host] }   # <- error
YAML
    ['forwarding X-Forwarded-For', 'x-forwarded-for',
        qr/forward_headers: x-forwarded-for is written by ext_authz itself/, <<'YAML'],
          - ext_authz: { upstream: authz, forward_headers: [x-forwarded-for] }   # <- error
YAML
    ['a framing field', 'content-length',
        qr/upstream_headers: content-length is managed by pyxis/, <<'YAML'],
          - ext_authz: { upstream: authz, upstream_headers: [content-length] }   # <- error
YAML
    ['a bad header name', '"x y"', qr/client_headers\[0\]: expected a header name/, <<'YAML'],
          - ext_authz: { upstream: authz, client_headers: ["x y"] }   # <- error
YAML
    ['a name given twice', 'Location', qr/client_headers: Location is listed twice/, <<'YAML'],
          - ext_authz: { upstream: authz, client_headers: [location, Location] }   # <- error
YAML
    ['user_header not in upstream_headers', 'x-id',
        qr/user_header: x-id must also be listed in upstream_headers/, <<'YAML'],
          - ext_authz: { upstream: authz, upstream_headers: [x-user], user_header: x-id }   # <- error
YAML
    ['include_body without max_bytes', '{}', qr/include_body: missing key "max_bytes"/, <<'YAML'],
          - ext_authz: { upstream: authz, include_body: {} }   # <- error
YAML
    ['a zero timeout', '0', qr/timeout: must be more than 0/, <<'YAML'],
          - ext_authz: { upstream: authz, timeout: 0 }   # <- error
YAML
    ['a failure_status that is no failure', '200', qr/400\.\.599/, <<'YAML'],
          - ext_authz: { upstream: authz, failure_status: 200 }   # <- error
YAML
    ['an unknown key', 'failure_mode_alow',
        qr/unknown key "failure_mode_alow".*did you mean "failure_mode_allow"/, <<'YAML'],
          - ext_authz: { upstream: authz, failure_mode_alow: true }   # <- error
YAML
);

config_errors_ok($head, qr/listeners\[0\]\.routes\[0\]\.filters\[0\]\.ext_authz/, \@bad);

# Every independent error of one entry is reported.
my $c = PxTest::Pyxis->check(yaml => $head . <<'YAML');
          - ext_authz:
              url: http://a/x
              forward_headers: [host]
              timeout: 0
YAML
is(scalar(() = $c->{err} =~ /^\Q$c->{file}\E:\d+:\d+: /mg), 3, 'three errors, three lines')
    or diag $c->{err};

$c = PxTest::Pyxis->check(yaml => $head . <<'YAML');
          - ext_authz:
              url: "https://[::1]:8443/"
              path: /authz?realm=api
              timeout: 250ms
              forward_headers: [Authorization, cookie]
              upstream_headers: [x-user]
              user_header: X-User
              client_headers: [www-authenticate]
              include_body: { max_bytes: 64k }
              failure_mode_allow: false
              failure_status: 403
YAML
is($c->{exit}, 0, 'pyxis -t: a valid ext_authz filter with every key -> exit 0') or diag $c->{err};

done_testing;
