/*
 * px_conf_module.c: the config side of filter modules: `filters` lists in routes,
 * `modules_path`, `load_modules`, and the config services of pyxis_api_t (node accessors,
 * typed readers, errors) that modules use inside conf_create.
 *
 * A route's filters are only recorded during the walk; they are resolved (module found and
 * loaded, conf_create called) once the whole file has been read, so that modules_path and
 * load_modules apply wherever they are written and conf_create can ask about upstreams.
 */
#include <stdlib.h>
#include <string.h>

#include "px_conf_yaml.h"
#include "px_module.h"
#include "px_module_api.h"
#include "px_pool.h"

/* What pyxis_conf_ctx_t points to while a module's conf_create runs. */
typedef struct {
    px_conf_ctx_t *cx;
    const px_ynode_t *entry; /* the filter's name node: errors without a node point here */
    px_module_t *module;
    unsigned uses; /* conf_uses(), or ~0 when not called */
} px_conf_mctx_t;

#define PX_CC(cc)  ((px_conf_mctx_t *)(void *)(cc))
#define PX_NODE(n) ((const px_ynode_t *)(const void *)(n))

/* A path from the config: absolute, or relative to the config file's directory. */
char *px_conf_rel_path(px_conf_ctx_t *cx, const char *s, size_t len)
{
    if (len > 0 && s[0] == '/')
        return px_conf_dup(cx, s, len);
    const char *slash = strrchr(cx->file, '/');
    size_t dlen = slash ? (size_t)(slash - cx->file) + 1 : 0;
    char *p = px_conf_alloc(cx, dlen + len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, cx->file, dlen);
    memcpy(p + dlen, s, len);
    p[dlen + len] = '\0';
    return p;
}

/* ---- keys ---------------------------------------------------------------------------------- */

static int px_conf_filter_name_ok(const px_ynode_t *k)
{
    if (k->type != PX_YNODE_SCALAR || k->len == 0 || k->len > 64)
        return 0;
    for (size_t i = 0; i < k->len; i++) {
        char c = k->str[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

int px_conf_set_filters(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    px_conf_route_t *r = obj;
    if (v->type != PX_YNODE_SEQ)
        return px_conf_err(cx, v, "expected a list of filters (\"- NAME: {config}\")");
    if (v->nitems == 0)
        return 0;
    r->filters = px_conf_alloc(cx, v->nitems * sizeof(*r->filters));
    if (r->filters == NULL)
        return -1;
    r->nfilters = v->nitems;
    int rc = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        px_ynode_t *item = v->items[i];
        size_t mark = px_conf_path_index(cx, i);
        const px_ynode_t *key = NULL, *val = NULL;
        if (item->type == PX_YNODE_SCALAR && !item->null) {
            key = item;
        } else if (item->type == PX_YNODE_MAP && item->nitems == 2) {
            key = item->items[0];
            val = item->items[1];
        } else {
            rc = px_conf_err(cx, item,
                             "a filter is written \"- NAME\" or \"- NAME: {config}\" (one key "
                             "per list item)");
            px_conf_path_pop(cx, mark);
            continue;
        }
        if (!px_conf_filter_name_ok(key)) {
            rc = px_conf_err(cx, key, "invalid filter name %s (use a-z, 0-9 and _)",
                             px_conf_q(cx, key->str, key->len));
            px_conf_path_pop(cx, mark);
            continue;
        }
        size_t mark2 = px_conf_path_key(cx, key->str);
        px_conf_fref_t *f = px_pcalloc(cx->tmp, sizeof(*f));
        if (f == NULL) {
            px_conf_path_pop(cx, mark);
            return px_conf_err(cx, item, "out of memory");
        }
        f->route = r;
        f->index = i;
        f->key = key;
        f->val = val;
        f->path = px_conf_path_dup(cx);
        if (cx->frefs_tail == NULL)
            cx->frefs_tail = &cx->frefs;
        *cx->frefs_tail = f;
        cx->frefs_tail = &f->next;
        px_conf_path_pop(cx, mark2);
        px_conf_path_pop(cx, mark);
    }
    return rc;
}

int px_conf_set_load_modules(px_conf_ctx_t *cx, px_ynode_t *v, void *obj, const px_conf_key_t *k)
{
    if (v->type != PX_YNODE_SEQ)
        return px_conf_err(cx, v, "expected a list of module files");
    int rc = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        px_ynode_t *n = v->items[i];
        size_t mark = px_conf_path_index(cx, i);
        if (px_conf_scalar(cx, n, "a file path") < 0 || n->len == 0) {
            if (n->type == PX_YNODE_SCALAR)
                px_conf_err(cx, n, "expected a file path");
            rc = -1;
        } else {
            char *path = px_conf_rel_path(cx, n->str, n->len);
            px_module_err_t err;
            if (path == NULL)
                rc = -1;
            else if (px_module_load(path, &err) == NULL)
                rc = px_conf_err(cx, n, "%s", err.msg);
        }
        px_conf_path_pop(cx, mark);
    }
    return rc;
}

/* ---- resolving filters --------------------------------------------------------------------- */

typedef struct {
    px_module_t *module;
    void *conf;
} px_conf_free_arg_t;

static void px_conf_filter_free(void *data)
{
    px_conf_free_arg_t *a = data;
    const px_module_t *saved = px_module_current;
    px_module_current = a->module;
    a->module->desc.conf_free(a->conf);
    px_module_current = saved;
}

static unsigned px_conf_filter_has(const pyxis_module_t *d)
{
    return (d->on_request_headers ? PX_FILTER_HAS_REQ_HEADERS : 0) |
           (d->on_request_body ? PX_FILTER_HAS_REQ_BODY : 0) |
           (d->on_response_headers ? PX_FILTER_HAS_RESP_HEADERS : 0) |
           (d->on_response_body ? PX_FILTER_HAS_RESP_BODY : 0) |
           (d->on_log ? PX_FILTER_HAS_LOG : 0);
}

/* The snapshot's entry for module m, made on first use. NULL when out of memory. */
static px_conf_moduse_t *px_conf_moduse_get(px_conf_ctx_t *cx, px_module_t *m)
{
    px_conf_modset_t *set = &cx->conf->modules;
    for (size_t i = 0; i < set->n; i++)
        if (set->uses[i].module == m)
            return &set->uses[i];
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        px_conf_moduse_t *u = px_conf_alloc(cx, cap * sizeof(*u));
        if (u == NULL)
            return NULL;
        if (set->n > 0)
            memcpy(u, set->uses, set->n * sizeof(*u));
        set->uses = u;
        set->cap = cap;
    }
    px_conf_moduse_t *u = &set->uses[set->n++];
    memset(u, 0, sizeof(*u));
    u->module = m;
    return u;
}

/* Add conf to module m's entry (at most `max` confs per module); returns its slot or -1. */
static long px_conf_moduse_add(px_conf_ctx_t *cx, size_t max, px_module_t *m, void *conf)
{
    px_conf_moduse_t *u = px_conf_moduse_get(cx, m);
    if (u == NULL)
        return -1;
    if (u->confs == NULL && (u->confs = px_conf_alloc(cx, max * sizeof(void *))) == NULL)
        return -1;
    u->confs[u->nconfs++] = conf;
    return (long)(u - cx->conf->modules.uses);
}

void px_conf_resolve_filters(px_conf_ctx_t *cx)
{
    px_conf_t *conf = cx->conf;
    size_t count = 0;
    for (px_conf_fref_t *f = cx->frefs; f != NULL; f = f->next)
        count++;
    if (count == 0)
        return;
    const char *dir = conf->modules_path; /* searched before the built-in directories */

    for (px_conf_fref_t *f = cx->frefs; f != NULL && !px_conf_full(cx); f = f->next) {
        size_t len = strlen(f->path);
        if (len >= sizeof(cx->path))
            len = sizeof(cx->path) - 1;
        memcpy(cx->path, f->path, len);
        cx->path[len] = '\0';
        cx->plen = len;
        px_module_err_t err;
        px_module_t *m = px_module_get(f->key->str, dir, &err);
        if (m == NULL) {
            px_conf_err(cx, f->key, "%s", err.msg);
            continue;
        }
        px_conf_filter_t *cf = &f->route->filters[f->index];
        cf->module = m;
        cf->line = f->key->line;
        void *mconf = NULL;
        unsigned uses = ~0u;
        if (m->desc.conf_create != NULL) {
            px_conf_mctx_t mc = {cx, f->key, m, ~0u};
            /* A bare "- NAME" gives the module a null node placed at the name. */
            px_ynode_t null_node = {.type = PX_YNODE_SCALAR,
                                    .str = (char *)"",
                                    .null = 1,
                                    .line = f->key->line,
                                    .col = f->key->col};
            size_t before = cx->nfailed;
            const px_module_t *saved = px_module_current;
            px_module_current = m;
            pyxis_rc_t rc =
                m->desc.conf_create((pyxis_conf_ctx_t *)(void *)&mc,
                                    (const pyxis_node_t *)(f->val ? f->val : &null_node), &mconf);
            px_module_current = saved;
            uses = mc.uses;
            if (rc != PYXIS_OK) {
                if (cx->nfailed == before)
                    px_conf_err(cx, f->val ? f->val : f->key, "invalid configuration");
                continue;
            }
            if (m->desc.conf_free != NULL && mconf != NULL) {
                px_conf_free_arg_t *a = px_palloc(cx->arena, sizeof(*a));
                if (a == NULL || px_pool_cleanup_add(cx->arena, px_conf_filter_free, a) < 0) {
                    px_conf_filter_free(&(px_conf_free_arg_t){m, mconf});
                    px_conf_err(cx, f->key, "out of memory");
                    continue;
                }
                a->module = m;
                a->conf = mconf;
            }
        } else if (f->val != NULL && !f->val->null) {
            px_conf_err(cx, f->val, "module \"%s\" takes no configuration", m->desc.name);
            continue;
        }
        cf->conf = mconf;
        cf->has = px_conf_filter_has(&m->desc) & uses;
        long slot = px_conf_moduse_add(cx, count, m, mconf);
        if (slot < 0)
            return;
        cf->slot = (unsigned)slot;
        f->route->filter_has |= cf->has;
    }
    cx->path[0] = '\0';
    cx->plen = 0;
}

/* ---- modules' top-level keys --------------------------------------------------------------- */

void px_conf_resolve_globals(px_conf_ctx_t *cx, px_ynode_t **items, size_t n,
                             const px_conf_key_t *top, size_t ntop)
{
    px_conf_t *conf = cx->conf;
    for (size_t i = 0; i + 1 < n && !px_conf_full(cx); i += 2) {
        const px_ynode_t *k = items[i], *v = items[i + 1];
        for (size_t p = 0; p < i; p += 2) {
            if (strcmp(items[p]->str, k->str) == 0) {
                px_conf_err(cx, k, "duplicate key \"%s\" at the top level (first at %u:%u)", k->str,
                            items[p]->line, items[p]->col);
                goto next;
            }
        }
        px_module_err_t err;
        px_module_t *m =
            px_conf_filter_name_ok(k) ? px_module_get(k->str, conf->modules_path, &err) : NULL;
        if (m == NULL || m->desc.conf_global == NULL) {
            px_conf_unknown_key(cx, k, top, ntop,
                                m ? " (a module of that name exists but takes no top-level "
                                    "configuration)"
                                  : " (neither a top-level key nor a module's)");
            continue;
        }
        size_t mark = px_conf_path_key(cx, k->str);
        px_conf_mctx_t mc = {cx, k, m, ~0u};
        void *gconf = NULL;
        size_t before = cx->nfailed;
        const px_module_t *saved = px_module_current;
        px_module_current = m;
        pyxis_rc_t rc =
            m->desc.conf_global((pyxis_conf_ctx_t *)(void *)&mc, (const pyxis_node_t *)v, &gconf);
        px_module_current = saved;
        if (rc != PYXIS_OK) {
            if (cx->nfailed == before)
                px_conf_err(cx, v, "invalid configuration");
        } else {
            px_conf_moduse_t *u = px_conf_moduse_get(cx, m);
            if (u != NULL)
                u->gconf = gconf;
        }
        px_conf_path_pop(cx, mark);
    next:;
    }
}

/* ---- pyxis_api_t: nodes -------------------------------------------------------------------- */

pyxis_node_type_t px_api_node_type(const pyxis_node_t *n)
{
    const px_ynode_t *y = PX_NODE(n);
    if (y == NULL)
        return PYXIS_NODE_NULL;
    switch (y->type) {
    case PX_YNODE_SEQ: return PYXIS_NODE_SEQ;
    case PX_YNODE_MAP: return PYXIS_NODE_MAP;
    default: return y->null && !y->quoted ? PYXIS_NODE_NULL : PYXIS_NODE_SCALAR;
    }
}

pyxis_str_t px_api_node_str(const pyxis_node_t *n)
{
    const px_ynode_t *y = PX_NODE(n);
    pyxis_str_t s = {"", 0};
    if (y != NULL && y->type == PX_YNODE_SCALAR) {
        s.data = y->str;
        s.len = y->len;
    }
    return s;
}

size_t px_api_node_len(const pyxis_node_t *n)
{
    const px_ynode_t *y = PX_NODE(n);
    if (y == NULL)
        return 0;
    return y->type == PX_YNODE_SEQ ? y->nitems : y->type == PX_YNODE_MAP ? y->nitems / 2 : 0;
}

const pyxis_node_t *px_api_node_at(const pyxis_node_t *n, size_t i)
{
    const px_ynode_t *y = PX_NODE(n);
    if (y == NULL || y->type != PX_YNODE_SEQ || i >= y->nitems)
        return NULL;
    return (const pyxis_node_t *)y->items[i];
}

const pyxis_node_t *px_api_node_key_at(const pyxis_node_t *n, size_t i)
{
    const px_ynode_t *y = PX_NODE(n);
    if (y == NULL || y->type != PX_YNODE_MAP || i >= y->nitems / 2)
        return NULL;
    return (const pyxis_node_t *)y->items[2 * i];
}

const pyxis_node_t *px_api_node_value_at(const pyxis_node_t *n, size_t i)
{
    const px_ynode_t *y = PX_NODE(n);
    if (y == NULL || y->type != PX_YNODE_MAP || i >= y->nitems / 2)
        return NULL;
    return (const pyxis_node_t *)y->items[2 * i + 1];
}

const pyxis_node_t *px_api_node_get(const pyxis_node_t *n, const char *key)
{
    const px_ynode_t *y = PX_NODE(n);
    if (y == NULL || y->type != PX_YNODE_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < y->nitems; i += 2) {
        const px_ynode_t *k = y->items[i];
        if (k->type == PX_YNODE_SCALAR && strcmp(k->str, key) == 0)
            return (const pyxis_node_t *)y->items[i + 1];
    }
    return NULL;
}

int px_api_node_quoted(const pyxis_node_t *n)
{
    const px_ynode_t *y = PX_NODE(n);
    return y != NULL && y->type == PX_YNODE_SCALAR && y->quoted;
}

void px_api_conf_uses(pyxis_conf_ctx_t *cc, unsigned uses)
{
    PX_CC(cc)->uses =
        uses & (PX_FILTER_HAS_REQ_HEADERS | PX_FILTER_HAS_REQ_BODY | PX_FILTER_HAS_RESP_HEADERS |
                PX_FILTER_HAS_RESP_BODY | PX_FILTER_HAS_LOG);
}

unsigned px_api_node_line(const pyxis_node_t *n)
{
    return n ? PX_NODE(n)->line : 0;
}

unsigned px_api_node_col(const pyxis_node_t *n)
{
    return n ? PX_NODE(n)->col : 0;
}

/* ---- pyxis_api_t: config readers and errors ------------------------------------------------ */

pyxis_rc_t px_api_conf_error(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, const char *fmt, ...)
{
    px_conf_mctx_t *mc = PX_CC(cc);
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    px_conf_err(mc->cx, n ? PX_NODE(n) : mc->entry, "%s", msg);
    return PYXIS_INVALID;
}

pyxis_rc_t px_api_conf_check_keys(pyxis_conf_ctx_t *cc, const pyxis_node_t *n,
                                  const char *const *keys, size_t nkeys)
{
    px_conf_mctx_t *mc = PX_CC(cc);
    const px_ynode_t *y = PX_NODE(n);
    if (y == NULL || y->type != PX_YNODE_MAP)
        return px_api_conf_error(cc, n, "expected a map");
    pyxis_rc_t rc = PYXIS_OK;
    for (size_t i = 0; i + 1 < y->nitems; i += 2) {
        const px_ynode_t *k = y->items[i];
        if (k->type != PX_YNODE_SCALAR) {
            rc = px_api_conf_error(cc, (const pyxis_node_t *)k, "a key must be a string");
            continue;
        }
        size_t j = 0;
        while (j < nkeys && strcmp(keys[j], k->str) != 0)
            j++;
        if (j == nkeys) {
            const char *hint = px_conf_suggest(k->str, (const char **)keys, nkeys);
            rc = px_api_conf_error(cc, (const pyxis_node_t *)k, "unknown key %s%s%s%s",
                                   px_conf_q(mc->cx, k->str, k->len),
                                   hint ? " (did you mean \"" : "", hint ? hint : "",
                                   hint ? "\"?)" : "");
            continue;
        }
        for (size_t p = 0; p < i; p += 2) {
            const px_ynode_t *prev = y->items[p];
            if (prev->type == PX_YNODE_SCALAR && strcmp(prev->str, k->str) == 0) {
                rc = px_api_conf_error(cc, (const pyxis_node_t *)k,
                                       "duplicate key \"%s\" (first at %u:%u)", k->str, prev->line,
                                       prev->col);
                break;
            }
        }
    }
    return rc;
}

pyxis_rc_t px_api_conf_str(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, const char **out)
{
    px_conf_mctx_t *mc = PX_CC(cc);
    const px_ynode_t *y = PX_NODE(n);
    if (y == NULL || px_conf_scalar(mc->cx, y, "a string") < 0)
        return y ? PYXIS_INVALID : px_api_conf_error(cc, n, "expected a string");
    char *s = px_conf_dup(mc->cx, y->str, y->len);
    if (s == NULL)
        return PYXIS_NOMEM;
    *out = s;
    return PYXIS_OK;
}

pyxis_rc_t px_api_conf_bool(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, int *out)
{
    const px_ynode_t *y = PX_NODE(n);
    if (y != NULL && y->type == PX_YNODE_SCALAR && y->plain) {
        if (strcmp(y->str, "true") == 0) {
            *out = 1;
            return PYXIS_OK;
        }
        if (strcmp(y->str, "false") == 0) {
            *out = 0;
            return PYXIS_OK;
        }
    }
    return px_api_conf_error(cc, n, "expected true or false");
}

pyxis_rc_t px_api_conf_uint(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, uint64_t lo, uint64_t hi,
                            uint64_t *out)
{
    if (n == NULL)
        return px_api_conf_error(cc, n, "expected an integer");
    return px_conf_uint(PX_CC(cc)->cx, PX_NODE(n), lo, hi, out) < 0 ? PYXIS_INVALID : PYXIS_OK;
}

pyxis_rc_t px_api_conf_duration(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, uint64_t *ms)
{
    if (n == NULL)
        return px_api_conf_error(cc, n, "expected a duration");
    return px_conf_duration(PX_CC(cc)->cx, PX_NODE(n), 0, ms) < 0 ? PYXIS_INVALID : PYXIS_OK;
}

pyxis_rc_t px_api_conf_size(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, uint64_t *bytes)
{
    if (n == NULL)
        return px_api_conf_error(cc, n, "expected a size");
    return px_conf_size(PX_CC(cc)->cx, PX_NODE(n), 0, bytes) < 0 ? PYXIS_INVALID : PYXIS_OK;
}

void *px_api_conf_alloc(pyxis_conf_ctx_t *cc, size_t size)
{
    return px_conf_alloc(PX_CC(cc)->cx, size);
}

char *px_api_conf_strdup(pyxis_conf_ctx_t *cc, const char *s, size_t n)
{
    return px_conf_dup(PX_CC(cc)->cx, s, n);
}

pyxis_rc_t px_api_conf_cleanup_add(pyxis_conf_ctx_t *cc, pyxis_cleanup_fn fn, void *data)
{
    return px_pool_cleanup_add(PX_CC(cc)->cx->arena, fn, data) < 0 ? PYXIS_NOMEM : PYXIS_OK;
}

const char *px_api_conf_file(pyxis_conf_ctx_t *cc)
{
    return PX_CC(cc)->cx->file;
}

const char *px_api_conf_path(pyxis_conf_ctx_t *cc, pyxis_str_t path)
{
    return px_conf_rel_path(PX_CC(cc)->cx, path.data, path.len);
}

int px_api_conf_has_upstream(pyxis_conf_ctx_t *cc, const char *name)
{
    const px_conf_t *conf = PX_CC(cc)->cx->conf;
    for (size_t i = 0; i < conf->nupstreams; i++)
        if (conf->upstreams[i].name != NULL && strcmp(conf->upstreams[i].name, name) == 0)
            return 1;
    return 0;
}

int px_api_conf_has_shdict(pyxis_conf_ctx_t *cc, const char *name)
{
    const px_conf_t *conf = PX_CC(cc)->cx->conf;
    for (size_t i = 0; i < conf->nshdicts; i++)
        if (strcmp(conf->shdicts[i].name, name) == 0)
            return 1;
    return 0;
}
