/*
 * px_conf_discovery.c: the top-level `resolvers:` section and `upstreams.NAME.discovery`
 * (DNS A/AAAA, DNS SRV, an endpoints file). docs/config.md documents every key;
 * docs/resilience.md how discovery behaves. The runtime is core/upstream/px_discovery.c.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "px_conf.h"
#include "px_conf_yaml.h"
#include "px_pool.h"

/* ---- resolvers ------------------------------------------------------------------------------ */

/* One of resolvers.NAME.servers: "IP", "IP:PORT", "[IPv6]" or "[IPv6]:PORT" (port 53 unless
 * written), an IP literal: a resolver cannot itself need resolving. Appended to *csv. */
static int px_conf_resolver_server(px_conf_ctx_t *cx, px_ynode_t *n, char *csv, size_t cap)
{
    if (px_conf_scalar(cx, n, "a server address (IP or IP:PORT)") < 0)
        return -1;
    char host[64];
    const char *s = n->str, *port = NULL;
    size_t hlen;
    int v6 = s[0] == '[';
    if (v6) {
        const char *rb = strchr(s, ']');
        if (rb == NULL || (rb[1] != '\0' && rb[1] != ':'))
            return px_conf_err(cx, n, "invalid server %s (expected [IPv6]:PORT)",
                               px_conf_q(cx, s, n->len));
        hlen = (size_t)(rb - s - 1);
        s++;
        port = rb[1] == ':' ? rb + 2 : NULL;
    } else {
        const char *colon = strchr(s, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL) {
            v6 = 1; /* a bare IPv6 address */
            hlen = n->len;
        } else {
            hlen = colon ? (size_t)(colon - s) : n->len;
            port = colon ? colon + 1 : NULL;
        }
    }
    unsigned char buf[16];
    if (hlen == 0 || hlen >= sizeof(host))
        return px_conf_err(cx, n, "invalid server %s", px_conf_q(cx, n->str, n->len));
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host, buf) != 1)
        return px_conf_err(cx, n,
                           "invalid server %s (write an IP address: resolvers are not "
                           "looked up by name)",
                           px_conf_q(cx, n->str, n->len));
    unsigned long p = 53;
    if (port != NULL) {
        size_t plen = strlen(port);
        if (plen == 0 || plen > 5 || strspn(port, "0123456789") != plen ||
            (p = strtoul(port, NULL, 10)) < 1 || p > 65535)
            return px_conf_err(cx, n, "invalid port in server %s (expected 1..65535)",
                               px_conf_q(cx, n->str, n->len));
    }
    size_t used = strlen(csv);
    snprintf(csv + used, cap - used, "%s%s%s%s:%lu", used ? "," : "", v6 ? "[" : "", host,
             v6 ? "]" : "", p);
    return 0;
}

static int px_conf_set_resolver_servers(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                        const px_conf_key_t *k)
{
    px_conf_resolver_t *r = obj;
    if (px_conf_expect_seq(cx, v) < 0)
        return -1;
    size_t cap = v->nitems * 72 + 1;
    char *csv = px_conf_alloc(cx, cap);
    if (csv == NULL)
        return -1;
    csv[0] = '\0';
    int rc = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        size_t mark = px_conf_path_index(cx, i);
        if (px_conf_resolver_server(cx, v->items[i], csv, cap) < 0)
            rc = -1;
        px_conf_path_pop(cx, mark);
    }
    r->servers = csv;
    return rc;
}

static const px_conf_key_t px_conf_resolver_keys[] = {
    {"servers", px_conf_set_resolver_servers, 0, 0, 0, 0, 1},
    PX_KEY_DURATION("timeout", px_conf_resolver_t, timeout_ms, 1),
    PX_KEY_UINT("attempts", px_conf_resolver_t, attempts, 1, 10),
};

int px_conf_set_resolvers(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_conf_t *conf = obj;
    if (px_conf_expect_free_map(cx, v) < 0)
        return -1;
    size_t n = v->nitems / 2;
    if (n == 0)
        return 0;
    if ((conf->resolvers = px_conf_alloc(cx, n * sizeof(*conf->resolvers))) == NULL)
        return -1;
    conf->nresolvers = n;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        px_ynode_t *kn = v->items[2 * i], *rn = v->items[2 * i + 1];
        px_conf_resolver_t *r = &conf->resolvers[i];
        r->timeout_ms = 1000;
        r->attempts = 2;
        if ((r->name = px_conf_dup(cx, kn->str, kn->len)) == NULL)
            return -1;
        size_t mark = px_conf_path_key(cx, kn->str);
        if (px_conf_walk(cx, rn, px_conf_resolver_keys, PX_KEY_NELTS(px_conf_resolver_keys), r,
                         NULL) < 0)
            rc = -1;
        px_conf_path_pop(cx, mark);
    }
    return rc;
}

/* ---- upstreams.NAME.discovery --------------------------------------------------------------- */

/* A DNS name: letters, digits, "-", "_" (SRV labels) and ".", at most 253 bytes. */
static int px_conf_set_disc_name(px_conf_ctx_t *cx, px_ynode_t *v, px_conf_discovery_t *d,
                                 px_disc_kind_t kind)
{
    if (px_conf_scalar(cx, v, "a DNS name") < 0)
        return -1;
    size_t len = v->len;
    if (len > 0 && v->str[len - 1] == '.')
        len--; /* a fully qualified "name." is the same name */
    if (len == 0 || len > 253 ||
        strspn(v->str, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") < len ||
        v->str[0] == '.' || strstr(v->str, "..") != NULL)
        return px_conf_err(cx, v, "invalid DNS name %s", px_conf_q(cx, v->str, v->len));
    d->kind = kind;
    d->name = px_conf_dup(cx, v->str, len);
    return d->name ? 0 : -1;
}

static int px_conf_set_disc_dns(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    return px_conf_set_disc_name(cx, v, obj, PX_DISC_DNS);
}

static int px_conf_set_disc_srv(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    return px_conf_set_disc_name(cx, v, obj, PX_DISC_SRV);
}

static int px_conf_set_disc_file(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                 const px_conf_key_t *k)
{
    px_conf_discovery_t *d = obj;
    if (px_conf_scalar(cx, v, "a file path") < 0)
        return -1;
    if (v->len == 0)
        return px_conf_err(cx, v, "must not be empty");
    d->kind = PX_DISC_FILE;
    d->name = px_conf_rel_path(cx, v->str, v->len);
    return d->name ? 0 : -1;
}

static int px_conf_set_disc_family(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                   const px_conf_key_t *k)
{
    px_conf_discovery_t *d = obj;
    if (px_conf_scalar(cx, v, "any, ipv4 or ipv6") < 0)
        return -1;
    if (strcmp(v->str, "any") == 0)
        d->family = AF_UNSPEC;
    else if (strcmp(v->str, "ipv4") == 0)
        d->family = AF_INET;
    else if (strcmp(v->str, "ipv6") == 0)
        d->family = AF_INET6;
    else
        return px_conf_err(cx, v, "unknown family %s (use any, ipv4 or ipv6)",
                           px_conf_q(cx, v->str, v->len));
    return 0;
}

/* `resolver: NAME` is looked up once every resolver is known (px_conf_resolve_resolvers). */
static int px_conf_set_disc_resolver(px_conf_ctx_t *cx, px_ynode_t *v, void *obj,
                                     const px_conf_key_t *k)
{
    if (px_conf_scalar(cx, v, "a resolver name") < 0)
        return -1;
    px_conf_rref_t *ref = px_palloc(cx->tmp, sizeof(*ref));
    if (ref == NULL || (ref->path = px_conf_path_dup(cx)) == NULL) {
        px_conf_err(cx, v, "out of memory");
        return -1;
    }
    ref->disc = obj;
    ref->node = v;
    ref->next = cx->rrefs;
    cx->rrefs = ref;
    return 0;
}

enum {
    PX_DK_DNS,
    PX_DK_SRV,
    PX_DK_FILE,
    PX_DK_PORT,
    PX_DK_FAMILY,
    PX_DK_RESOLVER,
    PX_DK_MIN_TTL,
    PX_DK_MAX_TTL,
    PX_DK_INTERVAL,
    PX_DK_N
};

static const px_conf_key_t px_conf_discovery_keys[] = {
    [PX_DK_DNS] = PX_KEY_FN("dns", px_conf_set_disc_dns),
    [PX_DK_SRV] = PX_KEY_FN("srv", px_conf_set_disc_srv),
    [PX_DK_FILE] = PX_KEY_FN("file", px_conf_set_disc_file),
    [PX_DK_PORT] = PX_KEY_UINT("port", px_conf_discovery_t, port, 1, 65535),
    [PX_DK_FAMILY] = PX_KEY_FN("family", px_conf_set_disc_family),
    [PX_DK_RESOLVER] = PX_KEY_FN("resolver", px_conf_set_disc_resolver),
    [PX_DK_MIN_TTL] = PX_KEY_DURATION("min_ttl", px_conf_discovery_t, min_ttl_ms, 100),
    [PX_DK_MAX_TTL] = PX_KEY_DURATION("max_ttl", px_conf_discovery_t, max_ttl_ms, 100),
    [PX_DK_INTERVAL] = PX_KEY_DURATION("interval", px_conf_discovery_t, interval_ms, 100),
};

int px_conf_set_discovery(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_conf_discovery_t *d = &((px_conf_upstream_t *)obj)->discovery;
    d->min_ttl_ms = 5 * 1000;
    d->max_ttl_ms = 300 * 1000;
    d->interval_ms = 1000;
    px_ynode_t *seen[PX_DK_N];
    if (px_conf_walk(cx, v, px_conf_discovery_keys, PX_DK_N, d, seen) < 0)
        return -1;
    /* Exactly one source, and only the keys that source reads. */
    int nsrc = (seen[PX_DK_DNS] != NULL) + (seen[PX_DK_SRV] != NULL) + (seen[PX_DK_FILE] != NULL);
    if (nsrc != 1)
        return px_conf_err(cx, nsrc ? seen[PX_DK_FILE] ? seen[PX_DK_FILE] : seen[PX_DK_SRV] : v,
                           "discovery needs exactly one of dns, srv or file");
    static const struct {
        int key;
        unsigned kinds; /* 1 << px_disc_kind_t that read the key */
    } only[] = {
        {PX_DK_PORT, 1u << PX_DISC_DNS},
        {PX_DK_FAMILY, 1u << PX_DISC_DNS | 1u << PX_DISC_SRV},
        {PX_DK_RESOLVER, 1u << PX_DISC_DNS | 1u << PX_DISC_SRV},
        {PX_DK_MIN_TTL, 1u << PX_DISC_DNS | 1u << PX_DISC_SRV},
        {PX_DK_MAX_TTL, 1u << PX_DISC_DNS | 1u << PX_DISC_SRV},
        {PX_DK_INTERVAL, 1u << PX_DISC_FILE},
    };
    static const char *const kind_names[] = {"", "dns", "srv", "file"};
    for (size_t i = 0; i < sizeof(only) / sizeof(only[0]); i++) {
        if (seen[only[i].key] != NULL && !(only[i].kinds & 1u << d->kind))
            return px_conf_err(cx, seen[only[i].key], "\"%s\" does not apply to discovery.%s",
                               px_conf_discovery_keys[only[i].key].name, kind_names[d->kind]);
    }
    if (d->kind == PX_DISC_DNS && seen[PX_DK_PORT] == NULL)
        return px_conf_err(cx, seen[PX_DK_DNS], "discovery.dns needs a port");
    if (d->max_ttl_ms < d->min_ttl_ms)
        return px_conf_err(cx, seen[PX_DK_MAX_TTL] ? seen[PX_DK_MAX_TTL] : seen[PX_DK_MIN_TTL],
                           "max_ttl (%llums) is below min_ttl (%llums)",
                           (unsigned long long)d->max_ttl_ms, (unsigned long long)d->min_ttl_ms);
    return 0;
}

/* Point each discovery's `resolver: NAME` at its resolver. */
void px_conf_resolve_resolvers(px_conf_ctx_t *cx)
{
    const px_conf_t *conf = cx->conf;
    for (px_conf_rref_t *ref = cx->rrefs; ref != NULL; ref = ref->next) {
        const px_ynode_t *n = ref->node;
        size_t i = 0;
        while (i < conf->nresolvers && strcmp(conf->resolvers[i].name, n->str) != 0)
            i++;
        if (i < conf->nresolvers)
            ref->disc->resolver = &conf->resolvers[i];
        else
            px_conf_err_at(cx, n->line, n->col, "%s: unknown resolver %s%s", ref->path,
                           px_conf_q(cx, n->str, n->len),
                           conf->nresolvers ? "" : " (no resolvers are defined)");
    }
}
