/*
 * fuzz_request.c: libFuzzer target for px_h1_parse_request().
 *
 * Besides memory safety it checks the parser's promises: every px_str_t it returns points into
 * the head (or is the static "/"), a prefix of the input gives AGAIN or exactly the whole
 * input's result, and a complete head is found where px_h1_find_head_end() finds it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "px_fuzz.h"
#include "px_http1.h"

#define PX_FUZZ_HEADERS 24

/* Small limits so that short inputs reach them too. */
static const px_h1_limits_t px_fuzz_limits = {2048, 20, 512};

static void px_fuzz_check_done(const char *buf, size_t len, const px_h1_request_t *req)
{
    size_t i, scanned = 0;

    PX_CHECK(req->head_len >= 4 && req->head_len <= len && req->head_len <= 2048);
    PX_CHECK(memcmp(buf + req->head_len - 4, "\r\n\r\n", 4) == 0);
    PX_CHECK(px_h1_find_head_end(buf, len, &scanned) == req->head_len);
    PX_CHECK(req->nheaders <= 20);
    PX_CHECK(req->version == 10 || req->version == 11);
    PX_CHECK(req->method.data == buf && req->method.len > 0);
    PX_CHECK(req->method_id == px_h1_method_id(req->method.data, req->method.len));
    PX_CHECK(req->method_id != PX_METHOD_CONNECT);
    PX_CHECK(px_fuzz_inside(req->target, buf, req->head_len) && req->target.len <= 512);
    PX_CHECK(px_fuzz_inside(req->authority, buf, req->head_len));
    PX_CHECK(px_fuzz_inside(req->query, buf, req->head_len));
    PX_CHECK(req->path.len > 0);
    PX_CHECK(px_fuzz_inside(req->path, buf, req->head_len) ||
             (req->path.len == 1 && req->path.data[0] == '/'));
    PX_CHECK(req->has_query || req->query.len == 0);
    PX_CHECK(req->version == 10 || req->host_index >= 0);
    PX_CHECK(req->host_index < (int)req->nheaders);
    PX_CHECK(req->target_form != PX_TARGET_ASTERISK || req->method_id == PX_METHOD_OPTIONS);
    PX_CHECK(req->target_form != PX_TARGET_AUTHORITY);
    PX_CHECK(req->body == PX_BODY_NONE || req->body == PX_BODY_LENGTH ||
             req->body == PX_BODY_CHUNKED);
    PX_CHECK(req->body == PX_BODY_LENGTH || req->content_length == 0);
    PX_CHECK(req->content_length <= UINT64_C(0x7fffffffffffffff));
    for (i = 0; i < req->nheaders; i++) {
        px_str_t v = req->headers[i].value;
        PX_CHECK(req->headers[i].name.len > 0);
        PX_CHECK(px_fuzz_inside(req->headers[i].name, buf, req->head_len));
        PX_CHECK(px_fuzz_inside(v, buf, req->head_len));
        PX_CHECK(v.len == 0 || (v.data[0] != ' ' && v.data[v.len - 1] != '\t' &&
                                v.data[v.len - 1] != ' ' && v.data[0] != '\t'));
        PX_CHECK(memchr(v.data, '\r', v.len) == NULL && memchr(v.data, '\n', v.len) == NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    px_header_t headers[PX_FUZZ_HEADERS], h2[PX_FUZZ_HEADERS];
    px_h1_request_t req, req2;
    px_h1_error_t err, err2;
    px_h1_rc_t rc, rc2;
    size_t k, step;

    rc = px_h1_parse_request(buf, size, &req, headers, PX_FUZZ_HEADERS, &px_fuzz_limits, &err);
    if (rc == PX_H1_DONE) {
        px_fuzz_check_done(buf, size, &req);
    } else if (rc == PX_H1_INVALID) {
        PX_CHECK(err.status == 400 || err.status == 414 || err.status == 431 || err.status == 501 ||
                 err.status == 505);
        PX_CHECK(err.reason != NULL && err.offset <= size);
    } else {
        PX_CHECK(rc == PX_H1_AGAIN && size < 2048);
    }

    /* Prefixes: AGAIN, or the very same answer. */
    step = size / 16 + 1;
    for (k = 0; k < size; k += step) {
        rc2 = px_h1_parse_request(buf, k, &req2, h2, PX_FUZZ_HEADERS, &px_fuzz_limits, &err2);
        if (rc == PX_H1_DONE) {
            PX_CHECK(k < req.head_len ? rc2 == PX_H1_AGAIN
                                      : rc2 == PX_H1_DONE && req2.head_len == req.head_len);
        } else if (rc2 != PX_H1_AGAIN) {
            PX_CHECK(rc2 == rc && err2.status == err.status && err2.reason == err.reason &&
                     err2.offset == err.offset);
        }
    }
    if (rc == PX_H1_DONE && req.head_len > 0) {
        rc2 = px_h1_parse_request(buf, req.head_len - 1, &req2, h2, PX_FUZZ_HEADERS,
                                  &px_fuzz_limits, &err2);
        PX_CHECK(rc2 == PX_H1_AGAIN);
    }

    /* The default limits and a NULL error pointer must be safe too. */
    (void)px_h1_parse_request(buf, size, &req2, h2, PX_FUZZ_HEADERS, NULL, NULL);
    return 0;
}
