/*
 * test_basic_auth.c: the basic_auth filter's parsers (modules/basic_auth/basic_parse.c): strict
 * base64, Authorization: Basic values, and htpasswd lines with every hash form, accepted or not.
 */
#include <stdio.h>
#include <string.h>

#include "basic_parse.h"
#include "px_tap.h"

/* Real hashes of "pw" (perl crypt / openssl passwd). */
#define BCRYPT_B "$2b$05$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q"
#define BCRYPT_Y "$2y$05$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q"
#define BCRYPT_A "$2a$05$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q"
#define SHA512                                                                                     \
    "$6$abc$MtSdWSZbhct2oe.SOqOUM2M/GA/uj5.vyVtJgRHgKi9uqXuWuJqOYE7H/YlsYGVg/"                     \
    "YYzDV0xt3fEIwYt580.5."
#define SHA256        "$5$abc$/LKlXd6vuvdFX3oWbf2vGk3DgflzzsvOtMZsiOxqqY5"
#define SHA256_ROUNDS "$5$rounds=1000$abc$zdUXQ3de2d3x/8MYX1t30oZjPfJThZR5heHeVDYi8j6"

static void test_base64(void)
{
    unsigned char out[64];
    size_t n = 99;
    static const struct {
        const char *in, *want; /* want NULL: refused */
    } cases[] = {
        {"", ""},        {"Zm9v", "foo"},        {"Zm8=", "fo"},
        {"Zg==", "f"},   {"Zm9vYmFy", "foobar"}, {"Zg=", NULL},
        {"Zm9v=", NULL}, {"Z===", NULL},         {"Zh==", NULL},
        {"Zm9=", NULL},  {"Zm9v\n", NULL},       {"Zm 9v", NULL},
        {"=Zm9", NULL},  {"Zg==Zg==", NULL},     {"Zm-_", NULL},
        {"Zg=a", NULL},  {"Zm9vZg", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = ba_base64_decode(cases[i].in, strlen(cases[i].in), out, &n);
        if (cases[i].want == NULL) {
            is_int(rc, -1, "base64 case %zu is refused", i);
        } else {
            is_int(rc, 0, "base64 '%s' decodes", cases[i].in);
            is_mem(out, rc == 0 ? n : 0, cases[i].want, "... to '%s'", cases[i].want);
        }
    }
}

static void test_basic(void)
{
    char buf[BA_CRED_BUF(BA_MAX_AUTHORIZATION)];
    ba_cred_t c;
    static const struct {
        const char *value;
        ba_cred_rc_t rc;
        const char *user, *pass;
    } cases[] = {
        {"Basic YWxpY2U6c2VjcmV0", BA_CRED_OK, "alice", "secret"},
        {"basic  YWxpY2U6c2VjcmV0  ", BA_CRED_OK, "alice", "secret"},
        {"BASIC\tYWxpY2U6c2VjcmV0", BA_CRED_OK, "alice", "secret"},
        {" Basic YWxpY2U6c2VjcmV0", BA_CRED_OK, "alice", "secret"},
        {"Basic YWxpY2U6", BA_CRED_OK, "alice", ""},
        {"Basic YTpiOmM=", BA_CRED_OK, "a", "b:c"},
        {"Basic asO2cmc6cHc=", BA_CRED_OK, "j\xc3\xb6rg", "pw"},
        {"Basic Ym9iOnDDpHNzIHdvcmQ=", BA_CRED_OK, "bob", "p\xc3\xa4ss word"},
        {"Bearer YWxpY2U6c2VjcmV0", BA_CRED_NOT_BASIC, NULL, NULL},
        {"Basic", BA_CRED_NOT_BASIC, NULL, NULL},
        {"Basic ", BA_CRED_NOT_BASIC, NULL, NULL},
        {"Basicx YWxpY2U6c2VjcmV0", BA_CRED_NOT_BASIC, NULL, NULL},
        {"Bas", BA_CRED_NOT_BASIC, NULL, NULL},
        {"", BA_CRED_NOT_BASIC, NULL, NULL},
        {"Basic YWxpY2U6c2VjcmV0 x", BA_CRED_BAD_BASE64, NULL, NULL},
        {"Basic !!!!", BA_CRED_BAD_BASE64, NULL, NULL},
        {"Basic YWxpY2U6c2VjcmV", BA_CRED_BAD_BASE64, NULL, NULL},
        {"Basic YWxpY2U=", BA_CRED_NO_COLON, NULL, NULL},
        {"Basic OnB3", BA_CRED_EMPTY_USER, NULL, NULL},
        {"Basic YQE6Yg==", BA_CRED_BAD_USER, NULL, NULL},
        {"Basic YTpiAGM=", BA_CRED_BAD_PASSWORD, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *v = cases[i].value;
        ba_cred_rc_t rc = ba_parse_basic(v, strlen(v), buf, sizeof(buf), &c);
        is_int(rc, cases[i].rc, "'%s' -> %s", v, ba_cred_reason(cases[i].rc));
        if (cases[i].rc == BA_CRED_OK && rc == BA_CRED_OK) {
            is_mem(c.user, c.user_len, cases[i].user, "... user '%s'", cases[i].user);
            is_mem(c.pass, c.pass_len, cases[i].pass, "... password '%s'", cases[i].pass);
            ok(c.user[c.user_len] == '\0' && c.pass[c.pass_len] == '\0', "... both NUL-terminated");
        }
    }
    /* Too long, whatever it holds; and a buffer too small is refused, not overrun. */
    static char big[BA_MAX_AUTHORIZATION + 2];
    memset(big, 'A', sizeof(big) - 1);
    memcpy(big, "Basic ", 6);
    is_int(ba_parse_basic(big, BA_MAX_AUTHORIZATION + 1, buf, sizeof(buf), &c), BA_CRED_TOO_LONG,
           "an Authorization value over %d bytes -> too long", BA_MAX_AUTHORIZATION);
    is_int(ba_parse_basic("Basic YWxpY2U6c2VjcmV0", 22, buf, 8, &c), BA_CRED_TOO_LONG,
           "a buffer smaller than BA_CRED_BUF -> refused");
}

static void test_classify(void)
{
    static const struct {
        const char *hash;
        ba_hash_kind_t kind;
    } cases[] = {
        {BCRYPT_B, BA_HASH_BCRYPT},
        {BCRYPT_Y, BA_HASH_BCRYPT},
        {BCRYPT_A, BA_HASH_BCRYPT},
        {SHA512, BA_HASH_SHA512},
        {SHA256, BA_HASH_SHA256},
        {SHA256_ROUNDS, BA_HASH_SHA256},
        {"$2b$05$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9", BA_HASH_MALFORMED},
        {"$2b$03$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q", BA_HASH_MALFORMED},
        {"$2b$32$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q", BA_HASH_MALFORMED},
        {"$2b$05$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9!", BA_HASH_MALFORMED},
        {"$2b$5$$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q", BA_HASH_MALFORMED},
        {"$2x$05$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q", BA_HASH_OTHER},
        {"$5$abc$/LKlXd6vuvdFX3oWbf2vGk3DgflzzsvOtMZsiOxqqY", BA_HASH_MALFORMED},
        {"$6$abc$/LKlXd6vuvdFX3oWbf2vGk3DgflzzsvOtMZsiOxqqY5", BA_HASH_MALFORMED},
        {"$5$rounds=999$abc$zdUXQ3de2d3x/8MYX1t30oZjPfJThZR5heHeVDYi8j6", BA_HASH_MALFORMED},
        {"$5$rounds=01000$abc$zdUXQ3de2d3x/8MYX1t30oZjPfJThZR5heHeVDYi8j6", BA_HASH_MALFORMED},
        {"$5$rounds=$abc$zdUXQ3de2d3x/8MYX1t30oZjPfJThZR5heHeVDYi8j6", BA_HASH_MALFORMED},
        {"$5$rounds=1000", BA_HASH_MALFORMED},
        {"$5$abcdefghijklmnopq$/LKlXd6vuvdFX3oWbf2vGk3DgflzzsvOtMZsiOxqqY5", BA_HASH_MALFORMED},
        {"$5$$/LKlXd6vuvdFX3oWbf2vGk3DgflzzsvOtMZsiOxqqY5", BA_HASH_MALFORMED},
        {"$5$abc", BA_HASH_MALFORMED},
        {"$apr1$abcdefgh$5VEbMkemELfbhC5ck.U.z1", BA_HASH_MD5_APR1},
        {"$1$abc$Kb85XxsXB.VXinPhbS4431", BA_HASH_MD5_CRYPT},
        {"{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=", BA_HASH_SHA1},
        {"{SSHA}GpHWL3ymc5liWkNopqtdSjuqYHM=", BA_HASH_OTHER},
        {"abzlUXK5ed5rs", BA_HASH_DES},
        {"$y$j9T$abc$def", BA_HASH_OTHER},
        {"$", BA_HASH_OTHER},
        {"secret", BA_HASH_PLAIN},
        {"abzlUXK5ed5r!", BA_HASH_PLAIN},
        {"", BA_HASH_EMPTY},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        is_int(ba_hash_classify(cases[i].hash, strlen(cases[i].hash)), cases[i].kind,
               "hash '%s' -> kind %d", cases[i].hash, (int)cases[i].kind);
}

static void test_htpasswd(void)
{
    ba_htline_t l;
    static const struct {
        const char *line;
        au_line_rc_t rc;
        const char *user; /* ENTRY: the user; ERROR: a piece of the message */
        size_t col;       /* ERROR */
    } cases[] = {
        {"alice:" BCRYPT_B, AU_LINE_ENTRY, "alice", 0},
        {"alice:" SHA512 "\r", AU_LINE_ENTRY, "alice", 0},
        {"al ice:" SHA256 " \t", AU_LINE_ENTRY, "al ice", 0},
        {"j\xc3\xb6rg:" BCRYPT_Y, AU_LINE_ENTRY, "j\xc3\xb6rg", 0},
        {"", AU_LINE_SKIP, NULL, 0},
        {"   \t", AU_LINE_SKIP, NULL, 0},
        {"# alice:secret", AU_LINE_SKIP, NULL, 0},
        {"  # indented comment", AU_LINE_SKIP, NULL, 0},
        {"alice", AU_LINE_ERROR, "no \":\"", 1},
        {":" BCRYPT_B, AU_LINE_ERROR, "empty user name", 1},
        {" alice:" BCRYPT_B, AU_LINE_ERROR, "begins or ends with a space", 1},
        {"alice :" BCRYPT_B, AU_LINE_ERROR, "begins or ends with a space", 1},
        {"al\x01ice:" BCRYPT_B, AU_LINE_ERROR, "control character", 3},
        {"bob:secret", AU_LINE_ERROR, "plaintext passwords are refused", 5},
        {"bob:$apr1$abcdefgh$5VEbMkemELfbhC5ck.U.z1", AU_LINE_ERROR, "MD5 ($apr1$)", 5},
        {"bob:$1$abc$Kb85XxsXB.VXinPhbS4431", AU_LINE_ERROR, "MD5-crypt ($1$)", 5},
        {"bob:{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=", AU_LINE_ERROR, "SHA-1 ({SHA})", 5},
        {"bob:abzlUXK5ed5rs", AU_LINE_ERROR, "DES crypt", 5},
        {"bob:$y$j9T$abc$def", AU_LINE_ERROR, "unsupported hash method", 5},
        {"bob:", AU_LINE_ERROR, "no hash", 5},
        {"bob:$2b$05$short", AU_LINE_ERROR, "malformed bcrypt", 5},
        {"bob:$6$abc$short", AU_LINE_ERROR, "malformed SHA-crypt", 5},
        {"bob:" BCRYPT_B ":extra", AU_LINE_ERROR, "malformed bcrypt", 5},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *s = cases[i].line;
        au_line_rc_t rc = ba_htpasswd_line(s, strlen(s), &l);
        is_int(rc, cases[i].rc, "htpasswd line %zu -> %d", i, (int)cases[i].rc);
        if (rc != cases[i].rc)
            continue;
        if (rc == AU_LINE_ENTRY) {
            is_mem(l.user, l.user_len, cases[i].user, "... user '%s'", cases[i].user);
            ok(l.hash[0] == '$' && l.hash_len >= 50 && l.hash[l.hash_len - 1] != ' ' &&
                   l.hash[l.hash_len - 1] != '\r',
               "... hash without the line's tail");
        } else if (rc == AU_LINE_ERROR) {
            ok(strstr(l.err.error, cases[i].user) != NULL, "... '%s' (got '%s')", cases[i].user,
               l.err.error);
            is_int(l.err.col, cases[i].col, "... at column %zu", cases[i].col);
        }
    }
}

int main(void)
{
    plan_no_plan();
    test_base64();
    test_basic();
    test_classify();
    test_htpasswd();
    return done_testing();
}
