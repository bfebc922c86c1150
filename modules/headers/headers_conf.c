/*
 * headers_conf.c: the headers filter's configuration (docs/config.md, "Built-in filters" ->
 * "headers"), checked and compiled once per config load into an hdr_conf_t (headers.h).
 *
 * Everything a request will need is settled here: header names are checked, values are split
 * into literal and variable parts (an unknown variable is an error now, not an empty string
 * later), the path regex is compiled and its replacement resolved to group numbers. Every
 * error is recorded with api->conf_error at the offending node, so it reads FILE:LINE:COL, and
 * parsing goes on to report the other independent errors of the same entry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "headers.h"

/* ---- small validators -------------------------------------------------------------------- */

/* RFC 9110 tchar */
static int hdr_is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int hdr_is_token(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!hdr_is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

/* A header field value: no CR, LF, NUL or other controls except HTAB. */
static int hdr_is_field_value(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

/* Bytes a path may hold as written in the config: no controls, spaces, "?" or "#". */
static int hdr_is_path_bytes(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '?' || c == '#')
            return 0;
    }
    return 1;
}

static int hdr_eq_ci(pyxis_str_t a, const char *b)
{
    size_t n = strlen(b);
    return a.len == n && strncasecmp(a.data, b, n) == 0;
}

/* A quoted, escaped, length-capped copy of s for a message (config arena). */
static const char *hdr_q(pyxis_conf_ctx_t *cc, const char *s, size_t len)
{
    size_t cap = 64, o = 0;
    char *out = hdr_api->conf_alloc(cc, cap * 4 + 8);
    if (out == NULL)
        return "\"...\"";
    out[o++] = '"';
    for (size_t i = 0; i < len && i < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, 5, c == '"' || c == '\\' ? "\\%c" : "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    if (len > cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

/* Fields pyxis manages itself: message framing and connection handling. A filter changing them
 * could make the two sides read a message's length differently (request smuggling). */
static const char *const hdr_managed[] = {"content-length",   "transfer-encoding",
                                          "connection",       "keep-alive",
                                          "proxy-connection", "te",
                                          "trailer",          "upgrade"};

/* ---- variables --------------------------------------------------------------------------- */

/* clang-format off */
static const char *const hdr_vars[] = {
    "remote_addr", "remote_port", "request_id", "host", "path", "query", "request_uri", "method",
    "scheme", "route", "upstream", "upstream_addr", "status", "tls_version", "tls_cipher",
    "tls_sni", "tls_alpn", "tls_client_subject", "tls_client_san_dns", "tls_client_san_uri",
    "tls_client_fingerprint", "tls_client_verified"};
/* clang-format on */
static const char *const hdr_var_prefixes[] = {"header.", "resp_header.", "var."};

#define HDR_NELTS(a) (sizeof(a) / sizeof((a)[0]))
#define HDR_KNOWN_VARS                                                                             \
    "${remote_addr} ${remote_port} ${request_id} ${host} ${path} ${query} ${request_uri} "         \
    "${method} ${scheme} ${route} ${upstream} ${upstream_addr} ${status} ${tls_version} "          \
    "${tls_cipher} ${tls_sni} ${tls_alpn} ${tls_client_subject} ${tls_client_san_dns} "            \
    "${tls_client_san_uri} ${tls_client_fingerprint} ${tls_client_verified} ${header.NAME} "       \
    "${resp_header.NAME} ${var.NAME}"

/* Check the variable name inside "${...}". `req`: the value is expanded in the request phase,
 * where the response (and the chosen endpoint) do not exist yet. */
static int hdr_conf_var(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, const char *where, int req,
                        pyxis_str_t name)
{
    const pyxis_api_t *api = hdr_api;
    const char *q = hdr_q(cc, name.data, name.len);
    for (size_t i = 0; i < HDR_NELTS(hdr_vars); i++) {
        if (strlen(hdr_vars[i]) != name.len || memcmp(hdr_vars[i], name.data, name.len) != 0)
            continue;
        if (req &&
            (strcmp(hdr_vars[i], "status") == 0 || strcmp(hdr_vars[i], "upstream_addr") == 0))
            return api->conf_error(cc, n,
                                   "%s: ${%s} has no value in the request phase (no upstream "
                                   "was chosen and no response exists yet)",
                                   where, hdr_vars[i]);
        return 0;
    }
    for (size_t i = 0; i < HDR_NELTS(hdr_var_prefixes); i++) {
        size_t pl = strlen(hdr_var_prefixes[i]);
        if (name.len < pl || memcmp(name.data, hdr_var_prefixes[i], pl) != 0)
            continue;
        if (!hdr_is_token(name.data + pl, name.len - pl))
            return api->conf_error(cc, n,
                                   "%s: invalid variable %s (after \"%s\" comes a header or "
                                   "variable name: letters, digits and !#$%%&'*+-.^_`|~)",
                                   where, q, hdr_var_prefixes[i]);
        if (req && strcmp(hdr_var_prefixes[i], "resp_header.") == 0)
            return api->conf_error(cc, n,
                                   "%s: ${%.*s} has no value in the request phase (no response "
                                   "exists yet)",
                                   where, (int)name.len, name.data);
        return 0;
    }
    return api->conf_error(cc, n, "%s: unknown variable ${%.*s} (known: " HDR_KNOWN_VARS ")", where,
                           (int)name.len, name.data);
}

/* Split a value into literal and variable parts. `$$` is a literal `$`; any other `$` must
 * start "${name}". */
static int hdr_conf_tmpl(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, const char *where, int req,
                         hdr_tmpl_t *t)
{
    const pyxis_api_t *api = hdr_api;
    if (api->node_type(n) != PYXIS_NODE_SCALAR)
        return api->conf_error(cc, n, "%s: expected a string (the value)", where);
    pyxis_str_t s = api->node_str(n);
    if (s.len == 0)
        return api->conf_error(cc, n,
                               "%s: empty value (a field whose value is empty is not set; to "
                               "drop a field use remove)",
                               where);
    if (!hdr_is_field_value(s.data, s.len))
        return api->conf_error(cc, n,
                               "%s: invalid value (CR, LF, NUL and other control characters "
                               "are not allowed)",
                               where);
    size_t max = 1;
    for (size_t i = 0; i < s.len; i++)
        max += s.data[i] == '$' ? 2 : 0;
    t->parts = api->conf_alloc(cc, max * sizeof(*t->parts));
    char *lit = api->conf_alloc(cc, s.len + 1); /* the literal bytes, `$$` folded */
    if (t->parts == NULL || lit == NULL)
        return api->conf_error(cc, n, "out of memory");
    size_t o = 0, start = 0;
    t->nparts = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.data[i] != '$') {
            lit[o++] = s.data[i];
            continue;
        }
        if (i + 1 < s.len && s.data[i + 1] == '$') {
            lit[o++] = '$';
            i++;
            continue;
        }
        if (i + 1 >= s.len || s.data[i + 1] != '{')
            return api->conf_error(cc, n,
                                   "%s: a lone \"$\" (write ${name} for a variable, $$ for a "
                                   "literal $)",
                                   where);
        const char *close = memchr(s.data + i + 2, '}', s.len - i - 2);
        if (close == NULL)
            return api->conf_error(cc, n, "%s: unterminated \"${\"", where);
        pyxis_str_t name = {s.data + i + 2, (size_t)(close - (s.data + i + 2))};
        if (hdr_conf_var(cc, n, where, req, name) != 0)
            return PYXIS_INVALID;
        if (o > start) {
            t->parts[t->nparts++] = (hdr_part_t){0, {lit + start, o - start}};
            start = o;
        }
        char *copy = api->conf_strdup(cc, name.data, name.len);
        if (copy == NULL)
            return api->conf_error(cc, n, "out of memory");
        t->parts[t->nparts++] = (hdr_part_t){1, {copy, name.len}};
        i = (size_t)(close - s.data);
    }
    if (o > start)
        t->parts[t->nparts++] = (hdr_part_t){0, {lit + start, o - start}};
    return 0;
}

/* ---- header operations ------------------------------------------------------------------- */

static const char *const hdr_op_names[] = {"remove", "set", "add", "append"};

/* Check a field name for operation `kind` on `req`uest or response fields. */
static int hdr_conf_name(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, const char *where, int req,
                         hdr_op_kind_t kind, pyxis_str_t *out)
{
    const pyxis_api_t *api = hdr_api;
    if (api->node_type(n) != PYXIS_NODE_SCALAR)
        return api->conf_error(cc, n, "%s: expected a header name", where);
    pyxis_str_t s = api->node_str(n);
    if (!hdr_is_token(s.data, s.len))
        return api->conf_error(cc, n,
                               "%s: invalid header name %s (a token: letters, digits and "
                               "!#$%%&'*+-.^_`|~)",
                               where, hdr_q(cc, s.data, s.len));
    for (size_t i = 0; i < HDR_NELTS(hdr_managed); i++)
        if (hdr_eq_ci(s, hdr_managed[i]))
            return api->conf_error(cc, n,
                                   "%s: %s is managed by pyxis (message framing and connection "
                                   "handling) and cannot be changed by a filter",
                                   where, hdr_managed[i]);
    if (req && hdr_eq_ci(s, "host"))
        return api->conf_error(cc, n,
                               "%s: the request's Host cannot be changed with %s; use the "
                               "filter's host key",
                               where, hdr_op_names[kind]);
    if (kind == HDR_OP_APPEND && hdr_eq_ci(s, "set-cookie"))
        return api->conf_error(cc, n, "%s: set-cookie fields cannot be joined into a list; use add",
                               where);
    char *copy = api->conf_strdup(cc, s.data, s.len);
    if (copy == NULL)
        return api->conf_error(cc, n, "out of memory");
    *out = (pyxis_str_t){copy, s.len};
    return 0;
}

/* Parse one operation group (`set:` map or `remove:` list) into ops[*nops...]. */
static int hdr_conf_group(pyxis_conf_ctx_t *cc, const pyxis_node_t *g, const char *dir, int req,
                          hdr_op_kind_t kind, hdr_op_t *ops, size_t *nops)
{
    const pyxis_api_t *api = hdr_api;
    char where[64];
    snprintf(where, sizeof(where), "%s.%s", dir, hdr_op_names[kind]);
    int bad = 0;
    size_t first = *nops, len = api->node_len(g);
    for (size_t i = 0; i < len; i++) {
        const pyxis_node_t *kn =
            kind == HDR_OP_REMOVE ? api->node_at(g, i) : api->node_key_at(g, i);
        hdr_op_t *op = &ops[*nops];
        op->kind = kind;
        if (hdr_conf_name(cc, kn, where, req, kind, &op->name) != 0) {
            bad = 1;
            continue;
        }
        size_t j = first;
        while (j < *nops && !(ops[j].name.len == op->name.len &&
                              strncasecmp(ops[j].name.data, op->name.data, op->name.len) == 0))
            j++;
        if (j < *nops) {
            api->conf_error(cc, kn, "%s: %s is given twice (names are case-insensitive)", where,
                            hdr_q(cc, op->name.data, op->name.len));
            bad = 1;
            continue;
        }
        if (kind != HDR_OP_REMOVE) {
            char vwhere[160];
            snprintf(vwhere, sizeof(vwhere), "%s.%.*s", where, (int)op->name.len, op->name.data);
            if (hdr_conf_tmpl(cc, api->node_value_at(g, i), vwhere, req, &op->value) != 0) {
                bad = 1;
                continue;
            }
        }
        (*nops)++;
    }
    return bad ? -1 : 0;
}

/* `request:` or `response:`. */
static int hdr_conf_dir(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, const char *dir, int req,
                        hdr_ops_t *out)
{
    static const char *const keys[] = {"set", "add", "append", "remove"};
    const pyxis_api_t *api = hdr_api;
    if (api->node_type(n) != PYXIS_NODE_MAP)
        return api->conf_error(cc, n, "%s: expected a map with set, add, append and/or remove",
                               dir);
    int bad = api->conf_check_keys(cc, n, keys, HDR_NELTS(keys)) != PYXIS_OK;

    const pyxis_node_t *groups[4]; /* indexed by hdr_op_kind_t */
    size_t total = 0;
    for (int k = HDR_OP_REMOVE; k <= HDR_OP_APPEND; k++) {
        const pyxis_node_t *g = api->node_get(n, hdr_op_names[k]);
        pyxis_node_type_t want = k == HDR_OP_REMOVE ? PYXIS_NODE_SEQ : PYXIS_NODE_MAP;
        groups[k] = NULL;
        if (g == NULL)
            continue;
        if (api->node_type(g) != want) {
            api->conf_error(cc, g,
                            k == HDR_OP_REMOVE ? "%s.%s: expected a list of header names"
                                               : "%s.%s: expected a map of header: value",
                            dir, hdr_op_names[k]);
            bad = 1;
            continue;
        }
        groups[k] = g;
        total += api->node_len(g);
    }
    out->nops = 0;
    out->ops = total ? api->conf_alloc(cc, total * sizeof(*out->ops)) : NULL;
    if (total && out->ops == NULL)
        return api->conf_error(cc, n, "out of memory");
    for (int k = HDR_OP_REMOVE; k <= HDR_OP_APPEND; k++)
        if (groups[k] != NULL &&
            hdr_conf_group(cc, groups[k], dir, req, (hdr_op_kind_t)k, out->ops, &out->nops) != 0)
            bad = 1;
    return bad ? -1 : 0;
}

/* ---- path rewrite ------------------------------------------------------------------------ */

/* A required scalar `key` of map m. */
static const pyxis_node_t *hdr_conf_required(pyxis_conf_ctx_t *cc, const pyxis_node_t *m,
                                             const char *where, const char *key)
{
    const pyxis_api_t *api = hdr_api;
    const pyxis_node_t *v = api->node_get(m, key);
    if (v == NULL) {
        api->conf_error(cc, m, "%s: missing key \"%s\"", where, key);
        return NULL;
    }
    if (api->node_type(v) != PYXIS_NODE_SCALAR) {
        api->conf_error(cc, v, "%s.%s: expected a string", where, key);
        return NULL;
    }
    return v;
}

static int hdr_conf_prefix(pyxis_conf_ctx_t *cc, const pyxis_node_t *p, hdr_conf_t *c)
{
    static const char *const keys[] = {"from", "to"};
    const pyxis_api_t *api = hdr_api;
    if (api->node_type(p) != PYXIS_NODE_MAP)
        return api->conf_error(cc, p, "path.prefix: expected a map { from: /a/, to: /b/ }");
    int bad = api->conf_check_keys(cc, p, keys, HDR_NELTS(keys)) != PYXIS_OK;
    pyxis_str_t *dst[] = {&c->prefix_from, &c->prefix_to};
    for (size_t i = 0; i < 2; i++) {
        const pyxis_node_t *v = hdr_conf_required(cc, p, "path.prefix", keys[i]);
        if (v == NULL) {
            bad = 1;
            continue;
        }
        pyxis_str_t s = api->node_str(v);
        if (s.len == 0 || s.data[0] != '/' || !hdr_is_path_bytes(s.data, s.len)) {
            api->conf_error(cc, v,
                            "path.prefix.%s: expected a path starting with \"/\" (no spaces, "
                            "controls, \"?\" or \"#\")",
                            keys[i]);
            bad = 1;
            continue;
        }
        char *copy = api->conf_strdup(cc, s.data, s.len);
        if (copy == NULL)
            return api->conf_error(cc, v, "out of memory");
        *dst[i] = (pyxis_str_t){copy, s.len};
    }
    c->path_kind = HDR_PATH_PREFIX;
    return bad ? -1 : 0;
}

static void hdr_free_regex(void *code)
{
    pcre2_code_free(code);
}

/* Split a regex replacement: $0..$9, ${N}, ${name}, $$. Groups are checked against the pattern. */
static int hdr_conf_replacement(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, hdr_conf_t *c)
{
    const pyxis_api_t *api = hdr_api;
    pyxis_str_t s = api->node_str(n);
    const char *w = "path.regex.replace";
    if (!hdr_is_path_bytes(s.data, s.len))
        return api->conf_error(cc, n,
                               "%s: no spaces, controls, \"?\" or \"#\" (the query is kept as "
                               "it is; only the path is rewritten)",
                               w);
    size_t max = 1;
    for (size_t i = 0; i < s.len; i++)
        max += s.data[i] == '$' ? 2 : 0;
    c->repl = api->conf_alloc(cc, max * sizeof(*c->repl));
    char *lit = api->conf_alloc(cc, s.len + 1);
    if (c->repl == NULL || lit == NULL)
        return api->conf_error(cc, n, "out of memory");
    uint32_t ngroups = c->ovec_pairs - 1;
    size_t o = 0, start = 0;
    c->nrepl = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.data[i] != '$') {
            lit[o++] = s.data[i];
            continue;
        }
        if (i + 1 < s.len && s.data[i + 1] == '$') {
            lit[o++] = '$';
            i++;
            continue;
        }
        uint32_t group;
        if (i + 1 < s.len && s.data[i + 1] >= '0' && s.data[i + 1] <= '9') {
            group = (uint32_t)(s.data[i + 1] - '0');
            i++;
        } else if (i + 1 < s.len && s.data[i + 1] == '{') {
            const char *close = memchr(s.data + i + 2, '}', s.len - i - 2);
            size_t nl = close ? (size_t)(close - (s.data + i + 2)) : 0;
            char name[64];
            if (close == NULL || nl == 0 || nl >= sizeof(name))
                return api->conf_error(cc, n, "%s: expected ${N} or ${name} after \"$\"", w);
            memcpy(name, s.data + i + 2, nl);
            name[nl] = '\0';
            if (strspn(name, "0123456789") == nl) {
                group = nl > 4 ? UINT32_MAX : (uint32_t)atoi(name);
            } else {
                int num = pcre2_substring_number_from_name(c->regex, (PCRE2_SPTR)name);
                if (num < 0)
                    return api->conf_error(cc, n, "%s: the pattern has no group named %s", w,
                                           hdr_q(cc, name, nl));
                group = (uint32_t)num;
            }
            i = (size_t)(close - s.data);
        } else {
            return api->conf_error(cc, n,
                                   "%s: a lone \"$\" (write $1..$9, ${N} or ${name} for a "
                                   "group, $$ for a literal $)",
                                   w);
        }
        if (group > ngroups)
            return api->conf_error(cc, n, "%s: group %u does not exist (the pattern has %u)", w,
                                   (unsigned)group, (unsigned)ngroups);
        if (o > start) {
            c->repl[c->nrepl++] = (hdr_repl_part_t){0, 0, {lit + start, o - start}};
            start = o;
        }
        c->repl[c->nrepl++] = (hdr_repl_part_t){1, group, {NULL, 0}};
    }
    if (o > start)
        c->repl[c->nrepl++] = (hdr_repl_part_t){0, 0, {lit + start, o - start}};
    return 0;
}

static int hdr_conf_regex(pyxis_conf_ctx_t *cc, const pyxis_node_t *r, hdr_conf_t *c)
{
    static const char *const keys[] = {"match", "replace"};
    const pyxis_api_t *api = hdr_api;
    if (api->node_type(r) != PYXIS_NODE_MAP)
        return api->conf_error(cc, r,
                               "path.regex: expected a map { match: PATTERN, replace: PATH }");
    int bad = api->conf_check_keys(cc, r, keys, HDR_NELTS(keys)) != PYXIS_OK;
    const pyxis_node_t *m = hdr_conf_required(cc, r, "path.regex", "match");
    const pyxis_node_t *rep = hdr_conf_required(cc, r, "path.regex", "replace");
    if (m == NULL)
        return -1;
    pyxis_str_t pat = api->node_str(m);
    int errcode;
    PCRE2_SIZE off;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat.data, pat.len, 0, &errcode, &off, NULL);
    if (code == NULL) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", errcode);
        return api->conf_error(cc, m, "path.regex.match: %s at offset %zu", (const char *)msg,
                               (size_t)off);
    }
    if (api->conf_cleanup_add(cc, hdr_free_regex, code) != PYXIS_OK) {
        pcre2_code_free(code);
        return api->conf_error(cc, m, "out of memory");
    }
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    uint32_t ncap = 0;
    (void)pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &ncap);
    c->regex = code;
    c->ovec_pairs = ncap + 1;
    c->path_kind = HDR_PATH_REGEX;
    if (rep == NULL || hdr_conf_replacement(cc, rep, c) != 0)
        bad = 1;
    return bad ? -1 : 0;
}

/* The key node of `key` in map m (errors about a key point at the key, not its value). */
static const pyxis_node_t *hdr_key_node(const pyxis_node_t *m, const char *key)
{
    const pyxis_api_t *api = hdr_api;
    for (size_t i = 0; i < api->node_len(m); i++) {
        pyxis_str_t k = api->node_str(api->node_key_at(m, i));
        if (k.len == strlen(key) && memcmp(k.data, key, k.len) == 0)
            return api->node_key_at(m, i);
    }
    return m;
}

static int hdr_conf_path(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, hdr_conf_t *c)
{
    static const char *const keys[] = {"prefix", "regex"};
    const pyxis_api_t *api = hdr_api;
    if (api->node_type(n) != PYXIS_NODE_MAP)
        return api->conf_error(cc, n, "path: expected a map with prefix or regex");
    if (api->conf_check_keys(cc, n, keys, HDR_NELTS(keys)) != PYXIS_OK)
        return -1;
    const pyxis_node_t *p = api->node_get(n, "prefix"), *r = api->node_get(n, "regex");
    if (p != NULL && r != NULL)
        return api->conf_error(cc, hdr_key_node(n, "regex"),
                               "path: give one of prefix and regex, not both");
    if (p != NULL)
        return hdr_conf_prefix(cc, p, c);
    if (r != NULL)
        return hdr_conf_regex(cc, r, c);
    return api->conf_error(cc, n, "path: give prefix or regex");
}

/* ---- the entry --------------------------------------------------------------------------- */

static int hdr_conf_host(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, hdr_conf_t *c)
{
    const pyxis_api_t *api = hdr_api;
    if (hdr_conf_tmpl(cc, n, "host", 1, &c->host) != 0)
        return -1;
    for (size_t i = 0; i < c->host.nparts; i++) {
        const hdr_part_t *p = &c->host.parts[i];
        if (!p->is_var && (memchr(p->str.data, ' ', p->str.len) != NULL ||
                           memchr(p->str.data, '\t', p->str.len) != NULL))
            return api->conf_error(cc, n, "host: a host name has no spaces");
    }
    c->has_host = 1;
    return 0;
}

pyxis_rc_t hdr_conf_create(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **conf)
{
    static const char *const keys[] = {"request", "response", "path", "host"};
    const pyxis_api_t *api = hdr_api;
    if (api->node_type(node) != PYXIS_NODE_MAP) {
        /* A bare "- headers" has no value node to point at: point at the entry. */
        api->conf_error(cc, api->node_type(node) == PYXIS_NODE_NULL ? NULL : node,
                        "expected a map with request, response, path and/or host");
        return PYXIS_ERROR;
    }
    hdr_conf_t *c = api->conf_alloc(cc, sizeof(*c));
    if (c == NULL) {
        api->conf_error(cc, node, "out of memory");
        return PYXIS_ERROR;
    }
    int bad = api->conf_check_keys(cc, node, keys, HDR_NELTS(keys)) != PYXIS_OK;
    const pyxis_node_t *n;
    if ((n = api->node_get(node, "request")) != NULL && hdr_conf_dir(cc, n, "request", 1, &c->req))
        bad = 1;
    if ((n = api->node_get(node, "response")) != NULL &&
        hdr_conf_dir(cc, n, "response", 0, &c->resp))
        bad = 1;
    if ((n = api->node_get(node, "path")) != NULL && hdr_conf_path(cc, n, c) != 0)
        bad = 1;
    if ((n = api->node_get(node, "host")) != NULL && hdr_conf_host(cc, n, c) != 0)
        bad = 1;
    if (bad)
        return PYXIS_ERROR;
    *conf = c;
    return PYXIS_OK;
}
