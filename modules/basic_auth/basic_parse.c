/*
 * basic_parse.c: base64, Authorization: Basic and htpasswd lines (basic_parse.h).
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "basic_parse.h"

/* ---- base64 ------------------------------------------------------------------------------ */

static int ba_b64_value(unsigned char c)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c != '\0' ? memchr(alphabet, c, 64) : NULL;
    return p != NULL ? (int)(p - alphabet) : -1;
}

int ba_base64_decode(const char *in, size_t len, unsigned char *out, size_t *outlen)
{
    size_t o = 0;
    if (len % 4 != 0)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t group = 0;
        size_t pad = 0;
        for (size_t j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)in[i + j];
            int v = 0;
            if (c == '=') {
                /* only in the last group, as its last one or two characters */
                if (i + 4 != len || j < 2)
                    return -1;
                pad++;
            } else if (pad > 0 || (v = ba_b64_value(c)) < 0) {
                return -1;
            }
            group = group << 6 | (uint32_t)v;
        }
        /* the bits the padding leaves unused must be zero (one encoding per byte string) */
        if ((pad == 2 && (group & 0xffff) != 0) || (pad == 1 && (group & 0xff) != 0))
            return -1;
        out[o++] = (unsigned char)(group >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(group >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)group;
    }
    *outlen = o;
    return 0;
}

/* ---- Authorization: Basic ---------------------------------------------------------------- */

const char *ba_cred_reason(ba_cred_rc_t rc)
{
    switch (rc) {
    case BA_CRED_OK: return "ok";
    case BA_CRED_NOT_BASIC: return "not Basic credentials";
    case BA_CRED_TOO_LONG: return "Authorization value too long";
    case BA_CRED_BAD_BASE64: return "credentials not in base64";
    case BA_CRED_NO_COLON: return "no ':' between user and password";
    case BA_CRED_EMPTY_USER: return "empty user name";
    case BA_CRED_BAD_USER: return "control character in the user name";
    case BA_CRED_BAD_PASSWORD: return "NUL in the password";
    }
    return "?";
}

static int ba_is_blank(char c)
{
    return c == ' ' || c == '\t';
}

ba_cred_rc_t ba_parse_basic(const char *value, size_t len, char *buf, size_t cap, ba_cred_t *out)
{
    size_t i = 0, start, end, dlen;
    if (len > BA_MAX_AUTHORIZATION)
        return BA_CRED_TOO_LONG;
    while (i < len && ba_is_blank(value[i]))
        i++;
    if (len - i < 6 || strncasecmp(value + i, "basic", 5) != 0 || !ba_is_blank(value[i + 5]))
        return BA_CRED_NOT_BASIC;
    for (i += 5; i < len && ba_is_blank(value[i]); i++)
        ;
    for (start = i; i < len && !ba_is_blank(value[i]); i++)
        ;
    for (end = i; i < len && ba_is_blank(value[i]); i++)
        ;
    if (end == start)
        return BA_CRED_NOT_BASIC;
    if (i != len) /* more after the credentials */
        return BA_CRED_BAD_BASE64;
    if (cap < BA_CRED_BUF(end - start))
        return BA_CRED_TOO_LONG;
    if (ba_base64_decode(value + start, end - start, (unsigned char *)buf, &dlen) != 0)
        return BA_CRED_BAD_BASE64;
    buf[dlen] = '\0';
    char *colon = memchr(buf, ':', dlen);
    if (colon == NULL)
        return BA_CRED_NO_COLON;
    size_t ulen = (size_t)(colon - buf);
    if (ulen == 0)
        return BA_CRED_EMPTY_USER;
    for (size_t k = 0; k < ulen; k++) {
        unsigned char c = (unsigned char)buf[k];
        if (c < 0x20 || c == 0x7f)
            return BA_CRED_BAD_USER;
    }
    if (memchr(colon + 1, '\0', dlen - ulen - 1) != NULL)
        return BA_CRED_BAD_PASSWORD;
    *colon = '\0';
    *out = (ba_cred_t){buf, ulen, colon + 1, dlen - ulen - 1};
    return BA_CRED_OK;
}

/* ---- hash forms -------------------------------------------------------------------------- */

static int ba_starts(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

/* The alphabet of crypt's hashes and salts: ./0-9A-Za-z */
static int ba_crypt64(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c == '.' || c == '/' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
              (c >= 'a' && c <= 'z')))
            return 0;
    }
    return 1;
}

/* "$2?$NN$" + 53 characters, s[2] already known to be a, b or y. */
static ba_hash_kind_t ba_bcrypt(const char *s, size_t len)
{
    if (len != 60 || s[4] < '0' || s[4] > '3' || s[5] < '0' || s[5] > '9' || s[6] != '$')
        return BA_HASH_MALFORMED;
    int cost = (s[4] - '0') * 10 + (s[5] - '0');
    if (cost < 4 || cost > 31 || !ba_crypt64(s + 7, 53))
        return BA_HASH_MALFORMED;
    return BA_HASH_BCRYPT;
}

/* "$5$" or "$6$", [rounds=N$], salt, "$", hash. */
static ba_hash_kind_t ba_shacrypt(const char *s, size_t len)
{
    size_t i = 3, want = s[1] == '5' ? 43 : 86;
    if (ba_starts(s + i, len - i, "rounds=")) {
        uint64_t rounds = 0;
        size_t d = 0;
        for (i += 7; i < len && s[i] >= '0' && s[i] <= '9' && d < 10; i++, d++)
            rounds = rounds * 10 + (uint64_t)(s[i] - '0');
        /* crypt writes the rounds it used, in 1000..999999999 and without leading zeros */
        if (d == 0 || s[i - d] == '0' || rounds < 1000 || rounds > 999999999 || i >= len ||
            s[i] != '$')
            return BA_HASH_MALFORMED;
        i++;
    }
    size_t salt = i;
    while (i < len && s[i] != '$' && s[i] > 0x20 && s[i] < 0x7f)
        i++;
    if (i == salt || i - salt > 16 || i >= len || s[i] != '$')
        return BA_HASH_MALFORMED;
    i++;
    if (len - i != want || !ba_crypt64(s + i, want))
        return BA_HASH_MALFORMED;
    return s[1] == '5' ? BA_HASH_SHA256 : BA_HASH_SHA512;
}

ba_hash_kind_t ba_hash_classify(const char *h, size_t len)
{
    if (len == 0)
        return BA_HASH_EMPTY;
    if (len >= 4 && h[0] == '$' && h[1] == '2' && h[3] == '$' &&
        (h[2] == 'a' || h[2] == 'b' || h[2] == 'y'))
        return ba_bcrypt(h, len);
    if (ba_starts(h, len, "$5$") || ba_starts(h, len, "$6$"))
        return ba_shacrypt(h, len);
    if (ba_starts(h, len, "$apr1$"))
        return BA_HASH_MD5_APR1;
    if (ba_starts(h, len, "$1$"))
        return BA_HASH_MD5_CRYPT;
    if (ba_starts(h, len, "{SHA}"))
        return BA_HASH_SHA1;
    if (h[0] == '$' || ba_starts(h, len, "{SSHA}"))
        return BA_HASH_OTHER;
    if (len == 13 && ba_crypt64(h, len))
        return BA_HASH_DES;
    return BA_HASH_PLAIN;
}

/* Why a hash form is refused (static text). */
static const char *ba_hash_refusal(ba_hash_kind_t kind, const char *h)
{
    switch (kind) {
    case BA_HASH_MALFORMED:
        return h[1] == '2' ? "malformed bcrypt hash (expected $2y$, $2b$ or $2a$, a cost 04-31, "
                             "$ and 53 characters of ./0-9A-Za-z)"
                           : "malformed SHA-crypt hash (expected $5$ or $6$, an optional "
                             "rounds=N$, a salt of 1-16 characters, $ and 43 or 86 characters "
                             "of ./0-9A-Za-z)";
    case BA_HASH_MD5_APR1: return "MD5 ($apr1$) hashes are refused (fast to crack)";
    case BA_HASH_MD5_CRYPT: return "MD5-crypt ($1$) hashes are refused (fast to crack)";
    case BA_HASH_SHA1: return "SHA-1 ({SHA}) hashes are refused (unsalted, fast to crack)";
    case BA_HASH_DES:
        return "DES crypt hashes (or 13-character plaintext passwords) are refused (fast to "
               "crack)";
    case BA_HASH_OTHER: return "an unsupported hash method";
    case BA_HASH_PLAIN: return "not a supported hash (plaintext passwords are refused)";
    case BA_HASH_EMPTY: return "no hash after the \":\"";
    default: return "?";
    }
}

/* ---- htpasswd lines ---------------------------------------------------------------------- */

au_line_rc_t ba_htpasswd_line(const char *line, size_t len, ba_htline_t *out)
{
    size_t first;
    memset(out, 0, sizeof(*out));
    if (au_line_skip(line, &len, &first))
        return AU_LINE_SKIP;
    const char *colon = memchr(line, ':', len);
    if (colon == NULL)
        return au_line_refuse(&out->err, "no \":\" between the user name and the hash", 1);
    size_t ulen = (size_t)(colon - line);
    if (ulen == 0)
        return au_line_refuse(&out->err, "empty user name", 1);
    out->user = line;
    out->user_len = ulen;
    for (size_t i = 0; i < ulen; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c < 0x20 || c == 0x7f)
            return au_line_refuse(&out->err, "a control character in the user name", i + 1);
    }
    if (first > 0 || ba_is_blank(line[ulen - 1]))
        return au_line_refuse(&out->err, "the user name begins or ends with a space", 1);
    out->hash = colon + 1;
    out->hash_len = len - ulen - 1;
    out->kind = ba_hash_classify(out->hash, out->hash_len);
    if (!BA_HASH_ACCEPTED(out->kind))
        return au_line_refuse(&out->err, ba_hash_refusal(out->kind, out->hash), ulen + 2);
    return AU_LINE_ENTRY;
}
