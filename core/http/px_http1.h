/*
 * px_http1.h: the HTTP/1.1 message-head parser and chunked decoder (RFC 9112).
 *
 * Strictness is the point: anything a downstream or upstream peer could read differently from
 * us is rejected, never repaired. See docs/http.md for the exact rules.
 */
#ifndef PX_HTTP1_H
#define PX_HTTP1_H

#include "px_http1-t.h"

#define PX_H1_DEFAULT_MAX_HEAD    (16 * 1024)
#define PX_H1_DEFAULT_MAX_HEADERS 100
#define PX_H1_DEFAULT_MAX_URI     (8 * 1024)
/* Largest trailer section of a chunked body when px_h1_chunked_t.max_trailers is 0. */
#define PX_H1_DEFAULT_MAX_TRAILERS (16 * 1024)

/* px_h1_find_head_end(): a line ended with a bare LF, so the head can never be valid. */
#define PX_H1_HEAD_BARE_LF ((size_t)-1)

/*
 * Find the end of a message head (the first CRLF CRLF) in buf[0..len).
 * *scanned carries progress between calls on a growing buffer (start it at 0); the scan is
 * linear in total bytes however the input is split. Returns the head length (including the
 * CRLF CRLF), 0 if the head is not complete yet, or PX_H1_HEAD_BARE_LF as soon as a line ends
 * with LF alone (RFC 9112 section 2.2 allows refusing those; pyxis does, so a head written with
 * bare LFs is refused when that LF arrives instead of waiting for a CRLF CRLF that never comes).
 */
size_t px_h1_find_head_end(const char *buf, size_t len, size_t *scanned);

/*
 * Parse a request head from buf[0..len). The head need not be complete: when it is not,
 * PX_H1_AGAIN is returned unless a limit is already exceeded (414 when the request line alone
 * is longer than max_uri allows, else 431), or the bytes so far are already invalid.
 * headers/max_headers is the caller's array. On PX_H1_DONE, req->head_len bytes form the head.
 * Rejects (with status): bad method token / request line shape / target chars (400), unsupported
 * version (505), CONNECT (501), bare CR or LF, obs-fold, whitespace before ':', NUL/CR/LF/CTL in
 * values (400), missing or duplicate Host in 1.1 (400), CL with TE, duplicate or invalid CL,
 * TE whose final coding is not chunked (400), TE with codings other than chunked (501),
 * TE in HTTP/1.0 (400), too many fields or head too large (431), target too long (414).
 */
px_h1_rc_t px_h1_parse_request(const char *buf, size_t len, px_h1_request_t *req,
                               px_header_t *headers, size_t max_headers,
                               const px_h1_limits_t *limits, px_h1_error_t *err);

/* Parse a response head, with the same field rules; every error has status 502. */
px_h1_rc_t px_h1_parse_response(const char *buf, size_t len, px_h1_response_t *resp,
                                px_header_t *headers, size_t max_headers,
                                const px_h1_limits_t *limits, px_h1_error_t *err);

/* How the response body is delimited, given the request method (RFC 9112 section 6.3):
 * NONE for HEAD requests and for 1xx, 204 and 304 responses, else what the fields say. */
px_body_kind_t px_h1_response_body(const px_h1_response_t *resp, px_method_t request_method);

/* Map a method token to its id (exact, case-sensitive match as RFC 9110 requires). */
px_method_t px_h1_method_id(const char *p, size_t len);

/* Case-insensitive ASCII comparison of a token with a lowercase literal. */
int px_h1_token_eq(px_str_t s, const char *lower_lit, size_t lit_len);
#define PX_H1_TOKEN_EQ(s, lit) px_h1_token_eq((s), (lit), sizeof(lit) - 1)

/* Does the comma-separated list value contain token (case-insensitive, OWS-trimmed)? */
int px_h1_list_has(px_str_t value, const char *lower_token, size_t token_len);

void px_h1_chunked_init(px_h1_chunked_t *c, size_t max_line, size_t max_trailers);

/*
 * Feed framing bytes buf[0..len) to the chunked decoder. *consumed is set to how many bytes it
 * consumed. Returns:
 *  - PX_H1_CHUNK_DATA: a chunk's data starts at buf[*consumed]; c->remaining data bytes follow
 *    (some may not have arrived yet). The caller moves up to c->remaining bytes itself and
 *    reports them with px_h1_chunked_data_consumed() before feeding framing again.
 *  - PX_H1_CHUNK_NEED_MORE / PX_H1_CHUNK_TRAILERS: everything given was consumed; feed more.
 *    Trailer bytes are consumed here; to keep them, the caller copies buf[0..*consumed) while
 *    the state is TRAILERS (they are a complete trailer section once DONE is returned).
 *  - PX_H1_CHUNK_DONE: the body is complete; bytes after *consumed belong to the next message.
 *  - PX_H1_CHUNK_ERROR: err says why (status 400 for requests; the caller maps to 502 for
 *    responses). Invalid hex, a size over 2^63, missing CRLF after data, bare CR/LF, a size
 *    line or trailer section over the limits, a malformed trailer field.
 */
px_h1_chunk_rc_t px_h1_chunked_feed(px_h1_chunked_t *c, const char *buf, size_t len,
                                    size_t *consumed, px_h1_error_t *err);

/*
 * Parse a trailer section buf[0..len) as it follows the last chunk: field lines, each ending
 * with CRLF, then the final CRLF, which must be the last two bytes. Field lines follow the rules
 * of header fields (token name, no whitespace before ':', no obs-fold, field-value bytes; OWS
 * around the value is trimmed). Fields go to out[0..max) in order, *n says how many; names and
 * values point into buf. PX_H1_DONE, or PX_H1_INVALID (err->status 400) for anything else,
 * including more than `max` fields. Never allocates.
 */
px_h1_rc_t px_h1_parse_trailers(const char *buf, size_t len, px_header_t *out, size_t max,
                                size_t *n, px_h1_error_t *err);

/* Is this a field a trailer section must not carry on (RFC 9110 section 6.5.1)? Framing
 * (Content-Length, Transfer-Encoding, Trailer), routing (Host) and the hop-by-hop fields
 * (Connection, Keep-Alive, Proxy-Connection, TE, Upgrade): pyxis drops them. */
int px_h1_trailer_dropped(px_str_t name);

/* Tell the decoder that n (<= c->remaining) data bytes were taken by the caller. */
void px_h1_chunked_data_consumed(px_h1_chunked_t *c, uint64_t n);

#endif
