/*
 * headers.h: what the headers filter's config parser (headers_conf.c) hands to its runtime
 * (headers.c). Private to the module; the only pyxis header it sees is <pyxis/module.h>.
 *
 * Everything below lives in the config arena (api->conf_alloc) and is read-only once
 * conf_create returned, so every worker reads it without locks. The compiled regex is freed
 * by a conf cleanup when the snapshot goes.
 */
#ifndef HDR_HEADERS_H
#define HDR_HEADERS_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <pyxis/module.h>

/* One piece of a value template: literal bytes, or a variable looked up with api->var() at
 * run time (`str` is then the variable's name, e.g. "header.x-user"). */
typedef struct {
    int is_var;
    pyxis_str_t str;
} hdr_part_t;

/* A value as written in the config, split at config time: "id=${request_id}" is the literal
 * "id=" then the variable request_id. `$$` is already folded into a literal `$`. */
typedef struct {
    hdr_part_t *parts;
    size_t nparts;
} hdr_tmpl_t;

/* The operations, in the order they run. */
typedef enum {
    HDR_OP_REMOVE = 0,
    HDR_OP_SET = 1,
    HDR_OP_ADD = 2,
    HDR_OP_APPEND = 3,
} hdr_op_kind_t;

typedef struct {
    hdr_op_kind_t kind;
    pyxis_str_t name;
    hdr_tmpl_t value; /* unused for HDR_OP_REMOVE */
} hdr_op_t;

/* The header operations of one direction, sorted: every remove, then set, add, append (each
 * group in written order). */
typedef struct {
    hdr_op_t *ops;
    size_t nops;
} hdr_ops_t;

typedef enum {
    HDR_PATH_NONE = 0,
    HDR_PATH_PREFIX = 1,
    HDR_PATH_REGEX = 2,
} hdr_path_kind_t;

/* A piece of a regex replacement: literal bytes, or capture group `group` (0 = whole match). */
typedef struct {
    int is_group;
    uint32_t group;
    pyxis_str_t lit;
} hdr_repl_part_t;

/* One `headers:` entry of a route's filters. */
typedef struct {
    hdr_ops_t req;
    hdr_ops_t resp;

    hdr_path_kind_t path_kind;
    pyxis_str_t prefix_from; /* HDR_PATH_PREFIX */
    pyxis_str_t prefix_to;
    pcre2_code *regex;   /* HDR_PATH_REGEX: freed with the config snapshot */
    uint32_t ovec_pairs; /* capture groups + 1 */
    hdr_repl_part_t *repl;
    size_t nrepl;

    int has_host;
    hdr_tmpl_t host;
} hdr_conf_t;

/* The service table init() received; set once on the main thread before any config. */
extern const pyxis_api_t *hdr_api;

/* pyxis_module_t.conf_create (headers_conf.c). */
pyxis_rc_t hdr_conf_create(pyxis_conf_ctx_t *cc, const pyxis_node_t *node, void **conf);

#endif /* HDR_HEADERS_H */
