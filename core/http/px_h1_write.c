/*
 * px_h1_write.c: serializing HTTP/1.1 message heads.
 */
#include <string.h>

#include <event2/buffer.h>

#include "px_h1_write.h"

int px_h1_write_head(struct evbuffer *out, const px_str_t *start, size_t nstart,
                     const px_headers_t *fields, const char *extra, size_t extra_len)
{
    size_t len = extra_len + 2;
    for (size_t i = 0; i < nstart; i++)
        len += start[i].len;
    for (size_t i = 0; i < fields->n; i++)
        len += fields->items[i].name.len + 2 + fields->items[i].value.len + 2;

    struct evbuffer_iovec vec;
    if (evbuffer_reserve_space(out, (ev_ssize_t)len, &vec, 1) < 1)
        return -1;
    char *p = vec.iov_base;
#define PX_PUT(src, n) (memcpy(p, (src), (n)), p += (n))
    for (size_t i = 0; i < nstart; i++)
        PX_PUT(start[i].data, start[i].len);
    for (size_t i = 0; i < fields->n; i++) {
        const px_header_t *h = &fields->items[i];
        PX_PUT(h->name.data, h->name.len);
        PX_PUT(": ", 2);
        PX_PUT(h->value.data, h->value.len);
        PX_PUT("\r\n", 2);
    }
    PX_PUT(extra, extra_len);
    PX_PUT("\r\n", 2);
#undef PX_PUT
    vec.iov_len = len;
    return evbuffer_commit_space(out, &vec, 1);
}
