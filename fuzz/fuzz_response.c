/*
 * fuzz_response.c: libFuzzer target for px_h1_parse_response() and px_h1_response_body().
 *
 * Checks memory safety, that every error is a 502, that returned strings point into the head,
 * and that a prefix of the input gives AGAIN or exactly the whole input's result.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "px_fuzz.h"
#include "px_http1.h"

#define PX_FUZZ_HEADERS 24

static const px_h1_limits_t px_fuzz_limits = {2048, 20, 0};

static void px_fuzz_check_done(const char *buf, size_t len, const px_h1_response_t *resp)
{
    static const px_method_t methods[] = {PX_METHOD_GET, PX_METHOD_HEAD, PX_METHOD_CONNECT,
                                          PX_METHOD_OTHER};
    size_t i, scanned = 0;

    PX_CHECK(resp->head_len >= 4 && resp->head_len <= len && resp->head_len <= 2048);
    PX_CHECK(memcmp(buf + resp->head_len - 4, "\r\n\r\n", 4) == 0);
    PX_CHECK(px_h1_find_head_end(buf, len, &scanned) == resp->head_len);
    PX_CHECK(resp->version == 10 || resp->version == 11);
    PX_CHECK(resp->status >= 100 && resp->status <= 599);
    PX_CHECK(resp->nheaders <= 20);
    PX_CHECK(px_fuzz_inside(resp->reason, buf, resp->head_len));
    PX_CHECK(resp->body == PX_BODY_LENGTH || resp->body == PX_BODY_CHUNKED ||
             resp->body == PX_BODY_CLOSE);
    PX_CHECK(resp->body == PX_BODY_LENGTH || resp->content_length == 0);
    for (i = 0; i < resp->nheaders; i++) {
        PX_CHECK(resp->headers[i].name.len > 0);
        PX_CHECK(px_fuzz_inside(resp->headers[i].name, buf, resp->head_len));
        PX_CHECK(px_fuzz_inside(resp->headers[i].value, buf, resp->head_len));
    }
    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        px_body_kind_t b = px_h1_response_body(resp, methods[i]);
        int no_body = methods[i] == PX_METHOD_HEAD || resp->status < 200 || resp->status == 204 ||
                      resp->status == 304 ||
                      (methods[i] == PX_METHOD_CONNECT && resp->status < 300);
        PX_CHECK(no_body ? b == PX_BODY_NONE : b == resp->body);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    px_header_t headers[PX_FUZZ_HEADERS], h2[PX_FUZZ_HEADERS];
    px_h1_response_t resp, resp2;
    px_h1_error_t err, err2;
    px_h1_rc_t rc, rc2;
    size_t k, step;

    rc = px_h1_parse_response(buf, size, &resp, headers, PX_FUZZ_HEADERS, &px_fuzz_limits, &err);
    if (rc == PX_H1_DONE) {
        px_fuzz_check_done(buf, size, &resp);
    } else if (rc == PX_H1_INVALID) {
        PX_CHECK(err.status == 502 && err.reason != NULL && err.offset <= size);
    } else {
        PX_CHECK(rc == PX_H1_AGAIN && size < 2048);
    }

    step = size / 16 + 1;
    for (k = 0; k < size; k += step) {
        rc2 = px_h1_parse_response(buf, k, &resp2, h2, PX_FUZZ_HEADERS, &px_fuzz_limits, &err2);
        if (rc == PX_H1_DONE) {
            PX_CHECK(k < resp.head_len ? rc2 == PX_H1_AGAIN
                                       : rc2 == PX_H1_DONE && resp2.head_len == resp.head_len);
        } else if (rc2 != PX_H1_AGAIN) {
            PX_CHECK(rc2 == rc && err2.status == err.status && err2.reason == err.reason &&
                     err2.offset == err.offset);
        }
    }
    (void)px_h1_parse_response(buf, size, &resp2, h2, PX_FUZZ_HEADERS, NULL, NULL);
    return 0;
}
