/*
 * test_conf.c: the YAML configuration loader: defaults, every key, the duration and size
 * parsers, and the errors (with their exact line:col).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "px_conf.h"
#include "px_tap.h"

static px_conf_error_t errs[8];
static size_t nerrs;

static px_conf_t *load(const char *yaml)
{
    return px_conf_load_string("t.yaml", yaml, strlen(yaml), 0, errs, 8, &nerrs);
}

static void show_errors(void)
{
    char buf[1200];
    for (size_t i = 0; i < nerrs; i++) {
        px_conf_error_format(&errs[i], buf, sizeof(buf));
        printf("#   %s\n", buf);
    }
}

/* The config must fail with an error at line:col whose message contains `want`. */
static void fails(const char *yaml, unsigned line, unsigned col, const char *want, const char *name)
{
    px_conf_t *conf = load(yaml);
    ok(conf == NULL && nerrs >= 1, "%s: refused", name);
    if (conf != NULL) {
        px_conf_release(conf);
        return;
    }
    size_t i = 0;
    while (i < nerrs && strstr(errs[i].msg, want) == NULL)
        i++;
    if (!ok(i < nerrs, "%s: message has '%s'", name, want)) {
        show_errors();
        return;
    }
    char buf[1200];
    px_conf_error_format(&errs[i], buf, sizeof(buf));
    printf("# %s\n", buf);
    if (!ok(errs[i].line == line && errs[i].col == col, "%s: at %u:%u", name, line, col))
        printf("#   got %u:%u\n", errs[i].line, errs[i].col);
}

static unsigned port_of(const px_conf_addr_t *a)
{
    if (a->sa.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
}

#define MINIMAL                                                                                    \
    "listeners:\n"                                                                                 \
    "  - listen: 127.0.0.1:8080\n"                                                                 \
    "    routes:\n"                                                                                \
    "      - respond: { body: hi }\n"

static void test_defaults(void)
{
    px_conf_t *conf = load(MINIMAL);
    if (!ok(conf != NULL, "minimal config loads")) {
        show_errors();
        return;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    is_int(conf->workers, cpus < 1 ? 1 : cpus > 256 ? 256 : cpus, "workers: auto by default");
    is_int(conf->refs, 1, "one reference");
    is_str(conf->file, "t.yaml", "file is the name given");
    is_int(conf->drain_timeout_ms, 30000, "drain_timeout 30s");
    ok(conf->pid_file == NULL, "no pid_file");
    is_int(conf->error_log_level, PX_LOG_INFO, "error_log level info");
    ok(conf->error_log_path == NULL, "error_log to stderr");
    is_int(conf->access_log.format, PX_ACCESS_LOG_OFF, "access_log off");
    is_int(conf->access_log.configured, 0, "access_log not configured");
    is_int(conf->nupstreams, 0, "no upstreams");
    is_int(conf->nlisteners, 1, "one listener");

    px_conf_listener_t *l = &conf->listeners[0];
    is_str(l->name, "listener0", "listener name defaults to listener<i>");
    is_str(l->listen.text, "127.0.0.1:8080", "listen text as written");
    is_int(l->listen.sa.ss_family, AF_INET, "listen family");
    is_int(l->listen.salen, sizeof(struct sockaddr_in), "listen salen");
    is_int(port_of(&l->listen), 8080, "listen port");
    is_int(l->client_header_timeout_ms, 10000, "client_header_timeout 10s");
    is_int(l->client_body_timeout_ms, 60000, "client_body_timeout 60s");
    is_int(l->send_timeout_ms, 60000, "send_timeout 60s");
    is_int(l->keepalive_timeout_ms, 75000, "keepalive_timeout 75s");
    is_int(l->max_requests_per_conn, 1000, "keepalive_requests 1000");
    is_int(l->backlog, 511, "backlog 511");
    is_int(l->limits.max_head, 16384, "max_header_size 16k");
    is_int(l->limits.max_headers, 100, "max_headers 100");
    is_int(l->limits.max_uri, 8192, "max_uri_size 8k");
    is_int(l->limits.max_body, 0, "max_body_size unlimited");
    is_int(l->forwarded.mode, PX_XFF_APPEND, "forwarded mode append");
    is_int(l->forwarded.ntrusted, 0, "no trusted proxies");
    is_int(l->access_log.format, PX_ACCESS_LOG_OFF, "listener access_log inherits off");

    px_conf_route_t *r = &l->routes[0];
    is_int(l->nroutes, 1, "one route");
    is_str(r->name, "listener0#0", "route name defaults to <listener>#<i>");
    is_int(r->line, 4, "route line");
    is_int(r->action, PX_ACTION_RESPOND, "action respond");
    is_int(r->respond_status, 200, "respond status 200");
    is_mem(r->respond_body, r->respond_body_len, "hi", "respond body");
    is_int(r->redirect_status, 302, "redirect status default 302");
    is_int(r->timeout_ms, 60000, "route timeout 60s");
    is_int(r->first_byte_timeout_ms, 0, "route first_byte_timeout inherits");
    is_int(r->host_match, PX_MATCH_HOST_ANY, "any host");
    is_int(r->path_match, PX_MATCH_PATH_ANY, "any path");
    is_int(r->nmethods, 0, "any method");

    px_conf_retain(conf);
    is_int(conf->refs, 2, "retain adds a reference");
    px_conf_release(conf);
    px_conf_release(conf);
}

static const char full_yaml[] =
    "workers: 3\n"
    "drain_timeout: 2m\n"
    "pid_file: /run/pyxis.pid\n"
    "error_log: { path: /var/log/pyxis/error.log, level: debug }\n"
    "access_log: { path: /var/log/pyxis/access.log, format: json }\n"
    "listeners:\n"
    "  - name: public\n"
    "    listen: '*:8080'\n"
    "    client_header_timeout: 5s\n"
    "    client_body_timeout: 250ms\n"
    "    send_timeout: 1h\n"
    "    keepalive_timeout: 0\n"
    "    keepalive_requests: 0\n"
    "    backlog: 1024\n"
    "    limits: { max_header_size: 32k, max_headers: 50, max_uri_size: 4K, max_body_size: 1m }\n"
    "    forwarded: { mode: replace, trusted_proxies: [\"10.0.0.0/8\", \"::1\", 127.0.0.1/32] }\n"
    "    routes:\n"
    "      - name: api\n"
    "        match:\n"
    "          host: API.Example.com\n"
    "          path_prefix: /v1/\n"
    "          methods: [GET, POST]\n"
    "          headers: { X-Env: canary, x-debug: \"*\" }\n"
    "        upstream: legacy\n"
    "        host_rewrite: internal.example\n"
    "        timeout: 15s\n"
    "        first_byte_timeout: 5s\n"
    "      - match: { host: \"*.Example.com\", path_regex: \"^/v[0-9]+/\" }\n"
    "        redirect: { location: \"https://${host}${request_uri}\", status: 301 }\n"
    "      - match: { path: /healthz }\n"
    "        respond: { status: 503, headers: { Content-Type: text/plain }, body: \"no\\n\" }\n"
    "  - listen: \"[::1]:9090\"\n"
    "    access_log: off\n"
    "    routes: [ { upstream: other } ]\n"
    "  - listen: 127.0.0.2:80\n"
    "    routes: [ { upstream: other } ]\n"
    "upstreams:\n"
    "  legacy:\n"
    "    endpoints:\n"
    "      - 127.0.0.1:8081\n"
    "      - { address: \"[::1]:8082\", weight: 2 }\n"
    "    balance: round_robin\n"
    "    connect_timeout: 1s\n"
    "    first_byte_timeout: 30s\n"
    "    read_timeout: 45s\n"
    "    keepalive: { max_idle: 8, idle_timeout: 10s, max_requests: 100 }\n"
    "  other:\n"
    "    endpoints: [10.1.2.3:80]\n";

static void test_full(void)
{
    px_conf_t *conf = load(full_yaml);
    if (!ok(conf != NULL, "full config loads")) {
        show_errors();
        return;
    }
    is_int(conf->workers, 3, "workers");
    is_int(conf->drain_timeout_ms, 120000, "drain_timeout");
    is_str(conf->pid_file, "/run/pyxis.pid", "pid_file");
    is_str(conf->error_log_path, "/var/log/pyxis/error.log", "error_log.path");
    is_int(conf->error_log_level, PX_LOG_DEBUG, "error_log.level");
    is_str(conf->access_log.path, "/var/log/pyxis/access.log", "access_log.path");
    is_int(conf->access_log.format, PX_ACCESS_LOG_JSON, "access_log.format");
    is_int(conf->nlisteners, 3, "three listeners");

    px_conf_listener_t *l = &conf->listeners[0];
    is_str(l->name, "public", "listener name");
    is_int(((struct sockaddr_in *)&l->listen.sa)->sin_addr.s_addr, htonl(INADDR_ANY),
           "*:8080 is 0.0.0.0");
    is_int(l->client_header_timeout_ms, 5000, "client_header_timeout");
    is_int(l->client_body_timeout_ms, 250, "client_body_timeout");
    is_int(l->send_timeout_ms, 3600000, "send_timeout");
    is_int(l->keepalive_timeout_ms, 0, "keepalive_timeout 0");
    is_int(l->max_requests_per_conn, 0, "keepalive_requests");
    is_int(l->backlog, 1024, "backlog");
    is_int(l->limits.max_head, 32768, "limits.max_header_size");
    is_int(l->limits.max_headers, 50, "limits.max_headers");
    is_int(l->limits.max_uri, 4096, "limits.max_uri_size");
    is_int(l->limits.max_body, 1048576, "limits.max_body_size");
    is_int(l->forwarded.mode, PX_XFF_REPLACE, "forwarded.mode");
    is_int(l->forwarded.ntrusted, 3, "forwarded.trusted_proxies");
    is_int(l->forwarded.trusted[0].family, AF_INET, "cidr family");
    is_int(l->forwarded.trusted[0].prefix, 8, "cidr prefix");
    is_int(l->forwarded.trusted[0].addr[0], 10, "cidr address");
    is_int(l->forwarded.trusted[1].family, AF_INET6, "::1 is IPv6");
    is_int(l->forwarded.trusted[1].prefix, 128, "a bare address is a /128");
    is_int(l->forwarded.trusted[1].addr[15], 1, "::1 bytes");
    is_int(l->forwarded.trusted[2].prefix, 32, "/32");
    is_str(l->access_log.path, "/var/log/pyxis/access.log", "listener inherits access_log");
    is_int(l->access_log.format, PX_ACCESS_LOG_JSON, "listener inherits access_log format");

    is_int(l->nroutes, 3, "three routes");
    px_conf_route_t *r = &l->routes[0];
    is_str(r->name, "api", "route name");
    is_int(r->line, 18, "route line");
    is_int(r->host_match, PX_MATCH_HOST_EXACT, "exact host");
    is_str(r->host, "api.example.com", "host lowercased");
    is_int(r->path_match, PX_MATCH_PATH_PREFIX, "path_prefix");
    is_str(r->path, "/v1/", "prefix");
    is_int(r->nmethods, 2, "two methods");
    is_str(r->methods[1], "POST", "methods kept as written");
    is_int(r->nmatch_headers, 2, "two match headers");
    is_str(r->match_headers[0].name, "x-env", "header name lowercased");
    is_str(r->match_headers[0].value, "canary", "header value");
    is_str(r->match_headers[1].value, "*", "header presence");
    is_int(r->action, PX_ACTION_UPSTREAM, "upstream action");
    ok(r->upstream == &conf->upstreams[0], "upstream resolved to upstreams[0]");
    is_str(r->host_rewrite, "internal.example", "host_rewrite");
    is_int(r->timeout_ms, 15000, "route timeout");
    is_int(r->first_byte_timeout_ms, 5000, "route first_byte_timeout");

    r = &l->routes[1];
    is_str(r->name, "public#1", "default route name uses the listener name");
    is_int(r->host_match, PX_MATCH_HOST_SUFFIX, "suffix host");
    is_str(r->host, ".example.com", "suffix stored with its leading dot");
    is_int(r->path_match, PX_MATCH_PATH_REGEX, "path_regex");
    ok(r->path_regex != NULL, "regex compiled");
    is_int(r->action, PX_ACTION_REDIRECT, "redirect action");
    is_str(r->redirect_location, "https://${host}${request_uri}", "redirect location");
    is_int(r->redirect_status, 301, "redirect status");

    r = &l->routes[2];
    is_int(r->path_match, PX_MATCH_PATH_EXACT, "exact path");
    is_str(r->path, "/healthz", "path");
    is_int(r->respond_status, 503, "respond status");
    is_int(r->nrespond_headers, 1, "respond header");
    is_str(r->respond_headers[0].name, "content-type", "respond header name lowercased");
    is_str(r->respond_headers[0].value, "text/plain", "respond header value");
    is_mem(r->respond_body, r->respond_body_len, "no\n", "respond body");

    l = &conf->listeners[1];
    is_str(l->name, "listener1", "second listener default name");
    is_int(l->listen.sa.ss_family, AF_INET6, "[::1] is IPv6");
    is_int(port_of(&l->listen), 9090, "IPv6 port");
    is_int(l->access_log.format, PX_ACCESS_LOG_OFF, "listener access_log: off overrides");
    is_int(l->access_log.configured, 1, "listener access_log configured");
    ok(l->routes[0].upstream == &conf->upstreams[1], "second upstream");
    is_int(conf->listeners[2].access_log.format, PX_ACCESS_LOG_JSON, "third listener inherits");

    is_int(conf->nupstreams, 2, "two upstreams");
    px_conf_upstream_t *u = &conf->upstreams[0];
    is_str(u->name, "legacy", "upstream name");
    is_int(u->index, 0, "upstream index");
    is_int(conf->upstreams[1].index, 1, "second upstream index");
    is_int(u->nendpoints, 2, "two endpoints");
    is_str(u->endpoints[0].host, "127.0.0.1", "endpoint host");
    is_str(u->endpoints[0].addr.text, "127.0.0.1:8081", "endpoint text");
    is_int(u->endpoints[0].weight, 1, "weight defaults to 1");
    is_str(u->endpoints[1].host, "[::1]", "IPv6 endpoint host keeps its brackets");
    is_int(u->endpoints[1].weight, 2, "endpoint weight");
    is_int(port_of(&u->endpoints[1].addr), 8082, "endpoint port");
    is_int(u->balance, PX_BALANCE_ROUND_ROBIN, "balance");
    is_int(u->connect_timeout_ms, 1000, "connect_timeout");
    is_int(u->first_byte_timeout_ms, 30000, "first_byte_timeout");
    is_int(u->read_timeout_ms, 45000, "read_timeout");
    is_int(u->keepalive_max_idle, 8, "keepalive.max_idle");
    is_int(u->keepalive_idle_timeout_ms, 10000, "keepalive.idle_timeout");
    is_int(u->keepalive_max_requests, 100, "keepalive.max_requests");
    u = &conf->upstreams[1];
    is_int(u->connect_timeout_ms, 5000, "default connect_timeout 5s");
    is_int(u->first_byte_timeout_ms, 60000, "default first_byte_timeout 60s");
    is_int(u->read_timeout_ms, 60000, "default read_timeout 60s");
    is_int(u->keepalive_max_idle, 32, "default keepalive.max_idle 32");
    is_int(u->keepalive_idle_timeout_ms, 60000, "default keepalive.idle_timeout 60s");
    is_int(u->keepalive_max_requests, 0, "default keepalive.max_requests 0");
    px_conf_release(conf);
}

static void test_logs(void)
{
    px_conf_t *conf = load("error_log: stdout\naccess_log: /tmp/a.log\n" MINIMAL);
    if (ok(conf != NULL, "scalar logs load")) {
        is_str(conf->error_log_path, "stdout", "error_log stdout kept as a string");
        is_str(conf->access_log.path, "/tmp/a.log", "access_log file");
        is_int(conf->access_log.format, PX_ACCESS_LOG_COMBINED, "scalar access_log: combined");
        is_str(conf->listeners[0].access_log.path, "/tmp/a.log", "listener inherits the file");
        px_conf_release(conf);
    }
    conf = load("error_log: { level: warn }\naccess_log: stderr\n" MINIMAL);
    if (ok(conf != NULL, "map error_log without path loads")) {
        ok(conf->error_log_path == NULL, "error_log map default path is stderr");
        is_int(conf->error_log_level, PX_LOG_WARN, "level warn");
        ok(conf->access_log.path == NULL, "access_log stderr is NULL");
        is_int(conf->access_log.format, PX_ACCESS_LOG_COMBINED, "access_log stderr is on");
        px_conf_release(conf);
    }
}

static void test_durations_sizes(void)
{
    static const struct {
        const char *s;
        int rc;
        uint64_t v;
    } d[] = {
        {"250ms", 0, 250},
        {"15s", 0, 15000},
        {"2m", 0, 120000},
        {"1h", 0, 3600000},
        {"0", 0, 0},
        {"0s", 0, 0},
        {"007s", 0, 7000},
        {"18446744073709551615ms", 0, UINT64_MAX},
        {"5", -1, 0},
        {"1.5s", -1, 0},
        {"-1s", -1, 0},
        {"s", -1, 0},
        {"", -1, 0},
        {"10 s", -1, 0},
        {"1S", -1, 0},
        {"1d", -1, 0},
        {"18446744073709551616ms", -1, 0},
        {"5124095576030432h", -1, 0},
    };
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
        uint64_t v = 12345;
        int rc = px_conf_parse_duration(d[i].s, &v);
        is_int(rc, d[i].rc, "duration \"%s\" -> %d", d[i].s, d[i].rc);
        if (rc == 0 && d[i].rc == 0)
            ok(v == d[i].v, "duration \"%s\" = %llu", d[i].s, (unsigned long long)d[i].v);
    }
    static const struct {
        const char *s;
        int rc;
        uint64_t v;
    } z[] = {
        {"512", 0, 512},
        {"16k", 0, 16384},
        {"16K", 0, 16384},
        {"1m", 0, 1048576},
        {"1G", 0, 1073741824},
        {"0", 0, 0},
        {"17179869183g", 0, 17179869183ULL << 30},
        {"17179869184g", -1, 0},
        {"1kb", -1, 0},
        {"k", -1, 0},
        {"-1", -1, 0},
        {"1.5k", -1, 0},
        {"1t", -1, 0},
    };
    for (size_t i = 0; i < sizeof(z) / sizeof(z[0]); i++) {
        uint64_t v = 12345;
        int rc = px_conf_parse_size(z[i].s, &v);
        is_int(rc, z[i].rc, "size \"%s\" -> %d", z[i].s, z[i].rc);
        if (rc == 0 && z[i].rc == 0)
            ok(v == z[i].v, "size \"%s\" = %llu", z[i].s, (unsigned long long)z[i].v);
    }
}

/* A listener whose only route is `ROUTE` (one line, at line 4, column 9). */
#define ROUTE(r)                                                                                   \
    "listeners:\n"                                                                                 \
    "  - listen: 127.0.0.1:8080\n"                                                                 \
    "    routes:\n"                                                                                \
    "      - " r "\n"

#define UPSTREAMS "upstreams:\n  legacy:\n    endpoints: [127.0.0.1:8081]\n"

static void test_errors(void)
{
    fails("", 1, 1, "the configuration is empty", "empty file");
    fails("# only a comment\n", 1, 1, "the configuration is empty", "comments only");
    fails("- a\n- b\n", 1, 1, "expected a map, got a sequence", "top level not a map");
    fails("workers: 2\n", 1, 1, "missing required key \"listeners\"", "no listeners");
    fails("listeners: []\n", 1, 12, "listeners: must not be empty", "empty listeners");
    fails("workers: 2\nlisten: x\n", 2, 1, "unknown key \"listen\" at the top level",
          "unknown top-level key");
    fails(ROUTE("{ upstream: legacy, timeuot: 5s }") UPSTREAMS, 4, 29,
          "unknown key \"timeuot\" in listeners[0].routes[0] (did you mean \"timeout\"?)",
          "unknown key with suggestion");
    fails(ROUTE("{ upstream: legcy }") UPSTREAMS, 4, 21,
          "listeners[0].routes[0].upstream: unknown upstream \"legcy\" (did you mean "
          "\"legacy\"?)",
          "unknown upstream");
    fails(ROUTE("{ upstream: legacy }"), 4, 21, "(no upstreams are defined)",
          "upstream without upstreams");
    fails(ROUTE("{ upstream: legacy, respond: { status: 200 } }") UPSTREAMS, 4, 29,
          "\"respond\" conflicts with \"upstream\"", "two actions");
    fails(ROUTE("{ match: { path: /x } }"), 4, 9, "listeners[0].routes[0]: missing action",
          "no action");
    fails(ROUTE("{ respond: {}, timeout: 5s }"), 4, 24,
          "\"timeout\" is only allowed with \"upstream\"", "timeout without upstream");
    fails(ROUTE("{ match: { path_regex: \"(abc\" }, respond: {} }"), 4, 37,
          "listeners[0].routes[0].match.path_regex: missing closing parenthesis at offset 4",
          "bad regex, column at the offset");
    fails(ROUTE("{ match: { path: /a, path_prefix: /b }, respond: {} }"), 4, 30,
          "\"path_prefix\" conflicts with \"path\"", "two path matchers");
    fails(ROUTE("{ match: { path: a }, respond: {} }"), 4, 26, "must start with \"/\"",
          "path without slash");
    fails(ROUTE("{ match: { host: \"api.example.com:80\" }, respond: {} }"), 4, 26,
          "a port is not allowed", "host with port");
    fails(ROUTE("{ match: { methods: [GET, \"P OST\"] }, respond: {} }"), 4, 35,
          "methods[1]: invalid method", "bad method");
    fails(ROUTE("{ redirect: { location: \"/${nope}\" } }"), 4, 33, "unknown variable \"${nope}\"",
          "unknown redirect variable");
    fails(ROUTE("{ redirect: { location: /x, status: 300 } }"), 4, 45,
          "invalid redirect status 300", "bad redirect status");
    fails(ROUTE("{ redirect: { status: 301 } }"), 4, 21,
          "redirect: missing required key \"location\"", "redirect without location");
    fails(ROUTE("{ respond: { status: 600 } }"), 4, 30, "\"600\" is out of range (100..599)",
          "respond status out of range");
    fails(ROUTE("{ respond: { status: \"200\" } }"), 4, 30, "write it without quotes",
          "quoted integer");
    fails(ROUTE("{ respond: { headers: { \"x y\": z } } }"), 4, 33, "invalid header name",
          "bad header name");
    fails(ROUTE("{ respond: { headers: { x: \"a\\r\\nb\" } } }"), 4, 36, "invalid header value",
          "header value with CRLF");
    fails(ROUTE("{ respond: { status: 204, body: x } }"), 4, 35, "a 204 response has no body",
          "body on a 204");
    fails("listeners:\n  - listen: 127.0.0.1\n    routes: [ { respond: {} } ]\n", 2, 13,
          "listeners[0].listen: invalid address \"127.0.0.1\"", "address without port");
    fails("listeners:\n  - listen: 127.0.0.1:0\n    routes: [ { respond: {} } ]\n", 2, 13,
          "invalid port \"0\"", "port 0");
    fails("listeners:\n  - listen: 300.0.0.1:80\n    routes: [ { respond: {} } ]\n", 2, 13,
          "invalid IPv4 address \"300.0.0.1\"", "bad IPv4");
    fails("listeners:\n  - listen: ::1:80\n    routes: [ { respond: {} } ]\n", 2, 13, "in brackets",
          "IPv6 without brackets");
    fails("listeners:\n  - listen: localhost:80\n    routes: [ { respond: {} } ]\n", 2, 13,
          "hostname resolution disabled", "hostname with resolve=0");
    fails(ROUTE("{ upstream: legacy }") "upstreams:\n  legacy:\n    endpoints:\n"
                                        "      - 127.0.0.1:99999\n",
          8, 9, "upstreams.legacy.endpoints[0]: invalid port \"99999\"", "bad endpoint port");
    fails(ROUTE("{ upstream: legacy }") "upstreams:\n  legacy:\n    endpoints: []\n", 7, 16,
          "upstreams.legacy.endpoints: must not be empty", "no endpoints");
    fails(ROUTE("{ upstream: legacy }") "upstreams:\n  legacy:\n    endpoints: ['*:80']\n", 7, 17,
          "only allowed in listen addresses", "wildcard endpoint");
    fails(ROUTE("{ upstream: legacy }") "upstreams:\n  legacy:\n"
                                        "    endpoints: [{ address: 10.0.0.1:80, weight: 0 }]\n",
          7, 49, "out of range (1..10000)", "weight 0");
    fails(ROUTE("{ upstream: legacy }") "upstreams:\n  legacy:\n    endpoints: [10.0.0.1:80]\n"
                                        "    balance: least_conn\n",
          8, 14, "unknown balance \"least_conn\"", "unknown balance");
    fails("listeners:\n"
          "  - listen: 127.0.0.1:8080\n"
          "    routes: [ { respond: {} } ]\n"
          "  - listen: 127.0.0.1:8080\n"
          "    routes: [ { respond: {} } ]\n",
          4, 13, "listeners[1].listen: address 127.0.0.1:8080 is already used by listeners[0]",
          "duplicate listen address");
    fails("listeners:\n"
          "  - { name: a, listen: 127.0.0.1:1, routes: [ { respond: {} } ] }\n"
          "  - { name: a, listen: 127.0.0.1:2, routes: [ { respond: {} } ] }\n",
          3, 13, "listener name \"a\" is already used", "duplicate listener name");
    fails("listeners:\n"
          "  - { name: listener1, listen: 127.0.0.1:1, routes: [ { respond: {} } ] }\n"
          "  - { listen: 127.0.0.1:2, routes: [ { respond: {} } ] }\n",
          3, 5, "listeners[1].name: listener name \"listener1\" is already used",
          "default listener name taken");
    fails("listeners:\n  - listen: 127.0.0.1:8080\n    listen: 127.0.0.1:8081\n", 3, 5,
          "duplicate key \"listen\" in listeners[0] (first at 2:5)", "duplicate key");
    fails(ROUTE("{ respond: { headers: { a: b, a: c } } }"), 4, 39, "duplicate key \"a\"",
          "duplicate free-form key");
    fails("workers: &w 2\n" MINIMAL, 1, 10, "YAML anchors (&w) are not supported", "anchor");
    fails("x: &w 2\nworkers: *w\n" MINIMAL, 1, 4, "anchors", "alias: the anchor first");
    fails("workers: !!int 2\n" MINIMAL, 1, 10, "YAML tags (tag:yaml.org,2002:int)", "tag");
    fails(MINIMAL "---\n" MINIMAL, 5, 1, "more than one YAML document", "two documents");
    fails("listeners:\n  - listen: [a\n", 3, 1, "YAML syntax error", "syntax error");
    fails("listeners:\n  - listen: x\n   bad: indent\n", 3, 4,
          "YAML syntax error: ", "bad indentation");
    fails("workers: 0\n" MINIMAL, 1, 10, "workers: \"0\" is out of range (1..256)", "workers 0");
    fails("workers: many\n" MINIMAL, 1, 10, "expected \"auto\" or an integer", "workers word");
    fails("drain_timeout: 1.5s\n" MINIMAL, 1, 16,
          "drain_timeout: invalid duration \"1.5s\" (expected an integer with a unit: 250ms, "
          "15s, 2m, 1h; or 0)",
          "fractional duration");
    fails("drain_timeout: 99999999999999999999999h\n" MINIMAL, 1, 16, "is too large",
          "duration overflow");
    fails("listeners:\n  - listen: 127.0.0.1:1\n    client_header_timeout: 0\n"
          "    routes: [ { respond: {} } ]\n",
          3, 28, "must be greater than 0", "zero header timeout");
    fails("listeners:\n  - listen: 127.0.0.1:1\n    limits: { max_header_size: 1x }\n"
          "    routes: [ { respond: {} } ]\n",
          3, 32, "invalid size \"1x\"", "bad size");
    fails("listeners:\n  - listen: 127.0.0.1:1\n    backlog: [1]\n"
          "    routes: [ { respond: {} } ]\n",
          3, 14, "backlog: expected an integer, got a sequence", "wrong type");
    fails("pid_file:\n" MINIMAL, 1, 10, "pid_file: expected a string, got null", "null string");
    fails("listeners:\n  - listen: 127.0.0.1:1\n"
          "    forwarded: { trusted_proxies: [10.0.0.1/8] }\n"
          "    routes: [ { respond: {} } ]\n",
          3, 36, "bits set after the /8 prefix", "cidr with host bits");
    fails("access_log: { format: xml }\n" MINIMAL, 1, 23, "unknown format \"xml\"",
          "bad access_log format");
    fails("error_log: { level: loud }\n" MINIMAL, 1, 21, "unknown level \"loud\"",
          "bad error_log level");
}

static void test_many_errors(void)
{
    px_conf_t *conf = load("workers: 0\n"
                           "drain_timeout: x\n"
                           "listeners:\n"
                           "  - listen: 127.0.0.1:1\n"
                           "    bogus: 1\n"
                           "    routes: [ { upstream: nope } ]\n");
    ok(conf == NULL, "several errors: refused");
    is_int(nerrs, 4, "four independent errors reported");
    if (nerrs == 4) {
        is_int(errs[0].line, 1, "first error on line 1");
        is_int(errs[1].line, 2, "second on line 2");
        is_int(errs[2].line, 5, "third on line 5");
        is_int(errs[3].line, 6, "fourth on line 6 (the upstream reference)");
    }
    size_t n = 99;
    conf = px_conf_load_string("t.yaml", "workers: 0\ndrain_timeout: x\n", 26, 0, errs, 1, &n);
    ok(conf == NULL && n == 1, "max_errs caps the report");
    conf = px_conf_load_string("t.yaml", "workers: 0\n", 11, 0, NULL, 0, &n);
    ok(conf == NULL && n == 0, "no error array: still refused");
}

static void test_files(void)
{
    char path[] = "/tmp/test_conf_XXXXXX";
    int fd = mkstemp(path);
    if (!ok(fd >= 0, "temp file"))
        return;
    FILE *f = fdopen(fd, "w");
    fputs(MINIMAL, f);
    fclose(f);
    px_conf_t *conf = px_conf_load(path, errs, 8, &nerrs);
    if (ok(conf != NULL, "px_conf_load reads a file")) {
        is_str(conf->file, path, "file name kept");
        is_int(conf->listeners[0].nroutes, 1, "file parsed");
        px_conf_release(conf);
    } else {
        show_errors();
    }
    unlink(path);

    conf = px_conf_load("/nonexistent/pyxis.yaml", errs, 8, &nerrs);
    ok(conf == NULL && nerrs == 1, "missing file refused");
    char buf[1200];
    px_conf_error_format(&errs[0], buf, sizeof(buf));
    is_str(buf, "/nonexistent/pyxis.yaml: cannot open: No such file or directory",
           "missing file message has no line");

    px_conf_error_t e = {.file = "a.yaml", .line = 3, .col = 7, .msg = "bad"};
    px_conf_error_format(&e, buf, sizeof(buf));
    is_str(buf, "a.yaml:3:7: bad", "error format FILE:LINE:COL: msg");

    conf = px_conf_load("../../examples/quickstart.yaml", errs, 8, &nerrs);
    if (conf == NULL)
        conf = px_conf_load("examples/quickstart.yaml", errs, 8, &nerrs);
    if (conf == NULL && getenv("srcdir") != NULL) {
        snprintf(buf, sizeof(buf), "%s/examples/quickstart.yaml", getenv("srcdir"));
        conf = px_conf_load(buf, errs, 8, &nerrs);
    }
    if (ok(conf != NULL, "examples/quickstart.yaml loads")) {
        is_int(conf->nlisteners, 2, "quickstart: two listeners");
        ok(conf->listeners[0].routes[1].upstream == &conf->upstreams[0],
           "quickstart: front proxies to hello");
        px_conf_release(conf);
    } else {
        show_errors();
    }
}

int main(void)
{
    plan_no_plan();
    test_defaults();
    test_full();
    test_logs();
    test_durations_sizes();
    test_errors();
    test_many_errors();
    test_files();
    return done_testing();
}
