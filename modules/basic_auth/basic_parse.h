/*
 * basic_parse.h: the parsers of the basic_auth filter, apart from the SDK so a unit test
 * (t/unit/test_basic_auth.c) and a fuzz target (fuzz/fuzz_basic_auth.c) link them alone: strict
 * base64, the `Authorization: Basic` value, and htpasswd lines with the hash forms they hold.
 *
 * Nothing here allocates: results point into the caller's input or buffer.
 */
#ifndef BA_BASIC_PARSE_H
#define BA_BASIC_PARSE_H

#include <stddef.h>

#include "../common/auth_line.h"

/* ---- base64 ------------------------------------------------------------------------------ */

/* Bytes ba_base64_decode may write for an input of len characters. */
#define BA_BASE64_DECODED_MAX(len) ((len) / 4 * 3 + 3)

/* Strict base64 (RFC 4648 section 4, standard alphabet): groups of 4 characters, "=" padding
 * only to end the last group, no whitespace, and the unused bits of the last character zero.
 * Writes the bytes to out (room for BA_BASE64_DECODED_MAX(len)) and their count to *outlen.
 * 0, or -1 when the input is not such base64. */
int ba_base64_decode(const char *in, size_t len, unsigned char *out, size_t *outlen);

/* ---- Authorization: Basic ---------------------------------------------------------------- */

/* The longest Authorization value looked at; longer ones are refused unread. */
#define BA_MAX_AUTHORIZATION 4096

typedef enum {
    BA_CRED_OK = 0,
    BA_CRED_NOT_BASIC,   /* another scheme (Bearer, Digest, ...) or no credentials after it */
    BA_CRED_TOO_LONG,    /* over BA_MAX_AUTHORIZATION */
    BA_CRED_BAD_BASE64,  /* the credentials are not strict base64 */
    BA_CRED_NO_COLON,    /* decoded, but no ':' between user and password */
    BA_CRED_EMPTY_USER,  /* ":password" */
    BA_CRED_BAD_USER,    /* a control character in the user name */
    BA_CRED_BAD_PASSWORD /* a NUL in the password */
} ba_cred_rc_t;

/* What a ba_cred_rc_t means, for a log line ("malformed credentials: ..."). */
const char *ba_cred_reason(ba_cred_rc_t rc);

/* Decoded credentials: both point into the caller's buffer and are NUL-terminated. */
typedef struct {
    const char *user;
    size_t user_len;
    const char *pass;
    size_t pass_len;
} ba_cred_t;

/* Room the buffer given to ba_parse_basic needs for a value of len bytes. */
#define BA_CRED_BUF(len) (BA_BASE64_DECODED_MAX(len) + 1)

/* Parse an Authorization field value: "Basic" (any case), one or more spaces or tabs, the
 * base64 of "user:password" (RFC 7617), optional trailing spaces or tabs. The user is what
 * comes before the first ':'. buf has room for BA_CRED_BUF(len) bytes. */
ba_cred_rc_t ba_parse_basic(const char *value, size_t len, char *buf, size_t cap, ba_cred_t *out);

/* ---- htpasswd ---------------------------------------------------------------------------- */

typedef enum {
    /* accepted */
    BA_HASH_BCRYPT = 0, /* $2y$, $2b$, $2a$ */
    BA_HASH_SHA512,     /* $6$ */
    BA_HASH_SHA256,     /* $5$ */
    /* refused */
    BA_HASH_MALFORMED, /* starts like an accepted form, but is not one */
    BA_HASH_MD5_APR1,  /* $apr1$ */
    BA_HASH_MD5_CRYPT, /* $1$ */
    BA_HASH_SHA1,      /* {SHA} */
    BA_HASH_DES,       /* 13 characters of ./0-9A-Za-z: DES crypt */
    BA_HASH_OTHER,     /* another crypt method ($y$, $2x$, {SSHA}, ...) */
    BA_HASH_PLAIN,     /* anything else: a plaintext password, or not a hash at all */
    BA_HASH_EMPTY,     /* nothing after the ':' */
} ba_hash_kind_t;

#define BA_HASH_ACCEPTED(k) ((k) <= BA_HASH_SHA256)

/* The hash forms accepted, for messages. */
#define BA_HASH_FORMS "bcrypt ($2y$, $2b$, $2a$), SHA-512-crypt ($6$) or SHA-256-crypt ($5$)"

/* The kind of a stored hash. The accepted forms are checked whole: bcrypt is $2?$, a cost of
 * 04..31, $ and 53 characters of ./0-9A-Za-z; SHA-crypt is $5$ or $6$, an optional rounds=N$,
 * a salt of 1..16 characters and $ then 43 ($5$) or 86 ($6$) characters of ./0-9A-Za-z. */
ba_hash_kind_t ba_hash_classify(const char *h, size_t len);

typedef struct {
    const char *user; /* into the line; not NUL-terminated */
    size_t user_len;
    const char *hash;
    size_t hash_len;
    ba_hash_kind_t kind;
    au_line_error_t err; /* AU_LINE_ERROR: what is wrong, and where */
} ba_htline_t;

/* One line of an htpasswd file, "user:hash", without its line ending, in the syntax of
 * auth_line.h. AU_LINE_ENTRY: user and hash set, kind accepted; AU_LINE_ERROR: err set (and
 * user, when the line got that far). The user name is not empty and holds no control
 * character and no leading or trailing space. A refused hash form is an error whose text says
 * which form it is. */
au_line_rc_t ba_htpasswd_line(const char *line, size_t len, ba_htline_t *out);

#endif /* BA_BASIC_PARSE_H */
