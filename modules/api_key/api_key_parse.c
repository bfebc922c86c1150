/*
 * api_key_parse.c: keys, keys-file lines and query parameters (api_key_parse.h).
 */
#include <string.h>

#include <openssl/crypto.h>

#include "api_key_parse.h"

static int ak_hex(unsigned char c)
{
    return OPENSSL_hexchar2int(c);
}

/* 1..max bytes, each a letter, a digit or one of `extra`. */
static int ak_name_ok(const char *s, size_t len, size_t max, const char *extra)
{
    if (len == 0 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c != '\0' && strchr(extra, c) != NULL)))
            return 0;
    }
    return 1;
}

int ak_consumer_ok(const char *s, size_t len)
{
    return ak_name_ok(s, len, AK_MAX_CONSUMER, "._-@");
}

int ak_param_name_ok(const char *s, size_t len)
{
    return ak_name_ok(s, len, 64, "._-~");
}

const char *ak_key_check(const char *s, size_t len, ak_key_kind_t *kind, unsigned char digest[32])
{
    static const char pre[] = "sha256:";
    if (len >= sizeof(pre) - 1 && memcmp(s, pre, sizeof(pre) - 1) == 0) {
        const char *h = s + sizeof(pre) - 1;
        if (len - (sizeof(pre) - 1) != 64)
            return "a sha256: key is 64 hex digits (the SHA-256 digest of the key)";
        for (size_t i = 0; i < 32; i++) {
            int hi = ak_hex((unsigned char)h[2 * i]), lo = ak_hex((unsigned char)h[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return "a sha256: key is 64 hex digits (the SHA-256 digest of the key)";
            digest[i] = (unsigned char)(hi << 4 | lo);
        }
        *kind = AK_KEY_SHA256;
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f)
            return "a key is printable ASCII without spaces";
    }
    if (len < AK_MIN_KEY)
        return "the key is shorter than 16 characters (too easy to guess)";
    if (len > AK_MAX_KEY)
        return "the key is longer than 1024 characters";
    *kind = AK_KEY_PLAIN;
    return NULL;
}

au_line_rc_t ak_key_line(const char *line, size_t len, ak_line_t *out)
{
    size_t i;
    memset(out, 0, sizeof(*out));
    if (au_line_skip(line, &len, &i))
        return AU_LINE_SKIP;
    if (i > 0)
        return au_line_refuse(&out->err, "a line starts with the consumer name, not a space", 1);
    const char *colon = memchr(line, ':', len);
    if (colon == NULL)
        return au_line_refuse(&out->err, "expected \"consumer: key\"", 1);
    size_t clen = (size_t)(colon - line);
    if (!ak_consumer_ok(line, clen))
        return au_line_refuse(&out->err,
                              "a consumer name is 1 to 128 of the letters, digits and . _ - @", 1);
    for (i = clen + 1; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
        ;
    out->consumer = line;
    out->consumer_len = clen;
    out->key = line + i;
    out->key_len = len - i;
    out->key_col = i + 1;
    if (out->key_len == 0)
        return au_line_refuse(&out->err, "no key after the \":\"", clen + 1);
    const char *err = ak_key_check(out->key, out->key_len, &out->kind, out->digest);
    if (err != NULL)
        return au_line_refuse(&out->err, err, out->key_col);
    return AU_LINE_ENTRY;
}

/* ---- query strings ----------------------------------------------------------------------- */

/* Does the raw parameter name r (percent-encoded) decode to name? */
static int ak_pct_equal(const char *r, size_t rlen, const char *name, size_t nlen)
{
    size_t i = 0, j = 0;
    for (; i < rlen && j < nlen; j++) {
        unsigned char c = (unsigned char)r[i];
        int hi, lo;
        if (c == '%' && i + 2 < rlen && (hi = ak_hex((unsigned char)r[i + 1])) >= 0 &&
            (lo = ak_hex((unsigned char)r[i + 2])) >= 0) {
            c = (unsigned char)(hi << 4 | lo);
            i += 3;
        } else {
            i++;
        }
        if (c != (unsigned char)name[j])
            return 0;
    }
    return i == rlen && j == nlen;
}

/* The next parameter of q from *pos: its bounds, and where its name ends. 0 at the end. */
static int ak_next_param(const char *q, size_t qlen, size_t *pos, size_t *start, size_t *end,
                         size_t *name_end)
{
    if (*pos > qlen)
        return 0;
    const char *amp = memchr(q + *pos, '&', qlen - *pos);
    *start = *pos;
    *end = amp != NULL ? (size_t)(amp - q) : qlen;
    const char *eq = memchr(q + *start, '=', *end - *start);
    *name_end = eq != NULL ? (size_t)(eq - q) : *end;
    *pos = *end + 1;
    return 1;
}

size_t ak_query_find(const char *q, size_t qlen, const char *name, size_t nlen, const char **val,
                     size_t *vlen)
{
    size_t pos = 0, start, end, ne, n = 0;
    if (qlen == 0)
        return 0;
    while (ak_next_param(q, qlen, &pos, &start, &end, &ne)) {
        if (!ak_pct_equal(q + start, ne - start, name, nlen))
            continue;
        if (n++ == 0) {
            *val = q + (ne < end ? ne + 1 : end);
            *vlen = ne < end ? end - ne - 1 : 0;
        }
    }
    return n;
}

size_t ak_query_rewrite(const char *q, size_t qlen, const char *name, size_t nlen, const char *repl,
                        size_t rlen, char *out)
{
    size_t pos = 0, start, end, ne, o = 0;
    int first = 1;
    if (qlen == 0)
        return 0;
    while (ak_next_param(q, qlen, &pos, &start, &end, &ne)) {
        int match = ak_pct_equal(q + start, ne - start, name, nlen);
        if (match && repl == NULL)
            continue;
        if (!first)
            out[o++] = '&';
        first = 0;
        if (!match) {
            memcpy(out + o, q + start, end - start);
            o += end - start;
            continue;
        }
        memcpy(out + o, q + start, ne - start);
        o += ne - start;
        out[o++] = '=';
        memcpy(out + o, repl, rlen);
        o += rlen;
    }
    return o;
}

int ak_pct_decode(const char *s, size_t len, char *out, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        int hi = i + 2 < len ? ak_hex((unsigned char)s[i + 1]) : -1;
        int lo = i + 2 < len ? ak_hex((unsigned char)s[i + 2]) : -1;
        if (hi < 0 || lo < 0)
            return -1;
        out[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    *outlen = o;
    return 0;
}
