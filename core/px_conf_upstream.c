/*
 * px_conf_upstream.c: the `upstreams:` section (endpoints, balancing, keep-alive, timeouts,
 * outlier detection, circuit breakers, health checks) and retry policies, for routes and upstreams.
 * docs/config.md documents every key; docs/resilience.md the defaults and why.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "px_conf.h"
#include "px_conf_yaml.h"
#include "px_http1.h"
#include "px_tls-t.h"

/* ---- retry ---------------------------------------------------------------------------------- */

void px_conf_retry_defaults(px_conf_retry_t *r)
{
    memset(r, 0, sizeof(*r));
    r->attempts = 1;
    r->backoff_base_ms = 25;
    r->backoff_max_ms = 250;
    r->budget_percent = 20;
    r->budget_min = 3;
    r->buffer = 64 * 1024;
    /* Idempotent methods (RFC 9110 section 9.2.2). */
    r->methods = 1u << PX_METHOD_GET | 1u << PX_METHOD_HEAD | 1u << PX_METHOD_OPTIONS |
                 1u << PX_METHOD_TRACE | 1u << PX_METHOD_PUT | 1u << PX_METHOD_DELETE;
}

static int px_conf_set_retry_on(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    static const struct {
        const char *name;
        unsigned bit;
    } conds[] = {
        {"connect-failure", PX_RETRY_CONNECT_FAILURE},
        {"refused", PX_RETRY_REFUSED},
        {"reset", PX_RETRY_RESET},
        {"per-try-timeout", PX_RETRY_PER_TRY_TIMEOUT},
        {"5xx", PX_RETRY_5XX},
        {"gateway-error", PX_RETRY_GATEWAY_ERROR},
    };
    px_conf_retry_t *r = obj;
    if (px_conf_expect_seq(cx, v) < 0)
        return -1;
    r->statuses = px_conf_alloc(cx, v->nitems * sizeof(*r->statuses));
    if (r->statuses == NULL)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        px_ynode_t *n = v->items[i];
        if (px_conf_scalar(cx, n, "a retry condition or a status code") < 0) {
            rc = -1;
            continue;
        }
        size_t c = 0;
        while (c < sizeof(conds) / sizeof(conds[0]) && strcmp(n->str, conds[c].name) != 0)
            c++;
        if (c < sizeof(conds) / sizeof(conds[0])) {
            r->on |= conds[c].bit;
            continue;
        }
        uint64_t status;
        if (strspn(n->str, "0123456789") == n->len && n->len == 3 &&
            ((status = strtoull(n->str, NULL, 10)) < 400 || status > 599)) {
            rc = px_conf_err(cx, n, "retry status %s is not an error (list 400..599)",
                             px_conf_q(cx, n->str, n->len));
            continue;
        }
        if (strspn(n->str, "0123456789") != n->len || n->len != 3) {
            rc = px_conf_err(cx, n,
                             "unknown retry condition %s (use connect-failure, refused, reset, "
                             "per-try-timeout, 5xx, gateway-error or a status code)",
                             px_conf_q(cx, n->str, n->len));
            continue;
        }
        r->on |= PX_RETRY_STATUS;
        r->statuses[r->nstatuses++] = (uint16_t)strtoul(n->str, NULL, 10);
    }
    return rc;
}

static int px_conf_set_retry_methods(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                     const px_conf_key_t *k)
{
    px_conf_retry_t *r = obj;
    if (v->type == PX_YNODE_SCALAR && strcmp(v->str, "any") == 0) {
        r->methods_any = 1;
        return 0;
    }
    if (px_conf_expect_seq(cx, v) < 0)
        return -1;
    r->methods = 0;
    int rc = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        px_ynode_t *n = v->items[i];
        if (px_conf_scalar(cx, n, "a method") < 0) {
            rc = -1;
            continue;
        }
        px_method_t m = px_h1_method_id(n->str, n->len);
        if (m == PX_METHOD_OTHER)
            rc = px_conf_err(cx, n,
                             "unknown method %s (list standard methods, or write "
                             "\"methods: any\")",
                             px_conf_q(cx, n->str, n->len));
        else
            r->methods |= 1u << m;
    }
    return rc;
}

static const px_conf_key_t px_conf_backoff_keys[] = {
    PX_KEY_DURATION("base", px_conf_retry_t, backoff_base_ms, 1),
    PX_KEY_DURATION("max", px_conf_retry_t, backoff_max_ms, 1),
};

static int px_conf_set_backoff(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    return px_conf_walk(cx, v, px_conf_backoff_keys, PX_KEY_NELTS(px_conf_backoff_keys), obj, NULL);
}

static const px_conf_key_t px_conf_budget_keys[] = {
    PX_KEY_UINT("percent", px_conf_retry_t, budget_percent, 1, 100),
    PX_KEY_UINT("min_concurrency", px_conf_retry_t, budget_min, 0, 1000000),
};

static int px_conf_set_budget(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    return px_conf_walk(cx, v, px_conf_budget_keys, PX_KEY_NELTS(px_conf_budget_keys), obj, NULL);
}

static int px_conf_set_flag(px_conf_ctx_t *cx, px_ynode_t *v, int *out)
{
    if (px_conf_scalar(cx, v, "true or false") < 0)
        return -1;
    if (strcmp(v->str, "true") == 0)
        *out = 1;
    else if (strcmp(v->str, "false") == 0)
        *out = 0;
    else
        return px_conf_err(cx, v, "expected true or false, got %s", px_conf_q(cx, v->str, v->len));
    return 0;
}

static int px_conf_set_attempts_header(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                       const px_conf_key_t *k)
{
    int on = 0;
    if (px_conf_set_flag(cx, v, &on) < 0)
        return -1;
    ((px_conf_retry_t *)obj)->attempts_header = on != 0;
    return 0;
}

static const px_conf_key_t px_conf_retry_keys[] = {
    PX_KEY_UINT("attempts", px_conf_retry_t, attempts, 1, 10),
    PX_KEY_FN("on", px_conf_set_retry_on),
    PX_KEY_DURATION("per_try_timeout", px_conf_retry_t, per_try_timeout_ms, 1),
    PX_KEY_FN("backoff", px_conf_set_backoff),
    PX_KEY_FN("budget", px_conf_set_budget),
    PX_KEY_FN("methods", px_conf_set_retry_methods),
    PX_KEY_SIZE("buffer", px_conf_retry_t, buffer, 0),
    PX_KEY_FN("attempts_header", px_conf_set_attempts_header),
};

int px_conf_set_retry(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_conf_retry_t *r = (px_conf_retry_t *)((char *)obj + k->off);
    px_conf_retry_defaults(r);
    r->configured = 1;
    r->attempts = 2; /* a written policy retries once unless it says otherwise */
    r->on = PX_RETRY_CONNECT_FAILURE | PX_RETRY_RESET;
    int on_written = 0;
    if (v->type == PX_YNODE_MAP) {
        for (size_t i = 0; i + 1 < v->nitems; i += 2)
            on_written |= strcmp(v->items[i]->str, "on") == 0;
    }
    if (on_written)
        r->on = 0;
    if (px_conf_walk(cx, v, px_conf_retry_keys, PX_KEY_NELTS(px_conf_retry_keys), r, NULL) < 0)
        return -1;
    if (r->backoff_max_ms < r->backoff_base_ms)
        return px_conf_err(cx, v, "backoff.max (%llums) is below backoff.base (%llums)",
                           (unsigned long long)r->backoff_max_ms,
                           (unsigned long long)r->backoff_base_ms);
    return 0;
}

/* ---- upstreams ------------------------------------------------------------------------------ */

static int px_conf_set_endpoint_address(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                        const px_conf_key_t *k)
{
    px_conf_endpoint_t *e = obj;
    return px_conf_addr(cx, v, 0, &e->addr, &e->host);
}

static const px_conf_key_t px_conf_endpoint_keys[] = {
    {"address", px_conf_set_endpoint_address, 0, 0, 0, 0, 1},
    PX_KEY_UINT("weight", px_conf_endpoint_t, weight, 1, 10000),
};

static int px_conf_set_endpoints(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                 const px_conf_key_t *k)
{
    px_conf_upstream_t *u = obj;
    if (px_conf_expect_seq(cx, v) < 0)
        return -1;
    u->endpoints = px_conf_alloc(cx, v->nitems * sizeof(*u->endpoints));
    if (u->endpoints == NULL)
        return -1;
    u->nendpoints = v->nitems;
    int rc = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        px_conf_endpoint_t *e = &u->endpoints[i];
        px_ynode_t *ev = v->items[i];
        size_t mark = px_conf_path_index(cx, i);
        e->weight = 1;
        if (ev->type == PX_YNODE_MAP) {
            if (px_conf_walk(cx, ev, px_conf_endpoint_keys, PX_KEY_NELTS(px_conf_endpoint_keys), e,
                             NULL) < 0)
                rc = -1;
        } else if (px_conf_addr(cx, ev, 0, &e->addr, &e->host) < 0) {
            rc = -1;
        }
        px_conf_path_pop(cx, mark);
    }
    return rc;
}

static int px_conf_set_balance(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    static const char *const names[] = {"round_robin", "least_request", "random", "hash"};
    if (px_conf_scalar(cx, v, "a string") < 0)
        return -1;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(v->str, names[i]) == 0) {
            ((px_conf_upstream_t *)obj)->balance = (px_balance_t)i;
            return 0;
        }
    }
    return px_conf_err(cx, v,
                       "unknown balance %s (supported: round_robin, least_request, random, hash)",
                       px_conf_q(cx, v->str, v->len));
}

static int px_conf_set_hash_key(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_conf_upstream_t *u = obj;
    if (px_conf_scalar(cx, v, "client_address, header:NAME or cookie:NAME") < 0)
        return -1;
    if (strcmp(v->str, "client_address") == 0) {
        u->hash_on = PX_HASH_CLIENT_ADDRESS;
        return 0;
    }
    const char *name = NULL;
    if (strncmp(v->str, "header:", 7) == 0) {
        u->hash_on = PX_HASH_HEADER;
        name = v->str + 7;
    } else if (strncmp(v->str, "cookie:", 7) == 0) {
        u->hash_on = PX_HASH_COOKIE;
        name = v->str + 7;
    } else {
        return px_conf_err(cx, v,
                           "invalid hash_key %s (use client_address, header:NAME or cookie:NAME)",
                           px_conf_q(cx, v->str, v->len));
    }
    size_t len = v->len - 7;
    if (len == 0 || strspn(name, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != len)
        return px_conf_err(cx, v, "invalid name in hash_key %s", px_conf_q(cx, v->str, v->len));
    if ((u->hash_name = px_conf_dup(cx, name, len)) == NULL)
        return -1;
    if (u->hash_on == PX_HASH_HEADER) {
        for (char *c = u->hash_name; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    }
    return 0;
}

static const px_conf_key_t px_conf_keepalive_keys[] = {
    PX_KEY_UINT("max_idle", px_conf_upstream_t, keepalive_max_idle, 0, 65535),
    PX_KEY_DURATION("idle_timeout", px_conf_upstream_t, keepalive_idle_timeout_ms, 1),
    PX_KEY_UINT("max_requests", px_conf_upstream_t, keepalive_max_requests, 0, UINT32_MAX),
};

static int px_conf_set_keepalive(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                 const px_conf_key_t *k)
{
    return px_conf_walk(cx, v, px_conf_keepalive_keys, PX_KEY_NELTS(px_conf_keepalive_keys), obj,
                        NULL);
}

static const px_conf_key_t px_conf_outlier_keys[] = {
    PX_KEY_UINT("consecutive_5xx", px_conf_outlier_t, consecutive_5xx, 0, 1000),
    PX_KEY_UINT("consecutive_gateway_errors", px_conf_outlier_t, consecutive_gateway_errors, 0,
                1000),
    PX_KEY_UINT("consecutive_connect_failures", px_conf_outlier_t, consecutive_connect_failures, 0,
                1000),
    PX_KEY_DURATION("base_ejection_time", px_conf_outlier_t, base_ejection_ms, 1),
    PX_KEY_DURATION("max_ejection_time", px_conf_outlier_t, max_ejection_ms, 1),
    PX_KEY_UINT("max_ejection_percent", px_conf_outlier_t, max_ejection_percent, 0, 100),
};

static int px_conf_set_outlier(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_conf_outlier_t *o = &((px_conf_upstream_t *)obj)->outlier;
    o->enabled = 1;
    o->consecutive_5xx = 5;
    o->consecutive_connect_failures = 5;
    o->base_ejection_ms = 30 * 1000;
    o->max_ejection_ms = 300 * 1000;
    o->max_ejection_percent = 50;
    if (px_conf_walk(cx, v, px_conf_outlier_keys, PX_KEY_NELTS(px_conf_outlier_keys), o, NULL) < 0)
        return -1;
    if (o->max_ejection_ms < o->base_ejection_ms)
        return px_conf_err(cx, v, "max_ejection_time is below base_ejection_time");
    return 0;
}

static const px_conf_key_t px_conf_breaker_keys[] = {
    PX_KEY_UINT("max_connections", px_conf_breakers_t, max_connections, 1, UINT32_MAX),
    PX_KEY_UINT("max_pending", px_conf_breakers_t, max_pending, 1, UINT32_MAX),
    PX_KEY_UINT("max_requests", px_conf_breakers_t, max_requests, 1, UINT32_MAX),
    PX_KEY_UINT("max_retries", px_conf_breakers_t, max_retries, 1, UINT32_MAX),
};

static int px_conf_set_breakers(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    return px_conf_walk(cx, v, px_conf_breaker_keys, PX_KEY_NELTS(px_conf_breaker_keys),
                        &((px_conf_upstream_t *)obj)->breakers, NULL);
}

/* ---- health_check --------------------------------------------------------------------------- */

static int px_conf_set_health_type(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                   const px_conf_key_t *k)
{
    px_conf_health_t *h = obj;
    if (px_conf_scalar(cx, v, "http or tcp") < 0)
        return -1;
    if (strcmp(v->str, "http") == 0)
        h->type = PX_HEALTH_HTTP;
    else if (strcmp(v->str, "tcp") == 0)
        h->type = PX_HEALTH_TCP;
    else
        return px_conf_err(cx, v, "unknown health check type %s (use http or tcp)",
                           px_conf_q(cx, v->str, v->len));
    return 0;
}

/* An origin-form target: "/" then visible ASCII but "#" (the request line is built from it). */
static int px_conf_set_health_path(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                   const px_conf_key_t *k)
{
    px_conf_health_t *h = obj;
    if (px_conf_scalar(cx, v, "a path") < 0)
        return -1;
    if (v->len == 0 || v->str[0] != '/' || v->len > 1024)
        return px_conf_err(cx, v, "invalid path %s (write /PATH, at most 1024 bytes)",
                           px_conf_q(cx, v->str, v->len));
    for (size_t i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char)v->str[i];
        if (c <= 0x20 || c >= 0x7f || c == '#')
            return px_conf_err(cx, v,
                               "invalid character in path %s (visible ASCII only, no \"#\"; "
                               "percent-encode the rest)",
                               px_conf_q(cx, v->str, v->len));
    }
    return (h->path = px_conf_dup(cx, v->str, v->len)) == NULL ? -1 : 0;
}

/* A Host value: a name or address, with an optional port. */
static int px_conf_set_health_host(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                   const px_conf_key_t *k)
{
    px_conf_health_t *h = obj;
    if (px_conf_scalar(cx, v, "a host name") < 0)
        return -1;
    if (v->len == 0 || v->len > 255 ||
        strspn(v->str, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:[]") !=
            v->len)
        return px_conf_err(cx, v, "invalid host %s (a host name or address, optionally with :PORT)",
                           px_conf_q(cx, v->str, v->len));
    return (h->host = px_conf_dup(cx, v->str, v->len)) == NULL ? -1 : 0;
}

/* Three digits, 100..599. */
static int px_conf_status_code(const char *s, size_t len, uint16_t *out)
{
    if (len != 3 || strspn(s, "0123456789") < 3)
        return -1;
    unsigned n =
        (unsigned)(s[0] - '0') * 100 + (unsigned)(s[1] - '0') * 10 + (unsigned)(s[2] - '0');
    if (n < 100 || n > 599)
        return -1;
    *out = (uint16_t)n;
    return 0;
}

static int px_conf_set_health_statuses(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                       const px_conf_key_t *k)
{
    px_conf_health_t *h = obj;
    if (px_conf_expect_seq(cx, v) < 0)
        return -1;
    h->statuses = px_conf_alloc(cx, v->nitems * sizeof(*h->statuses));
    if (h->statuses == NULL)
        return -1;
    h->nstatuses = 0;
    int rc = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        px_ynode_t *n = v->items[i];
        if (px_conf_scalar(cx, n, "a status code or a range such as 200-299") < 0) {
            rc = -1;
            continue;
        }
        px_conf_status_range_t *r = &h->statuses[h->nstatuses];
        const char *dash = memchr(n->str, '-', n->len);
        size_t l1 = dash != NULL ? (size_t)(dash - n->str) : n->len;
        if (px_conf_status_code(n->str, l1, &r->lo) < 0 ||
            (dash != NULL && px_conf_status_code(dash + 1, n->len - l1 - 1, &r->hi) < 0)) {
            rc = px_conf_err(cx, n,
                             "invalid status %s (write a code 100..599 or a range such as "
                             "200-299)",
                             px_conf_q(cx, n->str, n->len));
            continue;
        }
        if (dash == NULL)
            r->hi = r->lo;
        if (r->hi < r->lo) {
            rc = px_conf_err(cx, n, "empty status range %s (write LOW-HIGH)",
                             px_conf_q(cx, n->str, n->len));
            continue;
        }
        h->nstatuses++;
    }
    return rc;
}

static const px_conf_key_t px_conf_health_keys[] = {
    PX_KEY_FN("type", px_conf_set_health_type),
    PX_KEY_FN("path", px_conf_set_health_path),
    PX_KEY_FN("host", px_conf_set_health_host),
    PX_KEY_FN("expected_statuses", px_conf_set_health_statuses),
    PX_KEY_DURATION("interval", px_conf_health_t, interval_ms, 1),
    PX_KEY_DURATION("timeout", px_conf_health_t, timeout_ms, 1),
    PX_KEY_DURATION("jitter", px_conf_health_t, jitter_ms, 0),
    PX_KEY_UINT("healthy_threshold", px_conf_health_t, healthy_threshold, 1, 1000),
    PX_KEY_UINT("unhealthy_threshold", px_conf_health_t, unhealthy_threshold, 1, 1000),
};

/* Writing the key turns checks on; docs/resilience.md says why the defaults are these. */
static int px_conf_set_health(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_conf_health_t *h = &((px_conf_upstream_t *)obj)->health;
    h->enabled = 1;
    h->type = PX_HEALTH_HTTP;
    h->interval_ms = 5 * 1000;
    h->timeout_ms = 1000;
    h->jitter_ms = UINT64_MAX; /* not written: a tenth of the interval */
    h->healthy_threshold = 2;
    h->unhealthy_threshold = 3;
    px_ynode_t *seen[PX_KEY_NELTS(px_conf_health_keys)];
    if (px_conf_walk(cx, v, px_conf_health_keys, PX_KEY_NELTS(px_conf_health_keys), h, seen) < 0)
        return -1;
    if (h->jitter_ms == UINT64_MAX)
        h->jitter_ms = h->interval_ms / 10;
    if (h->type == PX_HEALTH_TCP) {
        static const char *const http_only[] = {"path", "host", "expected_statuses"};
        for (size_t i = 0; i < PX_KEY_NELTS(http_only); i++) {
            px_ynode_t *at = px_conf_seen(seen, px_conf_health_keys,
                                          PX_KEY_NELTS(px_conf_health_keys), http_only[i]);
            if (at != NULL)
                return px_conf_err(cx, at, "%s applies to \"type: http\" only", http_only[i]);
        }
    }
    if (h->path == NULL && (h->path = px_conf_dup(cx, "/", 1)) == NULL)
        return -1;
    if (h->nstatuses == 0) {
        if ((h->statuses = px_conf_alloc(cx, sizeof(*h->statuses))) == NULL)
            return -1;
        h->statuses[0].lo = 200;
        h->statuses[0].hi = 399;
        h->nstatuses = 1;
    }
    return 0;
}

static int px_conf_set_protocol(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    static const char *const names[] = {"http1", "http2", "h2c", "auto"};
    if (px_conf_scalar(cx, v, "a string") < 0)
        return -1;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(v->str, names[i]) == 0) {
            ((px_conf_upstream_t *)obj)->protocol = (px_uproto_t)i;
            return 0;
        }
    }
    return px_conf_err(cx, v, "unknown protocol %s (supported: http1, http2, h2c, auto)",
                       px_conf_q(cx, v->str, v->len));
}

static const px_conf_key_t px_conf_uhttp2_keys[] = {
    PX_KEY_UINT("max_concurrent_streams", px_conf_uhttp2_t, max_concurrent_streams, 1, 1000000),
    PX_KEY_DURATION("ping_interval", px_conf_uhttp2_t, ping_interval_ms, 1),
    PX_KEY_DURATION("ping_timeout", px_conf_uhttp2_t, ping_timeout_ms, 1),
};

static int px_conf_set_uhttp2(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    return px_conf_walk(cx, v, px_conf_uhttp2_keys, PX_KEY_NELTS(px_conf_uhttp2_keys),
                        &((px_conf_upstream_t *)obj)->http2, NULL);
}

/* What protocol asks of the other keys; ALPN on the upstream's TLS context. */
static int px_conf_check_protocol(px_conf_ctx_t *cx, px_conf_upstream_t *u, px_ynode_t *un,
                                  px_ynode_t *protocol, px_ynode_t *http2, px_ynode_t *health)
{
    px_uproto_t p = u->protocol;
    if (p == PX_UPROTO_HTTP1) {
        if (http2 != NULL)
            return px_conf_err(cx, http2, "http2 applies to protocol http2, h2c or auto");
        return 0;
    }
    if (p == PX_UPROTO_H2C && u->tls != NULL)
        return px_conf_err(cx, protocol, "protocol h2c is cleartext: use http2 with tls");
    if (p != PX_UPROTO_H2C && u->tls == NULL)
        return px_conf_err(cx, protocol, "protocol %s needs tls (h2c is HTTP/2 without TLS)",
                           p == PX_UPROTO_HTTP2 ? "http2" : "auto");
    if (health != NULL && u->health.type == PX_HEALTH_HTTP)
        return px_conf_err(cx, health,
                           "HTTP health checks speak HTTP/1.1: use \"type: tcp\" on an HTTP/2 "
                           "upstream");
    if (u->tls != NULL) {
        static const unsigned char h2[] = "\x02h2", both[] = "\x02h2\x08http/1.1";
        int rc = p == PX_UPROTO_HTTP2
                     ? SSL_CTX_set_alpn_protos(u->tls->ctx, h2, sizeof(h2) - 1)
                     : SSL_CTX_set_alpn_protos(u->tls->ctx, both, sizeof(both) - 1);
        if (rc != 0)
            return px_conf_err(cx, protocol, "cannot set ALPN");
    }
    (void)un;
    return 0;
}

static const px_conf_key_t px_conf_upstream_keys[] = {
    PX_KEY_FN("endpoints", px_conf_set_endpoints),
    PX_KEY_FN("balance", px_conf_set_balance),
    PX_KEY_FN("hash_key", px_conf_set_hash_key),
    PX_KEY_DURATION("connect_timeout", px_conf_upstream_t, connect_timeout_ms, 1),
    PX_KEY_DURATION("first_byte_timeout", px_conf_upstream_t, first_byte_timeout_ms, 1),
    PX_KEY_DURATION("read_timeout", px_conf_upstream_t, read_timeout_ms, 1),
    PX_KEY_FN("keepalive", px_conf_set_keepalive),
    PX_KEY_FN_AT("retry", px_conf_set_retry, px_conf_upstream_t, retry),
    PX_KEY_FN("outlier_detection", px_conf_set_outlier),
    PX_KEY_FN("circuit_breakers", px_conf_set_breakers),
    PX_KEY_FN("tls", px_conf_set_upstream_tls),
    PX_KEY_FN("health_check", px_conf_set_health),
    PX_KEY_FN("discovery", px_conf_set_discovery),
    PX_KEY_FN("protocol", px_conf_set_protocol),
    PX_KEY_FN("http2", px_conf_set_uhttp2),
};

int px_conf_set_upstreams(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_conf_t *conf = obj;
    if (px_conf_expect_free_map(cx, v) < 0) {
        cx->upstreams_bad = 1;
        return -1;
    }
    size_t n = v->nitems / 2;
    if (n == 0)
        return 0;
    conf->upstreams = px_conf_alloc(cx, n * sizeof(*conf->upstreams));
    if (conf->upstreams == NULL)
        return -1;
    conf->nupstreams = n;
    int rc = 0;
    for (size_t i = 0; i < n && !px_conf_full(cx); i++) {
        px_ynode_t *kn = v->items[2 * i], *un = v->items[2 * i + 1];
        px_conf_upstream_t *u = &conf->upstreams[i];
        u->index = (unsigned)i;
        u->connect_timeout_ms = 5 * 1000;
        u->first_byte_timeout_ms = 60 * 1000;
        u->read_timeout_ms = 60 * 1000;
        u->keepalive_max_idle = 32;
        u->keepalive_idle_timeout_ms = 60 * 1000;
        u->http2.max_concurrent_streams = 100;
        u->http2.ping_interval_ms = 30 * 1000;
        u->http2.ping_timeout_ms = 10 * 1000;
        px_conf_retry_defaults(&u->retry);
        if (strspn(kn->str, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
                kn->len ||
            kn->len > 128) {
            rc = px_conf_err(cx, kn,
                             "invalid upstream name %s (use letters, digits, \"_\", "
                             "\".\" and \"-\")",
                             px_conf_q(cx, kn->str, kn->len));
            continue;
        }
        if ((u->name = px_conf_dup(cx, kn->str, kn->len)) == NULL)
            return -1;
        size_t mark = px_conf_path_key(cx, kn->str);
        px_ynode_t *seen[PX_CONF_MAX_KEYS];
        if (px_conf_walk(cx, un, px_conf_upstream_keys, PX_KEY_NELTS(px_conf_upstream_keys), u,
                         seen) < 0 ||
            px_conf_tls_upstream_hosts(cx, u) < 0) {
            rc = -1;
        } else {
            /* Checks between keys; the nodes are found by key name, not table position. */
            size_t nk = PX_KEY_NELTS(px_conf_upstream_keys);
            px_ynode_t *hash_key = px_conf_seen(seen, px_conf_upstream_keys, nk, "hash_key");
            px_ynode_t *endpoints = px_conf_seen(seen, px_conf_upstream_keys, nk, "endpoints");
            px_ynode_t *discovery = px_conf_seen(seen, px_conf_upstream_keys, nk, "discovery");
            if (hash_key != NULL && u->balance != PX_BALANCE_HASH)
                rc = px_conf_err(cx, hash_key, "hash_key needs \"balance: hash\"");
            else if (endpoints != NULL && discovery != NULL)
                rc = px_conf_err(cx, discovery, "an upstream has endpoints or discovery, not both");
            else if (endpoints == NULL && discovery == NULL)
                rc = px_conf_err(cx, un, "missing required key \"endpoints\" (or \"discovery\")");
            else if (px_conf_check_protocol(
                         cx, u, un, px_conf_seen(seen, px_conf_upstream_keys, nk, "protocol"),
                         px_conf_seen(seen, px_conf_upstream_keys, nk, "http2"),
                         px_conf_seen(seen, px_conf_upstream_keys, nk, "health_check")) < 0)
                rc = -1;
        }
        px_conf_path_pop(cx, mark);
    }
    return rc;
}
