/*
 * px_conf.c: the configuration language: which keys exist, their types and defaults, and how
 * they land in a px_conf_t snapshot (see px_conf-t.h and docs/config.md).
 *
 * Loading is two passes. px_conf_yaml.c turns the text into a node tree (scratch pool); the
 * walk below checks it against one static key table per map and fills the snapshot in its own
 * arena. What needs the whole file (route -> upstream references, access_log inheritance,
 * duplicate listen addresses) is settled after the walk.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <pcre2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "px_conf.h"
#include "px_conf_yaml.h"
#include "px_pool.h"
#include "px_shdict.h"

#define PX_CONF_MAX_FILE    (16 * 1024 * 1024)
#define PX_CONF_MAX_WORKERS 256

/* ---- small validators ---------------------------------------------------------------------- */

/* RFC 9110 tchar */
static int px_conf_is_tchar(unsigned char c)
{
    return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int px_conf_is_token(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!px_conf_is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

/* A header field value: no CR, LF, NUL or other controls except HTAB. */
static int px_conf_is_field_value(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

static int px_conf_is_hostname(const char *s, size_t len)
{
    if (len == 0 || len > 253)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '.' && c != '_')
            return 0;
    }
    return 1;
}

/* A name (listener, route): printable, no controls. */
static int px_conf_set_name(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    if (px_conf_scalar(cx, v, "a string") < 0)
        return -1;
    if (v->len > 128)
        return px_conf_err(cx, v, "name is longer than 128 bytes");
    return px_conf_set_str(cx, v, obj, k);
}

/* ---- addresses ----------------------------------------------------------------------------- */

/*
 * Parse "HOST:PORT", "[IPv6]:PORT" or (listen only) "*:PORT" from scalar n into addr. The text
 * as written and, when host is not NULL, the host part (brackets kept for IPv6) are copied into
 * the arena. Hostnames are resolved with getaddrinfo() when cx->resolve is set.
 */
int px_conf_addr(px_conf_ctx_t *cx, const px_ynode_t *n, int wildcard, px_conf_addr_t *addr,
                 char **host)
{
    if (px_conf_scalar(cx, n, "an address (HOST:PORT)") < 0)
        return -1;
    const char *s = n->str, *colon, *h = s;
    size_t hlen;
    int v6 = 0;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || rb[1] != ':')
            return px_conf_err(cx, n, "invalid address %s (expected [IPv6]:PORT)",
                               px_conf_q(cx, s, n->len));
        colon = rb + 1;
        h = s + 1;
        hlen = (size_t)(rb - h);
        v6 = 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return px_conf_err(cx, n, "invalid address %s (expected HOST:PORT, [IPv6]:PORT%s)",
                               px_conf_q(cx, s, n->len), wildcard ? " or *:PORT" : "");
        hlen = (size_t)(colon - s);
        if (memchr(s, ':', hlen) != NULL)
            return px_conf_err(cx, n,
                               "invalid address %s (write IPv6 addresses in brackets: "
                               "[::1]:8080)",
                               px_conf_q(cx, s, n->len));
    }
    const char *port = colon + 1;
    uint64_t p;
    if (strspn(port, "0123456789") != strlen(port) || strlen(port) == 0 || strlen(port) > 5 ||
        (p = strtoull(port, NULL, 10)) < 1 || p > 65535)
        return px_conf_err(cx, n, "invalid port %s (expected 1..65535)",
                           px_conf_q(cx, port, strlen(port)));
    if (hlen == 0 || hlen >= 256)
        return px_conf_err(cx, n, "invalid address %s (missing host)", px_conf_q(cx, s, n->len));

    char hbuf[256];
    memcpy(hbuf, h, hlen);
    hbuf[hlen] = '\0';
    memset(&addr->sa, 0, sizeof(addr->sa));
    struct sockaddr_in *sin = (struct sockaddr_in *)&addr->sa;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr->sa;
    if (v6) {
        if (inet_pton(AF_INET6, hbuf, &sin6->sin6_addr) != 1)
            return px_conf_err(cx, n, "invalid IPv6 address %s", px_conf_q(cx, hbuf, hlen));
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)p);
        addr->salen = sizeof(*sin6);
    } else if (strcmp(hbuf, "*") == 0) {
        if (!wildcard)
            return px_conf_err(cx, n, "\"*\" is only allowed in listen addresses");
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        sin->sin_port = htons((uint16_t)p);
        addr->salen = sizeof(*sin);
    } else if (strspn(hbuf, "0123456789.") == hlen) {
        if (inet_pton(AF_INET, hbuf, &sin->sin_addr) != 1)
            return px_conf_err(cx, n, "invalid IPv4 address %s", px_conf_q(cx, hbuf, hlen));
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)p);
        addr->salen = sizeof(*sin);
    } else {
        if (!px_conf_is_hostname(hbuf, hlen))
            return px_conf_err(cx, n, "invalid host %s", px_conf_q(cx, hbuf, hlen));
        if (!cx->resolve)
            return px_conf_err(cx, n, "cannot use hostname %s: hostname resolution disabled",
                               px_conf_q(cx, hbuf, hlen));
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        int rc = getaddrinfo(hbuf, port, &hints, &res);
        if (rc != 0 || res == NULL)
            return px_conf_err(cx, n, "cannot resolve %s: %s", px_conf_q(cx, hbuf, hlen),
                               rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        memcpy(&addr->sa, res->ai_addr, res->ai_addrlen);
        addr->salen = res->ai_addrlen;
        freeaddrinfo(res);
    }
    addr->text = px_conf_dup(cx, s, n->len);
    if (addr->text == NULL)
        return -1;
    if (host != NULL && (*host = px_conf_dup(cx, s, (size_t)(colon - s))) == NULL)
        return -1;
    return 0;
}

static int px_conf_addr_equal(const px_conf_addr_t *a, const px_conf_addr_t *b)
{
    if (a->salen == 0 || a->salen != b->salen || a->sa.ss_family != b->sa.ss_family)
        return 0;
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)&a->sa, *y = (const void *)&b->sa;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)&a->sa, *y = (const void *)&b->sa;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

/* "10.0.0.0/8", "::1", "127.0.0.1/32"; host bits after the prefix must be zero. */
static int px_conf_cidr(px_conf_ctx_t *cx, const px_ynode_t *n, px_conf_cidr_t *c)
{
    if (px_conf_scalar(cx, n, "an address or CIDR prefix") < 0)
        return -1;
    char buf[64];
    const char *slash = strchr(n->str, '/');
    size_t alen = slash ? (size_t)(slash - n->str) : n->len;
    if (alen >= sizeof(buf))
        return px_conf_err(cx, n, "invalid address %s", px_conf_q(cx, n->str, n->len));
    memcpy(buf, n->str, alen);
    buf[alen] = '\0';
    memset(c, 0, sizeof(*c));
    unsigned max;
    if (inet_pton(AF_INET, buf, c->addr) == 1) {
        c->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
        c->family = AF_INET6;
        max = 128;
    } else {
        return px_conf_err(cx, n,
                           "invalid address %s (expected an IPv4 or IPv6 address with "
                           "an optional /prefix)",
                           px_conf_q(cx, n->str, n->len));
    }
    c->prefix = max;
    if (slash != NULL) {
        uint64_t pfx;
        const char *d = slash + 1;
        size_t dl = strlen(d);
        if (dl == 0 || dl > 3 || strspn(d, "0123456789") != dl ||
            (pfx = strtoull(d, NULL, 10)) > max)
            return px_conf_err(cx, n, "invalid prefix length in %s (expected /0../%u)",
                               px_conf_q(cx, n->str, n->len), max);
        c->prefix = (unsigned)pfx;
    }
    for (unsigned bit = c->prefix; bit < max; bit++) {
        if (c->addr[bit / 8] & (0x80 >> (bit % 8))) {
            return px_conf_err(cx, n, "%s has bits set after the /%u prefix",
                               px_conf_q(cx, n->str, n->len), c->prefix);
        }
    }
    return 0;
}

/* ---- logs ---------------------------------------------------------------------------------- */

/* "stderr" -> NULL, anything else (including "stdout") copied. */
static int px_conf_log_path(px_conf_ctx_t *cx, px_ynode_t *v, char **path)
{
    char *s = NULL;
    px_conf_key_t k = {.off = 0};
    if (px_conf_set_str(cx, v, &s, &k) < 0)
        return -1;
    *path = strcmp(s, "stderr") == 0 ? NULL : s;
    return 0;
}

static int px_conf_set_access_path(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                   const px_conf_key_t *k)
{
    if (v->type == PX_YNODE_SCALAR && strcmp(v->str, "off") == 0)
        return px_conf_err(cx, v, "write `access_log: off` to disable the access log");
    return px_conf_log_path(cx, v, &((px_conf_access_log_t *)obj)->path);
}

static int px_conf_set_access_format(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                     const px_conf_key_t *k)
{
    if (px_conf_scalar(cx, v, "a string") < 0)
        return -1;
    px_conf_access_log_t *log = obj;
    if (strcmp(v->str, "combined") == 0)
        log->format = PX_ACCESS_LOG_COMBINED;
    else if (strcmp(v->str, "json") == 0)
        log->format = PX_ACCESS_LOG_JSON;
    else
        return px_conf_err(cx, v, "unknown format %s (expected combined or json)",
                           px_conf_q(cx, v->str, v->len));
    return 0;
}

static const px_conf_key_t px_conf_access_log_keys[] = {
    PX_KEY_FN("path", px_conf_set_access_path),
    PX_KEY_FN("format", px_conf_set_access_format),
};

/* access_log: off | stderr | stdout | PATH | { path, format }; k->off locates the struct. */
static int px_conf_set_access_log(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                  const px_conf_key_t *k)
{
    px_conf_access_log_t *log = (px_conf_access_log_t *)((char *)obj + k->off);
    log->configured = 1;
    log->path = NULL;
    log->format = PX_ACCESS_LOG_COMBINED;
    if (v->type == PX_YNODE_MAP)
        return px_conf_walk(cx, v, px_conf_access_log_keys, PX_KEY_NELTS(px_conf_access_log_keys),
                            log, NULL);
    if (v->type == PX_YNODE_SCALAR && strcmp(v->str, "off") == 0) {
        log->format = PX_ACCESS_LOG_OFF;
        return 0;
    }
    if (v->type != PX_YNODE_SCALAR)
        return px_conf_err(cx, v,
                           "expected off, stderr, stdout, a file path or a map "
                           "{ path, format }");
    return px_conf_log_path(cx, v, &log->path);
}

static int px_conf_set_error_path(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                  const px_conf_key_t *k)
{
    if (v->type == PX_YNODE_SCALAR && strcmp(v->str, "off") == 0)
        return px_conf_err(cx, v, "the error log cannot be turned off (use level: error)");
    return px_conf_log_path(cx, v, &((px_conf_t *)obj)->error_log_path);
}

static int px_conf_set_error_level(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                   const px_conf_key_t *k)
{
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    if (px_conf_scalar(cx, v, "a string") < 0)
        return -1;
    for (size_t i = 0; i < PX_KEY_NELTS(levels); i++) {
        if (strcmp(v->str, levels[i]) == 0) {
            ((px_conf_t *)obj)->error_log_level = (px_log_level_t)i;
            return 0;
        }
    }
    return px_conf_err(cx, v, "unknown level %s (expected error, warn, info or debug)",
                       px_conf_q(cx, v->str, v->len));
}

static const px_conf_key_t px_conf_error_log_keys[] = {
    PX_KEY_FN("path", px_conf_set_error_path),
    PX_KEY_FN("level", px_conf_set_error_level),
};

static int px_conf_set_error_log(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                 const px_conf_key_t *k)
{
    if (v->type == PX_YNODE_MAP)
        return px_conf_walk(cx, v, px_conf_error_log_keys, PX_KEY_NELTS(px_conf_error_log_keys),
                            obj, NULL);
    if (v->type != PX_YNODE_SCALAR)
        return px_conf_err(cx, v,
                           "expected stderr, stdout, a file path or a map "
                           "{ path, level }");
    return px_conf_set_error_path(cx, v, obj, k);
}

/* ---- listeners: limits, forwarded ------------------------------------------------------------ */

static const px_conf_key_t px_conf_limits_keys[] = {
    PX_KEY_SIZE("max_header_size", px_conf_limits_t, max_head, 1),
    PX_KEY_UINT("max_headers", px_conf_limits_t, max_headers, 1, 65535),
    PX_KEY_SIZE("max_uri_size", px_conf_limits_t, max_uri, 1),
    PX_KEY_SIZE("max_body_size", px_conf_limits_t, max_body, 0),
};

static const px_conf_key_t px_conf_http2_keys[] = {
    PX_KEY_BOOL("enabled", px_conf_http2_t, enabled),
    PX_KEY_UINT("max_concurrent_streams", px_conf_http2_t, max_concurrent_streams, 1, 65535),
    PX_KEY_SIZE("initial_window_size", px_conf_http2_t, initial_window_size, 1),
    PX_KEY_SIZE("connection_window_size", px_conf_http2_t, connection_window_size, 1),
    PX_KEY_SIZE("max_header_list_size", px_conf_http2_t, max_header_list_size, 1),
};

static int px_conf_set_http2(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_ynode_t *seen[PX_CONF_MAX_KEYS] = {NULL};
    px_conf_http2_t *h = &((px_conf_listener_t *)obj)->http2;
    int rc = px_conf_walk(cx, v, px_conf_http2_keys, PX_KEY_NELTS(px_conf_http2_keys), h, seen);
    /* RFC 9113 section 6.5.2 / 6.9.1: windows are at most 2^31-1 bytes. */
    if (h->initial_window_size > 0x7fffffff)
        rc = px_conf_err(cx, seen[2], "initial_window_size is at most 2147483647 bytes");
    if (h->connection_window_size > 0x7fffffff)
        rc = px_conf_err(cx, seen[3], "connection_window_size is at most 2147483647 bytes");
    return rc;
}

static int px_conf_set_limits(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    return px_conf_walk(cx, v, px_conf_limits_keys, PX_KEY_NELTS(px_conf_limits_keys),
                        &((px_conf_listener_t *)obj)->limits, NULL);
}

static int px_conf_set_forwarded_mode(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                      const px_conf_key_t *k)
{
    static const char *const modes[] = {"append", "replace", "off"};
    if (px_conf_scalar(cx, v, "a string") < 0)
        return -1;
    for (size_t i = 0; i < PX_KEY_NELTS(modes); i++) {
        if (strcmp(v->str, modes[i]) == 0) {
            ((px_conf_forwarded_t *)obj)->mode = (px_xff_mode_t)i;
            return 0;
        }
    }
    return px_conf_err(cx, v, "unknown mode %s (expected append, replace or off)",
                       px_conf_q(cx, v->str, v->len));
}

static int px_conf_set_trusted(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_conf_forwarded_t *fw = obj;
    if (v->type != PX_YNODE_SEQ)
        return px_conf_err(cx, v, "expected a sequence of addresses or CIDR prefixes");
    if (v->nitems == 0)
        return 0;
    fw->trusted = px_conf_alloc(cx, v->nitems * sizeof(*fw->trusted));
    if (fw->trusted == NULL)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        size_t mark = px_conf_path_index(cx, i);
        if (px_conf_cidr(cx, v->items[i], &fw->trusted[i]) < 0)
            rc = -1;
        px_conf_path_pop(cx, mark);
    }
    fw->ntrusted = v->nitems;
    return rc;
}

static const px_conf_key_t px_conf_forwarded_keys[] = {
    PX_KEY_FN("mode", px_conf_set_forwarded_mode),
    PX_KEY_FN("trusted_proxies", px_conf_set_trusted),
};

static int px_conf_set_forwarded(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                 const px_conf_key_t *k)
{
    return px_conf_walk(cx, v, px_conf_forwarded_keys, PX_KEY_NELTS(px_conf_forwarded_keys),
                        &((px_conf_listener_t *)obj)->forwarded, NULL);
}

/* ---- routes: match ------------------------------------------------------------------------- */

/*
 * A map of header name -> value into *kvs (arena). Names must be tokens and are lowercased;
 * values must be valid field values. A name given twice (in any case) is an error.
 */
static int px_conf_headers(px_conf_ctx_t *cx, px_ynode_t *v, px_conf_kv_t **kvs, size_t *nkvs)
{
    if (px_conf_expect_free_map(cx, v) < 0)
        return -1;
    size_t n = v->nitems / 2;
    if (n == 0)
        return 0;
    px_conf_kv_t *out = px_conf_alloc(cx, n * sizeof(*out));
    if (out == NULL)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        px_ynode_t *kn = v->items[2 * i], *vn = v->items[2 * i + 1];
        if (!px_conf_is_token(kn->str, kn->len)) {
            rc = px_conf_err(cx, kn, "invalid header name %s", px_conf_q(cx, kn->str, kn->len));
            continue;
        }
        size_t mark = px_conf_path_key(cx, kn->str);
        if (px_conf_scalar(cx, vn, "a string (the header value)") < 0) {
            rc = -1;
        } else if (!px_conf_is_field_value(vn->str, vn->len)) {
            rc = px_conf_err(cx, vn,
                             "invalid header value (CR, LF, NUL and other control "
                             "characters are not allowed)");
        } else if ((out[i].name = px_conf_dup(cx, kn->str, kn->len)) == NULL ||
                   (out[i].value = px_conf_dup(cx, vn->str, vn->len)) == NULL) {
            rc = -1;
        } else {
            for (char *p = out[i].name; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            for (size_t j = 0; j < i; j++) {
                if (out[j].name != NULL && strcmp(out[j].name, out[i].name) == 0) {
                    rc = px_conf_err(cx, kn, "header %s is given twice",
                                     px_conf_q(cx, kn->str, kn->len));
                    break;
                }
            }
        }
        px_conf_path_pop(cx, mark);
    }
    *kvs = out;
    *nkvs = n;
    return rc;
}

static int px_conf_set_match_host(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                  const px_conf_key_t *k)
{
    px_conf_route_t *r = obj;
    if (px_conf_scalar(cx, v, "a host name") < 0)
        return -1;
    const char *s = v->str;
    size_t len = v->len;
    r->host_match = PX_MATCH_HOST_EXACT;
    if (len >= 2 && s[0] == '*' && s[1] == '.') {
        r->host_match = PX_MATCH_HOST_SUFFIX;
        s++;
        len--;
    }
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']' && r->host_match == PX_MATCH_HOST_EXACT) {
        char buf[64];
        struct in6_addr a;
        if (len - 2 >= sizeof(buf))
            return px_conf_err(cx, v, "invalid IPv6 address %s", px_conf_q(cx, s, len));
        memcpy(buf, s + 1, len - 2);
        buf[len - 2] = '\0';
        if (inet_pton(AF_INET6, buf, &a) != 1)
            return px_conf_err(cx, v, "invalid IPv6 address %s", px_conf_q(cx, s, len));
    } else if (memchr(s, ':', len) != NULL) {
        return px_conf_err(cx, v,
                           "a port is not allowed here (the request's port is ignored "
                           "when matching)");
    } else if (!px_conf_is_hostname(r->host_match == PX_MATCH_HOST_SUFFIX ? s + 1 : s,
                                    r->host_match == PX_MATCH_HOST_SUFFIX ? len - 1 : len)) {
        return px_conf_err(cx, v,
                           "invalid host pattern %s (expected a host name or "
                           "*.domain)",
                           px_conf_q(cx, v->str, v->len));
    }
    if ((r->host = px_conf_dup(cx, s, len)) == NULL)
        return -1;
    for (char *p = r->host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

static int px_conf_match_path(px_conf_ctx_t *cx, px_ynode_t *v, px_conf_route_t *r,
                              px_path_match_t how)
{
    if (px_conf_scalar(cx, v, "a path") < 0)
        return -1;
    if (v->str[0] != '/')
        return px_conf_err(cx, v, "must start with \"/\"");
    for (size_t i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char)v->str[i];
        if (c <= 0x20 || c == 0x7f)
            return px_conf_err(cx, v, "must not contain spaces or control characters");
    }
    r->path_match = how;
    r->path = px_conf_dup(cx, v->str, v->len);
    return r->path ? 0 : -1;
}

static int px_conf_set_match_exact(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                   const px_conf_key_t *k)
{
    return px_conf_match_path(cx, v, obj, PX_MATCH_PATH_EXACT);
}

static int px_conf_set_match_prefix(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                    const px_conf_key_t *k)
{
    return px_conf_match_path(cx, v, obj, PX_MATCH_PATH_PREFIX);
}

static void px_conf_free_regex(void *code)
{
    pcre2_code_free(code);
}

static int px_conf_set_match_regex(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                   const px_conf_key_t *k)
{
    px_conf_route_t *r = obj;
    if (px_conf_scalar(cx, v, "a regular expression") < 0)
        return -1;
    int errcode;
    PCRE2_SIZE off;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)v->str, v->len, 0, &errcode, &off, NULL);
    if (code == NULL) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", errcode);
        /* Point at the offending character when the pattern sits on the node's line. */
        unsigned col = v->col;
        if ((v->plain || v->quoted) && off <= v->len && memchr(v->str, '\n', v->len) == NULL)
            col += (unsigned)off + (v->quoted ? 1 : 0);
        px_ynode_t at = *v;
        at.col = col;
        px_conf_err(cx, &at, "%s at offset %zu", (const char *)msg, (size_t)off);
        return -1;
    }
    if (px_pool_cleanup_add(cx->arena, px_conf_free_regex, code) < 0) {
        pcre2_code_free(code);
        px_conf_err_at(cx, 0, 0, "out of memory");
        return -1;
    }
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    r->path_match = PX_MATCH_PATH_REGEX;
    r->path_regex = code;
    r->path = px_conf_dup(cx, v->str, v->len);
    return r->path ? 0 : -1;
}

static int px_conf_set_match_methods(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                     const px_conf_key_t *k)
{
    px_conf_route_t *r = obj;
    if (px_conf_expect_seq(cx, v) < 0)
        return -1;
    r->methods = px_conf_alloc(cx, v->nitems * sizeof(*r->methods));
    if (r->methods == NULL)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        px_ynode_t *m = v->items[i];
        size_t mark = px_conf_path_index(cx, i);
        if (px_conf_scalar(cx, m, "a method") < 0)
            rc = -1;
        else if (!px_conf_is_token(m->str, m->len))
            rc = px_conf_err(cx, m, "invalid method %s", px_conf_q(cx, m->str, m->len));
        else if ((r->methods[i] = px_conf_dup(cx, m->str, m->len)) == NULL)
            rc = -1;
        px_conf_path_pop(cx, mark);
    }
    r->nmethods = v->nitems;
    return rc;
}

static int px_conf_set_match_headers(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                     const px_conf_key_t *k)
{
    px_conf_route_t *r = obj;
    return px_conf_headers(cx, v, &r->match_headers, &r->nmatch_headers);
}

/* The three path keys come first: the conflict check below relies on it. */
static const px_conf_key_t px_conf_match_keys[] = {
    PX_KEY_FN("path", px_conf_set_match_exact),
    PX_KEY_FN("path_prefix", px_conf_set_match_prefix),
    PX_KEY_FN("path_regex", px_conf_set_match_regex),
    PX_KEY_FN("host", px_conf_set_match_host),
    PX_KEY_FN("methods", px_conf_set_match_methods),
    PX_KEY_FN("headers", px_conf_set_match_headers),
};

/* Of the keys seen[from..to), the first in document order; report the others as conflicts. */
static px_ynode_t *px_conf_one_of(px_conf_ctx_t *cx, px_ynode_t **seen, size_t from, size_t to,
                                  const char *what)
{
    px_ynode_t *first = NULL;
    for (size_t i = from; i < to; i++)
        if (seen[i] != NULL && (first == NULL || seen[i]->line < first->line ||
                                (seen[i]->line == first->line && seen[i]->col < first->col)))
            first = seen[i];
    for (size_t i = from; i < to; i++)
        if (seen[i] != NULL && seen[i] != first)
            px_conf_err(cx, seen[i], "\"%s\" conflicts with \"%s\" (%s)", seen[i]->str, first->str,
                        what);
    return first;
}

static int px_conf_set_match(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_ynode_t *seen[PX_CONF_MAX_KEYS];
    int rc = px_conf_walk(cx, v, px_conf_match_keys, PX_KEY_NELTS(px_conf_match_keys), obj, seen);
    if (rc == 0 && (seen[0] != NULL) + (seen[1] != NULL) + (seen[2] != NULL) > 1) {
        px_conf_one_of(cx, seen, 0, 3, "give at most one of path, path_prefix, path_regex");
        rc = -1;
    }
    return rc;
}

/* ---- routes: actions ----------------------------------------------------------------------- */

static int px_conf_set_route_upstream(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                      const px_conf_key_t *k)
{
    px_conf_route_t *r = obj;
    if (px_conf_scalar(cx, v, "an upstream name") < 0)
        return -1;
    px_conf_ref_t *ref = px_palloc(cx->tmp, sizeof(*ref));
    if (ref == NULL) {
        px_conf_err_at(cx, 0, 0, "out of memory");
        return -1;
    }
    r->action = PX_ACTION_UPSTREAM;
    ref->route = r;
    ref->node = v;
    ref->path = px_conf_path_dup(cx);
    ref->next = cx->refs;
    cx->refs = ref;
    return 0;
}

static int px_conf_set_respond_headers(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                       const px_conf_key_t *k)
{
    px_conf_route_t *r = obj;
    if (px_conf_headers(cx, v, &r->respond_headers, &r->nrespond_headers) < 0)
        return -1;
    for (size_t i = 0; i < r->nrespond_headers; i++) {
        const char *name = r->respond_headers[i].name;
        if (strcmp(name, "content-length") == 0 || strcmp(name, "transfer-encoding") == 0)
            return px_conf_err(cx, v->items[2 * i], "\"%s\" is set by pyxis from the body", name);
    }
    return 0;
}

static int px_conf_set_respond_body(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                    const px_conf_key_t *k)
{
    px_conf_route_t *r = obj;
    if (v->type != PX_YNODE_SCALAR || v->null)
        return px_conf_err(cx, v, "expected a string (write \"\" for an empty body)");
    r->respond_body = px_pmemdup(cx->arena, v->str, v->len + 1); /* keeps the NUL */
    if (r->respond_body == NULL) {
        px_conf_err_at(cx, 0, 0, "out of memory");
        return -1;
    }
    r->respond_body_len = v->len;
    return 0;
}

static const px_conf_key_t px_conf_respond_keys[] = {
    PX_KEY_UINT("status", px_conf_route_t, respond_status, 100, 599),
    PX_KEY_FN("headers", px_conf_set_respond_headers),
    PX_KEY_FN("body", px_conf_set_respond_body),
};

static int px_conf_set_respond(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_conf_route_t *r = obj;
    px_ynode_t *seen[PX_CONF_MAX_KEYS];
    r->action = PX_ACTION_RESPOND;
    if (px_conf_walk(cx, v, px_conf_respond_keys, PX_KEY_NELTS(px_conf_respond_keys), r, seen) < 0)
        return -1;
    int st = r->respond_status;
    if (seen[2] != NULL && r->respond_body_len > 0 && (st < 200 || st == 204 || st == 304))
        return px_conf_err(cx, seen[2], "a %d response has no body", st);
    return 0;
}

static int px_conf_set_redirect_location(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                         const px_conf_key_t *k)
{
    static const char *const vars[] = {"scheme", "host", "path", "query", "request_uri"};
    px_conf_route_t *r = obj;
    if (px_conf_scalar(cx, v, "a URL") < 0)
        return -1;
    if (v->len == 0)
        return px_conf_err(cx, v, "must not be empty");
    if (!px_conf_is_field_value(v->str, v->len))
        return px_conf_err(cx, v, "must not contain control characters");
    for (const char *p = strstr(v->str, "${"); p != NULL; p = strstr(p, "${")) {
        const char *end = strchr(p, '}');
        if (end == NULL)
            return px_conf_err(cx, v, "unterminated \"${\" in location");
        size_t n = (size_t)(end - p - 2), i = 0;
        while (i < PX_KEY_NELTS(vars) && (strlen(vars[i]) != n || memcmp(vars[i], p + 2, n)))
            i++;
        if (i == PX_KEY_NELTS(vars))
            return px_conf_err(cx, v,
                               "unknown variable %s in location (known: ${scheme} "
                               "${host} ${path} ${query} ${request_uri})",
                               px_conf_q(cx, p, (size_t)(end - p) + 1));
        p = end + 1;
    }
    r->redirect_location = px_conf_dup(cx, v->str, v->len);
    return r->redirect_location ? 0 : -1;
}

static int px_conf_set_redirect_status(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                       const px_conf_key_t *k)
{
    uint64_t st;
    if (px_conf_uint(cx, v, 0, 999, &st) < 0)
        return -1;
    if (st != 301 && st != 302 && st != 303 && st != 307 && st != 308)
        return px_conf_err(cx, v,
                           "invalid redirect status %d (expected 301, 302, 303, 307 or "
                           "308)",
                           (int)st);
    ((px_conf_route_t *)obj)->redirect_status = (int)st;
    return 0;
}

static const px_conf_key_t px_conf_redirect_keys[] = {
    {"location", px_conf_set_redirect_location, 0, 0, 0, 0, 1},
    PX_KEY_FN("status", px_conf_set_redirect_status),
};

static int px_conf_set_redirect(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    ((px_conf_route_t *)obj)->action = PX_ACTION_REDIRECT;
    return px_conf_walk(cx, v, px_conf_redirect_keys, PX_KEY_NELTS(px_conf_redirect_keys), obj,
                        NULL);
}

static int px_conf_set_host_rewrite(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                    const px_conf_key_t *k)
{
    if (px_conf_scalar(cx, v, "a host") < 0)
        return -1;
    for (size_t i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char)v->str[i];
        if (c <= 0x20 || c == 0x7f)
            return px_conf_err(cx, v, "invalid host %s", px_conf_q(cx, v->str, v->len));
    }
    return px_conf_set_str(cx, v, obj, k);
}

/* upgrade: [websocket, ...]: the protocols whose Upgrade passes upstream. h2c never does:
 * pyxis would have to speak HTTP/2 to the client itself after the 101. */
static int px_conf_set_upgrade(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_conf_route_t *r = obj;
    if (v->type != PX_YNODE_SEQ) /* [] is fine: no upgrade passes */
        return px_conf_err(cx, v, "expected a sequence of protocol names, like [websocket]");
    char **names = px_conf_alloc(cx, (v->nitems + 1) * sizeof(*names));
    if (names == NULL)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        px_ynode_t *m = v->items[i];
        size_t mark = px_conf_path_index(cx, i);
        if (px_conf_scalar(cx, m, "a protocol name") < 0) {
            rc = -1;
        } else if (!px_conf_is_token(m->str, m->len)) {
            rc = px_conf_err(cx, m, "invalid protocol name %s", px_conf_q(cx, m->str, m->len));
        } else if ((names[i] = px_conf_dup(cx, m->str, m->len)) == NULL) {
            rc = -1;
        } else {
            for (char *p = names[i]; *p != '\0'; p++)
                *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
            if (strcmp(names[i], "h2c") == 0)
                rc = px_conf_err(cx, m,
                                 "h2c is never passed through (the upgrade to HTTP/2 "
                                 "is between the client and pyxis)");
            for (size_t j = 0; j < i && rc == 0; j++)
                if (names[j] != NULL && strcmp(names[j], names[i]) == 0)
                    rc = px_conf_err(cx, m, "%s is listed twice", names[i]);
        }
        px_conf_path_pop(cx, mark);
    }
    r->upgrades = (const char *const *)names;
    r->nupgrades = v->nitems;
    return rc;
}

/* Action keys first, then the keys only allowed with upstream: px_conf_route() relies on it. */
static const px_conf_key_t px_conf_route_keys[] = {
    PX_KEY_FN("upstream", px_conf_set_route_upstream),
    PX_KEY_FN("respond", px_conf_set_respond),
    PX_KEY_FN("redirect", px_conf_set_redirect),
    PX_KEY_FN_AT("host_rewrite", px_conf_set_host_rewrite, px_conf_route_t, host_rewrite),
    PX_KEY_DURATION("timeout", px_conf_route_t, timeout_ms, 0),
    PX_KEY_DURATION("first_byte_timeout", px_conf_route_t, first_byte_timeout_ms, 0),
    PX_KEY_FN_AT("retry", px_conf_set_retry, px_conf_route_t, retry),
    PX_KEY_FN("upgrade", px_conf_set_upgrade),
    PX_KEY_DURATION("tunnel_idle_timeout", px_conf_route_t, tunnel_idle_timeout_ms, 0),
    PX_KEY_FN_AT("name", px_conf_set_name, px_conf_route_t, name),
    PX_KEY_FN("match", px_conf_set_match),
    PX_KEY_FN("filters", px_conf_set_filters),
};

static int px_conf_route(px_conf_ctx_t *cx, px_ynode_t *v, px_conf_route_t *r)
{
    static const char *const actions[] = {"upstream", "respond", "redirect"};
    static const char *const websocket[] = {"websocket"};
    px_ynode_t *seen[PX_CONF_MAX_KEYS];
    r->timeout_ms = 60 * 1000;
    r->upgrades = websocket;
    r->nupgrades = 1;
    r->tunnel_idle_timeout_ms = 5 * 60 * 1000;
    r->respond_status = 200;
    r->redirect_status = 302;
    px_conf_retry_defaults(&r->retry);
    r->line = (int)v->line;
    int rc = px_conf_walk(cx, v, px_conf_route_keys, PX_KEY_NELTS(px_conf_route_keys), r, seen);
    if (v->type != PX_YNODE_MAP)
        return -1;
    px_ynode_t *action = px_conf_one_of(cx, seen, 0, 3,
                                        "a route has exactly one of upstream, respond, "
                                        "redirect");
    if (action == NULL)
        return px_conf_err(cx, v, "missing action: give one of upstream, respond, redirect");
    if ((seen[0] != NULL) + (seen[1] != NULL) + (seen[2] != NULL) > 1)
        return -1;
    if (action != seen[0]) {
        for (size_t i = 3; i < 9; i++)
            if (seen[i] != NULL)
                rc = px_conf_err(cx, seen[i],
                                 "\"%s\" is only allowed with \"upstream\" (this "
                                 "route uses \"%s\")",
                                 seen[i]->str, actions[r->action]);
    }
    return rc;
}

/* ---- listeners ----------------------------------------------------------------------------- */

static int px_conf_set_routes(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_conf_listener_t *l = obj;
    if (px_conf_expect_seq(cx, v) < 0)
        return -1;
    l->routes = px_conf_alloc(cx, v->nitems * sizeof(*l->routes));
    if (l->routes == NULL)
        return -1;
    l->nroutes = v->nitems;
    int rc = 0;
    for (size_t i = 0; i < v->nitems && !px_conf_full(cx); i++) {
        size_t mark = px_conf_path_index(cx, i);
        if (px_conf_route(cx, v->items[i], &l->routes[i]) < 0)
            rc = -1;
        px_conf_path_pop(cx, mark);
    }
    return rc;
}

static int px_conf_set_listen(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    return px_conf_addr(cx, v, 1, &((px_conf_listener_t *)obj)->listen, NULL);
}

static const px_conf_key_t px_conf_listener_keys[] = {
    PX_KEY_FN_AT("name", px_conf_set_name, px_conf_listener_t, name),
    {"listen", px_conf_set_listen, 0, 0, 0, 0, 1},
    PX_KEY_DURATION("client_header_timeout", px_conf_listener_t, client_header_timeout_ms, 1),
    PX_KEY_DURATION("client_body_timeout", px_conf_listener_t, client_body_timeout_ms, 1),
    PX_KEY_DURATION("send_timeout", px_conf_listener_t, send_timeout_ms, 1),
    PX_KEY_DURATION("keepalive_timeout", px_conf_listener_t, keepalive_timeout_ms, 0),
    PX_KEY_UINT("keepalive_requests", px_conf_listener_t, max_requests_per_conn, 0, UINT32_MAX),
    PX_KEY_UINT("backlog", px_conf_listener_t, backlog, 1, 65535),
    PX_KEY_FN("limits", px_conf_set_limits),
    PX_KEY_FN("http2", px_conf_set_http2),
    PX_KEY_FN("forwarded", px_conf_set_forwarded),
    PX_KEY_FN_AT("access_log", px_conf_set_access_log, px_conf_listener_t, access_log),
    PX_KEY_FN("tls", px_conf_set_listener_tls),
    {"routes", px_conf_set_routes, 0, 0, 0, 0, 1},
};

static int px_conf_listener(px_conf_ctx_t *cx, px_ynode_t *v, size_t index, px_conf_listener_t *l)
{
    px_ynode_t *seen[PX_CONF_MAX_KEYS];
    l->client_header_timeout_ms = 10 * 1000;
    l->client_body_timeout_ms = 60 * 1000;
    l->send_timeout_ms = 60 * 1000;
    l->keepalive_timeout_ms = 75 * 1000;
    l->max_requests_per_conn = 1000;
    l->backlog = 511;
    l->limits.max_head = 16 * 1024;
    l->limits.max_headers = 100;
    l->limits.max_uri = 8 * 1024;
    l->http2.max_concurrent_streams = 128;
    l->http2.initial_window_size = 64 * 1024;
    l->http2.connection_window_size = 1024 * 1024;
    l->forwarded.mode = PX_XFF_APPEND;
    int rc =
        px_conf_walk(cx, v, px_conf_listener_keys, PX_KEY_NELTS(px_conf_listener_keys), l, seen);
    if (l->name == NULL) {
        char buf[32];
        snprintf(buf, sizeof(buf), "listener%zu", index);
        if ((l->name = px_conf_dup(cx, buf, strlen(buf))) == NULL)
            return -1;
    }
    if (l->http2.max_header_list_size == 0)
        l->http2.max_header_list_size = l->limits.max_head;
    if (l->tls != NULL)
        l->tls->h2 = l->http2.enabled != 0;
    for (size_t i = 0; i < l->nroutes; i++) {
        px_conf_route_t *r = &l->routes[i];
        if (r->name != NULL)
            continue;
        size_t n = strlen(l->name) + 24;
        if ((r->name = px_conf_alloc(cx, n)) == NULL)
            return -1;
        snprintf(r->name, n, "%s#%zu", l->name, i);
    }
    return rc;
}

static int px_conf_set_listeners(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                 const px_conf_key_t *k)
{
    px_conf_t *conf = obj;
    if (px_conf_expect_seq(cx, v) < 0)
        return -1;
    conf->listeners = px_conf_alloc(cx, v->nitems * sizeof(*conf->listeners));
    if (conf->listeners == NULL)
        return -1;
    conf->nlisteners = v->nitems;
    int rc = 0;
    for (size_t i = 0; i < v->nitems && !px_conf_full(cx); i++) {
        px_conf_listener_t *l = &conf->listeners[i];
        px_ynode_t *lv = v->items[i];
        size_t mark = px_conf_path_index(cx, i);
        if (px_conf_listener(cx, lv, i, l) < 0)
            rc = -1;
        /* Names and addresses must be unique; point at the later one. */
        px_ynode_t *name_node = lv, *listen_node = NULL;
        for (size_t m = 0; lv->type == PX_YNODE_MAP && m + 1 < lv->nitems; m += 2) {
            if (strcmp(lv->items[m]->str, "name") == 0)
                name_node = lv->items[m + 1];
            else if (strcmp(lv->items[m]->str, "listen") == 0)
                listen_node = lv->items[m + 1];
        }
        for (size_t j = 0; j < i; j++) {
            px_conf_listener_t *o = &conf->listeners[j];
            if (o->name != NULL && l->name != NULL && strcmp(o->name, l->name) == 0) {
                size_t km = px_conf_path_key(cx, "name");
                rc = px_conf_err(cx, name_node,
                                 "listener name %s is already used by "
                                 "listeners[%zu]",
                                 px_conf_q(cx, l->name, strlen(l->name)), j);
                px_conf_path_pop(cx, km);
            }
            if (listen_node != NULL && px_conf_addr_equal(&o->listen, &l->listen)) {
                size_t km = px_conf_path_key(cx, "listen");
                rc = px_conf_err(cx, listen_node,
                                 "address %s is already used by "
                                 "listeners[%zu] (%s)",
                                 l->listen.text, j, px_conf_q(cx, o->name, strlen(o->name)));
                px_conf_path_pop(cx, km);
            }
        }
        px_conf_path_pop(cx, mark);
    }
    return rc;
}

/* ---- top level ----------------------------------------------------------------------------- */

static unsigned px_conf_ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > PX_CONF_MAX_WORKERS ? PX_CONF_MAX_WORKERS : (unsigned)n;
}

static int px_conf_set_workers(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_conf_t *conf = obj;
    uint64_t n;
    if (v->type == PX_YNODE_SCALAR && strcmp(v->str, "auto") == 0) {
        conf->workers = px_conf_ncpus();
        return 0;
    }
    if (v->type == PX_YNODE_SCALAR && v->plain && v->len > 0 &&
        strspn(v->str, "0123456789") != v->len)
        return px_conf_err(cx, v, "expected \"auto\" or an integer (1..%d), got %s",
                           PX_CONF_MAX_WORKERS, px_conf_q(cx, v->str, v->len));
    if (px_conf_uint(cx, v, 1, PX_CONF_MAX_WORKERS, &n) < 0)
        return -1;
    conf->workers = (unsigned)n;
    return 0;
}

static int px_conf_set_shared_dicts(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                    const px_conf_key_t *k)
{
    px_conf_t *conf = obj;
    if (px_conf_expect_free_map(cx, v) < 0)
        return -1;
    size_t n = v->nitems / 2;
    conf->shdicts = px_conf_alloc(cx, (n ? n : 1) * sizeof(*conf->shdicts));
    if (conf->shdicts == NULL)
        return -1;
    int rc = 0;
    for (size_t i = 0; i + 1 < v->nitems; i += 2) {
        px_ynode_t *kn = v->items[i], *vn = v->items[i + 1];
        px_conf_shdict_t *d = &conf->shdicts[conf->nshdicts];
        if (kn->len > 64 || strspn(kn->str, "abcdefghijklmnopqrstuvwxyz0123456789_") != kn->len) {
            rc = px_conf_err(cx, kn, "invalid shared dict name %s (use a-z, 0-9 and _)",
                             px_conf_q(cx, kn->str, kn->len));
            continue;
        }
        size_t mark = px_conf_path_key(cx, kn->str);
        if (px_conf_size(cx, vn, 1, &d->size) < 0) {
            rc = -1;
        } else if (d->size < 16 * 1024) {
            rc = px_conf_err(cx, vn, "a shared dict needs at least 16k");
        } else if ((d->name = px_conf_dup(cx, kn->str, kn->len)) == NULL) {
            rc = -1;
        } else {
            conf->nshdicts++;
        }
        px_conf_path_pop(cx, mark);
    }
    return rc;
}

static void px_conf_release_shdict(void *d)
{
    px_shdict_release(d);
}

/* Take the dicts once the config is known good: a refused config never resizes a live one. */
static void px_conf_acquire_shdicts(px_conf_ctx_t *cx)
{
    px_conf_t *conf = cx->conf;
    for (size_t i = 0; i < conf->nshdicts; i++) {
        px_conf_shdict_t *d = &conf->shdicts[i];
        d->dict = px_shdict_acquire(d->name, d->size);
        if (d->dict == NULL ||
            px_pool_cleanup_add(cx->arena, px_conf_release_shdict, d->dict) < 0) {
            px_shdict_release(d->dict);
            d->dict = NULL;
            px_conf_err_at(cx, 0, 0, "shared_dicts.%s: out of memory", d->name);
        }
    }
}

static int px_conf_set_modules_path(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                    const px_conf_key_t *k)
{
    px_conf_t *conf = obj;
    if (px_conf_scalar(cx, v, "a directory") < 0)
        return -1;
    if (v->len == 0)
        return px_conf_err(cx, v, "expected a directory");
    conf->modules_path = px_conf_rel_path(cx, v->str, v->len);
    return conf->modules_path ? 0 : -1;
}

static const px_conf_key_t px_conf_top_keys[] = {
    PX_KEY_FN("workers", px_conf_set_workers),
    PX_KEY_DURATION("drain_timeout", px_conf_t, drain_timeout_ms, 0),
    PX_KEY_STR("pid_file", px_conf_t, pid_file),
    PX_KEY_FN("error_log", px_conf_set_error_log),
    PX_KEY_FN_AT("access_log", px_conf_set_access_log, px_conf_t, access_log),
    {"listeners", px_conf_set_listeners, 0, 0, 0, 0, 1},
    PX_KEY_FN("upstreams", px_conf_set_upstreams),
    PX_KEY_FN("resolvers", px_conf_set_resolvers),
    PX_KEY_FN("modules_path", px_conf_set_modules_path),
    PX_KEY_FN("load_modules", px_conf_set_load_modules),
    PX_KEY_FN("shared_dicts", px_conf_set_shared_dicts),
};

/* Point each route's `upstream: NAME` at its upstream. */
static void px_conf_resolve_refs(px_conf_ctx_t *cx)
{
    px_conf_t *conf = cx->conf;
    const char **names = NULL;
    if (conf->nupstreams > 0)
        names = px_palloc(cx->tmp, conf->nupstreams * sizeof(*names));
    for (size_t i = 0; names != NULL && i < conf->nupstreams; i++)
        names[i] = conf->upstreams[i].name ? conf->upstreams[i].name : "";
    for (px_conf_ref_t *ref = cx->refs; ref != NULL; ref = ref->next) {
        const px_ynode_t *n = ref->node;
        for (size_t i = 0; i < conf->nupstreams; i++) {
            if (conf->upstreams[i].name && strcmp(conf->upstreams[i].name, n->str) == 0) {
                ref->route->upstream = &conf->upstreams[i];
                break;
            }
        }
        if (ref->route->upstream != NULL || cx->upstreams_bad)
            continue;
        const char *hint = names ? px_conf_suggest(n->str, names, conf->nupstreams) : NULL;
        if (hint != NULL)
            px_conf_err_at(cx, n->line, n->col, "%s: unknown upstream %s (did you mean \"%s\"?)",
                           ref->path, px_conf_q(cx, n->str, n->len), hint);
        else
            px_conf_err_at(cx, n->line, n->col, "%s: unknown upstream %s%s", ref->path,
                           px_conf_q(cx, n->str, n->len),
                           conf->nupstreams ? "" : " (no upstreams are defined)");
    }
}

/* Sort the reported errors by position (stable: same-place errors keep their order). */
static void px_conf_sort_errors(px_conf_ctx_t *cx)
{
    for (size_t i = 1; i < cx->nerrs; i++) {
        px_conf_error_t e = cx->errs[i];
        size_t j = i;
        while (j > 0 && (cx->errs[j - 1].line > e.line ||
                         (cx->errs[j - 1].line == e.line && cx->errs[j - 1].col > e.col))) {
            cx->errs[j] = cx->errs[j - 1];
            j--;
        }
        cx->errs[j] = e;
    }
}

/*
 * The common loader. Returns the snapshot (one reference) or NULL with errors recorded. The
 * scratch pool is always destroyed here; the arena is destroyed on failure.
 */
static px_conf_t *px_conf_load_ctx(px_conf_ctx_t *cx)
{
    cx->tmp = px_pool_create(16 * 1024);
    cx->arena = px_pool_create(16 * 1024);
    px_conf_t *conf = cx->arena ? px_pcalloc(cx->arena, sizeof(*conf)) : NULL;
    if (cx->tmp == NULL || conf == NULL || (conf->file = px_pstrdup(cx->arena, cx->file)) == NULL) {
        px_conf_err_at(cx, 0, 0, "out of memory");
        px_pool_destroy(cx->tmp);
        px_pool_destroy(cx->arena);
        return NULL;
    }
    cx->conf = conf;
    atomic_init(&conf->refs, 1);
    conf->arena = cx->arena;
    conf->workers = px_conf_ncpus();
    conf->drain_timeout_ms = 30 * 1000;
    conf->error_log_level = PX_LOG_INFO;
    conf->access_log.format = PX_ACCESS_LOG_OFF;

    px_ynode_t *root = px_conf_yaml_parse(cx);
    if (root != NULL && cx->nfailed == 0) {
        /* Keys that are not the core's are modules' (conf_global): set them aside for after
         * the walk, when modules_path is known. */
        px_ynode_t **extra = NULL;
        size_t nextra = 0;
        if (root->type == PX_YNODE_MAP && root->nitems > 0 &&
            (extra = px_palloc(cx->tmp, root->nitems * sizeof(*extra))) != NULL) {
            size_t out = 0;
            for (size_t i = 0; i + 1 < root->nitems; i += 2) {
                px_ynode_t *k = root->items[i];
                size_t j = 0;
                while (k->type == PX_YNODE_SCALAR && j < PX_KEY_NELTS(px_conf_top_keys) &&
                       strcmp(px_conf_top_keys[j].name, k->str) != 0)
                    j++;
                if (k->type == PX_YNODE_SCALAR && j == PX_KEY_NELTS(px_conf_top_keys)) {
                    extra[nextra++] = k;
                    extra[nextra++] = root->items[i + 1];
                    continue;
                }
                root->items[out++] = k;
                root->items[out++] = root->items[i + 1];
            }
            root->nitems = out;
        }
        px_conf_walk(cx, root, px_conf_top_keys, PX_KEY_NELTS(px_conf_top_keys), conf, NULL);
        if (!px_conf_full(cx))
            px_conf_resolve_globals(cx, extra, nextra, px_conf_top_keys,
                                    PX_KEY_NELTS(px_conf_top_keys));
        if (!px_conf_full(cx))
            px_conf_resolve_refs(cx);
        if (!px_conf_full(cx))
            px_conf_resolve_resolvers(cx);
        if (cx->nfailed == 0)
            px_conf_resolve_filters(cx);
        if (cx->nfailed == 0)
            px_conf_acquire_shdicts(cx);
        for (size_t i = 0; i < conf->nlisteners; i++)
            if (!conf->listeners[i].access_log.configured)
                conf->listeners[i].access_log = conf->access_log;
    }
    px_pool_destroy(cx->tmp);
    cx->tmp = NULL;
    if (cx->nfailed > 0) {
        px_conf_sort_errors(cx);
        px_pool_destroy(cx->arena);
        return NULL;
    }
    return conf;
}

px_conf_t *px_conf_load_string(const char *name, const char *yaml, size_t len, int resolve,
                               px_conf_error_t *errs, size_t max_errs, size_t *nerrs)
{
    px_conf_ctx_t cx;
    memset(&cx, 0, sizeof(cx));
    cx.file = name ? name : "<string>";
    cx.yaml = yaml ? yaml : "";
    cx.len = yaml ? len : 0;
    cx.resolve = resolve;
    cx.errs = errs;
    cx.max_errs = errs ? max_errs : 0;
    px_conf_t *conf = px_conf_load_ctx(&cx);
    if (nerrs != NULL)
        *nerrs = cx.nerrs;
    return conf;
}

px_conf_t *px_conf_load(const char *file, px_conf_error_t *errs, size_t max_errs, size_t *nerrs)
{
    px_conf_ctx_t cx;
    memset(&cx, 0, sizeof(cx));
    cx.file = file;
    cx.errs = errs;
    cx.max_errs = errs ? max_errs : 0;
    cx.resolve = 1;
    FILE *f = fopen(file, "rb");
    char *buf = NULL;
    size_t len = 0;
    if (f == NULL) {
        px_conf_err_at(&cx, 0, 0, "cannot open: %s", strerror(errno));
    } else {
        size_t cap = 0;
        for (;;) {
            if (len == cap) {
                if (cap >= PX_CONF_MAX_FILE) {
                    px_conf_err_at(&cx, 0, 0, "file is larger than %d bytes", PX_CONF_MAX_FILE);
                    break;
                }
                size_t ncap = cap ? cap * 2 : 8192;
                char *nbuf = realloc(buf, ncap);
                if (nbuf == NULL) {
                    px_conf_err_at(&cx, 0, 0, "out of memory");
                    break;
                }
                buf = nbuf;
                cap = ncap;
            }
            size_t got = fread(buf + len, 1, cap - len, f);
            len += got;
            if (got == 0) {
                if (ferror(f))
                    px_conf_err_at(&cx, 0, 0, "cannot read: %s", strerror(errno));
                break;
            }
        }
        fclose(f);
    }
    px_conf_t *conf = NULL;
    if (cx.nfailed == 0) {
        cx.yaml = buf ? buf : "";
        cx.len = len;
        conf = px_conf_load_ctx(&cx);
    }
    free(buf);
    if (nerrs != NULL)
        *nerrs = cx.nerrs;
    return conf;
}

void px_conf_retain(px_conf_t *conf)
{
    atomic_fetch_add(&conf->refs, 1);
}

void px_conf_release(px_conf_t *conf)
{
    if (conf != NULL && atomic_fetch_sub(&conf->refs, 1) == 1)
        px_pool_destroy(conf->arena); /* conf itself lives in the arena */
}

void px_conf_error_format(const px_conf_error_t *e, char *buf, size_t size)
{
    if (e->line == 0)
        snprintf(buf, size, "%s: %s", e->file, e->msg);
    else
        snprintf(buf, size, "%s:%u:%u: %s", e->file, e->line, e->col, e->msg);
}

px_conf_t *px_conf_load_or_report(const char *file, FILE *out)
{
    px_conf_error_t errs[32];
    size_t nerrs = 0;
    px_conf_t *conf = px_conf_load(file, errs, sizeof(errs) / sizeof(errs[0]), &nerrs);
    if (conf == NULL) {
        for (size_t i = 0; i < nerrs; i++) {
            const px_conf_error_t *e = &errs[i];
            if (e->line == 0)
                fprintf(out, "%s: %s\n", e->file, e->msg);
            else
                fprintf(out, "%s:%u:%u: %s\n", e->file, e->line, e->col, e->msg);
        }
    }
    return conf;
}
