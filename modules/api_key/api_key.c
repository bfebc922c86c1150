/*
 * api_key.c: the built-in `api_key` filter: a request must carry one of the configured keys,
 * in a header field or a query parameter; the key names the consumer. docs/config.md
 * ("Built-in filters" -> "api_key") is the user's description; api_key_conf.c reads the config
 * into an ak_conf_t, which this file applies per request.
 *
 * Keys are held only as SHA-256 digests. A presented key is hashed and looked up in a table
 * keyed by the digest, the last comparison with CRYPTO_memcmp: where the lookup goes depends on
 * the digest only, which tells nothing about the keys. Keys never reach a log: a query
 * parameter holding one is shown as REDACTED in the access log, even when it is kept for the
 * upstream.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "../common/auth_util.h"
#include "api_key.h"

const pyxis_api_t *ak_api;

static EVP_MD *ak_md; /* SHA-256, fetched once; EVP_MD is safe to share between threads */

static const pyxis_str_t ak_missing = PYXIS_STR("API key required\n");
static const pyxis_str_t ak_invalid = PYXIS_STR("invalid API key\n");
static const pyxis_str_t ak_none = {NULL, 0};

#define AK_REDACTED "REDACTED"

int ak_sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 0;
    return EVP_Digest(data, len, out, &n, ak_md, NULL) == 1 && n == 32 ? 0 : -1;
}

size_t ak_slot_of(const ak_conf_t *c, const unsigned char digest[32])
{
    uint64_t h;
    memcpy(&h, digest, sizeof(h));
    return (size_t)h & c->mask;
}

/* The consumer of the key with that digest, or NULL. The table always has a free slot. */
static const pyxis_str_t *ak_lookup(const ak_conf_t *c, const unsigned char digest[32])
{
    for (size_t s = ak_slot_of(c, digest);; s = (s + 1) & c->mask) {
        const ak_slot_t *slot = &c->table[s];
        if (slot->consumer.len == 0)
            return NULL;
        if (CRYPTO_memcmp(slot->digest, digest, 32) == 0)
            return &slot->consumer;
    }
}

/* ---- the query --------------------------------------------------------------------------- */

/* Have the access log show the target with the parameter's values masked. 0, or -1. */
static int ak_redact_log(pyxis_txn_t *txn, const ak_conf_t *c, pyxis_str_t q, size_t count)
{
    const pyxis_api_t *api = ak_api;
    pyxis_str_t path = api->req_path(txn);
    size_t rl = sizeof(AK_REDACTED) - 1;
    char *buf = api->palloc(txn, path.len + 1 + q.len + count * (rl + 1));
    if (buf == NULL)
        return -1;
    memcpy(buf, path.data, path.len);
    buf[path.len] = '?';
    size_t n = ak_query_rewrite(q.data, q.len, c->query.data, c->query.len, AK_REDACTED, rl,
                                buf + path.len + 1);
    return api->log_set_target(txn, (pyxis_str_t){buf, path.len + 1 + n}) == PYXIS_OK ? 0 : -1;
}

/* Send the upstream the query without the parameter. 0, or -1. */
static int ak_strip_query(pyxis_txn_t *txn, const ak_conf_t *c, pyxis_str_t q)
{
    const pyxis_api_t *api = ak_api;
    char *buf = api->palloc(txn, q.len + 1);
    if (buf == NULL)
        return -1;
    size_t n = ak_query_rewrite(q.data, q.len, c->query.data, c->query.len, NULL, 0, buf);
    pyxis_rc_t rc = api->req_set_query(txn, (pyxis_str_t){buf, n});
    if (rc != PYXIS_OK)
        api->log(txn, PYXIS_LOG_ERROR, "removing the key from the query failed (%d)", (int)rc);
    return rc == PYXIS_OK ? 0 : -1;
}

/* ---- the filter -------------------------------------------------------------------------- */

/* Where a key was looked for, for log lines. */
typedef enum { AK_FROM_NONE = 0, AK_FROM_HEADER, AK_FROM_QUERY } ak_from_t;

static pyxis_filter_status_t ak_deny(pyxis_txn_t *txn, const ak_conf_t *c, int status,
                                     const char *why, ak_from_t from)
{
    const pyxis_api_t *api = ak_api;
    const pyxis_str_t *src = from == AK_FROM_QUERY ? &c->query : &c->header;
    if (from == AK_FROM_NONE)
        api->log(txn, PYXIS_LOG_INFO, "denied: %s", why);
    else
        api->log(txn, PYXIS_LOG_INFO, "denied: %s (%s %.*s)", why,
                 from == AK_FROM_QUERY ? "query parameter" : "field", (int)src->len, src->data);
    return au_deny(api, txn, status, status == 401 ? ak_missing : ak_invalid, ak_none, ak_none);
}

static pyxis_filter_status_t ak_on_request_headers(pyxis_txn_t *txn, void *ctx)
{
    const pyxis_api_t *api = ak_api;
    const ak_conf_t *c = ctx;
    pyxis_headers_t *h = api->req_headers(txn);
    pyxis_str_t name, value, key = {NULL, 0}, q = api->req_query(txn);
    size_t iter = 0, nfields = 0, nparams = 0, vlen = 0;
    const char *v = NULL;
    ak_from_t from = AK_FROM_HEADER;

    if (c->forward.len > 0 && api->header_remove(txn, h, c->forward, NULL) != PYXIS_OK)
        return PYXIS_FILTER_ERROR;
    while (c->header.len > 0 && api->header_next(h, &iter, &name, &value) == PYXIS_OK) {
        if (name.len == c->header.len && strncasecmp(name.data, c->header.data, name.len) == 0 &&
            nfields++ == 0 && value.len > 0)
            key = value;
    }
    if (nfields > 1)
        return ak_deny(txn, c, 401, "the key is sent more than once", AK_FROM_HEADER);
    if (c->query.len > 0 && q.len > 0)
        nparams = ak_query_find(q.data, q.len, c->query.data, c->query.len, &v, &vlen);
    /* The access log must not show a key, wherever this request goes from here. */
    if (nparams > 0 && ak_redact_log(txn, c, q, nparams) != 0)
        return PYXIS_FILTER_ERROR;
    if (key.data == NULL && nparams > 1)
        return ak_deny(txn, c, 401, "the key is sent more than once", AK_FROM_QUERY);
    if (key.data == NULL && nparams == 1 && vlen > 0) {
        char *buf = api->palloc(txn, vlen);
        from = AK_FROM_QUERY;
        if (buf == NULL)
            return PYXIS_FILTER_ERROR;
        if (ak_pct_decode(v, vlen, buf, &key.len) != 0)
            return ak_deny(txn, c, 403, "the key is not valid percent-encoding", from);
        key.data = buf;
    }
    if (key.data == NULL)
        return ak_deny(txn, c, 401, "no key", AK_FROM_NONE);

    unsigned char digest[32];
    if (ak_sha256(key.data, key.len, digest) != 0) {
        api->log(txn, PYXIS_LOG_ERROR, "SHA-256 failed");
        return PYXIS_FILTER_ERROR;
    }
    const pyxis_str_t *consumer = ak_lookup(c, digest);
    if (consumer == NULL)
        return ak_deny(txn, c, 403, "unknown key", from);
    if (au_identify(api, txn, "api_key", *consumer, c->forward) != 0)
        return PYXIS_FILTER_ERROR;
    if (!c->keep_key) {
        if (nfields > 0 && api->header_remove(txn, h, c->header, NULL) != PYXIS_OK)
            return PYXIS_FILTER_ERROR;
        if (nparams > 0 && ak_strip_query(txn, c, q) != 0)
            return PYXIS_FILTER_ERROR;
    }
    return PYXIS_FILTER_CONTINUE;
}

/* ---- the module -------------------------------------------------------------------------- */

static pyxis_rc_t ak_init(const pyxis_api_t *api)
{
    ak_api = api;
    if ((ak_md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
        api->log(NULL, PYXIS_LOG_ERROR, "OpenSSL: no SHA-256");
        return PYXIS_ERROR;
    }
    return PYXIS_OK;
}

static void ak_fini(void)
{
    EVP_MD_free(ak_md);
    ak_md = NULL;
}

PYXIS_EXPORT const pyxis_module_t pyxis_module = {
    PYXIS_MODULE_HEADER,
    .name = "api_key",
    .version = "1.0.0",
    .description = "API keys in a header or a query parameter, each naming a consumer",
    .init = ak_init,
    .fini = ak_fini,
    .conf_create = ak_conf_create,
    .on_request_headers = ak_on_request_headers,
};
