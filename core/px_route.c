/*
 * px_route.c: matching a request to one of its listener's routes, first match wins.
 */
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "px_headers.h"
#include "px_pool.h"
#include "px_route.h"
#include "px_worker.h"

int px_route_host(px_txn_t *t)
{
    px_str_t a = t->req.authority;
    size_t end = a.len;
    if (a.len == 0) {
        t->host.data = "";
        t->host.len = 0;
        return 0; /* HTTP/1.0 without Host: only host-less routes match */
    }
    if (a.data[0] == '[') {
        const char *close = memchr(a.data, ']', a.len);
        if (close == NULL)
            return -1;
        end = (size_t)(close - a.data) + 1;
    } else {
        const char *colon = memchr(a.data, ':', a.len);
        if (colon != NULL)
            end = (size_t)(colon - a.data);
    }
    /* A trailing dot names the same host ("example.com." is "example.com"). */
    if (end > 1 && a.data[end - 1] == '.')
        end--;
    char *h = px_pnalloc(t->pool, end + 1);
    if (h == NULL)
        return -1;
    for (size_t i = 0; i < end; i++) {
        char ch = a.data[i];
        h[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    h[end] = '\0';
    t->host.data = h;
    t->host.len = end;
    return 0;
}

static int px_route_host_ok(const px_conf_route_t *r, px_str_t host)
{
    size_t n;
    switch (r->host_match) {
    case PX_MATCH_HOST_ANY: return 1;
    case PX_MATCH_HOST_EXACT:
        n = strlen(r->host);
        return host.len == n && memcmp(host.data, r->host, n) == 0;
    case PX_MATCH_HOST_SUFFIX:
        /* ".example.com" needs at least one label before it. */
        n = strlen(r->host);
        return host.len > n && memcmp(host.data + host.len - n, r->host, n) == 0;
    }
    return 0;
}

static int px_route_path_ok(const px_conf_route_t *r, px_str_t path, px_worker_t *w)
{
    size_t n;
    switch (r->path_match) {
    case PX_MATCH_PATH_ANY: return 1;
    case PX_MATCH_PATH_EXACT:
        n = strlen(r->path);
        return path.len == n && memcmp(path.data, r->path, n) == 0;
    case PX_MATCH_PATH_PREFIX:
        n = strlen(r->path);
        return path.len >= n && memcmp(path.data, r->path, n) == 0;
    case PX_MATCH_PATH_REGEX:
        return pcre2_match((const pcre2_code *)r->path_regex, (PCRE2_SPTR)path.data, path.len, 0, 0,
                           (pcre2_match_data *)w->match_data, NULL) >= 0;
    }
    return 0;
}

static int px_route_method_ok(const px_conf_route_t *r, px_str_t method)
{
    if (r->nmethods == 0)
        return 1;
    for (size_t i = 0; i < r->nmethods; i++) {
        if (strlen(r->methods[i]) == method.len &&
            memcmp(r->methods[i], method.data, method.len) == 0)
            return 1;
    }
    return 0;
}

static int px_route_headers_ok(const px_conf_route_t *r, const px_h1_request_t *req)
{
    for (size_t i = 0; i < r->nmatch_headers; i++) {
        const px_conf_kv_t *m = &r->match_headers[i];
        size_t nlen = strlen(m->name), vlen = strlen(m->value);
        int any = vlen == 1 && m->value[0] == '*', found = 0;
        for (size_t j = 0; j < req->nheaders && !found; j++) {
            const px_header_t *h = &req->headers[j];
            if (!px_header_name_eq(h->name.data, h->name.len, m->name, nlen))
                continue;
            found = any || (h->value.len == vlen && memcmp(h->value.data, m->value, vlen) == 0);
        }
        if (!found)
            return 0;
    }
    return 1;
}

const px_conf_route_t *px_route_match(px_txn_t *t)
{
    const px_conf_listener_t *l = t->listener;
    for (size_t i = 0; i < l->nroutes; i++) {
        const px_conf_route_t *r = &l->routes[i];
        if (px_route_host_ok(r, t->host) && px_route_path_ok(r, t->req.path, t->worker) &&
            px_route_method_ok(r, t->req.method) && px_route_headers_ok(r, &t->req))
            return r;
    }
    return NULL;
}
