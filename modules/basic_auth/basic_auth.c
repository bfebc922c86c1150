/*
 * basic_auth.c: the built-in `basic_auth` filter: HTTP Basic authentication (RFC 7617) against
 * an htpasswd file of bcrypt or SHA-crypt hashes, verified with libxcrypt. docs/config.md
 * ("Built-in filters" -> "basic_auth") is the user's description; basic_auth_conf.c reads the
 * config and the users file into a ba_conf_t, which this file applies per request.
 *
 * bcrypt is slow on purpose (tens of milliseconds at the usual costs), and it runs on the
 * worker's thread, stalling its event loop. So each worker keeps, per filter entry, a bounded
 * cache of successful verifications: the key of an entry is HMAC-SHA256(user, password, stored
 * hash) under a random key made when the module loads, so the cache holds neither the password
 * nor a fast-to-crack hash of it (without the process's key). Failures are never cached. The
 * caches are per config generation: a reload starts empty ones.
 *
 * Passwords and the Authorization field are never logged; the decoded password is wiped once
 * verified.
 */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "../common/auth_util.h"
#include "basic_auth.h"

const pyxis_api_t *ba_api;

static unsigned char ba_mac_key[32]; /* the cache's HMAC key: random, per process */
static EVP_MAC *ba_hmac;             /* fetched once; EVP_MAC is safe to share between threads */

#define BA_WAYS 4 /* cache entries per set */

static const pyxis_str_t ba_denied = PYXIS_STR("authentication required\n");
static const pyxis_str_t ba_www_authenticate = PYXIS_STR("www-authenticate");

/* ---- per worker: crypt's scratch space and the caches ------------------------------------ */

typedef struct {
    unsigned char mac[32];
    double expires; /* 0: empty */
} ba_slot_t;

typedef struct {
    const ba_conf_t *conf;
    ba_slot_t *slots; /* nsets * BA_WAYS; NULL when this entry has no cache */
    size_t nsets;
} ba_cache_t;

typedef struct {
    struct crypt_data crypt; /* crypt_rn's scratch space (32 KiB) */
    EVP_MAC_CTX *mac;
    size_t ncaches;
    ba_cache_t caches[]; /* one per conf of the generation */
} ba_worker_t;

static void ba_worker_exit(pyxis_worker_t *w, void *worker_data)
{
    ba_worker_t *bw = worker_data;
    (void)w;
    if (bw == NULL)
        return;
    for (size_t i = 0; i < bw->ncaches; i++)
        free(bw->caches[i].slots);
    EVP_MAC_CTX_free(bw->mac);
    OPENSSL_cleanse(&bw->crypt, sizeof(bw->crypt));
    free(bw);
}

static pyxis_rc_t ba_worker_init(pyxis_worker_t *w, void *gconf, void *const *confs, size_t nconfs,
                                 void **worker_data)
{
    (void)gconf;
    ba_worker_t *bw = calloc(1, sizeof(*bw) + nconfs * sizeof(bw->caches[0]));
    if (bw == NULL || (bw->mac = EVP_MAC_CTX_new(ba_hmac)) == NULL) {
        free(bw);
        return PYXIS_ERROR;
    }
    for (size_t i = 0; i < nconfs; i++) {
        const ba_conf_t *c = confs[i];
        ba_cache_t *cache = &bw->caches[bw->ncaches++];
        cache->conf = c;
        if (c->cache_size == 0 || c->cache_ttl_ms == 0)
            continue;
        cache->nsets = (size_t)(c->cache_size + BA_WAYS - 1) / BA_WAYS;
        if ((cache->slots = calloc(cache->nsets * BA_WAYS, sizeof(ba_slot_t))) == NULL) {
            ba_worker_exit(w, bw);
            return PYXIS_ERROR;
        }
    }
    *worker_data = bw;
    return PYXIS_OK;
}

/* The cache key of a verification: HMAC-SHA256 over the user, the password (each after its
 * length) and the stored hash. 0, or -1. */
static int ba_cache_key(ba_worker_t *bw, const ba_cred_t *cred, const ba_user_t *u,
                        unsigned char mac[32])
{
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    unsigned char ulen[4] = {(unsigned char)(cred->user_len >> 24),
                             (unsigned char)(cred->user_len >> 16),
                             (unsigned char)(cred->user_len >> 8), (unsigned char)cred->user_len};
    unsigned char plen[4] = {(unsigned char)(cred->pass_len >> 24),
                             (unsigned char)(cred->pass_len >> 16),
                             (unsigned char)(cred->pass_len >> 8), (unsigned char)cred->pass_len};
    size_t n = 0;
    int ok = EVP_MAC_init(bw->mac, ba_mac_key, sizeof(ba_mac_key), params) &&
             EVP_MAC_update(bw->mac, ulen, 4) &&
             EVP_MAC_update(bw->mac, (const unsigned char *)cred->user, cred->user_len) &&
             EVP_MAC_update(bw->mac, plen, 4) &&
             EVP_MAC_update(bw->mac, (const unsigned char *)cred->pass, cred->pass_len) &&
             EVP_MAC_update(bw->mac, (const unsigned char *)u->hash, u->hash_len) &&
             EVP_MAC_final(bw->mac, mac, &n, 32) && n == 32;
    return ok ? 0 : -1;
}

static ba_slot_t *ba_cache_set(const ba_cache_t *cache, const unsigned char mac[32])
{
    uint64_t h = 0;
    memcpy(&h, mac, sizeof(h)); /* the MAC is uniformly random: its bytes are the index */
    return &cache->slots[(h % cache->nsets) * BA_WAYS];
}

static int ba_cache_hit(const ba_cache_t *cache, const unsigned char mac[32], double now)
{
    ba_slot_t *set = ba_cache_set(cache, mac);
    for (int i = 0; i < BA_WAYS; i++)
        if (set[i].expires > now && CRYPTO_memcmp(set[i].mac, mac, 32) == 0)
            return 1;
    return 0;
}

/* Store a success, in place of the entry of the set that expires first. */
static void ba_cache_put(const ba_cache_t *cache, const unsigned char mac[32], double expires)
{
    ba_slot_t *set = ba_cache_set(cache, mac), *victim = &set[0];
    for (int i = 1; i < BA_WAYS; i++)
        if (set[i].expires < victim->expires)
            victim = &set[i];
    memcpy(victim->mac, mac, 32);
    victim->expires = expires;
}

/* ---- verification ------------------------------------------------------------------------ */

/* Does cred's password match u's hash? Without u (an unknown user) a hash of the file is
 * computed all the same, so an unknown user takes as long as a wrong password. */
static int ba_verify(pyxis_txn_t *txn, const ba_conf_t *c, const ba_user_t *u,
                     const ba_cred_t *cred)
{
    const pyxis_api_t *api = ba_api;
    ba_worker_t *bw = api->worker_data(txn);
    const ba_cache_t *cache = NULL;
    unsigned char mac[32];
    for (size_t i = 0; bw != NULL && i < bw->ncaches; i++)
        if (bw->caches[i].conf == c && bw->caches[i].slots != NULL)
            cache = &bw->caches[i];
    if (u != NULL && cache != NULL) {
        if (ba_cache_key(bw, cred, u, mac) != 0)
            cache = NULL;
        else if (ba_cache_hit(cache, mac, api->now()))
            return 1;
    }
    const char *hash = u != NULL ? u->hash : c->nusers > 0 ? c->users[0].hash : NULL;
    if (hash == NULL)
        return 0;
    struct crypt_data *cd = bw != NULL ? &bw->crypt : api->pcalloc(txn, sizeof(*cd));
    if (cd == NULL)
        return 0;
    const char *out = crypt_rn(cred->pass, hash, cd, (int)sizeof(*cd));
    size_t len = strlen(hash);
    int ok = u != NULL && out != NULL && strlen(out) == len && CRYPTO_memcmp(out, hash, len) == 0;
    if (ok && cache != NULL)
        ba_cache_put(cache, mac, api->now() + (double)c->cache_ttl_ms / 1000.0);
    return ok;
}

/* ---- the filter -------------------------------------------------------------------------- */

static pyxis_filter_status_t ba_deny(pyxis_txn_t *txn, const ba_conf_t *c)
{
    return au_deny(ba_api, txn, 401, ba_denied, ba_www_authenticate, c->challenge);
}

static pyxis_filter_status_t ba_on_request_headers(pyxis_txn_t *txn, void *ctx)
{
    const pyxis_api_t *api = ba_api;
    const ba_conf_t *c = ctx;
    pyxis_headers_t *h = api->req_headers(txn);
    pyxis_str_t name, value, auth = {NULL, 0};
    size_t iter = 0, nauth = 0;
    char q[300];

    /* Whatever happens, the upstream never gets a client's own copy of the user's field. */
    if (c->forward.len > 0 && api->header_remove(txn, h, c->forward, NULL) != PYXIS_OK)
        return PYXIS_FILTER_ERROR;
    while (api->header_next(h, &iter, &name, &value) == PYXIS_OK) {
        if (name.len == 13 && strncasecmp(name.data, "authorization", 13) == 0 && nauth++ == 0)
            auth = value;
    }
    if (nauth == 0) {
        api->log(txn, PYXIS_LOG_DEBUG, "no credentials");
        return ba_deny(txn, c);
    }
    if (nauth > 1) {
        api->log(txn, PYXIS_LOG_INFO, "denied: more than one Authorization field");
        return ba_deny(txn, c);
    }
    size_t cap = BA_CRED_BUF(auth.len > BA_MAX_AUTHORIZATION ? 0 : auth.len);
    char *buf = api->palloc(txn, cap);
    ba_cred_t cred;
    if (buf == NULL)
        return PYXIS_FILTER_ERROR;
    ba_cred_rc_t rc = ba_parse_basic(auth.data, auth.len, buf, cap, &cred);
    if (rc != BA_CRED_OK) {
        OPENSSL_cleanse(buf, cap);
        api->log(txn, PYXIS_LOG_INFO, "denied: malformed credentials (%s)", ba_cred_reason(rc));
        return ba_deny(txn, c);
    }
    const ba_user_t *u = ba_find_user(c, cred.user, cred.user_len);
    int ok = ba_verify(txn, c, u, &cred);
    OPENSSL_cleanse((char *)cred.pass, cred.pass_len);
    if (!ok) {
        api->log(txn, PYXIS_LOG_INFO, "denied: user %s: %s",
                 au_log_quote(q, sizeof(q), cred.user, cred.user_len),
                 u == NULL ? "unknown user" : "wrong password");
        return ba_deny(txn, c);
    }
    if (au_identify(api, txn, "basic", (pyxis_str_t){cred.user, cred.user_len}, c->forward) != 0)
        return PYXIS_FILTER_ERROR;
    if (!c->keep_authorization &&
        api->header_remove(txn, h, (pyxis_str_t)PYXIS_STR("authorization"), NULL) != PYXIS_OK)
        return PYXIS_FILTER_ERROR;
    return PYXIS_FILTER_CONTINUE;
}

/* ---- the module -------------------------------------------------------------------------- */

static pyxis_rc_t ba_init(const pyxis_api_t *api)
{
    ba_api = api;
    if (RAND_bytes(ba_mac_key, sizeof(ba_mac_key)) != 1 ||
        (ba_hmac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL)) == NULL) {
        api->log(NULL, PYXIS_LOG_ERROR, "OpenSSL: no random bytes or no HMAC");
        return PYXIS_ERROR;
    }
    return PYXIS_OK;
}

static void ba_fini(void)
{
    EVP_MAC_free(ba_hmac);
    ba_hmac = NULL;
    OPENSSL_cleanse(ba_mac_key, sizeof(ba_mac_key));
}

PYXIS_EXPORT const pyxis_module_t pyxis_module = {
    PYXIS_MODULE_HEADER,
    .name = "basic_auth",
    .version = "1.0.0",
    .description = "HTTP Basic authentication against an htpasswd file (bcrypt, SHA-crypt)",
    .init = ba_init,
    .fini = ba_fini,
    .conf_create = ba_conf_create,
    .worker_init = ba_worker_init,
    .worker_exit = ba_worker_exit,
    .on_request_headers = ba_on_request_headers,
};
