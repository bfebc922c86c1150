/*
 * test_tls.c: certificate names against server names (exact, wildcards, the default), and the
 * session ticket key ring (rotation, what is accepted, for how long).
 */
#include <string.h>

#include "px_tap.h"
#include "px_tls.h"

static void test_names(void)
{
    static const struct {
        const char *pattern, *name;
        int match;
    } cases[] = {
        {"api.example", "api.example", 1},
        {"api.example", "API.Example", 1},
        {"api.example", "api.example.", 0},
        {"api.example", "x.api.example", 0},
        {"*.b.example", "x.b.example", 1},
        {"*.b.example", "X.B.EXAMPLE", 1},
        {"*.b.example", "b.example", 0},     /* the wildcard needs a label */
        {"*.b.example", ".b.example", 0},    /* ... a non-empty one */
        {"*.b.example", "y.x.b.example", 0}, /* ... exactly one */
        {"*.b.example", "xb.example", 0},
        {"*.b.example", "x.c.example", 0},
        {"w*.example", "www.example", 0}, /* no partial wildcards */
        {"*", "anything", 0},
        {"*.", "a.", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        is_int(px_tls_name_match(cases[i].pattern, cases[i].name, strlen(cases[i].name)),
               cases[i].match, "%s %s %s", cases[i].pattern, cases[i].match ? "covers" : "misses",
               cases[i].name);
}

static void test_pick(void)
{
    char *a_names[] = {"a.example"}, *b_names[] = {"b.example", "*.b.example"};
    px_tls_cert_t certs[3] = {{0}};
    certs[1].names = a_names;
    certs[1].nnames = 1;
    certs[2].names = b_names;
    certs[2].nnames = 2;
    px_tls_listener_t l = {.certs = certs, .ncerts = 3};
    ok(px_tls_pick_cert(&l, NULL) == &certs[0], "no SNI: the first certificate");
    ok(px_tls_pick_cert(&l, "unknown.example") == &certs[0], "an unknown name: the first");
    ok(px_tls_pick_cert(&l, "a.example") == &certs[1], "a.example: its certificate");
    ok(px_tls_pick_cert(&l, "x.b.example") == &certs[2], "x.b.example: the wildcard");
    ok(px_tls_pick_cert(&l, "B.example") == &certs[2], "B.example: case does not matter");
}

static void test_tickets(void)
{
    unsigned char name[16], aes[32], hmac[32], first[16], aes1[32], n2[16], a2[32], h2[32];
    const uint64_t hour = PX_TLS_TICKET_PERIOD_S, t0 = 1000 * hour + 5;

    ok(px_tls_ticket_key(t0, NULL, name, aes, hmac) == 0, "before any rotation: no key");
    ok(px_tls_ticket_rotate(t0) == 0, "keys made");
    is_int(px_tls_ticket_key(t0, NULL, first, aes1, hmac), 1, "a key to make tickets with");
    is_int(px_tls_ticket_key(t0 + 100, first, name, aes, hmac), 1, "... found by its name");
    ok(memcmp(aes, aes1, 32) == 0 && memcmp(name, first, 16) == 0, "... the same key");

    /* The next hour's key was made ahead: usable at once, even before a rotation runs. */
    is_int(px_tls_ticket_key(t0 + hour, NULL, n2, a2, h2), 1, "the next hour: its own key");
    ok(memcmp(n2, first, 16) != 0 && memcmp(a2, aes1, 32) != 0, "... a different one");
    is_int(px_tls_ticket_key(t0 + hour, first, name, aes, hmac), 2,
           "... the last hour's is still accepted, and asks for a renewal");

    /* A day of rotations: a key is accepted for PX_TLS_TICKET_KEEP hours after its own. */
    for (uint64_t h = 1; h <= PX_TLS_TICKET_KEEP; h++)
        px_tls_ticket_rotate(t0 + h * hour);
    is_int(px_tls_ticket_key(t0 + PX_TLS_TICKET_KEEP * hour, first, name, aes, hmac), 2,
           "accepted %d hours later", PX_TLS_TICKET_KEEP);
    px_tls_ticket_rotate(t0 + (PX_TLS_TICKET_KEEP + 1) * hour);
    is_int(px_tls_ticket_key(t0 + (PX_TLS_TICKET_KEEP + 1) * hour, first, name, aes, hmac), 0,
           "refused an hour after that");
    is_int(px_tls_ticket_key(t0 + (PX_TLS_TICKET_KEEP + 1) * hour, NULL, name, aes, hmac), 1,
           "... while the current key is there");
    for (uint64_t h = PX_TLS_TICKET_KEEP + 2; h <= 30; h++)
        px_tls_ticket_rotate(t0 + h * hour);
    unsigned char unknown[16] = {0};
    is_int(px_tls_ticket_key(t0, unknown, name, aes, hmac), 0, "an unknown name: refused");
    is_int(px_tls_ticket_key(t0 + 30 * hour, n2, name, aes, hmac), 0,
           "a key whose slot was reused is gone");
    is_int(px_tls_ticket_key(t0 + 30 * hour, NULL, name, aes, hmac), 1, "... the ring goes on");
}

int main(void)
{
    plan_no_plan();
    test_names();
    test_pick();
    test_tickets();
    return done_testing();
}
