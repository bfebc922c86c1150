/*
 * gw_codec.c: gRPC-Web byte transforms; see gw_codec.h.
 */
#include <stdint.h>
#include <string.h>

#include "gw_codec.h"

/* ---- content types ------------------------------------------------------------------------- */

static int gw_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Does s[0..len) start with the lowercase literal p, case-insensitively? */
static int gw_prefix(const char *s, size_t len, const char *p)
{
    size_t n = strlen(p);
    if (len < n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (gw_lower((unsigned char)s[i]) != p[i])
            return 0;
    }
    return 1;
}

static int gw_space(char c)
{
    return c == ' ' || c == '\t';
}

/* A subtype character: RFC 9110 tchar. */
static int gw_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

gw_mode_t gw_content_type(const char *v, size_t len, const char **sub, size_t *sublen)
{
    static const char base[] = "application/grpc-web";
    size_t i = 0;
    while (i < len && gw_space(v[i]))
        i++;
    if (!gw_prefix(v + i, len - i, base))
        return GW_NONE;
    i += sizeof(base) - 1;
    gw_mode_t mode = GW_BINARY;
    if (gw_prefix(v + i, len - i, "-text")) {
        mode = GW_TEXT;
        i += 5;
    }
    size_t s = i, e = i;
    if (i < len && v[i] == '+') {
        s = e = i + 1;
        while (e < len && gw_tchar((unsigned char)v[e]))
            e++;
        if (e == s)
            return GW_NONE; /* "+" and nothing */
        i = e;
    }
    while (i < len && gw_space(v[i]))
        i++;
    if (i < len && v[i] != ';')
        return GW_NONE; /* "application/grpc-webx", "-text-base64", ... */
    *sub = v + s;
    *sublen = e - s;
    return mode;
}

int gw_accepts_text(const char *v, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const char *comma = memchr(v + i, ',', len - i);
        size_t end = comma != NULL ? (size_t)(comma - v) : len;
        const char *sub;
        size_t sublen;
        if (gw_content_type(v + i, end - i, &sub, &sublen) == GW_TEXT)
            return 1;
        i = end + 1;
    }
    return 0;
}

/* ---- base64 ---------------------------------------------------------------------------------- */

static const char gw_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#define GW_B64_PAD 64  /* "=" */
#define GW_B64_BAD 255 /* not base64 */

/* The value of a base64 character, GW_B64_PAD or GW_B64_BAD. */
static unsigned gw_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return c == '=' ? GW_B64_PAD : GW_B64_BAD;
}

/* Decode one complete quantum of values into out; the bytes written, or -1. */
static int gw_b64_quantum(const unsigned char *q, unsigned char *out)
{
    if (q[0] == GW_B64_PAD || q[1] == GW_B64_PAD)
        return -1;
    uint32_t bits = (uint32_t)q[0] << 18 | (uint32_t)q[1] << 12;
    if (q[2] == GW_B64_PAD) {
        if (q[3] != GW_B64_PAD || (q[1] & 0x0f) != 0)
            return -1; /* "xx=y", or bits that the padding says are not there */
        out[0] = (unsigned char)(bits >> 16);
        return 1;
    }
    bits |= (uint32_t)q[2] << 6;
    if (q[3] == GW_B64_PAD) {
        if ((q[2] & 0x03) != 0)
            return -1;
        out[0] = (unsigned char)(bits >> 16);
        out[1] = (unsigned char)(bits >> 8);
        return 2;
    }
    bits |= q[3];
    out[0] = (unsigned char)(bits >> 16);
    out[1] = (unsigned char)(bits >> 8);
    out[2] = (unsigned char)bits;
    return 3;
}

ssize_t gw_b64_decode(gw_b64dec_t *d, const char *in, size_t len, unsigned char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned v = gw_b64_value((unsigned char)in[i]);
        if (v == GW_B64_BAD)
            return -1;
        d->q[d->nq++] = (unsigned char)v;
        if (d->nq < 4)
            continue;
        int got = gw_b64_quantum(d->q, out + n);
        if (got < 0)
            return -1;
        n += (size_t)got;
        d->nq = 0;
    }
    return (ssize_t)n;
}

int gw_b64_decode_end(const gw_b64dec_t *d)
{
    return d->nq == 0 ? 0 : -1;
}

size_t gw_b64_encode(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t b = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = gw_b64_alphabet[b >> 18];
        out[o++] = gw_b64_alphabet[(b >> 12) & 63];
        out[o++] = gw_b64_alphabet[(b >> 6) & 63];
        out[o++] = gw_b64_alphabet[b & 63];
    }
    if (i < len) {
        uint32_t b = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = gw_b64_alphabet[b >> 18];
        out[o++] = gw_b64_alphabet[(b >> 12) & 63];
        out[o++] = i + 1 < len ? gw_b64_alphabet[(b >> 6) & 63] : '=';
        out[o++] = '=';
    }
    return o;
}

/* ---- the trailers frame ------------------------------------------------------------------------
 */

size_t gw_trailer_frame_size(const gw_field_t *f, size_t n)
{
    uint64_t block = 0;
    for (size_t i = 0; i < n; i++)
        block += (uint64_t)f[i].name_len + f[i].value_len + 4; /* ": " and CRLF */
    return block > UINT32_MAX ? 0 : (size_t)(5 + block);
}

size_t gw_trailer_frame(const gw_field_t *f, size_t n, unsigned char *out)
{
    size_t size = gw_trailer_frame_size(f, n);
    if (size == 0)
        return 0;
    uint32_t block = (uint32_t)(size - 5);
    out[0] = 0x80; /* trailers, uncompressed */
    out[1] = (unsigned char)(block >> 24);
    out[2] = (unsigned char)(block >> 16);
    out[3] = (unsigned char)(block >> 8);
    out[4] = (unsigned char)block;
    size_t o = 5;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < f[i].name_len; k++)
            out[o++] = (unsigned char)gw_lower((unsigned char)f[i].name[k]);
        out[o++] = ':';
        out[o++] = ' ';
        memcpy(out + o, f[i].value, f[i].value_len);
        o += f[i].value_len;
        out[o++] = '\r';
        out[o++] = '\n';
    }
    return o;
}
