/*
 * px_module_api.h: the pieces of the module service table (pyxis_api_t) that live in different
 * core files, and the worker-side module lifecycle. Private to the core.
 */
#ifndef PX_MODULE_API_H
#define PX_MODULE_API_H

#include <pyxis/module.h>

#include "px_worker-t.h"

/* px_conf_module.c: config services. */
pyxis_node_type_t px_api_node_type(const pyxis_node_t *n);
pyxis_str_t px_api_node_str(const pyxis_node_t *n);
size_t px_api_node_len(const pyxis_node_t *n);
const pyxis_node_t *px_api_node_at(const pyxis_node_t *n, size_t i);
const pyxis_node_t *px_api_node_key_at(const pyxis_node_t *n, size_t i);
const pyxis_node_t *px_api_node_value_at(const pyxis_node_t *n, size_t i);
const pyxis_node_t *px_api_node_get(const pyxis_node_t *n, const char *key);
unsigned px_api_node_line(const pyxis_node_t *n);
int px_api_node_quoted(const pyxis_node_t *n);
void px_api_conf_uses(pyxis_conf_ctx_t *cc, unsigned uses);
unsigned px_api_node_col(const pyxis_node_t *n);
pyxis_rc_t px_api_conf_error(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
pyxis_rc_t px_api_conf_check_keys(pyxis_conf_ctx_t *cc, const pyxis_node_t *n,
                                  const char *const *keys, size_t nkeys);
pyxis_rc_t px_api_conf_str(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, const char **out);
pyxis_rc_t px_api_conf_bool(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, int *out);
pyxis_rc_t px_api_conf_uint(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, uint64_t lo, uint64_t hi,
                            uint64_t *out);
pyxis_rc_t px_api_conf_duration(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, uint64_t *ms);
pyxis_rc_t px_api_conf_size(pyxis_conf_ctx_t *cc, const pyxis_node_t *n, uint64_t *bytes);
void *px_api_conf_alloc(pyxis_conf_ctx_t *cc, size_t size);
char *px_api_conf_strdup(pyxis_conf_ctx_t *cc, const char *s, size_t n);
pyxis_rc_t px_api_conf_cleanup_add(pyxis_conf_ctx_t *cc, pyxis_cleanup_fn fn, void *data);
const char *px_api_conf_file(pyxis_conf_ctx_t *cc);
const char *px_api_conf_path(pyxis_conf_ctx_t *cc, pyxis_str_t path);
int px_api_conf_has_upstream(pyxis_conf_ctx_t *cc, const char *name);
int px_api_conf_has_shdict(pyxis_conf_ctx_t *cc, const char *name);

/* px_module_api.c */
pyxis_rc_t px_api_var(pyxis_txn_t *txn, pyxis_str_t name, pyxis_str_t *value);
int px_api_is_token(pyxis_str_t s);
int px_api_is_field_value(pyxis_str_t s);
/* Worker timers created without a txn belong to this view (set around worker_init and
 * worker timer callbacks; NULL otherwise, when the worker's current view is used). */
void px_module_set_wgen_ctx(px_wgen_t *wg);
/* Cancel every worker timer of a view (it is retired). */
void px_module_cancel_worker_timers(px_wgen_t *wg);

/* worker_init / worker_exit of a view's modules (the view is created / freed). */
void px_module_worker_init(px_wgen_t *wg);
void px_module_worker_exit(px_wgen_t *wg);

#endif
