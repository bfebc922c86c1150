/*
 * basic_auth_conf.c: the basic_auth filter's configuration (docs/config.md, "Built-in filters"
 * -> "basic_auth"), checked once per config load into a ba_conf_t (basic_auth.h).
 *
 * The users file is read here, at every load: each line is parsed (basic_parse.c), refused hash
 * forms and malformed lines are errors naming the file and line, recorded at the `file:` key so
 * they also read FILE:LINE:COL of the config. Parsing goes on to report every bad line.
 */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/auth_util.h"
#include "basic_auth.h"

#define BA_NELTS(a) (sizeof(a) / sizeof((a)[0]))

/* Users in name order: shorter names first, then bytewise (any total order will do). */
static int ba_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return alen < blen ? -1 : 1;
    return memcmp(a, b, alen);
}

static int ba_user_cmp(const void *x, const void *y)
{
    const ba_user_t *a = x, *b = y;
    int d = ba_name_cmp(a->user.data, a->user.len, b->user.data, b->user.len);
    return d != 0 ? d : (a->line < b->line ? -1 : 1);
}

const ba_user_t *ba_find_user(const ba_conf_t *c, const char *name, size_t len)
{
    size_t lo = 0, hi = c->nusers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const ba_user_t *u = &c->users[mid];
        int d = ba_name_cmp(name, len, u->user.data, u->user.len);
        if (d == 0)
            return u;
        if (d < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* ---- the users file ---------------------------------------------------------------------- */

typedef struct {
    pyxis_conf_ctx_t *cc;
    const pyxis_node_t *node; /* the file: value, where errors are recorded */
    const char *path;
    ba_user_t *users; /* malloc'd while reading; strings in the arena */
    size_t nusers, cap;
} ba_reader_t;

static int ba_conf_line(void *arg, const char *line, size_t len, unsigned lineno)
{
    const pyxis_api_t *api = ba_api;
    ba_reader_t *r = arg;
    ba_htline_t l;
    char q[300];
    au_line_rc_t rc = ba_htpasswd_line(line, len, &l);
    if (rc == AU_LINE_SKIP)
        return 0;
    if (rc == AU_LINE_ERROR) {
        if (l.hash == NULL) /* the line did not get to its hash */
            api->conf_error(r->cc, r->node, "file: %s:%u:%zu: %s", r->path, lineno, l.err.col,
                            l.err.error);
        else
            api->conf_error(
                r->cc, r->node, "file: %s:%u:%zu: user %s: %s; accepted: " BA_HASH_FORMS, r->path,
                lineno, l.err.col, au_log_quote(q, sizeof(q), l.user, l.user_len), l.err.error);
        return -1;
    }
    /* The form is right; does this libcrypt verify it? */
    char *hash = api->conf_strdup(r->cc, l.hash, l.hash_len);
    char *user = api->conf_strdup(r->cc, l.user, l.user_len);
    if (hash == NULL || user == NULL) {
        api->conf_error(r->cc, r->node, "out of memory");
        return -1;
    }
    int salt = crypt_checksalt(hash);
    if (salt != CRYPT_SALT_OK && salt != CRYPT_SALT_METHOD_LEGACY) {
        api->conf_error(r->cc, r->node,
                        "file: %s:%u:%zu: user %s: this system's libcrypt cannot verify the "
                        "hash (crypt_checksalt: %d)",
                        r->path, lineno, l.user_len + 2,
                        au_log_quote(q, sizeof(q), l.user, l.user_len), salt);
        return -1;
    }
    if (r->nusers == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        ba_user_t *u = realloc(r->users, cap * sizeof(*u));
        if (u == NULL) {
            api->conf_error(r->cc, r->node, "out of memory");
            return -1;
        }
        r->users = u;
        r->cap = cap;
    }
    r->users[r->nusers++] = (ba_user_t){{user, l.user_len}, hash, l.hash_len, lineno};
    return 0;
}

static int ba_conf_file(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, ba_conf_t *c)
{
    const pyxis_api_t *api = ba_api;
    ba_reader_t r = {cc, n, NULL, NULL, 0, 0};
    char q[300];
    int bad = au_conf_read_lines(api, cc, n, &r.path, ba_conf_line, &r) != 0;
    c->file = r.path;
    if (!bad && r.nusers == 0) {
        api->conf_error(cc, n, "file: %s holds no users", r.path);
        bad = 1;
    }
    if (r.nusers > 0) {
        qsort(r.users, r.nusers, sizeof(*r.users), ba_user_cmp);
        for (size_t i = 1; i < r.nusers; i++) {
            const ba_user_t *a = &r.users[i - 1], *b = &r.users[i];
            if (ba_name_cmp(a->user.data, a->user.len, b->user.data, b->user.len) == 0) {
                api->conf_error(cc, n, "file: %s:%u:1: user %s is already on line %u", r.path,
                                b->line, au_log_quote(q, sizeof(q), b->user.data, b->user.len),
                                a->line);
                bad = 1;
            }
        }
        c->users = api->conf_alloc(cc, r.nusers * sizeof(*c->users));
        if (c->users == NULL) {
            api->conf_error(cc, n, "out of memory");
            bad = 1;
        } else {
            memcpy(c->users, r.users, r.nusers * sizeof(*c->users));
            c->nusers = r.nusers;
        }
    }
    free(r.users);
    return bad ? -1 : 0;
}

/* ---- the entry --------------------------------------------------------------------------- */

/* WWW-Authenticate: Basic realm="REALM", charset="UTF-8", the realm as a quoted-string. */
static int ba_conf_realm(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, ba_conf_t *c)
{
    const pyxis_api_t *api = ba_api;
    static const char pre[] = "Basic realm=\"", post[] = "\", charset=\"UTF-8\"";
    pyxis_str_t realm = PYXIS_STR("pyxis");
    if (n != NULL) {
        realm = api->node_str(n);
        if (api->node_type(n) != PYXIS_NODE_SCALAR || realm.len == 0 || realm.len > 256)
            return api->conf_error(cc, n, "realm: expected a string of 1 to 256 bytes");
        for (size_t i = 0; i < realm.len; i++) {
            unsigned char ch = (unsigned char)realm.data[i];
            if (ch < 0x20 || ch == 0x7f)
                return api->conf_error(cc, n, "realm: control characters are not allowed");
        }
    }
    char *v = api->conf_alloc(cc, sizeof(pre) + 2 * realm.len + sizeof(post));
    if (v == NULL)
        return api->conf_error(cc, n, "out of memory");
    size_t o = sizeof(pre) - 1;
    memcpy(v, pre, o);
    for (size_t i = 0; i < realm.len; i++) {
        if (realm.data[i] == '"' || realm.data[i] == '\\')
            v[o++] = '\\';
        v[o++] = realm.data[i];
    }
    memcpy(v + o, post, sizeof(post) - 1);
    c->challenge = (pyxis_str_t){v, o + sizeof(post) - 1};
    return 0;
}

pyxis_rc_t ba_conf_create(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **conf)
{
    static const char *const keys[] = {
        "file", "realm", "forward_user", "keep_authorization", "cache_ttl", "cache_size"};
    const pyxis_api_t *api = ba_api;
    const pyxis_node_t *n;
    int bad = 0;
    ba_conf_t *c = au_conf_begin(api, cc, node, keys, BA_NELTS(keys), sizeof(*c),
                                 "file (required), realm, forward_user, keep_authorization, "
                                 "cache_ttl and cache_size",
                                 &bad);
    if (c == NULL)
        return PYXIS_ERROR;
    c->cache_ttl_ms = 5 * 60 * 1000;
    c->cache_size = 1024;
    if ((n = api->node_get(node, "file")) == NULL) {
        api->conf_error(cc, node, "missing key \"file\" (the users file, htpasswd format)");
        bad = 1;
    } else if (ba_conf_file(cc, n, c) != 0) {
        bad = 1;
    }
    if (ba_conf_realm(cc, api->node_get(node, "realm"), c) != 0)
        bad = 1;
    if ((n = api->node_get(node, "forward_user")) != NULL &&
        au_conf_header_name(api, cc, n, "forward_user", &c->forward) != 0)
        bad = 1;
    if ((n = api->node_get(node, "keep_authorization")) != NULL &&
        api->conf_bool(cc, n, &c->keep_authorization) != PYXIS_OK)
        bad = 1;
    if ((n = api->node_get(node, "cache_ttl")) != NULL &&
        api->conf_duration(cc, n, &c->cache_ttl_ms) != PYXIS_OK)
        bad = 1;
    if ((n = api->node_get(node, "cache_size")) != NULL &&
        api->conf_uint(cc, n, 0, 1000000, &c->cache_size) != PYXIS_OK)
        bad = 1;
    if (bad)
        return PYXIS_ERROR;
    api->conf_uses(cc, PYXIS_USES_REQUEST_HEADERS);
    *conf = c;
    return PYXIS_OK;
}
