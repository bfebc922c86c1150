/*
 * api_key_parse.h: the parsers of the api_key filter, apart from the SDK and OpenSSL so a unit
 * test (t/unit/test_api_key.c) and a fuzz target (fuzz/fuzz_api_key.c) link them alone: keys as
 * written in the config, lines of a keys file, and finding, removing or masking a parameter in
 * a query string.
 *
 * Nothing here allocates: results point into the caller's input or buffer.
 */
#ifndef AK_API_KEY_PARSE_H
#define AK_API_KEY_PARSE_H

#include <stddef.h>

#include "../common/auth_line.h"

#define AK_MIN_KEY      16   /* shorter plain keys are refused */
#define AK_MAX_KEY      1024 /* longer ones too */
#define AK_MAX_CONSUMER 128

/* A consumer name: 1..AK_MAX_CONSUMER of A-Z a-z 0-9 . _ - @ */
int ak_consumer_ok(const char *s, size_t len);

/* A query parameter name the config gives: 1..64 of A-Z a-z 0-9 . _ - ~ */
int ak_param_name_ok(const char *s, size_t len);

typedef enum {
    AK_KEY_PLAIN = 0, /* the key itself: its digest is to be computed */
    AK_KEY_SHA256,    /* "sha256:" and 64 hex digits: the digest, decoded into digest[] */
} ak_key_kind_t;

/* Check a key as written in the config or a keys file: "sha256:<64 hex digits>" (either case),
 * or a plain key of AK_MIN_KEY..AK_MAX_KEY printable ASCII characters without spaces. NULL when
 * it is good (*kind set, and digest[] for AK_KEY_SHA256), else what is wrong (static text). */
const char *ak_key_check(const char *s, size_t len, ak_key_kind_t *kind, unsigned char digest[32]);

typedef struct {
    const char *consumer; /* into the line; not NUL-terminated */
    size_t consumer_len;
    const char *key;
    size_t key_len;
    size_t key_col; /* 1-based column of the key */
    ak_key_kind_t kind;
    unsigned char digest[32]; /* AK_KEY_SHA256 */
    au_line_error_t err;      /* AU_LINE_ERROR: what is wrong, and where */
} ak_line_t;

/* One line of a keys file, "consumer: key", without its line ending, in the syntax of
 * auth_line.h. AU_LINE_ENTRY: consumer and key set, the key checked by ak_key_check;
 * AU_LINE_ERROR: err set. Spaces and tabs around the key are ignored. */
au_line_rc_t ak_key_line(const char *line, size_t len, ak_line_t *out);

/* ---- query strings ------------------------------------------------------------------------
 * A query (without "?") is parameters separated by "&"; a parameter is NAME=VALUE or NAME
 * alone. A name matches when it equals `name` after percent-decoding. "+" is not decoded:
 * keys hold no spaces, so a "+" in a key is itself. */

/* How many parameters are named `name`; the raw (undecoded) value of the first goes to *val. */
size_t ak_query_find(const char *q, size_t qlen, const char *name, size_t nlen, const char **val,
                     size_t *vlen);

/* Copy q to out without the parameters named `name` (repl == NULL), or with their values
 * replaced by repl (NAME=repl). The other parameters are kept byte for byte and in order. out
 * has room for qlen + ak_query_find(...) * (rlen + 1) bytes. Returns the length written. */
size_t ak_query_rewrite(const char *q, size_t qlen, const char *name, size_t nlen, const char *repl,
                        size_t rlen, char *out);

/* Percent-decode s into out (room for len bytes): "%HH" is the byte HH, anything else is itself.
 * 0, or -1 when a "%" is not followed by two hex digits. */
int ak_pct_decode(const char *s, size_t len, char *out, size_t *outlen);

#endif /* AK_API_KEY_PARSE_H */
