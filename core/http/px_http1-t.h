/*
 * px_http1-t.h: types of the HTTP/1.1 message-head parser and chunked decoder (RFC 9112).
 *
 * The parser never allocates. It reads a contiguous buffer holding a complete message head
 * (start line + fields + the empty line) and fills caller-provided structs whose px_str_t
 * members point into that buffer: they are borrowed for as long as the caller keeps the
 * buffer unchanged. The chunked decoder is a byte-wise state machine that can be fed any
 * split of its input and never touches chunk data: it only says how many data bytes follow,
 * so the caller can move them (evbuffer_remove_buffer) without copying.
 */
#ifndef PX_HTTP1_T_H
#define PX_HTTP1_T_H

#include <stddef.h>
#include <stdint.h>

#include "px_str-t.h"

/* One header field as received. name and value are borrowed from the parsed buffer; value has
 * its leading and trailing whitespace (OWS) removed. */
typedef struct {
    px_str_t name;
    px_str_t value;
} px_header_t;

/* What the parser found wrong, and the status the server should answer with. */
typedef struct {
    int status;         /* 400, 414, 431, 501 or 505 for requests; 502 for responses */
    const char *reason; /* static text for the error log, e.g. "duplicate Content-Length" */
    size_t offset;      /* byte offset in the buffer where the problem was noticed */
} px_h1_error_t;

typedef enum {
    PX_H1_DONE = 0,     /* a complete, valid head was parsed; see head_len */
    PX_H1_AGAIN = 1,    /* the head is not complete yet and no limit is exceeded */
    PX_H1_INVALID = -1, /* malformed or over a limit: see px_h1_error_t; close after answering */
} px_h1_rc_t;

/* Limits applied while parsing. Zero means "use the default" (see px_http1.h). */
typedef struct {
    size_t max_head;    /* request/status line + all fields + CRLFs; over it: 431 */
    size_t max_headers; /* number of fields; over it: 431 */
    size_t max_uri;     /* request-target length; over it: 414 */
} px_h1_limits_t;

typedef enum {
    PX_METHOD_OTHER = 0, /* a valid token we do not know: forwarded as is */
    PX_METHOD_GET,
    PX_METHOD_HEAD,
    PX_METHOD_POST,
    PX_METHOD_PUT,
    PX_METHOD_DELETE,
    PX_METHOD_CONNECT,
    PX_METHOD_OPTIONS,
    PX_METHOD_TRACE,
    PX_METHOD_PATCH,
} px_method_t;

typedef enum {
    PX_TARGET_ORIGIN = 0, /* "/path?query" */
    PX_TARGET_ABSOLUTE,   /* "http://authority/path?query" */
    PX_TARGET_AUTHORITY,  /* "host:port", CONNECT only */
    PX_TARGET_ASTERISK,   /* "*", OPTIONS only */
} px_target_form_t;

/* How a message body is delimited (RFC 9112 section 6.3). */
typedef enum {
    PX_BODY_NONE = 0, /* no body (requests without CL/TE; 1xx/204/304 and HEAD responses) */
    PX_BODY_LENGTH,   /* Content-Length bytes; content_length may be 0 */
    PX_BODY_CHUNKED,  /* Transfer-Encoding: chunked */
    PX_BODY_CLOSE,    /* responses only: until the connection closes */
} px_body_kind_t;

/* Flags the parser sets from the fields it saw. */
enum {
    PX_H1_CONN_CLOSE = 1 << 0,      /* Connection: close */
    PX_H1_CONN_KEEPALIVE = 1 << 1,  /* Connection: keep-alive */
    PX_H1_CONN_UPGRADE = 1 << 2,    /* Connection: upgrade */
    PX_H1_EXPECT_CONTINUE = 1 << 3, /* Expect: 100-continue (request) */
    PX_H1_HAS_UPGRADE = 1 << 4,     /* an Upgrade field is present */
    PX_H1_HAS_TE = 1 << 5,          /* a TE field is present (request) */
    PX_H1_HAS_TRAILER = 1 << 6,     /* a Trailer field is present */
};

/* A parsed request head. All px_str_t are borrowed from the parsed buffer. */
typedef struct {
    px_str_t method;
    px_method_t method_id;
    px_str_t target; /* the request-target exactly as received */
    px_target_form_t target_form;
    px_str_t scheme;    /* absolute-form only: "http" or "https" (lowercase in input) */
    px_str_t authority; /* absolute-form or authority-form; else the Host field value */
    px_str_t path;      /* path part of the target ("/" for asterisk-form it is "*") */
    px_str_t query;     /* after '?', without it; len 0 if none (see has_query) */
    unsigned has_query : 1;
    int version; /* 10 for HTTP/1.0, 11 for HTTP/1.1 */

    px_header_t *headers; /* caller's array, filled in order received */
    size_t nheaders;

    px_body_kind_t body;     /* PX_BODY_NONE, PX_BODY_LENGTH or PX_BODY_CHUNKED */
    uint64_t content_length; /* valid when body == PX_BODY_LENGTH */
    unsigned flags;          /* PX_H1_* */
    int host_index;          /* index of the Host field in headers, -1 if absent */
    size_t head_len;         /* bytes of the head including the final CRLF CRLF */
} px_h1_request_t;

/* A parsed response head. All px_str_t are borrowed from the parsed buffer. */
typedef struct {
    int version;     /* 10 or 11 */
    int status;      /* 100..599 */
    px_str_t reason; /* may be empty */

    px_header_t *headers;
    size_t nheaders;

    /* Framing as the fields say; the caller still applies the request method and status
     * (see px_h1_response_body()). PX_BODY_CLOSE when neither CL nor chunked TE is present or
     * when TE is present but chunked is not the final coding. */
    px_body_kind_t body;
    uint64_t content_length;
    unsigned flags;
    size_t head_len;
} px_h1_response_t;

/* Chunked decoder state. Zero-initialise (or px_h1_chunked_init) before the first byte. */
typedef struct {
    int state;            /* private */
    uint64_t remaining;   /* data bytes left in the current chunk (PX_H1_CHUNK_DATA) */
    uint64_t size;        /* private: size being parsed */
    size_t line_len;      /* private: bytes in the current size/extension/trailer line */
    size_t trailer_bytes; /* total bytes of trailer section seen so far */
    size_t max_line;      /* longest size line (with extensions) accepted; 0 = 4096 */
    size_t max_trailers;  /* largest trailer section accepted; 0 = 16384 */
} px_h1_chunked_t;

typedef enum {
    PX_H1_CHUNK_NEED_MORE = 0, /* all input consumed as framing; feed more */
    PX_H1_CHUNK_DATA = 1,      /* framing consumed up to chunk data; `remaining` bytes follow */
    PX_H1_CHUNK_TRAILERS = 2,  /* last-chunk seen; trailer bytes are being consumed */
    PX_H1_CHUNK_DONE = 3,      /* the final CRLF after the trailers was consumed */
    PX_H1_CHUNK_ERROR = -1,    /* malformed framing: see px_h1_error_t */
} px_h1_chunk_rc_t;

#endif
