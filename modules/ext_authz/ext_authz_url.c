/*
 * ext_authz_url.c: the check of ext_authz's `url:` key (see eaz_url_origin in ext_authz.h).
 *
 * The rules are those the core's call-outs apply to a URL (core/upstream/px_callout.c), so a
 * URL accepted at load is never refused per request; being stricter here (no path, query or
 * fragment) keeps the check's path in one place: path_prefix or path.
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "ext_authz.h"

static int eaz_url_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

/* The host of the authority a[0..n): a bracketed IPv6 address or a name; *rest is set to what
 * follows it. */
static const char *eaz_url_host(const char *a, size_t n, size_t *rest)
{
    if (n > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', n);
        char v6[64];
        size_t hl = close ? (size_t)(close - a - 1) : 0;
        if (close == NULL)
            return "unterminated [IPv6 address]";
        if (hl == 0 || hl >= sizeof(v6))
            return "bad IPv6 address";
        memcpy(v6, a + 1, hl);
        v6[hl] = '\0';
        struct in6_addr addr;
        if (inet_pton(AF_INET6, v6, &addr) != 1)
            return "bad IPv6 address";
        *rest = hl + 2;
        return NULL;
    }
    size_t i = 0;
    while (i < n && a[i] != ':') {
        if (!eaz_url_name_char((unsigned char)a[i]))
            return "bad host name (letters, digits, \"-\", \".\" and \"_\"; IPv6 in brackets)";
        i++;
    }
    if (i == 0)
        return "no host";
    if (i > 253)
        return "host name too long";
    *rest = i;
    return NULL;
}

const char *eaz_url_origin(const char *s, size_t len, size_t *origin_len)
{
    size_t skip;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] == 0x7f)
            return "spaces and control characters are not allowed in the URL";
    if (len >= 7 && strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else if (len >= 8 && strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else
        return "expected a URL starting with http:// or https://";
    const char *a = s + skip;
    size_t left = len - skip, n = 0;
    while (n < left && a[n] != '/' && a[n] != '?' && a[n] != '#')
        n++;
    if (memchr(a, '@', n) != NULL)
        return "credentials (user@) are not allowed in the URL";
    size_t rest;
    const char *err = eaz_url_host(a, n, &rest);
    if (err != NULL)
        return err;
    if (rest < n) { /* ":port" */
        if (a[rest] != ':' || n - rest < 2 || n - rest > 6)
            return "bad port (1..65535)";
        unsigned long port = 0;
        for (size_t i = rest + 1; i < n; i++) {
            if (a[i] < '0' || a[i] > '9')
                return "bad port (1..65535)";
            port = port * 10 + (unsigned long)(a[i] - '0');
        }
        if (port == 0 || port > 65535)
            return "bad port (1..65535)";
    }
    if (n < left && a[n] != '/')
        return "a query or fragment is not allowed in the URL";
    if (left - n > 1)
        return "the URL has a path: give only the origin here, and the path as path_prefix "
               "(the request's path is appended) or path (fixed)";
    *origin_len = skip + n;
    return NULL;
}
