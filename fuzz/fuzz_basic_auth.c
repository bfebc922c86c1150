/*
 * fuzz_basic_auth.c: libFuzzer target for the basic_auth filter's parsers
 * (modules/basic_auth/basic_parse.c). Every input goes to the base64 decoder, to
 * ba_parse_basic (as it is, and after "Basic "), to ba_htpasswd_line and to ba_hash_classify.
 * Seeds: fuzz/corpus/basic_auth/.
 *
 * Besides "no crash, no overrun": decoded base64 re-encodes (OpenSSL's EVP_EncodeBlock) to the
 * input exactly (one encoding per byte string); accepted credentials have a non-empty user
 * without ':' or control characters and a password without NUL, both NUL-terminated inside the
 * buffer; an htpasswd entry's user and hash lie inside the line and its hash form is accepted;
 * an error has a message and a column on the line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "basic_parse.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static int inside(const char *p, size_t n, const char *buf, size_t len)
{
    return p >= buf && n <= len && p <= buf + len - n;
}

static void check_base64(const char *in, size_t len)
{
    unsigned char *out = malloc(BA_BASE64_DECODED_MAX(len));
    size_t n = 0;
    CHECK(out != NULL);
    if (ba_base64_decode(in, len, out, &n) == 0) {
        unsigned char *re = malloc(len + 1);
        CHECK(re != NULL);
        CHECK((size_t)EVP_EncodeBlock(re, out, (int)n) == len);
        CHECK(memcmp(re, in, len) == 0);
        free(re);
    }
    free(out);
}

static void check_basic(const char *v, size_t len)
{
    size_t cap = BA_CRED_BUF(len);
    char *buf = malloc(cap);
    ba_cred_t c;
    CHECK(buf != NULL);
    if (ba_parse_basic(v, len, buf, cap, &c) == BA_CRED_OK) {
        CHECK(len <= BA_MAX_AUTHORIZATION);
        CHECK(c.user_len > 0 && inside(c.user, c.user_len + 1, buf, cap));
        CHECK(inside(c.pass, c.pass_len + 1, buf, cap));
        CHECK(c.user[c.user_len] == '\0' && c.pass[c.pass_len] == '\0');
        CHECK(memchr(c.user, ':', c.user_len) == NULL);
        CHECK(memchr(c.pass, '\0', c.pass_len) == NULL);
        for (size_t i = 0; i < c.user_len; i++)
            CHECK((unsigned char)c.user[i] >= 0x20 && c.user[i] != 0x7f);
    }
    free(buf);
}

static void check_htpasswd(const char *line, size_t len)
{
    ba_htline_t l;
    switch (ba_htpasswd_line(line, len, &l)) {
    case AU_LINE_SKIP: break;
    case AU_LINE_ENTRY:
        CHECK(BA_HASH_ACCEPTED(l.kind));
        CHECK(l.user_len > 0 && inside(l.user, l.user_len, line, len));
        CHECK(inside(l.hash, l.hash_len, line, len) && l.hash == l.user + l.user_len + 1);
        CHECK(memchr(l.user, ':', l.user_len) == NULL);
        CHECK(ba_hash_classify(l.hash, l.hash_len) == l.kind);
        break;
    case AU_LINE_ERROR:
        CHECK(l.err.error != NULL && l.err.error[0] != '\0');
        CHECK(l.err.col >= 1 && l.err.col <= len + 1);
        break;
    default: abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    check_base64(s, size);
    check_basic(s, size);
    char *v = malloc(size + 6);
    CHECK(v != NULL);
    memcpy(v, "Basic ", 6);
    memcpy(v + 6, data, size);
    check_basic(v, size + 6);
    free(v);
    check_htpasswd(s, size);
    (void)ba_hash_classify(s, size);
    return 0;
}
