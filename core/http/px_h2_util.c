/*
 * px_h2_util.c: fields between pyxis's lists and nghttp2; see px_h2_util.h.
 */
#include <stdlib.h>
#include <string.h>

#include "px_h2_util.h"
#include "px_http1.h"
#include "px_pool.h"

static uint8_t px_h2_lower(char c)
{
    return (uint8_t)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

size_t px_h2_flow_taken(px_h2_flow_t *f, size_t n)
{
    f->drained += n;
    uint64_t upto = f->drained < f->recv ? f->drained : f->recv;
    if (upto <= f->consumed)
        return 0;
    size_t ack = (size_t)(upto - f->consumed);
    f->consumed = upto;
    return ack;
}

size_t px_h2_flow_closed(px_h2_flow_t *f)
{
    size_t left = f->recv > f->consumed ? (size_t)(f->recv - f->consumed) : 0;
    f->consumed = f->recv;
    return left;
}

px_str_t px_h2_dup(px_pool_t *pool, const uint8_t *p, size_t len)
{
    px_str_t r = {px_pmemdup(pool, p, len ? len : 1), len};
    if (r.data == NULL)
        r.len = 0;
    return r;
}

int px_h2_connection_specific(px_str_t n)
{
    return PX_H1_TOKEN_EQ(n, "connection") || PX_H1_TOKEN_EQ(n, "keep-alive") ||
           PX_H1_TOKEN_EQ(n, "proxy-connection") || PX_H1_TOKEN_EQ(n, "transfer-encoding") ||
           PX_H1_TOKEN_EQ(n, "upgrade") || PX_H1_TOKEN_EQ(n, "te") ||
           PX_H1_TOKEN_EQ(n, "http2-settings") || PX_H1_TOKEN_EQ(n, "host");
}

int px_h2_nv(px_pool_t *pool, nghttp2_nv *nv, px_str_t name, px_str_t value)
{
    uint8_t *lower = px_pnalloc(pool, name.len ? name.len : 1);
    if (lower == NULL)
        return -1;
    for (size_t i = 0; i < name.len; i++)
        lower[i] = px_h2_lower(name.data[i]);
    *nv = (nghttp2_nv){lower, (uint8_t *)value.data, name.len, value.len, NGHTTP2_NV_FLAG_NONE};
    return 0;
}

nghttp2_nv *px_h2_trailers_nv(const px_headers_t *tr, size_t *n)
{
    size_t bytes = tr->n * sizeof(nghttp2_nv);
    for (size_t i = 0; i < tr->n; i++)
        bytes += tr->items[i].name.len + tr->items[i].value.len;
    nghttp2_nv *nv = malloc(bytes ? bytes : 1);
    if (nv == NULL)
        return NULL;
    uint8_t *p = (uint8_t *)(nv + tr->n);
    *n = 0;
    for (size_t i = 0; i < tr->n; i++) {
        const px_header_t *h = &tr->items[i];
        if (px_h2_connection_specific(h->name))
            continue;
        nv[*n] = (nghttp2_nv){p, p + h->name.len, h->name.len, h->value.len, NGHTTP2_NV_FLAG_NONE};
        for (size_t k = 0; k < h->name.len; k++)
            p[k] = px_h2_lower(h->name.data[k]);
        memcpy(p + h->name.len, h->value.data, h->value.len);
        p += h->name.len + h->value.len;
        (*n)++;
    }
    return nv;
}
