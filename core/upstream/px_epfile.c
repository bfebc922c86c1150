/*
 * px_epfile.c: the endpoints file parser (discovery.file). Pure: no I/O, no other part of the
 * core, so the unit test and the fuzz target link it alone. The format is in px_discovery.h
 * and docs/config.md.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px_discovery.h"

static long px_epfile_fail(px_epfile_error_t *err, unsigned line, unsigned col, const char *fmt,
                           ...) __attribute__((format(printf, 4, 5)));

static long px_epfile_fail(px_epfile_error_t *err, unsigned line, unsigned col, const char *fmt,
                           ...)
{
    err->line = line;
    err->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

void px_disc_addr_text(const struct sockaddr *sa, char *text)
{
    char ip[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(text, PX_DISC_ADDR_TEXT, "[%s]:%u", ip, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(text, PX_DISC_ADDR_TEXT, "%s:%u", ip, ntohs(s4->sin_port));
    }
}

int px_disc_ep_cmp(const void *a, const void *b)
{
    const px_disc_ep_t *x = a, *y = b;
    int fx = x->sa.ss_family, fy = y->sa.ss_family;
    if (fx != fy)
        return fx < fy ? -1 : 1;
    int c;
    uint16_t px, py;
    if (fx == AF_INET6) {
        const struct sockaddr_in6 *s = (const void *)&x->sa, *t = (const void *)&y->sa;
        c = memcmp(&s->sin6_addr, &t->sin6_addr, sizeof(s->sin6_addr));
        px = ntohs(s->sin6_port);
        py = ntohs(t->sin6_port);
    } else {
        const struct sockaddr_in *s = (const void *)&x->sa, *t = (const void *)&y->sa;
        c = memcmp(&s->sin_addr, &t->sin_addr, sizeof(s->sin_addr));
        px = ntohs(s->sin_port);
        py = ntohs(t->sin_port);
    }
    if (c != 0)
        return c;
    return px < py ? -1 : px > py;
}

/* A decimal number in s[0..n) within lo..hi, no sign, no leading zeros beyond "0". */
static int px_epfile_number(const char *s, size_t n, unsigned long lo, unsigned long hi,
                            unsigned long *out)
{
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return -1;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* The address token tok[0..n) into e; 0, or a message in why. */
static int px_epfile_addr(const char *tok, size_t n, px_disc_ep_t *e, const char **why,
                          size_t *badcol)
{
    char ip[INET6_ADDRSTRLEN];
    const char *port;
    size_t iplen;
    int v6 = tok[0] == '[';
    *badcol = 0;
    if (v6) {
        const char *rb = memchr(tok, ']', n);
        if (rb == NULL || (size_t)(rb - tok) + 1 >= n || rb[1] != ':') {
            *why = "expected [IPv6]:PORT";
            return -1;
        }
        iplen = (size_t)(rb - tok) - 1;
        port = rb + 2;
        memcpy(ip, tok + 1, iplen < sizeof(ip) ? iplen : 0);
    } else {
        const char *colon = memchr(tok, ':', n);
        if (colon == NULL) {
            *why = "expected ADDRESS:PORT";
            return -1;
        }
        iplen = (size_t)(colon - tok);
        if (memchr(colon + 1, ':', n - iplen - 1) != NULL) {
            *why = "write IPv6 addresses in brackets: [::1]:8080";
            return -1;
        }
        port = colon + 1;
        memcpy(ip, tok, iplen < sizeof(ip) ? iplen : 0);
    }
    if (iplen == 0 || iplen >= sizeof(ip)) {
        *why = "invalid IP address";
        return -1;
    }
    ip[iplen] = '\0';
    memset(&e->sa, 0, sizeof(e->sa));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&e->sa;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&e->sa;
    if (v6 ? inet_pton(AF_INET6, ip, &s6->sin6_addr) != 1
           : strspn(ip, "0123456789.") != iplen || inet_pton(AF_INET, ip, &s4->sin_addr) != 1) {
        *why = v6 ? "invalid IPv6 address"
                  : "invalid IPv4 address (only IP addresses, not "
                    "host names)";
        return -1;
    }
    unsigned long p;
    size_t plen = n - (size_t)(port - tok);
    if (px_epfile_number(port, plen, 1, 65535, &p) < 0) {
        *why = "invalid port (expected 1..65535)";
        *badcol = (size_t)(port - tok);
        return -1;
    }
    if (v6) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)p);
        e->salen = sizeof(*s6);
    } else {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)p);
        e->salen = sizeof(*s4);
    }
    px_disc_addr_text((const struct sockaddr *)&e->sa, e->text);
    snprintf(e->host, sizeof(e->host), "%s", ip);
    return 0;
}

static int px_epfile_idx_cmp(const void *a, const void *b, void *arg)
{
    const px_disc_ep_t *eps = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = px_disc_ep_cmp(&eps[i], &eps[j]);
    return c != 0 ? c : i < j ? -1 : i > j;
}

static int px_epfile_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

long px_epfile_parse(const char *buf, size_t len, px_disc_ep_t **out, px_epfile_error_t *err)
{
    *out = NULL;
    memset(err, 0, sizeof(*err));
    if (len > PX_EPFILE_MAX_SIZE)
        return px_epfile_fail(err, 1, 1, "file is larger than %d bytes", PX_EPFILE_MAX_SIZE);
    px_disc_ep_t *eps = NULL;
    unsigned *lines = NULL; /* where each entry is, for the duplicate message */
    size_t n = 0, cap = 0;
    unsigned line = 0;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        line++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL) {
            px_epfile_fail(err, line, (unsigned)(end - p) + 1,
                           "the last line has no newline (file incomplete? write it to a "
                           "temporary file and rename it)");
            goto fail;
        }
        const char *hash = memchr(p, '#', (size_t)(eol - p));
        const char *stop = hash ? hash : eol;
        for (const char *c = p; c < eol; c++) {
            if (((unsigned char)*c < 0x20 && !px_epfile_space(*c)) || *c == 0x7f) {
                px_epfile_fail(err, line, (unsigned)(c - p) + 1, "control character 0x%02x",
                               (unsigned char)*c);
                goto fail;
            }
        }
        const char *c = p;
        px_disc_ep_t e;
        memset(&e, 0, sizeof(e));
        int have_addr = 0, have_weight = 0;
        e.weight = 1;
        while (c < stop) {
            while (c < stop && px_epfile_space(*c))
                c++;
            if (c == stop)
                break;
            const char *tok = c;
            while (c < stop && !px_epfile_space(*c))
                c++;
            size_t tlen = (size_t)(c - tok);
            unsigned col = (unsigned)(tok - p) + 1;
            if (!have_addr) {
                const char *why = NULL;
                size_t badcol;
                if (px_epfile_addr(tok, tlen, &e, &why, &badcol) < 0) {
                    px_epfile_fail(err, line, col + (unsigned)badcol, "%s", why);
                    goto fail;
                }
                have_addr = 1;
            } else if (tlen > 7 && memcmp(tok, "weight=", 7) == 0) {
                unsigned long w;
                if (have_weight) {
                    px_epfile_fail(err, line, col, "weight given twice");
                    goto fail;
                }
                if (px_epfile_number(tok + 7, tlen - 7, 1, 10000, &w) < 0) {
                    px_epfile_fail(err, line, col + 7, "invalid weight (expected 1..10000)");
                    goto fail;
                }
                e.weight = (unsigned)w;
                have_weight = 1;
            } else {
                px_epfile_fail(err, line, col, "unexpected \"%.*s\" (expected weight=N)",
                               (int)(tlen > 32 ? 32 : tlen), tok);
                goto fail;
            }
        }
        p = eol + 1;
        if (!have_addr)
            continue;
        if (n == PX_EPFILE_MAX_ENDPOINTS) {
            px_epfile_fail(err, line, 1, "more than %d endpoints", PX_EPFILE_MAX_ENDPOINTS);
            goto fail;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            px_disc_ep_t *ne = realloc(eps, ncap * sizeof(*eps));
            unsigned *nl = ne ? realloc(lines, ncap * sizeof(*lines)) : NULL;
            if (ne != NULL)
                eps = ne;
            if (nl == NULL) {
                px_epfile_fail(err, line, 1, "out of memory");
                goto fail;
            }
            lines = nl;
            cap = ncap;
        }
        lines[n] = line;
        eps[n++] = e;
    }
    if (n == 0) {
        px_epfile_fail(err, line ? line : 1, 1, "no endpoints");
        goto fail;
    }
    /* Sort (ties by position, so a duplicate is reported against its first line). */
    size_t *idx = malloc(n * sizeof(*idx));
    px_disc_ep_t *sorted = malloc(n * sizeof(*sorted));
    if (idx == NULL || sorted == NULL) {
        free(idx);
        free(sorted);
        px_epfile_fail(err, line, 1, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    qsort_r(idx, n, sizeof(*idx), px_epfile_idx_cmp, eps);
    for (size_t i = 0; i < n; i++) {
        sorted[i] = eps[idx[i]];
        if (i > 0 && px_disc_ep_cmp(&sorted[i - 1], &sorted[i]) == 0) {
            px_epfile_fail(err, lines[idx[i]], 1, "duplicate endpoint %s (first on line %u)",
                           sorted[i].text, lines[idx[i - 1]]);
            free(idx);
            free(sorted);
            goto fail;
        }
    }
    free(idx);
    free(eps);
    eps = sorted;
    free(lines);
    *out = eps;
    return (long)n;

fail:
    free(eps);
    free(lines);
    return -1;
}
