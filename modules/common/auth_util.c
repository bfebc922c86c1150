/*
 * auth_util.c: helpers of the authentication filters (auth_util.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth_util.h"

/* ---- config ------------------------------------------------------------------------------ */

void *au_conf_begin(const pyxis_api_t *api, pyxis_conf_ctx_t *cc, const pyxis_node_t *node,
                    const char *const *keys, size_t nkeys, size_t size, const char *what, int *bad)
{
    if (api->node_type(node) != PYXIS_NODE_MAP) {
        /* A bare "- NAME" has no value node to point at: point at the entry. */
        api->conf_error(cc, api->node_type(node) == PYXIS_NODE_NULL ? NULL : node,
                        "expected a map with %s", what);
        return NULL;
    }
    void *conf = api->conf_alloc(cc, size);
    if (conf == NULL) {
        api->conf_error(cc, node, "out of memory");
        return NULL;
    }
    *bad = api->conf_check_keys(cc, node, keys, nkeys) != PYXIS_OK;
    return conf;
}

/* The whole file at `path` in a malloc'd buffer; NULL after recording an error at n. */
static char *au_slurp(const pyxis_api_t *api, pyxis_conf_ctx_t *cc, const pyxis_node_t *n,
                      const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        api->conf_error(cc, n, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        api->conf_error(cc, n, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > AU_MAX_FILE) {
        api->conf_error(cc, n, "%s: larger than %u MiB", path, AU_MAX_FILE >> 20);
        close(fd);
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1, got = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        api->conf_error(cc, n, "out of memory");
        close(fd);
        return NULL;
    }
    for (;;) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            api->conf_error(cc, n, "cannot read %s: %s", path, strerror(errno));
            OPENSSL_cleanse(buf, got);
            free(buf);
            close(fd);
            return NULL;
        }
        if (r == 0)
            break;
        got += (size_t)r;
        if (got == cap) { /* the file grew since fstat: read no more than was announced */
            api->conf_error(cc, n, "%s changed while it was read", path);
            OPENSSL_cleanse(buf, got);
            free(buf);
            close(fd);
            return NULL;
        }
    }
    close(fd);
    *len = got;
    return buf;
}

int au_conf_read_lines(const pyxis_api_t *api, pyxis_conf_ctx_t *cc, const pyxis_node_t *node,
                       const char **path, au_line_fn fn, void *arg)
{
    if (api->node_type(node) != PYXIS_NODE_SCALAR || api->node_str(node).len == 0) {
        api->conf_error(cc, node, "file: expected a file name");
        return -1;
    }
    if ((*path = api->conf_path(cc, api->node_str(node))) == NULL) {
        api->conf_error(cc, node, "out of memory");
        return -1;
    }
    size_t len;
    char *buf = au_slurp(api, cc, node, *path, &len);
    if (buf == NULL)
        return -1;
    int bad = 0;
    unsigned lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - buf) : len, n = end - pos;
        if (n > 0 && buf[pos + n - 1] == '\r')
            n--;
        if (fn(arg, buf + pos, n, ++lineno) != 0)
            bad = 1;
        pos = end + 1;
    }
    OPENSSL_cleanse(buf, len);
    free(buf);
    return bad ? -1 : 0;
}

/* RFC 9110 tchar */
static int au_is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int au_conf_header_name(const pyxis_api_t *api, pyxis_conf_ctx_t *cc, const pyxis_node_t *n,
                        const char *key, pyxis_str_t *out)
{
    /* Framing and connection fields, which pyxis manages, and the ones the request is routed
     * and authenticated by. */
    static const char *const reserved[] = {"content-length", "transfer-encoding", "connection",
                                           "keep-alive",     "proxy-connection",  "te",
                                           "trailer",        "upgrade",           "host",
                                           "authorization"};
    pyxis_str_t s = api->node_str(n);
    int token = api->node_type(n) == PYXIS_NODE_SCALAR && s.len > 0;
    for (size_t i = 0; token && i < s.len; i++)
        token = au_is_tchar((unsigned char)s.data[i]);
    if (!token) {
        api->conf_error(cc, n,
                        "%s: expected a header name (a token: letters, digits and "
                        "!#$%%&'*+-.^_`|~)",
                        key);
        return -1;
    }
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strlen(reserved[i]) == s.len && strncasecmp(reserved[i], s.data, s.len) == 0) {
            api->conf_error(cc, n, "%s: %.*s cannot be used here (pyxis or this filter manages it)",
                            key, (int)s.len, s.data);
            return -1;
        }
    }
    char *copy = api->conf_strdup(cc, s.data, s.len);
    if (copy == NULL) {
        api->conf_error(cc, n, "out of memory");
        return -1;
    }
    *out = (pyxis_str_t){copy, s.len};
    return 0;
}

/* ---- per request ------------------------------------------------------------------------- */

int au_identify(const pyxis_api_t *api, pyxis_txn_t *txn, const char *method, pyxis_str_t user,
                pyxis_str_t forward)
{
    pyxis_str_t m = {method, strlen(method)};
    pyxis_rc_t rc = api->var_set(txn, (pyxis_str_t)PYXIS_STR("auth_user"), user);
    if (rc == PYXIS_OK)
        rc = api->var_set(txn, (pyxis_str_t)PYXIS_STR("auth_method"), m);
    if (rc == PYXIS_OK && forward.len > 0)
        rc = api->header_set(txn, api->req_headers(txn), forward, user);
    if (rc != PYXIS_OK) {
        api->log(txn, PYXIS_LOG_ERROR, "setting the identity failed (%d)", (int)rc);
        return -1;
    }
    return 0;
}

pyxis_filter_status_t au_deny(const pyxis_api_t *api, pyxis_txn_t *txn, int status,
                              pyxis_str_t body, pyxis_str_t hname, pyxis_str_t hvalue)
{
    pyxis_rc_t rc = api->respond(txn, status, body);
    pyxis_headers_t *h = rc == PYXIS_OK ? api->resp_headers(txn) : NULL;
    if (h != NULL)
        rc = api->header_set(txn, h, (pyxis_str_t)PYXIS_STR("content-type"),
                             (pyxis_str_t)PYXIS_STR("text/plain; charset=utf-8"));
    if (h != NULL && rc == PYXIS_OK && hname.len > 0)
        rc = api->header_set(txn, h, hname, hvalue);
    if (rc != PYXIS_OK || h == NULL) {
        api->log(txn, PYXIS_LOG_ERROR, "making the %d reply failed (%d)", status, (int)rc);
        return PYXIS_FILTER_ERROR;
    }
    return PYXIS_FILTER_STOP;
}

const char *au_log_quote(char *buf, size_t cap, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i = 0;
    buf[o++] = '"';
    /* room is kept for one escape, then "...", the quote and the NUL */
    for (; i < len && i < 64 && o + 4 + 5 <= cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            buf[o++] = (char)c;
            continue;
        }
        buf[o++] = '\\';
        buf[o++] = 'x';
        buf[o++] = hex[c >> 4];
        buf[o++] = hex[c & 15];
    }
    if (i < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
