/*
 * test_http1.c: unit tests of the HTTP/1.1 head parser and chunked decoder (core/http/px_http1.c).
 *
 * Each block is one rule of docs/http.md: a message on the wire and what the parser must say.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "px_http1.h"
#include "px_tap.h"

#define NHDR 64

/* ---- helpers ------------------------------------------------------------------------------ */

static px_header_t hdrs[NHDR];
static px_h1_error_t err;

static px_h1_rc_t req_n(const char *raw, size_t len, px_h1_request_t *req,
                        const px_h1_limits_t *lim, size_t max_headers)
{
    return px_h1_parse_request(raw, len, req, hdrs, max_headers, lim, &err);
}

/* 0 when the request is accepted, 1 when more bytes are needed, else the error status. */
static int req_status_lim(const char *raw, size_t len, const px_h1_limits_t *lim,
                          size_t max_headers)
{
    px_h1_request_t req;
    px_h1_rc_t rc = req_n(raw, len, &req, lim, max_headers);

    if (rc == PX_H1_INVALID) {
        printf("# %d %s (offset %zu)\n", err.status, err.reason, err.offset);
        return err.status;
    }
    return rc == PX_H1_DONE ? 0 : 1;
}

static int req_status(const char *raw)
{
    return req_status_lim(raw, strlen(raw), NULL, NHDR);
}

static px_h1_rc_t req_parse(const char *raw, px_h1_request_t *req)
{
    return req_n(raw, strlen(raw), req, NULL, NHDR);
}

static int resp_status(const char *raw)
{
    px_h1_response_t resp;
    px_h1_rc_t rc = px_h1_parse_response(raw, strlen(raw), &resp, hdrs, NHDR, NULL, &err);

    if (rc == PX_H1_INVALID) {
        printf("# %d %s (offset %zu)\n", err.status, err.reason, err.offset);
        return err.status;
    }
    return rc == PX_H1_DONE ? 0 : 1;
}

/* Body kind of an accepted request, or -1. */
static int req_body(const char *raw)
{
    px_h1_request_t req;
    return req_parse(raw, &req) == PX_H1_DONE ? (int)req.body : -1;
}

static unsigned req_flags(const char *raw)
{
    px_h1_request_t req;
    return req_parse(raw, &req) == PX_H1_DONE ? req.flags : 0xffffu;
}

static int resp_body(const char *raw)
{
    px_h1_response_t resp;
    px_h1_rc_t rc = px_h1_parse_response(raw, strlen(raw), &resp, hdrs, NHDR, NULL, &err);
    return rc == PX_H1_DONE ? (int)resp.body : -1;
}

/*
 * Parse every prefix of raw[0..len): each must give AGAIN or exactly the result of the whole
 * message (same code, status and reason), and a complete head must be DONE from head_len on.
 * Returns the number of prefixes that broke the rule.
 */
static int prefix_mismatches(const char *raw, size_t len, int response)
{
    px_h1_request_t req, req_k;
    px_h1_response_t resp, resp_k;
    px_h1_error_t full_err = {0, NULL, 0}, e;
    px_header_t h2[NHDR];
    px_h1_rc_t full, rc;
    size_t k, head_len;
    int bad = 0;

    full = response ? px_h1_parse_response(raw, len, &resp, hdrs, NHDR, NULL, &full_err)
                    : px_h1_parse_request(raw, len, &req, hdrs, NHDR, NULL, &full_err);
    head_len = full != PX_H1_DONE ? 0 : response ? resp.head_len : req.head_len;
    for (k = 0; k < len; k++) {
        memset(&e, 0, sizeof(e));
        rc = response ? px_h1_parse_response(raw, k, &resp_k, h2, NHDR, NULL, &e)
                      : px_h1_parse_request(raw, k, &req_k, h2, NHDR, NULL, &e);
        if (full == PX_H1_DONE) {
            size_t hl = response ? resp_k.head_len : req_k.head_len;
            if (k < head_len ? rc != PX_H1_AGAIN : (rc != PX_H1_DONE || hl != head_len)) {
                bad++;
            }
        } else if (rc != PX_H1_AGAIN &&
                   (rc != full || e.status != full_err.status || e.reason != full_err.reason ||
                    e.offset != full_err.offset)) {
            bad++;
        }
    }
    return bad;
}

/* ---- chunked driver ----------------------------------------------------------------------- */

/*
 * Decode in[0..len) fed in pieces that end at the given split points (ascending), moving data
 * as a caller would. Writes a summary such as "D5 D6 DONE@27 data=hello world" to out.
 */
static void ck_run(px_h1_chunked_t *c, const char *in, size_t len, const size_t *splits,
                   size_t nsplits, char *out, size_t outsz)
{
    char data[512];
    size_t pos = 0, piece_end, si = 0, dlen = 0, used = 0, consumed;
    px_h1_chunk_rc_t rc = PX_H1_CHUNK_NEED_MORE;
    px_h1_error_t e = {0, NULL, 0};

    out[0] = '\0';
    while (pos < len) {
        piece_end = si < nsplits ? splits[si++] : len;
        if (piece_end <= pos) {
            continue;
        }
        while (pos < piece_end) {
            if (c->remaining > 0 && rc == PX_H1_CHUNK_DATA) {
                size_t n = piece_end - pos;
                if (n > c->remaining) {
                    n = (size_t)c->remaining;
                }
                if (dlen + n < sizeof(data)) {
                    memcpy(data + dlen, in + pos, n);
                    dlen += n;
                }
                px_h1_chunked_data_consumed(c, n);
                pos += n;
                continue;
            }
            rc = px_h1_chunked_feed(c, in + pos, piece_end - pos, &consumed, &e);
            if (consumed > piece_end - pos) {
                used += (size_t)snprintf(out + used, outsz - used, "OVERCONSUMED ");
                return;
            }
            pos += consumed;
            if (rc == PX_H1_CHUNK_DATA) {
                used += (size_t)snprintf(out + used, outsz - used, "D%llu ",
                                         (unsigned long long)c->remaining);
            } else if (rc == PX_H1_CHUNK_DONE) {
                used += (size_t)snprintf(out + used, outsz - used, "DONE@%zu ", pos);
                goto end;
            } else if (rc == PX_H1_CHUNK_ERROR) {
                used += (size_t)snprintf(out + used, outsz - used, "ERR@%zu:%s ", pos, e.reason);
                goto end;
            }
        }
    }
    used += (size_t)snprintf(out + used, outsz - used, "%s ",
                             rc == PX_H1_CHUNK_TRAILERS ? "TRAILERS" : "MORE");
end:
    snprintf(out + used, outsz - used, "data=%.*s", (int)dlen, data);
}

/* Summary of decoding in[0..len) in one piece with the default limits. */
static const char *ck_n(const char *in, size_t len)
{
    static char out[1024];
    px_h1_chunked_t c;

    px_h1_chunked_init(&c, 0, 0);
    ck_run(&c, in, len, NULL, 0, out, sizeof(out));
    return out;
}

static const char *ck(const char *in)
{
    return ck_n(in, strlen(in));
}

/* How many ways of splitting `in` (at one point, at two points, and byte by byte) give a
 * different summary from the one-piece run. */
static int ck_split_mismatches(const char *in, size_t max_line, size_t max_trailers)
{
    char want[1024], got[1024];
    size_t len = strlen(in), i, j, sp[2], every[512];
    px_h1_chunked_t c;
    int bad = 0;

    px_h1_chunked_init(&c, max_line, max_trailers);
    ck_run(&c, in, len, NULL, 0, want, sizeof(want));
    for (i = 1; i < len; i++) {
        for (j = i; j < len; j++) {
            sp[0] = i;
            sp[1] = j;
            px_h1_chunked_init(&c, max_line, max_trailers);
            ck_run(&c, in, len, sp, 2, got, sizeof(got));
            bad += strcmp(want, got) != 0;
        }
    }
    for (i = 0; i < len && i < 512; i++) {
        every[i] = i + 1;
    }
    px_h1_chunked_init(&c, max_line, max_trailers);
    ck_run(&c, in, len, every, i, got, sizeof(got));
    bad += strcmp(want, got) != 0;
    if (bad) {
        printf("# want: %s\n#  got: %s\n", want, got);
    }
    return bad;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_helpers(void)
{
    px_str_t s = PX_STR("Keep-Alive");
    px_str_t list = PX_STR(" close ,\tUpgrade ,, keep-alive");
    px_str_t one = PX_STR("upgrade");
    px_str_t empty = PX_STR("");

    is_int(px_h1_method_id("GET", 3), PX_METHOD_GET, "method GET");
    is_int(px_h1_method_id("HEAD", 4), PX_METHOD_HEAD, "method HEAD");
    is_int(px_h1_method_id("POST", 4), PX_METHOD_POST, "method POST");
    is_int(px_h1_method_id("PUT", 3), PX_METHOD_PUT, "method PUT");
    is_int(px_h1_method_id("DELETE", 6), PX_METHOD_DELETE, "method DELETE");
    is_int(px_h1_method_id("CONNECT", 7), PX_METHOD_CONNECT, "method CONNECT");
    is_int(px_h1_method_id("OPTIONS", 7), PX_METHOD_OPTIONS, "method OPTIONS");
    is_int(px_h1_method_id("TRACE", 5), PX_METHOD_TRACE, "method TRACE");
    is_int(px_h1_method_id("PATCH", 5), PX_METHOD_PATCH, "method PATCH");
    is_int(px_h1_method_id("get", 3), PX_METHOD_OTHER, "methods are case-sensitive");
    is_int(px_h1_method_id("PROPFIND", 8), PX_METHOD_OTHER, "unknown method is OTHER");
    is_int(px_h1_method_id("GETX", 3), PX_METHOD_GET, "method_id uses len, not NUL");

    ok(PX_H1_TOKEN_EQ(s, "keep-alive"), "token_eq ignores case");
    ok(!PX_H1_TOKEN_EQ(s, "keep-aliv"), "token_eq compares lengths");
    ok(!PX_H1_TOKEN_EQ(s, "keep_alive"), "token_eq compares bytes");
    ok(px_h1_list_has(list, "upgrade", 7), "list_has: middle element, OWS trimmed");
    ok(px_h1_list_has(list, "close", 5), "list_has: first element");
    ok(px_h1_list_has(list, "keep-alive", 10), "list_has: last element");
    ok(!px_h1_list_has(list, "clos", 4), "list_has: no prefix match");
    ok(px_h1_list_has(one, "upgrade", 7), "list_has: single element");
    ok(!px_h1_list_has(empty, "close", 5), "list_has: empty value");
}

static void test_find_head_end(void)
{
    const char *m = "GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT";
    size_t len = strlen(m), scanned = 0, i, got = 0, calls = 0;

    is_int(px_h1_find_head_end(m, len, &scanned), 27, "head end found in one call");
    scanned = 0;
    is_int(px_h1_find_head_end(m, 26, &scanned), 0, "not found before the last LF");
    is_int(scanned, 26, "scanned advanced to the end");
    is_int(px_h1_find_head_end(m, 27, &scanned), 27, "found when the LF arrives");
    scanned = 0;
    for (i = 0; i <= len && got == 0; i++, calls++) {
        got = px_h1_find_head_end(m, i, &scanned);
    }
    is_int(got, 27, "byte by byte: same head length");
    is_int(calls, 28, "byte by byte: found exactly at byte 27");
    scanned = 0;
    is_int(px_h1_find_head_end("a\n\n\r\n", 5, &scanned), (long long)PX_H1_HEAD_BARE_LF,
           "a bare LF is reported at once");
    scanned = 0;
    is_int(px_h1_find_head_end("GET / HTTP/1.1\r\nHost: a\n", 25, &scanned),
           (long long)PX_H1_HEAD_BARE_LF, "a bare LF after CRLF lines is reported");
    scanned = 0;
    is_int(px_h1_find_head_end("GET / HTTP/1.1\r", 15, &scanned), 0, "a CR waiting for its LF");
    is_int(px_h1_find_head_end("GET / HTTP/1.1\r\n", 16, &scanned), 0,
           "... is no bare LF when the LF comes in the next read");
    scanned = 0;
    is_int(px_h1_find_head_end("\r\n\r\n", 4, &scanned), 4, "empty head at offset 0");
}

static void test_request_basic(void)
{
    const char *m = "GET /a/b?x=1&y=%20 HTTP/1.1\r\n"
                    "Host: example.com:8080\r\n"
                    "X-Pad:  \t spaced value \t \r\n"
                    "Empty:\r\n"
                    "Obs: caf\xc3\xa9\r\n"
                    "\r\n";
    px_h1_request_t req;

    is_int(req_parse(m, &req), PX_H1_DONE, "simple GET parses");
    is_mem(req.method.data, req.method.len, "GET", "method");
    is_int(req.method_id, PX_METHOD_GET, "method id");
    is_mem(req.target.data, req.target.len, "/a/b?x=1&y=%20", "target as received");
    is_int(req.target_form, PX_TARGET_ORIGIN, "origin-form");
    is_mem(req.path.data, req.path.len, "/a/b", "path before '?'");
    is_mem(req.query.data, req.query.len, "x=1&y=%20", "query after '?'");
    ok(req.has_query, "has_query");
    is_int(req.version, 11, "version 11");
    is_int(req.nheaders, 4, "four fields");
    is_mem(req.headers[1].name.data, req.headers[1].name.len, "X-Pad", "field name");
    is_mem(req.headers[1].value.data, req.headers[1].value.len, "spaced value",
           "value has OWS trimmed on both sides");
    is_int(req.headers[2].value.len, 0, "empty field value allowed");
    is_mem(req.headers[3].value.data, req.headers[3].value.len, "caf\xc3\xa9",
           "obs-text allowed in values");
    is_int(req.host_index, 0, "host_index");
    is_mem(req.authority.data, req.authority.len, "example.com:8080", "authority from Host");
    is_int(req.body, PX_BODY_NONE, "no body without CL/TE");
    is_int(req.head_len, strlen(m), "head_len covers the whole head");
    is_int(req.scheme.len, 0, "no scheme for origin-form");

    is_int(req_parse("GET /p HTTP/1.1\r\nHost: h\r\n\r\n", &req), PX_H1_DONE, "no query");
    ok(!req.has_query && req.query.len == 0, "no query: has_query 0");
    is_int(req_parse("GET /p?a?b HTTP/1.1\r\nHost: h\r\n\r\n", &req), PX_H1_DONE, "two '?'");
    is_mem(req.query.data, req.query.len, "a?b", "query split at the first '?'");
    is_int(req_parse("GET /? HTTP/1.1\r\nX: 1\r\nHost: h\r\n\r\n", &req), PX_H1_DONE,
           "empty query");
    ok(req.has_query && req.query.len == 0, "empty query: has_query 1, len 0");
    is_int(req.host_index, 1, "host_index counts fields before Host");
    is_int(req_parse("get /x HTTP/1.1\r\nHost: h\r\n\r\n", &req), PX_H1_DONE,
           "lowercase method is a valid token");
    is_int(req.method_id, PX_METHOD_OTHER, "... and an OTHER method");
    is_int(req_parse("M-SEARCH~1 * HTTP/1.1\r\nHost: h\r\n\r\n", &req), PX_H1_INVALID,
           "asterisk needs OPTIONS even for unknown methods");
    is_int(req_parse("PROPFIND /d HTTP/1.1\r\nHost: h\r\n\r\n", &req), PX_H1_DONE,
           "unknown method accepted");
    is_int(req.method_id, PX_METHOD_OTHER, "PROPFIND is OTHER");
}

static void test_request_forms(void)
{
    px_h1_request_t req;

    is_int(req_parse("GET http://Example.com:81/p/q?z HTTP/1.1\r\nHost: other\r\n\r\n", &req),
           PX_H1_DONE, "absolute-form");
    is_int(req.target_form, PX_TARGET_ABSOLUTE, "absolute-form kind");
    is_mem(req.scheme.data, req.scheme.len, "http", "scheme");
    is_mem(req.authority.data, req.authority.len, "Example.com:81",
           "authority from the target, not Host");
    is_mem(req.path.data, req.path.len, "/p/q", "absolute-form path");
    is_mem(req.query.data, req.query.len, "z", "absolute-form query");
    is_int(req_parse("GET HTTPS://h.example HTTP/1.1\r\nHost: h.example\r\n\r\n", &req), PX_H1_DONE,
           "scheme is case-insensitive; no path");
    is_mem(req.scheme.data, req.scheme.len, "HTTPS", "scheme as received");
    is_mem(req.path.data, req.path.len, "/", "empty path becomes /");
    is_int(req_parse("GET http://h?q=1 HTTP/1.1\r\nHost:\r\n\r\n", &req), PX_H1_DONE,
           "query without path; empty Host allowed with absolute-form");
    is_mem(req.path.data, req.path.len, "/", "path / before the query");
    is_mem(req.query.data, req.query.len, "q=1", "query");
    is_int(req_parse("GET http://[2001:db8::1]:8443/ HTTP/1.1\r\nHost: x\r\n\r\n", &req),
           PX_H1_DONE, "IPv6 literal authority");
    is_mem(req.authority.data, req.authority.len, "[2001:db8::1]:8443", "IPv6 authority");

    is_int(req_status("GET http://user@h/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "userinfo: 400");
    is_int(req_status("GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "empty host: 400");
    is_int(req_status("GET http:// HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "no authority: 400");
    is_int(req_status("GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "ftp scheme: 400");
    is_int(req_status("GET http:/h/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "http:/ : 400");
    is_int(req_status("GET http://h:99999/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400,
           "port over 65535: 400");
    is_int(req_status("GET h.example:80 HTTP/1.1\r\nHost: h\r\n\r\n"), 400,
           "authority-form without CONNECT: 400");
    is_int(req_status("GET a/b HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "relative path: 400");

    is_int(req_parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &req), PX_H1_DONE, "OPTIONS *");
    is_int(req.target_form, PX_TARGET_ASTERISK, "asterisk-form");
    is_mem(req.path.data, req.path.len, "*", "asterisk path is *");
    is_mem(req.authority.data, req.authority.len, "h", "asterisk authority from Host");
    is_int(req_status("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "GET *: 400");
    is_int(req_status("OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "OPTIONS *x: 400");
    is_int(req_status("CONNECT h.example:443 HTTP/1.1\r\nHost: h.example:443\r\n\r\n"), 501,
           "CONNECT: 501");
}

static void test_request_line_rejects(void)
{
    is_int(req_status("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "two SP after method: 400");
    is_int(req_status("GET /  HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "two SP after target: 400");
    is_int(req_status("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), 400, "SP after version: 400");
    is_int(req_status("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "HTAB separator: 400");
    is_int(req_status(" GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "leading SP: 400");
    is_int(req_status("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "non-token method: 400");
    is_int(req_status("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400,
           "empty line before the request line: 400");
    is_int(req_status("GET /a#f HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "'#' in target: 400");
    is_int(req_status("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "DEL in target: 400");
    is_int(req_status("GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"), 400,
           "non-ASCII in target: 400");
    is_int(req_status("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "HTAB in target: 400");
    is_int(req_status("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "SP in target: 400");
    is_int(req_status("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505, "HTTP/2.0: 505");
    is_int(req_status("GET / HTTP/1.2\r\nHost: h\r\n\r\n"), 505, "HTTP/1.2: 505");
    is_int(req_status("GET / HTTP/0.9\r\nHost: h\r\n\r\n"), 505, "HTTP/0.9: 505");
    is_int(req_status("GET / http/1.1\r\nHost: h\r\n\r\n"), 400, "lowercase http: 400");
    is_int(req_status("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), 400, "HTTP/1.10: 400");
    is_int(req_status("GET / HTTP/11\r\nHost: h\r\n\r\n"), 400, "HTTP/11: 400");
    is_int(req_status("GET / HTTP/1.x\r\nHost: h\r\n\r\n"), 400, "HTTP/1.x: 400");
    is_int(req_status("GET /\r\nHost: h\r\n\r\n"), 400, "no version: 400");
    is_int(req_status("GET / HTTP/1.1\rHost: h\r\n\r\n"), 400, "bare CR after version: 400");
    is_int(req_status("GET / HTTP/1.1\nHost: h\r\n\r\n"), 400, "bare LF after version: 400");
}

static void test_field_rejects(void)
{
    px_h1_request_t req;

    is_int(req_status("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), 400, "SP before colon: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n"), 400, "HTAB before colon: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"), 400, "obs-fold: 400");
    is_int(req_status("GET / HTTP/1.1\r\n Host: h\r\n\r\n"), 400,
           "whitespace before the first field: 400");
    is_int(req_status_lim("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", 35, NULL, NHDR), 400,
           "NUL: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01"
                      "b\r\n\r\n"),
           400, "CTL: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n"), 400, "DEL: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"), 400,
           "bare CR in value: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h\nX: 1\r\n\r\n"), 400, "bare LF line end: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h\r\n\n"), 400, "bare LF as empty line: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n"), 400, "CR CR LF: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h\r\nX[1]: a\r\n\r\n"), 400,
           "'[' in field name: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h\r\n: a\r\n\r\n"), 400, "empty name: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"), 400, "no colon: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: a\r\n\r\n"), 400,
           "non-ASCII field name: 400");
    is_int(req_parse("GET / HTTP/1.1\r\nHost: h\r\nX: a\tb c\r\n\r\n", &req), PX_H1_DONE,
           "HTAB and SP inside a value are fine");
    is_mem(req.headers[1].value.data, req.headers[1].value.len, "a\tb c", "inner HTAB kept");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h\r\n\x01X: a\r\n\r\n"), 400,
           "CTL at line start: 400");
}

static void test_host(void)
{
    px_h1_request_t req;

    is_int(req_status("GET / HTTP/1.1\r\nX: 1\r\n\r\n"), 400, "1.1 without Host: 400");
    is_int(req_parse("GET / HTTP/1.0\r\n\r\n", &req), PX_H1_DONE, "1.0 without Host is fine");
    is_int(req.version, 10, "version 10");
    is_int(req.host_index, -1, "host_index -1 when absent");
    is_int(req.authority.len, 0, "no authority without Host");
    is_int(req_status("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400,
           "two Host fields (even equal): 400");
    is_int(req_status("GET / HTTP/1.1\r\nhOsT: a\r\nHOST: b\r\n\r\n"), 400,
           "Host names match case-insensitively");
    is_int(req_status("GET / HTTP/1.1\r\nHost:\r\n\r\n"), 400, "empty Host, origin-form: 400");
    is_int(req_status("GET / HTTP/1.0\r\nHost: \r\n\r\n"), 400, "empty Host in 1.0: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400, "SP in Host: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: a,b\r\n\r\n"), 400, "comma in Host: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: u@h\r\n\r\n"), 400, "userinfo in Host: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h/p\r\n\r\n"), 400, "'/' in Host: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h:\r\n\r\n"), 400, "empty port: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h:8a\r\n\r\n"), 400, "non-digit port: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h:65536\r\n\r\n"), 400, "port 65536: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: :80\r\n\r\n"), 400, "port without host: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: %zz\r\n\r\n"), 400, "bad pct-encoding: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), 400, "unclosed '[': 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7:8:9]\r\n\r\n"), 400,
           "nine IPv6 groups: 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: [1::2::3]\r\n\r\n"), 400, "two '::': 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"), 400, "junk after ']': 400");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h:65535\r\n\r\n"), 0, "port 65535 is fine");
    is_int(req_status("GET / HTTP/1.1\r\nHost: ex%41mple.com\r\n\r\n"), 0, "pct-encoded host");
    is_int(req_status("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), 0, "[::1]:80");
    is_int(req_status("GET / HTTP/1.1\r\nHost: [::ffff:10.0.0.1]\r\n\r\n"), 0, "IPv4-mapped IPv6");
    is_int(req_status("GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7:8]\r\n\r\n"), 0, "eight IPv6 groups");
    is_int(req_status("GET / HTTP/1.1\r\nHost: [v1.fe:x]\r\n\r\n"), 0, "IPvFuture");
    is_int(req_status("GET / HTTP/1.1\r\nHost: 10.1.2.3:8080\r\n\r\n"), 0, "IPv4 with port");
    is_int(req_status("GET / HTTP/1.1\r\nHost:   h.example  \r\n\r\n"), 0,
           "OWS around Host is not part of it");
}

static void test_framing(void)
{
    px_h1_request_t req;

    is_int(req_parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\n\r\n", &req), PX_H1_DONE,
           "Content-Length");
    is_int(req.body, PX_BODY_LENGTH, "CL: body LENGTH");
    is_int(req.content_length, 42, "CL: 42");
    is_int(req_parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &req), PX_H1_DONE,
           "CL 0");
    ok(req.body == PX_BODY_LENGTH && req.content_length == 0, "CL 0 is LENGTH 0");
    is_int(req_parse("POST / HTTP/1.1\r\nHost: h\r\n"
                     "Content-Length: 9223372036854775807\r\n\r\n",
                     &req),
           PX_H1_DONE, "CL 2^63-1");
    ok(req.content_length == UINT64_C(9223372036854775807), "CL 2^63-1 value");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n"),
           400, "CL 2^63: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\n"
                      "Content-Length: 99999999999999999999999\r\n\r\n"),
           400, "CL overflow: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n"), 400,
           "CL +1: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"), 400,
           "CL -1: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1,1\r\n\r\n"), 400,
           "CL list: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 1\r\n\r\n"), 400,
           "CL with inner SP: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n"), 400,
           "CL hex: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n"), 400,
           "CL empty: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                      "Content-Length: 5\r\n\r\n"),
           400, "duplicate CL, equal: 400");
    is_int(req_body("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:  7 \r\n\r\n"), PX_BODY_LENGTH,
           "CL with OWS around it");

    is_int(req_body("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"),
           PX_BODY_CHUNKED, "TE chunked");
    is_int(req_body("POST / HTTP/1.1\r\nHost: h\r\ntransfer-encoding:  ChunKed \r\n\r\n"),
           PX_BODY_CHUNKED, "TE chunked, any case, OWS");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
           501, "TE gzip, chunked: 501");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n"),
           501, "TE fields combined: gzip + chunked: 501");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
           400, "TE chunked not last: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"), 400,
           "TE without chunked: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n"), 400,
           "TE identity: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked,chunked\r\n\r\n"),
           400, "TE chunked twice: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n"),
           400, "TE chunked in two fields: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;a=1\r\n\r\n"), 400,
           "TE chunked with parameters: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , chunked\r\n\r\n"), 400,
           "TE empty element: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n"), 400,
           "TE empty: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \"chunked\"\r\n\r\n"), 400,
           "TE quoted: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n"),
           400, "CL and TE: 400");
    is_int(req_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                      "Content-Length: 3\r\n\r\n"),
           400, "TE and CL: 400");
    is_int(req_status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400,
           "TE in HTTP/1.0: 400");
}

static void test_flags(void)
{
    is_int(req_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"), PX_H1_CONN_CLOSE,
           "Connection: close");
    is_int(req_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, Upgrade\r\n"
                     "Upgrade: websocket\r\n\r\n"),
           PX_H1_CONN_KEEPALIVE | PX_H1_CONN_UPGRADE | PX_H1_HAS_UPGRADE,
           "Connection list and Upgrade");
    is_int(req_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo\r\nconnection: CLOSE\r\n\r\n"),
           PX_H1_CONN_CLOSE, "Connection fields combined");
    is_int(req_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: ,, close ,\r\n\r\n"),
           PX_H1_CONN_CLOSE, "empty Connection elements ignored");
    is_int(req_status("GET / HTTP/1.1\r\nHost: h\r\nConnection: a b\r\n\r\n"), 400,
           "non-token Connection option: 400");
    is_int(req_flags("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
                     "Content-Length: 1\r\n\r\n"),
           PX_H1_EXPECT_CONTINUE, "Expect: 100-continue");
    is_int(req_flags("POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n"), 0,
           "other Expect: accepted, no flag");
    is_int(req_flags("GET / HTTP/1.1\r\nHost: h\r\nTE: trailers\r\nTrailer: X-Sum\r\n\r\n"),
           PX_H1_HAS_TE | PX_H1_HAS_TRAILER, "TE and Trailer");
}

static void test_limits(void)
{
    px_h1_limits_t lim = {0, 3, 0};
    char big[20000];
    const char *m = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
    size_t n;

    is_int(req_status_lim(m, strlen(m), &lim, NHDR), 0, "3 fields with max_headers 3");
    lim.max_headers = 2;
    is_int(req_status_lim(m, strlen(m), &lim, NHDR), 431, "3 fields with max_headers 2: 431");
    is_int(req_status_lim(m, strlen(m), NULL, 2), 431, "caller array of 2 for 3 fields: 431");
    is_int(req_status_lim(m, 32, &lim, NHDR), 431, "too many fields noticed early: 431");

    lim.max_headers = 0;
    lim.max_head = strlen(m);
    is_int(req_status_lim(m, strlen(m), &lim, NHDR), 0, "head of exactly max_head");
    lim.max_head = strlen(m) - 1;
    is_int(req_status_lim(m, strlen(m), &lim, NHDR), 431, "head one over max_head: 431");
    is_int(req_status_lim(m, strlen(m) - 1, &lim, NHDR), 431,
           "incomplete head reaching max_head: 431");
    is_int(req_status_lim(m, strlen(m) - 2, &lim, NHDR), 1, "incomplete under max_head: AGAIN");

    lim.max_head = 0;
    lim.max_uri = 5;
    is_int(req_status_lim("GET /abcd HTTP/1.1\r\nHost: h\r\n\r\n", 31, &lim, NHDR), 0,
           "target of exactly max_uri");
    is_int(req_status_lim("GET /abcde HTTP/1.1\r\nHost: h\r\n\r\n", 32, &lim, NHDR), 414,
           "target one over max_uri: 414");
    is_int(req_status_lim("GET /abcde", 10, &lim, NHDR), 414, "long target, incomplete: 414");
    is_int(req_status_lim("GET /abcd", 9, &lim, NHDR), 1, "target at max_uri so far: AGAIN");

    /* defaults: 16k head, 8k target */
    memcpy(big, "GET /", 5);
    memset(big + 5, 'a', sizeof(big) - 5);
    is_int(req_status_lim(big, 8 * 1024 + 4, NULL, NHDR), 1, "8k target so far: AGAIN");
    is_int(req_status_lim(big, 8 * 1024 + 5, NULL, NHDR), 414, "8k+1 target: 414 (default)");
    n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: h\r\nX: ");
    memset(big + n, 'b', sizeof(big) - n);
    is_int(req_status_lim(big, 16 * 1024 - 1, NULL, NHDR), 1, "16k-1 head so far: AGAIN");
    is_int(req_status_lim(big, 16 * 1024, NULL, NHDR), 431, "16k head, no end: 431 (default)");
}

static void test_incremental(void)
{
    static const char *const msgs[] = {
        "GET /a?b HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\n",
        "POST http://h/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "G@T / HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\nX: 1\r\n\r\n",
        "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
        "CONNECT h:1 HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.1\r\nX: 1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
    };
    size_t i, len;
    px_h1_request_t req;

    for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        is_int(prefix_mismatches(msgs[i], strlen(msgs[i]), 0), 0,
               "every prefix of request %zu: AGAIN or the full result", i);
    }
    is_int(prefix_mismatches("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 41, 1), 0,
           "every prefix of a response: AGAIN or the full result");

    len = strlen(msgs[0]);
    is_int(req_n(msgs[0], len - 1, &req, NULL, NHDR), PX_H1_AGAIN, "missing last LF: AGAIN");
    is_int(req_status_lim("G@T", 3, NULL, NHDR), 400, "bad method noticed early: 400");
    is_int(req_status_lim("GET / HTTP/1.1\r\nHost: h\n", 24, NULL, NHDR), 400,
           "bare LF noticed early: 400");
    is_int(req_status_lim("GET / HTTP/1.1\r\nHo st", 21, NULL, NHDR), 400,
           "bad field name noticed early: 400");
    is_int(req_status_lim("GET / HTTP/1.1\r\nHost: a\r\n", 25, NULL, NHDR), 1,
           "valid so far: AGAIN");
    is_int(req_status_lim("", 0, NULL, NHDR), 1, "nothing yet: AGAIN");
    is_int(px_h1_parse_request(NULL, 0, &req, hdrs, NHDR, NULL, NULL), PX_H1_AGAIN,
           "NULL buffer of length 0 and NULL err: AGAIN");
    is_int(req_status_lim("GET / HTTP/1.1\r", 15, NULL, NHDR), 1, "CR at the end: AGAIN");
}

static void test_pipelined(void)
{
    const char *m = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
                    "GET /2 HTTP/1.1\r\nHost: h\r\n\r\nGET /3";
    size_t len = strlen(m), off;
    px_h1_request_t req;

    is_int(req_n(m, len, &req, NULL, NHDR), PX_H1_DONE, "first pipelined request");
    is_int(req.head_len, 28, "head_len stops at the first head");
    off = req.head_len;
    is_int(req_n(m + off, len - off, &req, NULL, NHDR), PX_H1_DONE, "second request");
    is_mem(req.path.data, req.path.len, "/2", "second request's path");
    off += req.head_len;
    is_int(req_n(m + off, len - off, &req, NULL, NHDR), PX_H1_AGAIN, "third is incomplete");
}

static void test_response(void)
{
    px_h1_response_t resp;
    const char *m = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";

    is_int(px_h1_parse_response(m, strlen(m), &resp, hdrs, NHDR, NULL, &err), PX_H1_DONE,
           "200 response");
    is_int(resp.version, 11, "response version");
    is_int(resp.status, 200, "status");
    is_mem(resp.reason.data, resp.reason.len, "OK", "reason");
    is_int(resp.nheaders, 2, "response fields");
    is_int(resp.body, PX_BODY_LENGTH, "response CL");
    is_int(resp.content_length, 5, "response CL value");
    is_int(resp.flags, PX_H1_CONN_CLOSE, "response Connection: close");
    is_int(resp.head_len, strlen(m) - 5, "response head_len");

    m = "HTTP/1.0 404 Not  Found \r\n\r\n";
    is_int(px_h1_parse_response(m, strlen(m), &resp, hdrs, NHDR, NULL, &err), PX_H1_DONE,
           "1.0 response");
    is_int(resp.version, 10, "1.0");
    is_mem(resp.reason.data, resp.reason.len, "Not  Found ", "reason kept as received");
    is_int(resp.body, PX_BODY_CLOSE, "no CL/TE: CLOSE");
    m = "HTTP/1.1 200 \r\n\r\n";
    is_int(px_h1_parse_response(m, strlen(m), &resp, hdrs, NHDR, NULL, &err), PX_H1_DONE,
           "empty reason after SP");
    is_int(resp.reason.len, 0, "empty reason");
    is_int(resp_status("HTTP/1.1 204\r\n\r\n"), 0, "no SP after status tolerated");
    is_int(resp_status("HTTP/1.1 100 Continue\r\n\r\n"), 0, "1xx");

    is_int(resp_status("HTTP/2.0 200 OK\r\n\r\n"), 502, "HTTP/2.0: 502");
    is_int(resp_status("HTTP/1.2 200 OK\r\n\r\n"), 502, "HTTP/1.2: 502");
    is_int(resp_status("HTTP/1.1 099 x\r\n\r\n"), 502, "status 099: 502");
    is_int(resp_status("HTTP/1.1 600 x\r\n\r\n"), 502, "status 600: 502");
    is_int(resp_status("HTTP/1.1 20 OK\r\n\r\n"), 502, "two-digit status: 502");
    is_int(resp_status("HTTP/1.1 2000 OK\r\n\r\n"), 502, "four-digit status: 502");
    is_int(resp_status("HTTP/1.1  200 OK\r\n\r\n"), 502, "two SP: 502");
    is_int(resp_status("HTTP/1.1 200 O\x01K\r\n\r\n"), 502, "CTL in reason: 502");
    is_int(resp_status("HTTP/1.1 200 OK\n\r\n"), 502, "bare LF in status line: 502");
    is_int(resp_status("\r\nHTTP/1.1 200 OK\r\n\r\n"), 502, "leading CRLF: 502");
    is_int(resp_status("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), 502, "obs-fold: 502");
    is_int(resp_status("HTTP/1.1 200 OK\r\nX : a\r\n\r\n"), 502, "SP before colon: 502");
    is_int(resp_status("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"), 502,
           "duplicate CL: 502");
    is_int(resp_status("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"), 502, "bad CL: 502");
    is_int(resp_status("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n"),
           502, "CL and TE: 502");
    is_int(resp_status("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), 502,
           "TE in a 1.0 response: 502");
    is_int(resp_status("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 502,
           "chunked twice: 502");
    is_int(resp_status("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n\r\n"), 0,
           "Host rules are for requests only");
    is_int(resp_status("HTTP/1.1 200 OK\r\n"), 1, "incomplete response: AGAIN");
    is_int(resp_status("HTTP/1.1 2x"), 502, "bad status noticed early: 502");

    is_int(resp_body("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), PX_BODY_CHUNKED,
           "response TE chunked");
    is_int(resp_body("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
           PX_BODY_CHUNKED, "response TE gzip, chunked: CHUNKED");
    is_int(resp_body("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), PX_BODY_CLOSE,
           "response TE gzip: CLOSE");
    is_int(resp_body("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), PX_BODY_CLOSE,
           "response TE chunked, gzip: CLOSE");
}

static void test_response_body(void)
{
    px_h1_response_t r;

    memset(&r, 0, sizeof(r));
    r.body = PX_BODY_LENGTH;
    r.status = 200;
    is_int(px_h1_response_body(&r, PX_METHOD_GET), PX_BODY_LENGTH, "200 to GET: fields say");
    is_int(px_h1_response_body(&r, PX_METHOD_HEAD), PX_BODY_NONE, "200 to HEAD: NONE");
    is_int(px_h1_response_body(&r, PX_METHOD_CONNECT), PX_BODY_NONE, "2xx to CONNECT: NONE");
    r.status = 204;
    is_int(px_h1_response_body(&r, PX_METHOD_GET), PX_BODY_NONE, "204: NONE");
    r.status = 304;
    is_int(px_h1_response_body(&r, PX_METHOD_GET), PX_BODY_NONE, "304: NONE");
    r.status = 101;
    is_int(px_h1_response_body(&r, PX_METHOD_GET), PX_BODY_NONE, "101: NONE");
    r.status = 100;
    is_int(px_h1_response_body(&r, PX_METHOD_POST), PX_BODY_NONE, "100: NONE");
    r.status = 404;
    r.body = PX_BODY_CLOSE;
    is_int(px_h1_response_body(&r, PX_METHOD_GET), PX_BODY_CLOSE, "404 read to close");
    r.body = PX_BODY_CHUNKED;
    r.status = 407;
    is_int(px_h1_response_body(&r, PX_METHOD_CONNECT), PX_BODY_CHUNKED,
           "non-2xx to CONNECT: fields say");
}

static void test_chunked(void)
{
    px_h1_chunked_t c;
    size_t consumed, before;
    char line[5000];
    const char *m;

    is_str(ck("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), "D5 D6 DONE@26 data=hello world",
           "two chunks");
    is_str(ck("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1"), "D5 DONE@15 data=hello",
           "bytes after the body are left alone");
    is_str(ck("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n"),
           "D10 D10 DONE@35 data=0123456789abcdefghij", "hex digits in both cases");
    is_str(ck("0005\r\nhello\r\n000\r\n\r\n"), "D5 DONE@20 data=hello", "leading zeros");
    is_str(ck("0\r\n\r\n"), "DONE@5 data=", "empty body");
    is_str(ck("3;a=b;c=\"x\\\"y;z\";flag\r\nabc\r\n0;last\r\n\r\n"), "D3 DONE@38 data=abc",
           "extensions: token, quoted-string with quoted-pair, name only");
    is_str(ck("3 ; a = b ;c\t=\t\"v\"\r\nabc\r\n0\r\n\r\n"), "D3 DONE@30 data=abc",
           "BWS around ';' and '='");
    is_str(ck("0\r\nX-Sum: 1\r\nY:\r\n\r\n"), "DONE@19 data=", "trailer fields");
    is_str(ck("5\r\nhel"), "D5 MORE data=hel", "data still arriving");
    is_str(ck("5\r\nhello\r\n0\r\nX: 1\r\n"), "D5 TRAILERS data=hello", "in the trailers");

    is_str(ck("g\r\n"), "ERR@0:invalid chunk size data=", "bad hex");
    is_str(ck("0x5\r\nhello\r\n0\r\n\r\n"), "ERR@1:invalid chunk size data=", "0x prefix");
    is_str(ck(" 5\r\n"), "ERR@0:invalid chunk size data=", "leading SP");
    is_str(ck("-5\r\n"), "ERR@0:invalid chunk size data=", "sign");
    is_str(ck("\r\n"), "ERR@0:invalid chunk size data=", "empty size");
    is_str(ck("5 \r\nhello\r\n0\r\n\r\n"),
           "ERR@2:invalid chunk extension data=", "trailing BWS without ';'");
    is_str(ck("5\nhello\r\n0\r\n\r\n"),
           "ERR@1:bare LF in chunk size line data=", "bare LF after size");
    is_str(ck("5\rhello\r\n"), "ERR@2:bare CR in chunk size line data=", "bare CR after size");
    is_str(ck("5;\r\nhello\r\n"), "ERR@2:invalid chunk extension data=", "empty ext-name");
    is_str(ck("5;=x\r\n"), "ERR@2:invalid chunk extension data=", "'=' without a name");
    is_str(ck("5;a=\r\n"), "ERR@4:invalid chunk extension data=", "empty ext-value");
    is_str(ck("5;a=\"x\r\n"), "ERR@6:invalid chunk extension data=", "unterminated quote");
    is_str(ck("5;a=\"x\"y\r\n"), "ERR@7:invalid chunk extension data=", "junk after quote");
    is_str(ck("5;a=b c\r\n"), "ERR@6:invalid chunk extension data=", "two ext values");
    is_str(ck("5;a\x01\r\n"), "ERR@3:invalid chunk extension data=", "CTL in ext");
    is_str(ck("5;a=b\nx"), "ERR@5:bare LF in chunk size line data=", "bare LF in ext");
    is_str(ck("5\r\nhelloX\r\n0\r\n\r\n"), "D5 ERR@8:missing CRLF after chunk data data=hello",
           "no CRLF after data");
    is_str(ck("5\r\nhello\r\r\n"), "D5 ERR@9:missing CRLF after chunk data data=hello",
           "CR CR after data");
    is_str(ck("5\r\nhello\n0\r\n\r\n"), "D5 ERR@8:missing CRLF after chunk data data=hello",
           "bare LF after data");
    is_str(ck("8000000000000000\r\n"), "ERR@15:chunk size too large data=", "size 2^63");
    is_str(ck("fffffffffffffffff\r\n"), "ERR@15:chunk size too large data=", "size 2^68");
    is_str(ck("7fffffffffffffff\r\n"), "D9223372036854775807 MORE data=", "size 2^63-1");
    is_str(ck("0\r\nX: a\r\n b\r\n\r\n"),
           "ERR@9:obs-fold in trailer section data=", "trailer obs-fold");
    is_str(ck("0\r\nX : a\r\n\r\n"),
           "ERR@4:whitespace between trailer field name and colon "
           "data=",
           "trailer SP before colon");
    is_str(ck("0\r\nX: a\n\r\n"), "ERR@7:bare LF in trailer section data=", "trailer bare LF");
    is_str(ck("0\r\nX: a\rb\r\n"), "ERR@8:bare CR in trailer section data=", "trailer bare CR");
    is_str(ck_n("0\r\nX: a\0\r\n\r\n", 12),
           "ERR@7:invalid character in trailer field data=", "trailer NUL");
    is_str(ck("0\r\nNoColon\r\n\r\n"),
           "ERR@10:invalid character in trailer field name data=", "trailer without colon");
    is_str(ck("0\r\n\r\r"), "ERR@4:bare CR in trailer section data=", "final CR without LF");

    /* size line limit: the default is 4096 bytes before the CRLF */
    memset(line, 0, sizeof(line));
    line[0] = '1';
    line[1] = ';';
    memset(line + 2, 'a', 4094);
    memcpy(line + 4096, "\r\nx\r\n0\r\n\r\n", 11);
    is_str(ck(line), "D1 DONE@4106 data=x", "size line of exactly 4096 bytes");
    memmove(line + 4097, line + 4096, 11);
    line[4096] = 'a';
    is_str(ck(line), "ERR@4096:chunk size line too long data=", "4097 bytes: too long");
    px_h1_chunked_init(&c, 8, 0);
    m = "1;abcdef\r\nx\r\n0\r\n\r\n";
    is_int(px_h1_chunked_feed(&c, m, strlen(m), &consumed, &err), PX_H1_CHUNK_DATA,
           "max_line 8: 8 bytes fine");
    px_h1_chunked_init(&c, 8, 0);
    m = "1;abcdefg\r\nx\r\n0\r\n\r\n";
    is_int(px_h1_chunked_feed(&c, m, strlen(m), &consumed, &err), PX_H1_CHUNK_ERROR,
           "max_line 8: 9 bytes rejected");
    is_int(err.status, 400, "chunked errors are 400");
    is_int(consumed, 8, "consumed stops before the offending byte");

    /* trailer section limit: counts every trailer byte including the final CRLF */
    px_h1_chunked_init(&c, 0, 10);
    m = "0\r\nX: 123\r\n\r\n";
    is_int(px_h1_chunked_feed(&c, m, strlen(m), &consumed, &err), PX_H1_CHUNK_DONE,
           "10-byte trailer section at max_trailers 10");
    px_h1_chunked_init(&c, 0, 10);
    m = "0\r\nX: 1234\r\n\r\n";
    is_int(px_h1_chunked_feed(&c, m, strlen(m), &consumed, &err), PX_H1_CHUNK_ERROR,
           "11-byte trailer section: error");
    is_str(err.reason, "trailer section too large", "trailer limit reason");

    /* the caller's side of the contract */
    px_h1_chunked_init(&c, 0, 0);
    m = "4\r\nabcd\r\n0\r\n\r\n";
    is_int(px_h1_chunked_feed(&c, m, strlen(m), &consumed, &err), PX_H1_CHUNK_DATA, "DATA");
    is_int(consumed, 3, "data starts after the size line");
    is_int(c.remaining, 4, "remaining is the chunk size");
    is_int(px_h1_chunked_feed(&c, m + 3, strlen(m) - 3, &consumed, &err), PX_H1_CHUNK_DATA,
           "feeding before moving data repeats DATA");
    is_int(consumed, 0, "... and consumes nothing");
    px_h1_chunked_data_consumed(&c, 3);
    is_int(c.remaining, 1, "partial data move");
    px_h1_chunked_data_consumed(&c, 1);
    is_int(px_h1_chunked_feed(&c, m + 7, strlen(m) - 7, &consumed, &err), PX_H1_CHUNK_DONE, "DONE");
    is_int(consumed, strlen(m) - 7, "consumed through the final CRLF");
    is_int(px_h1_chunked_feed(&c, "junk", 4, &consumed, &err), PX_H1_CHUNK_DONE, "DONE is sticky");
    is_int(consumed, 0, "nothing consumed after DONE");

    /* trailer bytes are the last (trailer_bytes after - before) bytes a call consumed, even
     * when one call goes from the last chunk through the trailers to DONE */
    px_h1_chunked_init(&c, 0, 0);
    m = "0\r\nX-Sum: 1\r\n\r\nNEXT";
    is_int(px_h1_chunked_feed(&c, m, 10, &consumed, &err), PX_H1_CHUNK_TRAILERS, "TRAILERS");
    is_mem(m + consumed - c.trailer_bytes, c.trailer_bytes, "X-Sum: ", "trailer bytes so far");
    before = c.trailer_bytes;
    is_int(px_h1_chunked_feed(&c, m + 10, strlen(m) - 10, &consumed, &err), PX_H1_CHUNK_DONE,
           "DONE after the trailers");
    is_mem(m + 10 + consumed - (c.trailer_bytes - before), c.trailer_bytes - before, "1\r\n\r\n",
           "the rest of the trailer section, final CRLF included");
    px_h1_chunked_init(&c, 0, 0);
    is_int(px_h1_chunked_feed(&c, m, strlen(m), &consumed, &err), PX_H1_CHUNK_DONE,
           "last chunk to DONE in one call");
    is_mem(m + consumed - c.trailer_bytes, c.trailer_bytes, "X-Sum: 1\r\n\r\n",
           "the whole trailer section from trailer_bytes");

    px_h1_chunked_init(&c, 0, 0);
    is_int(px_h1_chunked_feed(&c, "z", 1, &consumed, &err), PX_H1_CHUNK_ERROR, "error");
    is_int(px_h1_chunked_feed(&c, "0\r\n\r\n", 5, &consumed, &err), PX_H1_CHUNK_ERROR,
           "ERROR is sticky");
    is_int(px_h1_chunked_feed(&c, "", 0, &consumed, &err), PX_H1_CHUNK_ERROR,
           "ERROR with no input");
}

static void test_chunked_splits(void)
{
    static const char *const bodies[] = {
        "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        "3;a=b;c=\"x\\\"y\"\r\nabc\r\n0;z\r\nX-Sum: 7\r\nY: a b\r\n\r\nNEXT",
        "1 ; n = v\r\nx\r\n0\r\n\r\n",
        "5\r\nhelloX\r\n",
        "4\r\nabcd\r\n0\r\nX: 1\r\n Y\r\n\r\n",
        "fffffffffffffffff\r\n",
        "2\r\nab\r\n1;q=\"a\r\n",
    };
    size_t i;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        is_int(ck_split_mismatches(bodies[i], 0, 0), 0,
               "body %zu: same result at every one/two split points and byte by byte", i);
    }
    is_int(ck_split_mismatches("1;abcdef\r\nx\r\n0\r\n\r\n", 6, 0), 0,
           "size line limit hit at the same byte however split");
    is_int(ck_split_mismatches("0\r\nAbc: defg\r\nX: y\r\n\r\n", 0, 12), 0,
           "trailer limit hit at the same byte however split");
}

static void test_trailers(void)
{
    px_header_t hs[4];
    err = (px_h1_error_t){0, NULL, 0};
    size_t n = 99;
    const char *ok1 = "X-Sum: abc \r\ngrpc-status:0\r\nEmpty:\r\n\r\n";

    is_int(px_h1_parse_trailers("\r\n", 2, hs, 4, &n, &err), PX_H1_DONE, "empty section");
    is_int(n, 0, "... no field");
    is_int(px_h1_parse_trailers(ok1, strlen(ok1), hs, 4, &n, &err), PX_H1_DONE, "three fields");
    is_int(n, 3, "... all three");
    is_mem(hs[0].name.data, hs[0].name.len, "X-Sum", "... name");
    is_mem(hs[0].value.data, hs[0].value.len, "abc", "... value without OWS");
    is_mem(hs[1].value.data, hs[1].value.len, "0", "... no OWS at all");
    is_int(hs[2].value.len, 0, "... an empty value");

    static const struct {
        const char *in, *why;
    } bad[] = {
        {"", "trailer section without its final CRLF"},
        {"A: 1\r\n", "trailer section without its final CRLF"},
        {"A : 1\r\n\r\n", "invalid trailer field name"},
        {": 1\r\n\r\n", "invalid trailer field name"},
        {" A: 1\r\n\r\n", "invalid trailer field name"},
        {"A: 1\n\r\n", "invalid trailer field line"},
        {"A: 1\r\n\r\nX", "bytes after the end of the trailer section"},
        {"A: 1\rB\r\n\r\n", "invalid trailer field line"},
        {"A: \x01\r\n\r\n", "invalid trailer field line"},
        {"A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", "too many trailer fields"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.reason = NULL;
        is_int(px_h1_parse_trailers(bad[i].in, strlen(bad[i].in), hs, 4, &n, &err), PX_H1_INVALID,
               "refused: %zu", i);
        is_str(err.reason ? err.reason : "-", bad[i].why, "... reason of %zu", i);
        is_int(err.status, 400, "... 400");
    }

    static const char *const dropped[] = {
        "Content-Length", "transfer-encoding", "Trailer", "HOST",   "connection",
        "Keep-Alive",     "proxy-connection",  "TE",      "upgrade"};
    for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++) {
        px_str_t name = {dropped[i], strlen(dropped[i])};
        ok(px_h1_trailer_dropped(name), "%s is dropped from trailers", dropped[i]);
    }
    ok(!px_h1_trailer_dropped((px_str_t){"grpc-status", 11}), "grpc-status travels");
    ok(!px_h1_trailer_dropped((px_str_t){"te-x", 4}), "te-x travels");
}

int main(void)
{
    plan_no_plan();
    test_trailers();
    test_helpers();
    test_find_head_end();
    test_request_basic();
    test_request_forms();
    test_request_line_rejects();
    test_field_rejects();
    test_host();
    test_framing();
    test_flags();
    test_limits();
    test_incremental();
    test_pipelined();
    test_response();
    test_response_body();
    test_chunked();
    test_chunked_splits();
    return done_testing();
}
