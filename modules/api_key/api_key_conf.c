/*
 * api_key_conf.c: the api_key filter's configuration (docs/config.md, "Built-in filters" ->
 * "api_key"), checked once per config load into an ak_conf_t (api_key.h).
 *
 * Keys come inline (`keys: { consumer: KEY }`) and/or from a keys file (`file:`, one
 * "consumer: key" per line, read again at every load). Each is checked (ak_key_check), hashed,
 * and put in a table keyed by its digest; a consumer or a key given twice is an error naming
 * both places. Errors about the file read FILE:LINE:COL of the config (the `file:` key), then
 * the keys file's own path:line:col.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "../common/auth_util.h"
#include "api_key.h"

#define AK_NELTS(a) (sizeof(a) / sizeof((a)[0]))

/* A key while the config is read: where it was given, for messages about duplicates. */
typedef struct {
    unsigned char digest[32];
    pyxis_str_t consumer;          /* config arena */
    const pyxis_node_t *name_node; /* inline: the consumer's and the key's nodes; from the file: */
    const pyxis_node_t *key_node;  /* both the file: value */
    unsigned line, col;            /* from the file: the line and the key's column; inline: 0 */
    size_t order;
} ak_entry_t;

typedef struct {
    pyxis_conf_ctx_t *cc;
    const pyxis_node_t *file; /* the file: value */
    const char *path;
    ak_entry_t *entries; /* malloc'd */
    size_t n, cap;
} ak_keys_t;

static int ak_add(ak_keys_t *k, const ak_entry_t *e)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 32;
        ak_entry_t *n = realloc(k->entries, cap * sizeof(*n));
        if (n == NULL)
            return -1;
        k->entries = n;
        k->cap = cap;
    }
    k->entries[k->n] = *e;
    k->entries[k->n].order = k->n;
    k->n++;
    return 0;
}

/* An entry's digest: the key's, or the one given as sha256:HEX. */
static int ak_digest(ak_key_kind_t kind, const char *key, size_t len, unsigned char digest[32])
{
    return kind == AK_KEY_SHA256 ? 0 : ak_sha256(key, len, digest);
}

/* Where an entry's key (or, !at_key, its consumer) was given, for a message: "FILE:LINE:COL". */
static const char *ak_where(ak_keys_t *k, const ak_entry_t *e, int at_key, char *buf, size_t cap)
{
    const pyxis_api_t *api = ak_api;
    const pyxis_node_t *n = at_key ? e->key_node : e->name_node;
    if (e->line > 0)
        snprintf(buf, cap, "%s:%u:%u", k->path, e->line, at_key ? e->col : 1);
    else
        snprintf(buf, cap, "%s:%u:%u", api->conf_file(k->cc), api->node_line(n), api->node_col(n));
    return buf;
}

/* An error about entry e's key (or consumer): at its node, and for the file at its position
 * there first; `first` says where the entry it clashes with is. */
static void ak_entry_error(ak_keys_t *k, const ak_entry_t *e, int at_key, const char *what,
                           const char *first)
{
    const pyxis_api_t *api = ak_api;
    if (e->line > 0)
        api->conf_error(k->cc, e->key_node, "file: %s:%u:%u: consumer \"%.*s\": %s (first at %s)",
                        k->path, e->line, at_key ? e->col : 1, (int)e->consumer.len,
                        e->consumer.data, what, first);
    else
        api->conf_error(k->cc, at_key ? e->key_node : e->name_node, "keys.%.*s: %s (first at %s)",
                        (int)e->consumer.len, e->consumer.data, what, first);
}

/* ---- inline keys and the keys file ------------------------------------------------------- */

static int ak_conf_inline(ak_keys_t *k, const pyxis_node_t *m)
{
    const pyxis_api_t *api = ak_api;
    int bad = 0;
    if (api->node_type(m) != PYXIS_NODE_MAP || api->node_len(m) == 0) {
        api->conf_error(k->cc, m, "keys: expected a map of consumer: key");
        return -1;
    }
    for (size_t i = 0; i < api->node_len(m); i++) {
        const pyxis_node_t *kn = api->node_key_at(m, i), *vn = api->node_value_at(m, i);
        pyxis_str_t name = api->node_str(kn), key = api->node_str(vn);
        ak_entry_t e = {.name_node = kn, .key_node = vn};
        ak_key_kind_t kind;
        const char *err;
        if (!ak_consumer_ok(name.data, name.len)) {
            api->conf_error(k->cc, kn,
                            "keys: a consumer name is 1 to 128 of the letters, digits and "
                            ". _ - @");
            bad = 1;
            continue;
        }
        if (api->node_type(vn) != PYXIS_NODE_SCALAR) {
            api->conf_error(k->cc, vn, "keys.%.*s: expected the key (a string)", (int)name.len,
                            name.data);
            bad = 1;
            continue;
        }
        if ((err = ak_key_check(key.data, key.len, &kind, e.digest)) != NULL) {
            api->conf_error(k->cc, vn, "keys.%.*s: %s", (int)name.len, name.data, err);
            bad = 1;
            continue;
        }
        e.consumer.data = api->conf_strdup(k->cc, name.data, name.len);
        e.consumer.len = name.len;
        if (e.consumer.data == NULL || ak_digest(kind, key.data, key.len, e.digest) != 0 ||
            ak_add(k, &e) != 0) {
            api->conf_error(k->cc, vn, "out of memory");
            return -1;
        }
    }
    return bad ? -1 : 0;
}

static int ak_conf_line(void *arg, const char *line, size_t len, unsigned lineno)
{
    const pyxis_api_t *api = ak_api;
    ak_keys_t *k = arg;
    ak_line_t l;
    au_line_rc_t rc = ak_key_line(line, len, &l);
    if (rc == AU_LINE_SKIP)
        return 0;
    if (rc == AU_LINE_ERROR) {
        api->conf_error(k->cc, k->file, "file: %s:%u:%zu: %s", k->path, lineno, l.err.col,
                        l.err.error);
        return -1;
    }
    ak_entry_t e = {
        .name_node = k->file, .key_node = k->file, .line = lineno, .col = (unsigned)l.key_col};
    memcpy(e.digest, l.digest, sizeof(e.digest));
    e.consumer.data = api->conf_strdup(k->cc, l.consumer, l.consumer_len);
    e.consumer.len = l.consumer_len;
    if (e.consumer.data == NULL || ak_digest(l.kind, l.key, l.key_len, e.digest) != 0 ||
        ak_add(k, &e) != 0) {
        api->conf_error(k->cc, k->file, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- duplicates and the table ------------------------------------------------------------ */

static int ak_by_consumer(const void *x, const void *y)
{
    const ak_entry_t *a = x, *b = y;
    size_t n = a->consumer.len < b->consumer.len ? a->consumer.len : b->consumer.len;
    int d = memcmp(a->consumer.data, b->consumer.data, n);
    if (d == 0 && a->consumer.len != b->consumer.len)
        d = a->consumer.len < b->consumer.len ? -1 : 1;
    return d != 0 ? d : (a->order < b->order ? -1 : 1);
}

static int ak_by_digest(const void *x, const void *y)
{
    const ak_entry_t *a = x, *b = y;
    int d = memcmp(a->digest, b->digest, sizeof(a->digest));
    return d != 0 ? d : (a->order < b->order ? -1 : 1);
}

/* Report every entry whose consumer or key an earlier entry already has. */
static int ak_conf_duplicates(ak_keys_t *k)
{
    char at[512];
    int bad = 0;
    qsort(k->entries, k->n, sizeof(*k->entries), ak_by_consumer);
    for (size_t i = 1; i < k->n; i++) {
        const ak_entry_t *a = &k->entries[i - 1], *b = &k->entries[i];
        if (a->consumer.len == b->consumer.len &&
            memcmp(a->consumer.data, b->consumer.data, a->consumer.len) == 0) {
            ak_entry_error(k, b, 0, "the consumer is given twice",
                           ak_where(k, a, 0, at, sizeof(at)));
            bad = 1;
        }
    }
    qsort(k->entries, k->n, sizeof(*k->entries), ak_by_digest);
    for (size_t i = 1; i < k->n; i++) {
        const ak_entry_t *a = &k->entries[i - 1], *b = &k->entries[i];
        if (memcmp(a->digest, b->digest, sizeof(a->digest)) == 0) {
            char what[200];
            snprintf(what, sizeof(what), "the same key as consumer \"%.*s\"", (int)a->consumer.len,
                     a->consumer.data);
            ak_entry_error(k, b, 1, what, ak_where(k, a, 1, at, sizeof(at)));
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}

static int ak_conf_table(pyxis_conf_ctx_t *cc, const ak_keys_t *k, ak_conf_t *c)
{
    const pyxis_api_t *api = ak_api;
    size_t slots = 8;
    while (slots < 2 * k->n)
        slots *= 2;
    if ((c->table = api->conf_alloc(cc, slots * sizeof(*c->table))) == NULL) {
        api->conf_error(cc, NULL, "out of memory");
        return -1;
    }
    c->mask = slots - 1;
    c->nkeys = k->n;
    for (size_t i = 0; i < k->n; i++) {
        size_t s = ak_slot_of(c, k->entries[i].digest);
        while (c->table[s].consumer.len != 0)
            s = (s + 1) & c->mask;
        memcpy(c->table[s].digest, k->entries[i].digest, 32);
        c->table[s].consumer = k->entries[i].consumer;
    }
    return 0;
}

/* ---- the entry --------------------------------------------------------------------------- */

static int ak_conf_param(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, pyxis_str_t *out)
{
    const pyxis_api_t *api = ak_api;
    pyxis_str_t s = api->node_str(n);
    if (api->node_type(n) != PYXIS_NODE_SCALAR || !ak_param_name_ok(s.data, s.len)) {
        api->conf_error(cc, n,
                        "query: expected a parameter name (1 to 64 of the letters, "
                        "digits and . _ - ~)");
        return -1;
    }
    if ((out->data = api->conf_strdup(cc, s.data, s.len)) == NULL) {
        api->conf_error(cc, n, "out of memory");
        return -1;
    }
    out->len = s.len;
    return 0;
}

pyxis_rc_t ak_conf_create(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **conf)
{
    static const char *const keys[] = {"keys",    "file", "header", "query", "forward_consumer",
                                       "keep_key"};
    const pyxis_api_t *api = ak_api;
    const pyxis_node_t *n, *inl, *file;
    int bad = 0;
    ak_conf_t *c =
        au_conf_begin(api, cc, node, keys, AK_NELTS(keys), sizeof(*c),
                      "keys and/or file, and header, query, forward_consumer, keep_key", &bad);
    if (c == NULL)
        return PYXIS_ERROR;
    ak_keys_t k = {.cc = cc};
    inl = api->node_get(node, "keys");
    file = api->node_get(node, "file");
    if (inl == NULL && file == NULL) {
        api->conf_error(cc, node, "give keys (a map of consumer: key) and/or file (a keys file)");
        bad = 1;
    }
    if (inl != NULL && ak_conf_inline(&k, inl) != 0)
        bad = 1;
    k.file = file;
    if (file != NULL && au_conf_read_lines(api, cc, file, &k.path, ak_conf_line, &k) != 0)
        bad = 1;
    if (!bad && k.n == 0) {
        api->conf_error(cc, file, "file: %s holds no keys", k.path);
        bad = 1;
    }
    if (k.n > 0 && ak_conf_duplicates(&k) != 0) /* reported along with the other errors */
        bad = 1;
    if (!bad && ak_conf_table(cc, &k, c) != 0)
        bad = 1;
    if (k.entries != NULL)
        OPENSSL_cleanse(k.entries, k.cap * sizeof(*k.entries));
    free(k.entries);

    if ((n = api->node_get(node, "header")) != NULL &&
        au_conf_header_name(api, cc, n, "header", &c->header) != 0)
        bad = 1;
    if ((n = api->node_get(node, "query")) != NULL && ak_conf_param(cc, n, &c->query) != 0)
        bad = 1;
    if (api->node_get(node, "header") == NULL && api->node_get(node, "query") == NULL)
        c->header = (pyxis_str_t)PYXIS_STR("x-api-key");
    if ((n = api->node_get(node, "forward_consumer")) != NULL &&
        au_conf_header_name(api, cc, n, "forward_consumer", &c->forward) != 0)
        bad = 1;
    if ((n = api->node_get(node, "keep_key")) != NULL &&
        api->conf_bool(cc, n, &c->keep_key) != PYXIS_OK)
        bad = 1;
    if (bad)
        return PYXIS_ERROR;
    api->conf_uses(cc, PYXIS_USES_REQUEST_HEADERS);
    *conf = c;
    return PYXIS_OK;
}
