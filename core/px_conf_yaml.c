/*
 * px_conf_yaml.c: the YAML side of the config loader (see px_conf_yaml.h).
 *
 * libyaml's event parser feeds a small node tree kept in the loader's scratch pool. Events are
 * used rather than libyaml's document API because the document API resolves aliases silently
 * and forgets anchors, and the config language refuses both.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "px_conf.h"
#include "px_conf_yaml.h"
#include "px_pool.h"

#define PX_YAML_MAX_DEPTH 64

/* ---- errors -------------------------------------------------------------------------------- */

static void px_conf_verr(px_conf_ctx_t *cx, unsigned line, unsigned col, const char *prefix,
                         const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void px_conf_verr(px_conf_ctx_t *cx, unsigned line, unsigned col, const char *prefix,
                         const char *fmt, va_list ap)
{
    cx->nfailed++;
    if (cx->nerrs >= cx->max_errs)
        return;
    px_conf_error_t *e = &cx->errs[cx->nerrs++];
    size_t n = strlen(cx->file);
    if (n >= sizeof(e->file))
        n = sizeof(e->file) - 1;
    memcpy(e->file, cx->file, n);
    e->file[n] = '\0';
    e->line = line;
    e->col = col;
    int w = 0;
    if (prefix != NULL && prefix[0] != '\0')
        w = snprintf(e->msg, sizeof(e->msg), "%s: ", prefix);
    if (w < 0 || (size_t)w >= sizeof(e->msg))
        w = 0;
    vsnprintf(e->msg + w, sizeof(e->msg) - (size_t)w, fmt, ap);
}

void px_conf_err_at(px_conf_ctx_t *cx, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    px_conf_verr(cx, line, col, NULL, fmt, ap);
    va_end(ap);
}

int px_conf_err(px_conf_ctx_t *cx, const px_ynode_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    px_conf_verr(cx, n ? n->line : 0, n ? n->col : 0, cx->path, fmt, ap);
    va_end(ap);
    return -1;
}

int px_conf_full(const px_conf_ctx_t *cx)
{
    return cx->nfailed > 0 && cx->nerrs >= cx->max_errs;
}

const char *px_conf_q(px_conf_ctx_t *cx, const char *s, size_t len)
{
    enum { PX_Q_MAX = 64 };
    size_t n = len > PX_Q_MAX ? PX_Q_MAX : len;
    char *out = px_pnalloc(cx->tmp, n * 4 + 8);
    if (out == NULL)
        return "\"?\"";
    char *p = out;
    *p++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            p += sprintf(p, "\\x%02x", c);
        } else {
            *p++ = (char)c;
        }
    }
    *p++ = '"';
    if (n < len) {
        memcpy(p, "...", 3);
        p += 3;
    }
    *p = '\0';
    return out;
}

/* Optimal string alignment distance (a transposition counts 1); large for long strings. */
static size_t px_conf_distance(const char *a, const char *b)
{
    enum { PX_D_MAX = 40 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= PX_D_MAX || lb >= PX_D_MAX)
        return SIZE_MAX;
    size_t d[PX_D_MAX + 1][PX_D_MAX + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

const char *px_conf_suggest(const char *key, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t d = px_conf_distance(key, names[i]);
        size_t limit = strlen(names[i]) <= 4 ? 1 : 2;
        if (d <= limit && d < best_d) {
            best = names[i];
            best_d = d;
        }
    }
    return best;
}

/* ---- key path ------------------------------------------------------------------------------ */

static size_t px_conf_path_add(px_conf_ctx_t *cx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static size_t px_conf_path_add(px_conf_ctx_t *cx, const char *fmt, ...)
{
    size_t mark = cx->plen;
    size_t room = sizeof(cx->path) - cx->plen;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(cx->path + cx->plen, room, fmt, ap);
    va_end(ap);
    if (w > 0)
        cx->plen += (size_t)w < room ? (size_t)w : room - 1;
    return mark;
}

size_t px_conf_path_key(px_conf_ctx_t *cx, const char *key)
{
    /* Keys in the path are already validated or come from the tables, but keep the path
     * printable whatever happens. */
    char clean[80];
    size_t i = 0;
    for (; key[i] != '\0' && i < sizeof(clean) - 1; i++) {
        unsigned char c = (unsigned char)key[i];
        clean[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    clean[i] = '\0';
    return px_conf_path_add(cx, cx->plen ? ".%s" : "%s", clean);
}

size_t px_conf_path_index(px_conf_ctx_t *cx, size_t i)
{
    return px_conf_path_add(cx, "[%zu]", i);
}

void px_conf_path_pop(px_conf_ctx_t *cx, size_t mark)
{
    cx->plen = mark;
    cx->path[mark] = '\0';
}

const char *px_conf_path_dup(px_conf_ctx_t *cx)
{
    const char *p = px_pstrdup(cx->tmp, cx->path);
    return p ? p : "";
}

/* ---- memory -------------------------------------------------------------------------------- */

void *px_conf_alloc(px_conf_ctx_t *cx, size_t size)
{
    void *p = px_pcalloc(cx->arena, size ? size : 1);
    if (p == NULL)
        px_conf_err_at(cx, 0, 0, "out of memory");
    return p;
}

char *px_conf_dup(px_conf_ctx_t *cx, const char *s, size_t len)
{
    char *p = px_pstrndup(cx->arena, s, len);
    if (p == NULL)
        px_conf_err_at(cx, 0, 0, "out of memory");
    return p;
}

/* ---- the node tree ------------------------------------------------------------------------- */

static void px_yaml_syntax_error(px_conf_ctx_t *cx, yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR) {
        px_conf_err_at(cx, 0, 0, "out of memory");
        return;
    }
    unsigned line = (unsigned)p->problem_mark.line + 1, col = (unsigned)p->problem_mark.column + 1;
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors (bad encoding, control characters) only carry a byte offset. */
        size_t off = p->problem_offset < cx->len ? p->problem_offset : cx->len;
        line = 1;
        col = 1;
        for (size_t i = 0; i < off; i++) {
            if (cx->yaml[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
    }
    const char *problem = p->problem ? p->problem : "syntax error";
    if (p->context != NULL)
        px_conf_err_at(cx, line, col, "YAML syntax error: %s (%s started at line %zu)", problem,
                       p->context, p->context_mark.line + 1);
    else
        px_conf_err_at(cx, line, col, "YAML syntax error: %s", problem);
}

static int px_yaml_next(px_conf_ctx_t *cx, yaml_parser_t *p, yaml_event_t *ev)
{
    if (yaml_parser_parse(p, ev))
        return 0;
    px_yaml_syntax_error(cx, p);
    return -1;
}

static int px_yaml_is_null(const px_ynode_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (!n->plain)
        return 0;
    for (size_t i = 0; i < PX_KEY_NELTS(nulls); i++)
        if (strcmp(n->str, nulls[i]) == 0)
            return 1;
    return 0;
}

static int px_yaml_push(px_conf_ctx_t *cx, px_ynode_t *n, px_ynode_t *child, size_t *cap)
{
    if (n->nitems == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        px_ynode_t **items = px_palloc(cx->tmp, ncap * sizeof(*items));
        if (items == NULL) {
            px_conf_err_at(cx, 0, 0, "out of memory");
            return -1;
        }
        if (n->nitems)
            memcpy(items, n->items, n->nitems * sizeof(*items));
        n->items = items;
        *cap = ncap;
    }
    n->items[n->nitems++] = child;
    return 0;
}

/*
 * Build the node that starts with event ev (consumed here) and, for a collection, everything
 * up to its end event. Returns NULL on a fatal error (recorded); anchors, aliases and tags are
 * recorded as errors but the tree is still built so later ones are reported too.
 */
static px_ynode_t *px_yaml_build(px_conf_ctx_t *cx, yaml_parser_t *p, yaml_event_t *ev, int depth)
{
    px_ynode_t *n = px_pcalloc(cx->tmp, sizeof(*n));
    if (n == NULL) {
        yaml_event_delete(ev);
        px_conf_err_at(cx, 0, 0, "out of memory");
        return NULL;
    }
    n->line = (unsigned)ev->start_mark.line + 1;
    n->col = (unsigned)ev->start_mark.column + 1;
    n->str = "";
    const yaml_char_t *anchor = NULL, *tag = NULL;
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        px_conf_err_at(cx, n->line, n->col, "YAML aliases (*%s) are not supported",
                       (const char *)ev->data.alias.anchor);
        n->null = 1;
        break;
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
        n->type = PX_YNODE_SCALAR;
        n->len = ev->data.scalar.length;
        n->str = px_pstrndup(cx->tmp, (const char *)ev->data.scalar.value, n->len);
        if (n->str == NULL) {
            yaml_event_delete(ev);
            px_conf_err_at(cx, 0, 0, "out of memory");
            return NULL;
        }
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        n->null = tag == NULL && px_yaml_is_null(n);
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        n->type = PX_YNODE_SEQ;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        n->type = PX_YNODE_MAP;
        break;
    default:
        yaml_event_delete(ev);
        px_conf_err_at(cx, n->line, n->col, "YAML syntax error: unexpected event");
        return NULL;
    }
    if (anchor != NULL)
        px_conf_err_at(cx, n->line, n->col, "YAML anchors (&%s) are not supported",
                       (const char *)anchor);
    if (tag != NULL)
        px_conf_err_at(cx, n->line, n->col, "YAML tags (%s) are not supported", (const char *)tag);
    yaml_event_delete(ev);
    if (n->type == PX_YNODE_SCALAR)
        return n;
    if (depth >= PX_YAML_MAX_DEPTH) {
        px_conf_err_at(cx, n->line, n->col, "nesting deeper than %d levels", PX_YAML_MAX_DEPTH);
        return NULL;
    }
    size_t cap = 0;
    for (;;) {
        yaml_event_t cev;
        if (px_yaml_next(cx, p, &cev) < 0)
            return NULL;
        if (cev.type == YAML_SEQUENCE_END_EVENT || cev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&cev);
            return n;
        }
        px_ynode_t *c = px_yaml_build(cx, p, &cev, depth + 1);
        if (c == NULL || px_yaml_push(cx, n, c, &cap) < 0)
            return NULL;
    }
}

px_ynode_t *px_conf_yaml_parse(px_conf_ctx_t *cx)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        px_conf_err_at(cx, 0, 0, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)cx->yaml, cx->len);
    px_ynode_t *root = NULL;
    int ndocs = 0, ok = 1;
    for (;;) {
        yaml_event_t ev;
        if (px_yaml_next(cx, &p, &ev) < 0) {
            ok = 0;
            break;
        }
        yaml_event_type_t type = ev.type;
        if (type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (type == YAML_DOCUMENT_START_EVENT) {
            unsigned line = (unsigned)ev.start_mark.line + 1;
            unsigned col = (unsigned)ev.start_mark.column + 1;
            int tags = ev.data.document_start.tag_directives.start !=
                       ev.data.document_start.tag_directives.end;
            yaml_event_delete(&ev);
            if (++ndocs > 1) {
                px_conf_err_at(cx, line, col,
                               "more than one YAML document (one configuration per file)");
                ok = 0;
                break;
            }
            if (tags)
                px_conf_err_at(cx, line, col, "YAML %%TAG directives are not supported");
            continue;
        }
        if (type != YAML_SCALAR_EVENT && type != YAML_SEQUENCE_START_EVENT &&
            type != YAML_MAPPING_START_EVENT && type != YAML_ALIAS_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        root = px_yaml_build(cx, &p, &ev, 0);
        if (root == NULL) {
            ok = 0;
            break;
        }
    }
    yaml_parser_delete(&p);
    if (!ok)
        return NULL;
    if (root == NULL || (root->type == PX_YNODE_SCALAR && root->null)) {
        px_conf_err_at(cx, root ? root->line : 1, root ? root->col : 1,
                       "the configuration is empty (expected a map with at least "
                       "\"listeners\")");
        return NULL;
    }
    return root;
}

/* ---- the walker ---------------------------------------------------------------------------- */

static const char *px_conf_kind(const px_ynode_t *n)
{
    if (n->type == PX_YNODE_MAP)
        return "a map";
    if (n->type == PX_YNODE_SEQ)
        return "a sequence";
    if (n->null)
        return "null";
    return n->quoted ? "a quoted string" : "a scalar";
}

static int px_conf_expect_map(px_conf_ctx_t *cx, const px_ynode_t *n)
{
    if (n->type == PX_YNODE_MAP)
        return 0;
    return px_conf_err(cx, n, "expected a map, got %s", px_conf_kind(n));
}

/* The key of a pair: a non-empty scalar without NUL bytes. */
static int px_conf_check_key(px_conf_ctx_t *cx, const px_ynode_t *k)
{
    if (k->type != PX_YNODE_SCALAR)
        return px_conf_err(cx, k, "a key must be a string, got %s", px_conf_kind(k));
    if (k->len == 0 || k->null)
        return px_conf_err(cx, k, "empty key");
    if (strlen(k->str) != k->len)
        return px_conf_err(cx, k, "a key must not contain NUL bytes");
    return 0;
}

static const char *px_conf_where(px_conf_ctx_t *cx)
{
    if (cx->plen == 0)
        return "at the top level";
    char *s = px_pnalloc(cx->tmp, cx->plen + 4);
    if (s == NULL)
        return "";
    memcpy(s, "in ", 3);
    memcpy(s + 3, cx->path, cx->plen + 1);
    return s;
}

/* Error at key node k, without the path prefix (the message names the map itself). */
static int px_conf_key_err(px_conf_ctx_t *cx, const px_ynode_t *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int px_conf_key_err(px_conf_ctx_t *cx, const px_ynode_t *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    px_conf_verr(cx, k->line, k->col, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

int px_conf_unknown_key(px_conf_ctx_t *cx, const px_ynode_t *k, const px_conf_key_t *keys,
                        size_t nkeys, const char *no_hint_note)
{
    const char *names[PX_CONF_MAX_KEYS];
    for (size_t m = 0; m < nkeys && m < PX_CONF_MAX_KEYS; m++)
        names[m] = keys[m].name;
    const char *hint = px_conf_suggest(k->str, names, nkeys < PX_CONF_MAX_KEYS ? nkeys : 0);
    if (hint != NULL)
        return px_conf_key_err(cx, k, "unknown key %s %s (did you mean \"%s\"?)",
                               px_conf_q(cx, k->str, k->len), px_conf_where(cx), hint);
    return px_conf_key_err(cx, k, "unknown key %s %s%s", px_conf_q(cx, k->str, k->len),
                           px_conf_where(cx), no_hint_note ? no_hint_note : "");
}

px_ynode_t *px_conf_seen(px_ynode_t *const *seen, const px_conf_key_t *keys, size_t nkeys,
                         const char *name)
{
    for (size_t j = 0; j < nkeys; j++) {
        if (strcmp(keys[j].name, name) == 0)
            return seen[j];
    }
    return NULL;
}

int px_conf_walk(px_conf_ctx_t *cx, px_ynode_t *n, const px_conf_key_t *keys, size_t nkeys,
                 void *obj, px_ynode_t **seen)
{
    px_ynode_t *local[PX_CONF_MAX_KEYS];
    if (nkeys > PX_CONF_MAX_KEYS)
        return px_conf_err(cx, n, "internal error: key table too large");
    if (seen == NULL)
        seen = local;
    for (size_t j = 0; j < nkeys; j++)
        seen[j] = NULL;
    if (px_conf_expect_map(cx, n) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i + 1 < n->nitems; i += 2) {
        px_ynode_t *k = n->items[i], *v = n->items[i + 1];
        if (px_conf_check_key(cx, k) < 0) {
            rc = -1;
            continue;
        }
        size_t j = 0;
        while (j < nkeys && strcmp(keys[j].name, k->str) != 0)
            j++;
        if (j == nkeys) {
            px_conf_unknown_key(cx, k, keys, nkeys, NULL);
            rc = -1;
        } else if (seen[j] != NULL) {
            px_conf_key_err(cx, k, "duplicate key \"%s\" %s (first at %u:%u)", keys[j].name,
                            px_conf_where(cx), seen[j]->line, seen[j]->col);
            rc = -1;
        } else {
            seen[j] = k;
            size_t mark = px_conf_path_key(cx, keys[j].name);
            if (keys[j].fn(cx, v, obj, &keys[j]) < 0)
                rc = -1;
            px_conf_path_pop(cx, mark);
        }
        if (px_conf_full(cx))
            return -1;
    }
    for (size_t j = 0; j < nkeys; j++) {
        if (keys[j].required && seen[j] == NULL) {
            px_conf_err(cx, n, "missing required key \"%s\"", keys[j].name);
            rc = -1;
        }
    }
    return rc;
}

int px_conf_expect_free_map(px_conf_ctx_t *cx, px_ynode_t *n)
{
    if (px_conf_expect_map(cx, n) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i + 1 < n->nitems; i += 2) {
        px_ynode_t *k = n->items[i];
        if (px_conf_check_key(cx, k) < 0) {
            rc = -1;
            continue;
        }
        for (size_t j = 0; j < i; j += 2) {
            px_ynode_t *o = n->items[j];
            if (o->type == PX_YNODE_SCALAR && o->len == k->len &&
                memcmp(o->str, k->str, k->len) == 0) {
                px_conf_key_err(cx, k, "duplicate key %s %s (first at %u:%u)",
                                px_conf_q(cx, k->str, k->len), px_conf_where(cx), o->line, o->col);
                rc = -1;
                break;
            }
        }
    }
    return rc;
}

int px_conf_expect_seq(px_conf_ctx_t *cx, px_ynode_t *n)
{
    if (n->type != PX_YNODE_SEQ)
        return px_conf_err(cx, n, "expected a sequence, got %s", px_conf_kind(n));
    if (n->nitems == 0)
        return px_conf_err(cx, n, "must not be empty");
    return 0;
}

/* ---- scalars ------------------------------------------------------------------------------- */

int px_conf_scalar(px_conf_ctx_t *cx, const px_ynode_t *n, const char *what)
{
    if (n->type != PX_YNODE_SCALAR || n->null)
        return px_conf_err(cx, n, "expected %s, got %s", what, px_conf_kind(n));
    if (strlen(n->str) != n->len)
        return px_conf_err(cx, n, "%s must not contain NUL bytes", what);
    return 0;
}

/* Digits only into *out: 0, -1 when not a number, -2 on overflow. */
static int px_conf_digits(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -2;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int px_conf_parse_duration_rc(const char *s, uint64_t *ms)
{
    size_t n = strspn(s, "0123456789");
    uint64_t v = 0, mul;
    int rc = px_conf_digits(s, n, &v);
    if (rc == -1)
        return -1;
    const char *u = s + n;
    if (*u == '\0' && rc == 0 && v == 0)
        mul = 1;
    else if (strcmp(u, "ms") == 0)
        mul = 1;
    else if (strcmp(u, "s") == 0)
        mul = 1000;
    else if (strcmp(u, "m") == 0)
        mul = 60 * 1000;
    else if (strcmp(u, "h") == 0)
        mul = 60 * 60 * 1000;
    else
        return -1;
    if (rc < 0 || v > UINT64_MAX / mul)
        return -2;
    *ms = v * mul;
    return 0;
}

static int px_conf_parse_size_rc(const char *s, uint64_t *bytes)
{
    size_t n = strspn(s, "0123456789");
    uint64_t v = 0, mul = 1;
    int rc = px_conf_digits(s, n, &v);
    if (rc == -1)
        return -1;
    const char *u = s + n;
    if (*u != '\0') {
        if (u[1] != '\0')
            return -1;
        if (*u == 'k' || *u == 'K')
            mul = 1024;
        else if (*u == 'm' || *u == 'M')
            mul = 1024 * 1024;
        else if (*u == 'g' || *u == 'G')
            mul = 1024 * 1024 * 1024;
        else
            return -1;
    }
    if (rc < 0 || v > UINT64_MAX / mul)
        return -2;
    *bytes = v * mul;
    return 0;
}

int px_conf_parse_duration(const char *s, uint64_t *ms)
{
    return s != NULL && px_conf_parse_duration_rc(s, ms) == 0 ? 0 : -1;
}

int px_conf_parse_size(const char *s, uint64_t *bytes)
{
    return s != NULL && px_conf_parse_size_rc(s, bytes) == 0 ? 0 : -1;
}

int px_conf_uint(px_conf_ctx_t *cx, const px_ynode_t *n, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (px_conf_scalar(cx, n, "an integer") < 0)
        return -1;
    if (!n->plain)
        return px_conf_err(cx, n, "expected an integer, got %s (write it without quotes)",
                           px_conf_kind(n));
    uint64_t v = 0;
    int rc = px_conf_digits(n->str, n->len, &v);
    if (rc == -1)
        return px_conf_err(cx, n, "expected an integer, got %s", px_conf_q(cx, n->str, n->len));
    if (rc == -2 || v < lo || v > hi)
        return px_conf_err(cx, n, "%s is out of range (%llu..%llu)", px_conf_q(cx, n->str, n->len),
                           (unsigned long long)lo, (unsigned long long)hi);
    *out = v;
    return 0;
}

int px_conf_duration(px_conf_ctx_t *cx, const px_ynode_t *n, uint64_t lo, uint64_t *out)
{
    if (px_conf_scalar(cx, n, "a duration") < 0)
        return -1;
    uint64_t v = 0;
    int rc = px_conf_parse_duration_rc(n->str, &v);
    if (rc == -1)
        return px_conf_err(cx, n,
                           "invalid duration %s (expected an integer with a unit: 250ms, 15s, "
                           "2m, 1h; or 0)",
                           px_conf_q(cx, n->str, n->len));
    if (rc == -2)
        return px_conf_err(cx, n, "duration %s is too large", px_conf_q(cx, n->str, n->len));
    if (v < lo)
        return px_conf_err(cx, n, "must be greater than 0");
    *out = v;
    return 0;
}

int px_conf_size(px_conf_ctx_t *cx, const px_ynode_t *n, uint64_t lo, uint64_t *out)
{
    if (px_conf_scalar(cx, n, "a size") < 0)
        return -1;
    uint64_t v = 0;
    int rc = px_conf_parse_size_rc(n->str, &v);
    if (rc == -1)
        return px_conf_err(cx, n,
                           "invalid size %s (expected an integer with an optional k, m or g "
                           "suffix: 512, 16k, 1m)",
                           px_conf_q(cx, n->str, n->len));
    if (rc == -2)
        return px_conf_err(cx, n, "size %s is too large", px_conf_q(cx, n->str, n->len));
    if (v < lo)
        return px_conf_err(cx, n, "must be greater than 0");
    *out = v;
    return 0;
}

/* ---- generic setters ----------------------------------------------------------------------- */

static void px_conf_store(void *obj, const px_conf_key_t *k, uint64_t v)
{
    char *field = (char *)obj + k->off;
    if (k->size == sizeof(uint64_t)) {
        memcpy(field, &v, sizeof(v));
    } else {
        /* int and unsigned fields; the key's range keeps v below INT_MAX */
        unsigned u = (unsigned)v;
        memcpy(field, &u, sizeof(u));
    }
}

int px_conf_set_str(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    if (px_conf_scalar(cx, v, "a string") < 0)
        return -1;
    if (v->len == 0)
        return px_conf_err(cx, v, "must not be empty");
    for (size_t i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char)v->str[i];
        if (c < 0x20 || c == 0x7f)
            return px_conf_err(cx, v, "must not contain control characters");
    }
    char *s = px_conf_dup(cx, v->str, v->len);
    if (s == NULL)
        return -1;
    memcpy((char *)obj + k->off, &s, sizeof(s));
    return 0;
}

int px_conf_set_uint(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    uint64_t n = 0;
    if (px_conf_uint(cx, v, k->lo, k->hi, &n) < 0)
        return -1;
    px_conf_store(obj, k, n);
    return 0;
}

int px_conf_set_duration(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    uint64_t n = 0;
    if (px_conf_duration(cx, v, k->lo, &n) < 0)
        return -1;
    px_conf_store(obj, k, n);
    return 0;
}

int px_conf_set_size(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    uint64_t n = 0;
    if (px_conf_size(cx, v, k->lo, &n) < 0)
        return -1;
    px_conf_store(obj, k, n);
    return 0;
}

int px_conf_set_bool(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    if (v->type == PX_YNODE_SCALAR && v->plain &&
        (strcmp(v->str, "true") == 0 || strcmp(v->str, "false") == 0)) {
        px_conf_store(obj, k, v->str[0] == 't');
        return 0;
    }
    return px_conf_err(cx, v, "expected true or false");
}
