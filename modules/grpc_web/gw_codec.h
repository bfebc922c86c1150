/*
 * gw_codec.h: the byte-level transforms between gRPC-Web and gRPC (the gRPC-Web protocol:
 * grpc/grpc doc/PROTOCOL-WEB.md). No pyxis header here: the grpc_web filter, its unit test
 * (t/unit/test_grpc_web.c) and its fuzz target (fuzz/fuzz_grpc_web.c) all link gw_codec.c.
 *
 * What differs between the two protocols, and what each function here handles:
 *  - the content type: `application/grpc-web[+SUB]` (binary) or `application/grpc-web-text
 *    [+SUB]` (the body base64-encoded) on the web side, `application/grpc[+SUB]` on the gRPC
 *    side: gw_content_type();
 *  - a text-mode request body is base64 that may arrive in pieces of any size, and may carry
 *    padding at the end of any 4-character quantum (a client flushes whenever it likes):
 *    gw_b64_decode() keeps an incomplete quantum across calls;
 *  - a text-mode response body is sent base64-encoded, each piece on its own with its padding,
 *    so that nothing of a streamed message waits for the next one: gw_b64_encode();
 *  - gRPC's trailers (grpc-status, grpc-message, custom metadata) travel in the response body
 *    as a last frame whose flag byte has its high bit set, the fields written as an HTTP/1
 *    header block with lowercase names: gw_trailer_frame().
 *
 * Nothing here allocates or keeps global state.
 */
#ifndef GW_CODEC_H
#define GW_CODEC_H

#include <stddef.h>
#include <sys/types.h>

typedef enum {
    GW_NONE = 0, /* not a gRPC-Web content type */
    GW_BINARY,   /* application/grpc-web[+SUB] */
    GW_TEXT,     /* application/grpc-web-text[+SUB]: base64 */
} gw_mode_t;

/* Classify a Content-Type (or one Accept entry) value. For GW_BINARY and GW_TEXT, *sub and
 * *sublen are the "+SUB" suffix without its "+" (length 0 when absent). Type and subtype
 * compare case-insensitively; parameters after ";" and spaces around are allowed and ignored. */
gw_mode_t gw_content_type(const char *v, size_t len, const char **sub, size_t *sublen);

/* Does an Accept value list application/grpc-web-text (any +SUB)? (A text-mode response is
 * sent when the request was text, or when the client asks for it this way.) */
int gw_accepts_text(const char *v, size_t len);

/* ---- base64 (RFC 4648 section 4, the standard alphabet) ---------------------------------------
 */

typedef struct {
    unsigned char q[4]; /* an incomplete quantum, carried to the next call */
    unsigned nq;
} gw_b64dec_t;

/* The most gw_b64_decode() can write for len input bytes (with up to 3 carried). */
#define GW_B64_DECODED_MAX(len) (((len) + 3) / 4 * 3)

/* Decode len bytes of base64 into out (room for GW_B64_DECODED_MAX(len)), carrying an
 * incomplete quantum in d. A quantum may end in padding ("xx==", "xxx="), after which decoding
 * starts again with the next quantum. Returns the bytes written, or -1 for input that is not
 * base64: a byte outside the alphabet (whitespace included), padding anywhere but at the end of
 * a quantum, or non-zero bits left over before the padding. */
ssize_t gw_b64_decode(gw_b64dec_t *d, const char *in, size_t len, unsigned char *out);

/* At the end of the body: 0, or -1 when an incomplete quantum is left (a cut body). */
int gw_b64_decode_end(const gw_b64dec_t *d);

/* The length of gw_b64_encode()'s output for len bytes. */
#define GW_B64_ENCODED_LEN(len) (((len) + 2) / 3 * 4)

/* Encode len bytes into out (GW_B64_ENCODED_LEN(len) bytes, padded; no NUL). Returns that
 * length. */
size_t gw_b64_encode(const unsigned char *in, size_t len, char *out);

/* ---- the trailers frame -----------------------------------------------------------------------
 */

typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} gw_field_t;

/* The size of the trailers frame of these fields: 5 bytes of frame header (flag 0x80 and the
 * big-endian length), then "name: value\r\n" for each. 0 when the block would not fit the
 * frame's 32-bit length. */
size_t gw_trailer_frame_size(const gw_field_t *f, size_t n);

/* Write that frame into out (gw_trailer_frame_size() bytes), names lowercased. Returns its
 * size. Values are written as they are: the caller passes fields already checked as HTTP
 * field values (no CR, LF or NUL). */
size_t gw_trailer_frame(const gw_field_t *f, size_t n, unsigned char *out);

#endif
