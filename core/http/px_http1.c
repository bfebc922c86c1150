/*
 * px_http1.c: the HTTP/1.1 message-head parser and chunked decoder (RFC 9112, RFC 9110).
 *
 * One pass over the bytes, driven by a character-class table; no allocation, no global mutable
 * state, so every function is safe to call from any worker thread. The head parser re-reads the
 * buffer from its start on each call and stops at the first byte that breaks a rule: the error
 * it reports for a prefix of a message is the one it reports for the whole message, so a caller
 * may call it after each read. The chunked decoder is a byte-wise state machine whose state lives
 * in the caller's px_h1_chunked_t.
 */
#include <string.h>

#include "px_http1.h"

#define PX_H1_DEFAULT_MAX_LINE 4096
#define PX_H1_INT64_MAX        UINT64_C(0x7fffffffffffffff)

/* Character classes, one bit each in px_h1_cc[]. */
enum {
    PX_C_TCHAR = 0x01,  /* token character (RFC 9110 section 5.6.2) */
    PX_C_FIELD = 0x02,  /* field value byte: HTAB, SP, VCHAR, obs-text */
    PX_C_TARGET = 0x04, /* request-target byte: VCHAR except '#' */
    PX_C_HEX = 0x08,    /* HEXDIG */
    PX_C_HOST = 0x10,   /* reg-name byte: unreserved / sub-delims, without ',' (see docs) */
    PX_C_QDTEXT = 0x20, /* qdtext of a quoted-string */
    PX_C_OWS = 0x40,    /* SP or HTAB */
};

/* Rows of 16 bytes, 0x00 to 0xff; generated from the RFC 9110/3986 grammars. */
static const unsigned char px_h1_cc[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x62, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x62, 0x37, 0x06, 0x23, 0x37, 0x27, 0x37, 0x37, 0x36, 0x36, 0x37, 0x37, 0x26, 0x37, 0x37, 0x26,
    0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x26, 0x36, 0x26, 0x36, 0x26, 0x26,
    0x26, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,
    0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x26, 0x06, 0x26, 0x27, 0x37,
    0x27, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,
    0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x26, 0x27, 0x26, 0x37, 0x00,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
};

#define PX_IS(ch, cls)  (px_h1_cc[(unsigned char)(ch)] & (cls))
#define PX_IS_DIGIT(ch) ((unsigned)((unsigned char)(ch) - '0') < 10u)

/* Path of an absolute-form target without a path ("http://h" means "http://h/"). */
static const char px_h1_slash[] = "/";

/* Parse state shared by the request and response parsers; lives on the caller's stack. */
typedef struct {
    const char *buf;
    const char *end; /* scan limit: buf + min(len, max_head) */
    size_t len;
    size_t max_head;
    px_header_t *headers;
    size_t max_fields; /* min(caller's array, limits->max_headers) */
    size_t nheaders;
    size_t head_len;
    px_h1_error_t *err;
    int is_request;
    unsigned flags;
    int host_index;
    uint64_t content_length;
    unsigned cl_seen : 1;
    unsigned te_seen : 1;
    unsigned te_chunked : 1;      /* chunked appears in the Transfer-Encoding list */
    unsigned te_chunked_last : 1; /* ... and is the last coding seen so far */
    unsigned te_other : 1;        /* a coding other than chunked appears */
} px_h1_head_t;

static px_h1_rc_t px_h1_fail(px_h1_error_t *err, int status, const char *reason, size_t offset)
{
    err->status = status;
    err->reason = reason;
    err->offset = offset;
    return PX_H1_INVALID;
}

#define PX_H1_FAIL(h, status, reason, p)                                                           \
    px_h1_fail((h)->err, (status), (reason), (size_t)((p) - (h)->buf))

/* The scan reached h->end without finding the end of the head. */
static px_h1_rc_t px_h1_incomplete(px_h1_head_t *h)
{
    if (h->len >= h->max_head) {
        return px_h1_fail(h->err, 431, "header section too large", h->max_head);
    }
    return PX_H1_AGAIN;
}

static void px_h1_head_init(px_h1_head_t *h, const char *buf, size_t len, px_header_t *headers,
                            size_t max_headers, const px_h1_limits_t *limits, px_h1_error_t *err,
                            int is_request)
{
    size_t lim_headers = PX_H1_DEFAULT_MAX_HEADERS;

    memset(h, 0, sizeof(*h));
    h->max_head = PX_H1_DEFAULT_MAX_HEAD;
    if (limits != NULL) {
        if (limits->max_head != 0) {
            h->max_head = limits->max_head;
        }
        if (limits->max_headers != 0) {
            lim_headers = limits->max_headers;
        }
    }
    h->buf = buf;
    h->len = len;
    h->end = len == 0 ? buf : buf + (len < h->max_head ? len : h->max_head); /* buf may be NULL */
    h->headers = headers;
    h->max_fields = headers == NULL ? 0 : (max_headers < lim_headers ? max_headers : lim_headers);
    h->err = err;
    h->is_request = is_request;
    h->host_index = -1;
    err->status = 0;
    err->reason = NULL;
    err->offset = 0;
}

/* ---- small helpers ------------------------------------------------------------------------ */

int px_h1_token_eq(px_str_t s, const char *lower_lit, size_t lit_len)
{
    size_t i;

    if (s.len != lit_len) {
        return 0;
    }
    for (i = 0; i < lit_len; i++) {
        unsigned char c = (unsigned char)s.data[i];
        if (c >= 'A' && c <= 'Z') {
            c += 'a' - 'A';
        }
        if (c != (unsigned char)lower_lit[i]) {
            return 0;
        }
    }
    return 1;
}

/* Trim OWS from both ends of [*b, *e). */
static void px_h1_trim(const char **b, const char **e)
{
    while (*b < *e && PX_IS(**b, PX_C_OWS)) {
        (*b)++;
    }
    while (*e > *b && PX_IS((*e)[-1], PX_C_OWS)) {
        (*e)--;
    }
}

/* Next element of a comma-separated list as [*eb, *ee), OWS-trimmed; *p is NULL after the last
 * one. Returns 0 when there is none left. */
static int px_h1_list_next(const char **p, const char *end, const char **eb, const char **ee)
{
    const char *c;

    if (*p == NULL) {
        return 0;
    }
    c = memchr(*p, ',', (size_t)(end - *p));
    *eb = *p;
    *ee = c == NULL ? end : c;
    *p = c == NULL ? NULL : c + 1;
    px_h1_trim(eb, ee);
    return 1;
}

int px_h1_list_has(px_str_t value, const char *lower_token, size_t token_len)
{
    const char *p = value.data, *end = value.data + value.len, *eb, *ee;

    if (value.len == 0) {
        return 0;
    }
    while (px_h1_list_next(&p, end, &eb, &ee)) {
        px_str_t el = {eb, (size_t)(ee - eb)};
        if (px_h1_token_eq(el, lower_token, token_len)) {
            return 1;
        }
    }
    return 0;
}

px_method_t px_h1_method_id(const char *p, size_t len)
{
#define PX_M(lit, id)                                                                              \
    if (memcmp(p, lit, len) == 0) {                                                                \
        return id;                                                                                 \
    }
    switch (len) {
    case 3:
        PX_M("GET", PX_METHOD_GET);
        PX_M("PUT", PX_METHOD_PUT);
        break;
    case 4:
        PX_M("HEAD", PX_METHOD_HEAD);
        PX_M("POST", PX_METHOD_POST);
        break;
    case 5:
        PX_M("PATCH", PX_METHOD_PATCH);
        PX_M("TRACE", PX_METHOD_TRACE);
        break;
    case 6: PX_M("DELETE", PX_METHOD_DELETE); break;
    case 7:
        PX_M("CONNECT", PX_METHOD_CONNECT);
        PX_M("OPTIONS", PX_METHOD_OPTIONS);
        break;
    default: break;
    }
#undef PX_M
    return PX_METHOD_OTHER;
}

size_t px_h1_find_head_end(const char *buf, size_t len, size_t *scanned)
{
    /* Every LF examined so far was checked; a new LF looks back at most 3 bytes, which are
     * still in the buffer, so the scan resumes exactly where it stopped. */
    size_t i = *scanned <= len ? *scanned : 0;

    while (i < len) {
        const char *lf = memchr(buf + i, '\n', len - i);
        if (lf == NULL) {
            break;
        }
        size_t j = (size_t)(lf - buf);
        if (j == 0 || buf[j - 1] != '\r') {
            *scanned = j;
            return PX_H1_HEAD_BARE_LF;
        }
        if (j >= 3 && buf[j - 2] == '\n' && buf[j - 3] == '\r') {
            *scanned = j;
            return j + 1;
        }
        i = j + 1;
    }
    *scanned = len;
    return 0;
}

/* ---- hosts and authorities (RFC 3986 section 3.2) ----------------------------------------- */

/* dec-octet "." dec-octet "." dec-octet "." dec-octet, no leading zeros, filling [p, end). */
static int px_h1_valid_ipv4(const char *p, const char *end)
{
    int i;

    for (i = 0; i < 4; i++) {
        const char *s = p;
        unsigned v = 0;
        while (p < end && PX_IS_DIGIT(*p) && p - s < 3) {
            v = v * 10 + (unsigned)(*p++ - '0');
        }
        if (p == s || v > 255 || (p - s > 1 && *s == '0')) {
            return 0;
        }
        if (i < 3) {
            if (p == end || *p != '.') {
                return 0;
            }
            p++;
        }
    }
    return p == end;
}

/* IPv6address (RFC 3986 section 3.2.2) filling [p, end). */
static int px_h1_valid_ipv6(const char *p, const char *end)
{
    int groups = 0, gap = 0;

    if (end - p >= 2 && p[0] == ':' && p[1] == ':') {
        gap = 1;
        p += 2;
        if (p == end) {
            return 1;
        }
    }
    for (;;) {
        const char *s = p;
        while (p < end && PX_IS(*p, PX_C_HEX) && p - s < 4) {
            p++;
        }
        if (p < end && *p == '.') {
            /* a trailing IPv4address stands for the last two groups */
            if (!px_h1_valid_ipv4(s, end)) {
                return 0;
            }
            groups += 2;
            break;
        }
        if (p == s || ++groups > 8) {
            return 0;
        }
        if (p == end) {
            break;
        }
        if (*p++ != ':' || p == end) {
            return 0;
        }
        if (*p == ':') {
            if (gap) {
                return 0;
            }
            gap = 1;
            if (++p == end) {
                break;
            }
        }
    }
    return gap ? groups <= 7 : groups == 8;
}

/* "[" ( IPv6address / IPvFuture ) "]" without the brackets. */
static int px_h1_valid_ip_literal(const char *p, const char *end)
{
    const char *s;

    if (p == end || (*p != 'v' && *p != 'V')) {
        return px_h1_valid_ipv6(p, end);
    }
    s = ++p;
    while (p < end && PX_IS(*p, PX_C_HEX)) {
        p++;
    }
    if (p == s || p == end || *p++ != '.' || p == end) {
        return 0;
    }
    for (; p < end; p++) {
        if (!PX_IS(*p, PX_C_HOST) && *p != ':') {
            return 0;
        }
    }
    return 1;
}

/* uri-host [ ":" port ] with a non-empty host and a port of 1 to 5 digits up to 65535. */
static int px_h1_valid_authority(const char *p, size_t len)
{
    const char *end = p + len, *s = p;
    unsigned long port = 0;

    if (len == 0) {
        return 0;
    }
    if (*p == '[') {
        const char *close = memchr(p, ']', len);
        if (close == NULL || !px_h1_valid_ip_literal(p + 1, close)) {
            return 0;
        }
        p = close + 1;
    } else {
        while (p < end && *p != ':') {
            if (PX_IS(*p, PX_C_HOST)) {
                p++;
            } else if (*p == '%' && end - p >= 3 && PX_IS(p[1], PX_C_HEX) &&
                       PX_IS(p[2], PX_C_HEX)) {
                p += 3;
            } else {
                return 0;
            }
        }
        if (p == s) {
            return 0;
        }
    }
    if (p == end) {
        return 1;
    }
    if (*p++ != ':' || p == end || end - p > 5) {
        return 0;
    }
    for (; p < end; p++) {
        if (!PX_IS_DIGIT(*p)) {
            return 0;
        }
        port = port * 10 + (unsigned long)(*p - '0');
    }
    return port <= 65535;
}

/* ---- field semantics ---------------------------------------------------------------------- */

/* 1*DIGIT up to 2^63-1. Returns NULL or the reason it is not. */
static const char *px_h1_parse_length(px_str_t v, uint64_t *out)
{
    uint64_t n = 0;
    size_t i;

    if (v.len == 0) {
        return "invalid Content-Length";
    }
    for (i = 0; i < v.len; i++) {
        unsigned d = (unsigned char)v.data[i] - '0';
        if (d > 9) {
            return "invalid Content-Length";
        }
        if (n > (PX_H1_INT64_MAX - d) / 10) {
            return "Content-Length too large";
        }
        n = n * 10 + d;
    }
    *out = n;
    return NULL;
}

/* One Transfer-Encoding field value, appended to those seen before it (RFC 9112 section 6.1). */
static const char *px_h1_transfer_encoding(px_h1_head_t *h, px_str_t v)
{
    const char *p = v.data, *end = v.data + v.len, *eb, *ee, *t;

    h->te_seen = 1;
    if (v.len == 0) {
        return "empty Transfer-Encoding";
    }
    while (px_h1_list_next(&p, end, &eb, &ee)) {
        px_str_t name;
        if (eb == ee) {
            return "empty element in Transfer-Encoding";
        }
        for (t = eb; t < ee && PX_IS(*t, PX_C_TCHAR); t++) {
        }
        name.data = eb;
        name.len = (size_t)(t - eb);
        while (t < ee && PX_IS(*t, PX_C_OWS)) {
            t++;
        }
        if (name.len == 0 || (t < ee && *t != ';')) {
            return "invalid transfer coding";
        }
        if (PX_H1_TOKEN_EQ(name, "chunked")) {
            if (t < ee) {
                return "chunked with parameters";
            }
            if (h->te_chunked) {
                return "chunked applied more than once";
            }
            h->te_chunked = 1;
            h->te_chunked_last = 1;
        } else {
            h->te_other = 1;
            h->te_chunked_last = 0;
        }
    }
    return NULL;
}

/* Connection options are tokens; empty list elements are ignored (RFC 9110 section 5.6.1). */
static const char *px_h1_connection(px_h1_head_t *h, px_str_t v)
{
    const char *p = v.data, *end = v.data + v.len, *eb, *ee, *t;

    while (v.len != 0 && px_h1_list_next(&p, end, &eb, &ee)) {
        px_str_t opt = {eb, (size_t)(ee - eb)};
        for (t = eb; t < ee && PX_IS(*t, PX_C_TCHAR); t++) {
        }
        if (t != ee) {
            return "invalid Connection option";
        }
        if (PX_H1_TOKEN_EQ(opt, "close")) {
            h->flags |= PX_H1_CONN_CLOSE;
        } else if (PX_H1_TOKEN_EQ(opt, "keep-alive")) {
            h->flags |= PX_H1_CONN_KEEPALIVE;
        } else if (PX_H1_TOKEN_EQ(opt, "upgrade")) {
            h->flags |= PX_H1_CONN_UPGRADE;
        }
    }
    return NULL;
}

/* Check and note one complete field line; at is where its line starts. */
static px_h1_rc_t px_h1_field(px_h1_head_t *h, const px_header_t *f, const char *at)
{
    px_str_t n = f->name, v = f->value;
    const char *why = NULL;

    switch (n.len) {
    case 2:
        if (h->is_request && PX_H1_TOKEN_EQ(n, "te")) {
            h->flags |= PX_H1_HAS_TE;
        }
        break;
    case 4:
        if (h->is_request && PX_H1_TOKEN_EQ(n, "host")) {
            if (h->host_index >= 0) {
                why = "duplicate Host";
            } else if (v.len != 0 && !px_h1_valid_authority(v.data, v.len)) {
                why = "invalid Host";
            }
            h->host_index = (int)h->nheaders - 1;
        }
        break;
    case 6:
        if (h->is_request && PX_H1_TOKEN_EQ(n, "expect") && PX_H1_TOKEN_EQ(v, "100-continue")) {
            h->flags |= PX_H1_EXPECT_CONTINUE;
        }
        break;
    case 7:
        if (PX_H1_TOKEN_EQ(n, "upgrade")) {
            h->flags |= PX_H1_HAS_UPGRADE;
        } else if (PX_H1_TOKEN_EQ(n, "trailer")) {
            h->flags |= PX_H1_HAS_TRAILER;
        }
        break;
    case 10:
        if (PX_H1_TOKEN_EQ(n, "connection")) {
            why = px_h1_connection(h, v);
        }
        break;
    case 14:
        if (PX_H1_TOKEN_EQ(n, "content-length")) {
            why =
                h->cl_seen ? "duplicate Content-Length" : px_h1_parse_length(v, &h->content_length);
            h->cl_seen = 1;
        }
        break;
    case 17:
        if (PX_H1_TOKEN_EQ(n, "transfer-encoding")) {
            why = px_h1_transfer_encoding(h, v);
        }
        break;
    default: break;
    }
    return why == NULL ? PX_H1_DONE : PX_H1_FAIL(h, 400, why, at);
}

/* ---- the field section -------------------------------------------------------------------- */

/* Parse field lines from p through the empty line that ends the head. */
static px_h1_rc_t px_h1_parse_fields(px_h1_head_t *h, const char *p)
{
    const char *end = h->end;

    for (;;) {
        const char *line = p, *val, *vend;
        px_header_t *f;
        px_h1_rc_t rc;

        if (p == end) {
            return px_h1_incomplete(h);
        }
        if (*p == '\r') {
            if (p + 1 == end) {
                return px_h1_incomplete(h);
            }
            if (p[1] != '\n') {
                return PX_H1_FAIL(h, 400, "bare CR in header section", p);
            }
            h->head_len = (size_t)(p + 2 - h->buf);
            return PX_H1_DONE;
        }
        if (!PX_IS(*p, PX_C_TCHAR)) {
            return PX_H1_FAIL(h, 400,
                              *p == '\n'            ? "bare LF in header section"
                              : PX_IS(*p, PX_C_OWS) ? "obs-fold or whitespace before field name"
                                                    : "invalid character in field name",
                              p);
        }
        if (h->nheaders == h->max_fields) {
            return PX_H1_FAIL(h, 431, "too many header fields", p);
        }
        do {
            p++;
        } while (p < end && PX_IS(*p, PX_C_TCHAR));
        if (p == end) {
            return px_h1_incomplete(h);
        }
        if (*p != ':') {
            return PX_H1_FAIL(h, 400,
                              PX_IS(*p, PX_C_OWS) ? "whitespace between field name and colon"
                                                  : "invalid character in field name",
                              p);
        }
        f = &h->headers[h->nheaders];
        f->name.data = line;
        f->name.len = (size_t)(p - line);
        p++;
        while (p < end && PX_IS(*p, PX_C_OWS)) {
            p++;
        }
        val = p;
        while (p < end && PX_IS(*p, PX_C_FIELD)) {
            p++;
        }
        if (p == end) {
            return px_h1_incomplete(h);
        }
        if (*p != '\r') {
            return PX_H1_FAIL(
                h, 400,
                *p == '\n' ? "bare LF in header section" : "invalid character in field value", p);
        }
        if (p + 1 == end) {
            return px_h1_incomplete(h);
        }
        if (p[1] != '\n') {
            return PX_H1_FAIL(h, 400, "bare CR in header section", p);
        }
        for (vend = p; vend > val && PX_IS(vend[-1], PX_C_OWS); vend--) {
        }
        f->value.data = val;
        f->value.len = (size_t)(vend - val);
        h->nheaders++;
        rc = px_h1_field(h, f, line);
        if (rc != PX_H1_DONE) {
            return rc;
        }
        p += 2;
    }
}

/* "HTTP/" DIGIT "." DIGIT at p: 1 if all 8 bytes match, 0 if the bytes so far do, else -1
 * with *bad at the first byte that does not. */
static int px_h1_match_version(const char *p, const char *end, const char **bad)
{
    static const char pat[] = "HTTP/0.0";
    int i;

    for (i = 0; i < 8; i++) {
        int match;
        if (p + i == end) {
            return 0;
        }
        match = (i == 5 || i == 7) ? PX_IS_DIGIT(p[i]) : p[i] == pat[i];
        if (!match) {
            *bad = p + i;
            return -1;
        }
    }
    return 1;
}

/* 11, 10, or 0 for another HTTP/d.d; p is at a matched version. */
static int px_h1_version(const char *p)
{
    if (p[5] == '1' && p[7] == '1') {
        return 11;
    }
    return p[5] == '1' && p[7] == '0' ? 10 : 0;
}

/* ---- requests ----------------------------------------------------------------------------- */

/* Sort the request-target into its form and split it (RFC 9112 section 3.2). */
static const char *px_h1_split_target(px_h1_request_t *req)
{
    const char *t = req->target.data, *end = t + req->target.len, *a, *p, *q;
    size_t slen;

    if (*t == '/') {
        req->target_form = PX_TARGET_ORIGIN;
        p = t;
    } else if (req->target.len == 1 && *t == '*') {
        if (req->method_id != PX_METHOD_OPTIONS) {
            return "asterisk-form request-target without OPTIONS";
        }
        req->target_form = PX_TARGET_ASTERISK;
        req->path = req->target;
        return NULL;
    } else {
        px_str_t scheme = {t, 0};
        for (a = t; a < end && *a != ':'; a++) {
        }
        scheme.len = (size_t)(a - t);
        if (!(PX_H1_TOKEN_EQ(scheme, "http") || PX_H1_TOKEN_EQ(scheme, "https")) || end - a < 3 ||
            a[1] != '/' || a[2] != '/') {
            return "invalid request-target";
        }
        for (a += 3, p = a; p < end && *p != '/' && *p != '?'; p++) {
        }
        if (!px_h1_valid_authority(a, (size_t)(p - a))) {
            return "invalid authority in request-target";
        }
        req->target_form = PX_TARGET_ABSOLUTE;
        req->scheme = scheme;
        req->authority.data = a;
        req->authority.len = (size_t)(p - a);
    }
    slen = (size_t)(end - p);
    q = slen == 0 ? NULL : memchr(p, '?', slen);
    if (q == NULL) {
        q = end;
    } else {
        req->has_query = 1;
        req->query.data = q + 1;
        req->query.len = (size_t)(end - q - 1);
    }
    if (q == p) {
        req->path.data = px_h1_slash;
        req->path.len = 1;
    } else {
        req->path.data = p;
        req->path.len = (size_t)(q - p);
    }
    return NULL;
}

/* request-line = method SP request-target SP HTTP-version CRLF; *pp is set past the CRLF. */
static px_h1_rc_t px_h1_request_line(px_h1_head_t *h, px_h1_request_t *req, size_t max_uri,
                                     const char **pp)
{
    const char *p = h->buf, *end = h->end, *t, *bad = NULL, *why;
    int m;

    while (p < end && PX_IS(*p, PX_C_TCHAR)) {
        p++;
    }
    if (p == end) {
        return px_h1_incomplete(h);
    }
    if (*p != ' ' || p == h->buf) {
        return PX_H1_FAIL(h, 400,
                          p == h->buf && (*p == '\r' || *p == '\n') ? "empty line before request"
                                                                    : "invalid method",
                          p);
    }
    req->method.data = h->buf;
    req->method.len = (size_t)(p - h->buf);
    t = ++p;
    while (p < end && PX_IS(*p, PX_C_TARGET)) {
        p++;
    }
    if ((size_t)(p - t) > max_uri) {
        return PX_H1_FAIL(h, 414, "request-target too long", t + max_uri);
    }
    if (p == end) {
        return px_h1_incomplete(h);
    }
    if (*p != ' ' || p == t) {
        return PX_H1_FAIL(
            h, 400, p == t ? "empty request-target" : "invalid character in request-target", p);
    }
    req->target.data = t;
    req->target.len = (size_t)(p - t);
    m = px_h1_match_version(++p, end, &bad);
    if (m <= 0) {
        return m == 0 ? px_h1_incomplete(h) : PX_H1_FAIL(h, 400, "invalid HTTP version", bad);
    }
    if (p + 8 == end || (p[8] == '\r' && p + 9 == end)) {
        return px_h1_incomplete(h);
    }
    if (p[8] != '\r') {
        return PX_H1_FAIL(h, 400, "invalid HTTP version", p + 8);
    }
    if (p[9] != '\n') {
        return PX_H1_FAIL(h, 400, "bare CR in request line", p + 8);
    }
    req->version = px_h1_version(p);
    if (req->version == 0) {
        return PX_H1_FAIL(h, 505, "HTTP version not supported", p);
    }
    req->method_id = px_h1_method_id(req->method.data, req->method.len);
    if (req->method_id == PX_METHOD_CONNECT) {
        return PX_H1_FAIL(h, 501, "CONNECT is not supported", h->buf);
    }
    why = px_h1_split_target(req);
    if (why != NULL) {
        return PX_H1_FAIL(h, 400, why, t);
    }
    *pp = p + 10;
    return PX_H1_DONE;
}

px_h1_rc_t px_h1_parse_request(const char *buf, size_t len, px_h1_request_t *req,
                               px_header_t *headers, size_t max_headers,
                               const px_h1_limits_t *limits, px_h1_error_t *err)
{
    px_h1_error_t dummy;
    px_h1_head_t h;
    size_t max_uri =
        limits != NULL && limits->max_uri != 0 ? limits->max_uri : PX_H1_DEFAULT_MAX_URI;
    const char *p = NULL, *last;
    px_h1_rc_t rc;

    px_h1_head_init(&h, buf, len, headers, max_headers, limits, err ? err : &dummy, 1);
    memset(req, 0, sizeof(*req));
    req->headers = headers;
    req->host_index = -1;
    rc = px_h1_request_line(&h, req, max_uri, &p);
    if (rc == PX_H1_DONE) {
        rc = px_h1_parse_fields(&h, p);
    }
    req->nheaders = h.nheaders;
    req->host_index = h.host_index;
    req->flags = h.flags;
    if (rc != PX_H1_DONE) {
        return rc;
    }

    /* The whole head is here: the rules that depend on all of its fields. */
    last = buf + h.head_len - 2;
    if (h.host_index < 0) {
        if (req->version == 11) {
            return PX_H1_FAIL(&h, 400, "missing Host", last);
        }
    } else if (headers[h.host_index].value.len == 0 && req->target_form != PX_TARGET_ABSOLUTE) {
        return PX_H1_FAIL(&h, 400, "empty Host", headers[h.host_index].name.data);
    }
    if (req->target_form != PX_TARGET_ABSOLUTE && h.host_index >= 0) {
        req->authority = headers[h.host_index].value;
    }
    if (h.te_seen) {
        if (req->version == 10) {
            return PX_H1_FAIL(&h, 400, "Transfer-Encoding in an HTTP/1.0 request", last);
        }
        if (h.cl_seen) {
            return PX_H1_FAIL(&h, 400, "both Content-Length and Transfer-Encoding", last);
        }
        if (!h.te_chunked_last) {
            return PX_H1_FAIL(&h, 400, "chunked is not the final transfer coding", last);
        }
        if (h.te_other) {
            return PX_H1_FAIL(&h, 501, "unsupported transfer coding", last);
        }
        req->body = PX_BODY_CHUNKED;
    } else if (h.cl_seen) {
        req->body = PX_BODY_LENGTH;
        req->content_length = h.content_length;
    }
    req->head_len = h.head_len;
    return PX_H1_DONE;
}

/* ---- responses ---------------------------------------------------------------------------- */

/* status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] CRLF; the second SP may be missing
 * when the reason is. */
static px_h1_rc_t px_h1_status_line(px_h1_head_t *h, px_h1_response_t *resp, const char **pp)
{
    const char *p = h->buf, *end = h->end, *bad = NULL, *r;
    int m = px_h1_match_version(p, end, &bad), i;

    if (m <= 0) {
        return m == 0 ? px_h1_incomplete(h) : PX_H1_FAIL(h, 502, "invalid HTTP version", bad);
    }
    resp->version = px_h1_version(p);
    if (resp->version == 0) {
        return PX_H1_FAIL(h, 502, "HTTP version not supported", p);
    }
    p += 8;
    for (i = 0; i < 4; i++) {
        if (p + i == end) {
            return px_h1_incomplete(h);
        }
        if (i == 0 ? p[i] != ' ' : !PX_IS_DIGIT(p[i])) {
            return PX_H1_FAIL(h, 502, i == 0 ? "invalid status line" : "invalid status code",
                              p + i);
        }
    }
    resp->status = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
    if (resp->status < 100 || resp->status > 599) {
        return PX_H1_FAIL(h, 502, "invalid status code", p + 1);
    }
    p += 4;
    r = p;
    if (p < end && *p == ' ') {
        r = ++p;
        while (p < end && PX_IS(*p, PX_C_FIELD)) {
            p++;
        }
    }
    if (p == end || (*p == '\r' && p + 1 == end)) {
        return px_h1_incomplete(h);
    }
    if (*p != '\r') {
        return PX_H1_FAIL(h, 502,
                          *p == '\n' ? "bare LF in status line"
                          : p == r   ? "invalid status code"
                                     : "invalid character in reason phrase",
                          p);
    }
    if (p[1] != '\n') {
        return PX_H1_FAIL(h, 502, "bare CR in status line", p);
    }
    resp->reason.data = r;
    resp->reason.len = (size_t)(p - r);
    *pp = p + 2;
    return PX_H1_DONE;
}

px_h1_rc_t px_h1_parse_response(const char *buf, size_t len, px_h1_response_t *resp,
                                px_header_t *headers, size_t max_headers,
                                const px_h1_limits_t *limits, px_h1_error_t *err)
{
    px_h1_error_t dummy;
    px_h1_head_t h;
    const char *p = NULL, *last;
    px_h1_rc_t rc;

    px_h1_head_init(&h, buf, len, headers, max_headers, limits, err ? err : &dummy, 0);
    memset(resp, 0, sizeof(*resp));
    resp->headers = headers;
    rc = px_h1_status_line(&h, resp, &p);
    if (rc == PX_H1_DONE) {
        rc = px_h1_parse_fields(&h, p);
    }
    resp->nheaders = h.nheaders;
    resp->flags = h.flags;
    if (rc == PX_H1_DONE) {
        last = buf + h.head_len - 2;
        if (h.te_seen && resp->version == 10) {
            rc = PX_H1_FAIL(&h, 502, "Transfer-Encoding in an HTTP/1.0 response", last);
        } else if (h.te_seen && h.cl_seen) {
            rc = PX_H1_FAIL(&h, 502, "both Content-Length and Transfer-Encoding", last);
        }
    }
    if (rc == PX_H1_INVALID) {
        h.err->status = 502;
    }
    if (rc != PX_H1_DONE) {
        return rc;
    }
    if (h.te_seen) {
        resp->body = h.te_chunked_last ? PX_BODY_CHUNKED : PX_BODY_CLOSE;
    } else if (h.cl_seen) {
        resp->body = PX_BODY_LENGTH;
        resp->content_length = h.content_length;
    } else {
        resp->body = PX_BODY_CLOSE;
    }
    resp->head_len = h.head_len;
    return PX_H1_DONE;
}

px_body_kind_t px_h1_response_body(const px_h1_response_t *resp, px_method_t request_method)
{
    if (request_method == PX_METHOD_HEAD || resp->status < 200 || resp->status == 204 ||
        resp->status == 304) {
        return PX_BODY_NONE;
    }
    if (request_method == PX_METHOD_CONNECT && resp->status < 300) {
        return PX_BODY_NONE; /* a tunnel, not a body (RFC 9112 section 6.3) */
    }
    return resp->body;
}

/* ---- chunked transfer coding (RFC 9112 section 7.1) --------------------------------------- */

enum {
    PX_CK_SIZE_START = 0, /* the first hex digit of a chunk-size */
    PX_CK_SIZE,           /* more hex digits, or what ends them */
    PX_CK_EXT_WS,         /* BWS seen: more BWS or ';' */
    PX_CK_EXT_NAME_START, /* after ';': BWS, then an ext-name */
    PX_CK_EXT_NAME,       /* in an ext-name */
    PX_CK_EXT_NAME_WS,    /* BWS after an ext-name: more BWS, '=' or ';' */
    PX_CK_EXT_VAL_START,  /* after '=': BWS, then a token or a quoted-string */
    PX_CK_EXT_TOKEN,      /* in a token ext-value */
    PX_CK_EXT_QUOTED,     /* in a quoted-string ext-value */
    PX_CK_EXT_QPAIR,      /* after a backslash in a quoted-string */
    PX_CK_EXT_AFTER_Q,    /* after the closing quote */
    PX_CK_SIZE_LF,        /* the CR ending the size line was seen */
    PX_CK_DATA,           /* the caller is moving chunk data */
    PX_CK_DATA_CR,        /* the CRLF after chunk data */
    PX_CK_DATA_LF,
    PX_CK_TR_START, /* start of a trailer field line, or of the final CRLF */
    PX_CK_TR_NAME,
    PX_CK_TR_VALUE,
    PX_CK_TR_LF,
    PX_CK_FINAL_LF,
    PX_CK_DONE,
    PX_CK_ERROR,
};

void px_h1_chunked_init(px_h1_chunked_t *c, size_t max_line, size_t max_trailers)
{
    memset(c, 0, sizeof(*c));
    c->state = PX_CK_SIZE_START;
    c->max_line = max_line;
    c->max_trailers = max_trailers;
}

void px_h1_chunked_data_consumed(px_h1_chunked_t *c, uint64_t n)
{
    if (c->state != PX_CK_DATA) {
        return;
    }
    c->remaining -= n < c->remaining ? n : c->remaining;
    if (c->remaining == 0) {
        c->state = PX_CK_DATA_CR;
    }
}

/* The state after a size line byte that ends a size, a name or a value: ';', BWS or CR. */
static int px_h1_ck_ext_end(unsigned char ch)
{
    if (ch == ';') {
        return PX_CK_EXT_NAME_START;
    }
    if (PX_IS(ch, PX_C_OWS)) {
        return PX_CK_EXT_WS;
    }
    return ch == '\r' ? PX_CK_SIZE_LF : PX_CK_ERROR;
}

/* One byte of a size line (states PX_CK_SIZE_START to PX_CK_EXT_AFTER_Q): the next state. */
static int px_h1_ck_size_line(px_h1_chunked_t *c, unsigned char ch)
{
    switch (c->state) {
    case PX_CK_SIZE_START:
    case PX_CK_SIZE:
        if (PX_IS(ch, PX_C_HEX)) {
            unsigned d = ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
            if (c->size > (PX_H1_INT64_MAX - d) >> 4) {
                return PX_CK_ERROR;
            }
            c->size = (c->size << 4) | d;
            return PX_CK_SIZE;
        }
        return c->state == PX_CK_SIZE ? px_h1_ck_ext_end(ch) : PX_CK_ERROR;
    case PX_CK_EXT_WS:
        return PX_IS(ch, PX_C_OWS) ? PX_CK_EXT_WS : ch == ';' ? PX_CK_EXT_NAME_START : PX_CK_ERROR;
    case PX_CK_EXT_NAME_START:
        if (PX_IS(ch, PX_C_OWS)) {
            return PX_CK_EXT_NAME_START;
        }
        return PX_IS(ch, PX_C_TCHAR) ? PX_CK_EXT_NAME : PX_CK_ERROR;
    case PX_CK_EXT_NAME:
        if (PX_IS(ch, PX_C_TCHAR)) {
            return PX_CK_EXT_NAME;
        }
        return ch == '='             ? PX_CK_EXT_VAL_START
               : PX_IS(ch, PX_C_OWS) ? PX_CK_EXT_NAME_WS
                                     : px_h1_ck_ext_end(ch);
    case PX_CK_EXT_NAME_WS:
        if (PX_IS(ch, PX_C_OWS)) {
            return PX_CK_EXT_NAME_WS;
        }
        return ch == '=' ? PX_CK_EXT_VAL_START : ch == ';' ? PX_CK_EXT_NAME_START : PX_CK_ERROR;
    case PX_CK_EXT_VAL_START:
        if (PX_IS(ch, PX_C_OWS)) {
            return PX_CK_EXT_VAL_START;
        }
        return ch == '"' ? PX_CK_EXT_QUOTED : PX_IS(ch, PX_C_TCHAR) ? PX_CK_EXT_TOKEN : PX_CK_ERROR;
    case PX_CK_EXT_TOKEN: return PX_IS(ch, PX_C_TCHAR) ? PX_CK_EXT_TOKEN : px_h1_ck_ext_end(ch);
    case PX_CK_EXT_QUOTED:
        if (ch == '"') {
            return PX_CK_EXT_AFTER_Q;
        }
        return ch == '\\'               ? PX_CK_EXT_QPAIR
               : PX_IS(ch, PX_C_QDTEXT) ? PX_CK_EXT_QUOTED
                                        : PX_CK_ERROR;
    case PX_CK_EXT_QPAIR: return PX_IS(ch, PX_C_FIELD) ? PX_CK_EXT_QUOTED : PX_CK_ERROR;
    default: /* PX_CK_EXT_AFTER_Q */ return px_h1_ck_ext_end(ch);
    }
}

/* One byte of the trailer section (states PX_CK_TR_START to PX_CK_FINAL_LF): the next state,
 * with *why set when it is PX_CK_ERROR. */
static int px_h1_ck_trailer(int state, unsigned char ch, const char **why)
{
    switch (state) {
    case PX_CK_TR_START:
        if (ch == '\r') {
            return PX_CK_FINAL_LF;
        }
        if (PX_IS(ch, PX_C_TCHAR)) {
            return PX_CK_TR_NAME;
        }
        *why = ch == '\n'            ? "bare LF in trailer section"
               : PX_IS(ch, PX_C_OWS) ? "obs-fold in trailer section"
                                     : "invalid character in trailer field name";
        return PX_CK_ERROR;
    case PX_CK_TR_NAME:
        if (PX_IS(ch, PX_C_TCHAR)) {
            return PX_CK_TR_NAME;
        }
        if (ch == ':') {
            return PX_CK_TR_VALUE;
        }
        *why = PX_IS(ch, PX_C_OWS) ? "whitespace between trailer field name and colon"
                                   : "invalid character in trailer field name";
        return PX_CK_ERROR;
    case PX_CK_TR_VALUE:
        if (PX_IS(ch, PX_C_FIELD)) {
            return PX_CK_TR_VALUE;
        }
        if (ch == '\r') {
            return PX_CK_TR_LF;
        }
        *why = ch == '\n' ? "bare LF in trailer section" : "invalid character in trailer field";
        return PX_CK_ERROR;
    case PX_CK_TR_LF:
        *why = "bare CR in trailer section";
        return ch == '\n' ? PX_CK_TR_START : PX_CK_ERROR;
    default: /* PX_CK_FINAL_LF */
        *why = "bare CR in trailer section";
        return ch == '\n' ? PX_CK_DONE : PX_CK_ERROR;
    }
}

px_h1_chunk_rc_t px_h1_chunked_feed(px_h1_chunked_t *c, const char *buf, size_t len,
                                    size_t *consumed, px_h1_error_t *err)
{
    size_t max_line = c->max_line != 0 ? c->max_line : PX_H1_DEFAULT_MAX_LINE;
    size_t max_tr = c->max_trailers != 0 ? c->max_trailers : PX_H1_DEFAULT_MAX_TRAILERS;
    const char *why = NULL;
    size_t i;

    *consumed = 0;
    switch (c->state) {
    case PX_CK_DONE: return PX_H1_CHUNK_DONE;
    case PX_CK_ERROR:
        if (err != NULL) {
            px_h1_fail(err, 400, "chunked body already failed", 0);
        }
        return PX_H1_CHUNK_ERROR;
    case PX_CK_DATA:
        if (c->remaining != 0) {
            return PX_H1_CHUNK_DATA;
        }
        c->state = PX_CK_DATA_CR;
        break;
    default: break;
    }
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)buf[i];
        int st = c->state, next;

        if (st <= PX_CK_EXT_AFTER_Q) {
            if (ch != '\r' && ++c->line_len > max_line) {
                why = "chunk size line too long";
                next = PX_CK_ERROR;
            } else {
                next = px_h1_ck_size_line(c, ch);
                if (next == PX_CK_ERROR) {
                    why = ch == '\n'                                ? "bare LF in chunk size line"
                          : PX_IS(ch, PX_C_HEX) && st <= PX_CK_SIZE ? "chunk size too large"
                          : st <= PX_CK_SIZE                        ? "invalid chunk size"
                                                                    : "invalid chunk extension";
                }
            }
        } else if (st >= PX_CK_TR_START) {
            if (++c->trailer_bytes > max_tr) {
                why = "trailer section too large";
                next = PX_CK_ERROR;
            } else {
                next = px_h1_ck_trailer(st, ch, &why);
            }
        } else if (st == PX_CK_SIZE_LF) {
            if (ch != '\n') {
                why = "bare CR in chunk size line";
                next = PX_CK_ERROR;
            } else if (c->size == 0) {
                next = PX_CK_TR_START;
            } else {
                c->state = PX_CK_DATA;
                c->remaining = c->size;
                c->size = 0;
                c->line_len = 0;
                *consumed = i + 1;
                return PX_H1_CHUNK_DATA;
            }
        } else {
            /* PX_CK_DATA_CR, PX_CK_DATA_LF */
            why = "missing CRLF after chunk data";
            next = ch == (st == PX_CK_DATA_CR ? '\r' : '\n')
                       ? (st == PX_CK_DATA_CR ? PX_CK_DATA_LF : PX_CK_SIZE_START)
                       : PX_CK_ERROR;
        }
        c->state = next;
        if (next == PX_CK_ERROR) {
            *consumed = i;
            if (err != NULL) {
                px_h1_fail(err, 400, why, i);
            }
            return PX_H1_CHUNK_ERROR;
        }
        if (next == PX_CK_DONE) {
            *consumed = i + 1;
            return PX_H1_CHUNK_DONE;
        }
        if (next == PX_CK_SIZE_START) {
            c->line_len = 0;
            c->size = 0;
        }
    }
    *consumed = len;
    return c->state >= PX_CK_TR_START ? PX_H1_CHUNK_TRAILERS : PX_H1_CHUNK_NEED_MORE;
}

/* ---- trailer sections (RFC 9112 section 7.1.2) --------------------------------------------- */

px_h1_rc_t px_h1_parse_trailers(const char *buf, size_t len, px_header_t *out, size_t max,
                                size_t *n, px_h1_error_t *err)
{
    const char *p = buf, *end = buf + len;

    *n = 0;
    for (;;) {
        if (p == end) {
            return px_h1_fail(err, 400, "trailer section without its final CRLF", len);
        }
        if (*p == '\r') {
            if (end - p == 2 && p[1] == '\n') {
                return PX_H1_DONE;
            }
            return px_h1_fail(err, 400, "bytes after the end of the trailer section",
                              (size_t)(p - buf));
        }
        const char *name = p;
        while (p < end && PX_IS(*p, PX_C_TCHAR)) {
            p++;
        }
        if (p == name || p == end || *p != ':') {
            return px_h1_fail(err, 400, "invalid trailer field name", (size_t)(p - buf));
        }
        px_str_t fname = {name, (size_t)(p - name)};
        p++;
        while (p < end && PX_IS(*p, PX_C_OWS)) {
            p++;
        }
        const char *val = p;
        while (p < end && PX_IS(*p, PX_C_FIELD)) {
            p++;
        }
        const char *vend = p;
        while (vend > val && PX_IS(vend[-1], PX_C_OWS)) {
            vend--;
        }
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            return px_h1_fail(err, 400, "invalid trailer field line", (size_t)(p - buf));
        }
        p += 2;
        if (*n == max) {
            return px_h1_fail(err, 400, "too many trailer fields", (size_t)(name - buf));
        }
        out[*n].name = fname;
        out[*n].value = (px_str_t){val, (size_t)(vend - val)};
        (*n)++;
    }
}

int px_h1_trailer_dropped(px_str_t name)
{
    return PX_H1_TOKEN_EQ(name, "content-length") || PX_H1_TOKEN_EQ(name, "transfer-encoding") ||
           PX_H1_TOKEN_EQ(name, "trailer") || PX_H1_TOKEN_EQ(name, "host") ||
           PX_H1_TOKEN_EQ(name, "connection") || PX_H1_TOKEN_EQ(name, "keep-alive") ||
           PX_H1_TOKEN_EQ(name, "proxy-connection") || PX_H1_TOKEN_EQ(name, "te") ||
           PX_H1_TOKEN_EQ(name, "upgrade");
}
