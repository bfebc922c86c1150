/*
 * test_ext_authz_url.c: ext_authz's check of its `url:` key (modules/ext_authz/ext_authz_url.c):
 * what it accepts, the origin length it reports, and what it refuses with which message.
 */
#include <stdio.h>
#include <string.h>

#include "ext_authz.h"
#include "px_tap.h"

/* Accepted, with the origin being the first `origin` bytes. */
static void accepts(const char *url, size_t origin)
{
    size_t got = 0;
    const char *err = eaz_url_origin(url, strlen(url), &got);
    ok(err == NULL && got == origin, "accepts %s (origin %zu)", url, origin);
    if (err != NULL || got != origin)
        printf("#   error: %s, origin %zu\n", err ? err : "(none)", got);
}

/* Refused with a message containing `text`. */
static void refuses(const char *url, size_t len, const char *text)
{
    size_t got = 12345;
    const char *err = eaz_url_origin(url, len, &got);
    ok(err != NULL && strstr(err, text) != NULL && got == 12345, "refuses \"%.*s\": %s", (int)len,
       url, text);
    if (err == NULL || strstr(err, text) == NULL)
        printf("#   got: %s\n", err ? err : "(accepted)");
}

#define REFUSES(url, text) refuses((url), sizeof(url) - 1, (text))

int main(void)
{
    plan_no_plan();

    accepts("http://127.0.0.1:9000", 21);
    accepts("http://127.0.0.1:9000/", 21);
    accepts("https://auth.example.com", 24);
    accepts("HTTPS://Auth.Example.com:8443/", 29);
    accepts("http://[::1]:9000", 17);
    accepts("http://[2001:db8::7]", 20);
    accepts("http://auth_svc.internal:1", 26);
    accepts("http://a:65535", 14);

    REFUSES("ftp://a", "http:// or https://");
    REFUSES("http:/a", "http:// or https://");
    REFUSES("http", "http:// or https://");
    REFUSES("", "http:// or https://");
    REFUSES("http://", "no host");
    REFUSES("http://:80", "no host");
    REFUSES("http:///x", "no host");
    REFUSES("http://user:pw@a", "credentials");
    REFUSES("http://a b", "spaces");
    REFUSES("http://a\tb", "spaces");
    REFUSES("http://a\0b", "spaces");
    REFUSES("http://a%2e", "bad host name");
    REFUSES("http://a:0", "bad port");
    REFUSES("http://a:65536", "bad port");
    REFUSES("http://a:", "bad port");
    REFUSES("http://a:8x", "bad port");
    REFUSES("http://a:1234567", "bad port");
    REFUSES("http://a:80:80", "bad port");
    REFUSES("http://[::1", "unterminated");
    REFUSES("http://[]", "bad IPv6");
    REFUSES("http://[::g]", "bad IPv6");
    REFUSES("http://[::1]x", "bad port");
    REFUSES("http://a/check", "path_prefix");
    REFUSES("http://a//", "path_prefix");
    REFUSES("http://a?x=1", "query or fragment");
    REFUSES("http://a#f", "query or fragment");

    char name[300];
    memcpy(name, "http://", 7);
    memset(name + 7, 'a', 254);
    refuses(name, 7 + 254, "too long");
    name[7 + 253] = '\0';
    accepts(name, 7 + 253);

    return done_testing();
}
