/*
 * px_module-t.h: loaded filter modules and their place in a config snapshot.
 *
 * A module (px_module_t) is loaded once per process, on the main thread, the first time a
 * config names it, and stays loaded until the process exits: configs are reference counted
 * and may outlive a reload on workers, and code must outlive every config that uses it. Its
 * descriptor is copied into a zero-filled full-size pyxis_module_t, so fields a module built
 * against an older minor does not have read as NULL.
 *
 * A config snapshot holds, per route, the filters written in its `filters` list
 * (px_conf_filter_t: the module and the conf its conf_create made), and one px_conf_modset_t
 * listing each module it uses with all its confs, for worker_init.
 */
#ifndef PX_MODULE_T_H
#define PX_MODULE_T_H

#include <stddef.h>

#include <pyxis/module.h>

typedef struct px_module_s px_module_t;
struct px_module_s {
    pyxis_module_t desc; /* the module's descriptor, zero-extended to the core's size */
    char *path;          /* the file it was loaded from (malloc) */
    void *handle;        /* dlopen handle; never closed */
    unsigned index;      /* load order, 0-based */
    px_module_t *next;   /* the process's list of loaded modules */
};

/* Which callbacks a route's filters have, to skip whole phases in one test. The same bits as
 * the SDK's PYXIS_USES_*. */
enum {
    PX_FILTER_HAS_REQ_HEADERS = 1 << 0,
    PX_FILTER_HAS_REQ_BODY = 1 << 1,
    PX_FILTER_HAS_RESP_HEADERS = 1 << 2,
    PX_FILTER_HAS_RESP_BODY = 1 << 3,
    PX_FILTER_HAS_LOG = 1 << 4,
};

/* One entry of a route's `filters` list. */
typedef struct {
    px_module_t *module;
    void *conf;    /* what conf_create stored (owned by the module; conf_free'd with the
                      snapshot) */
    unsigned slot; /* the module's index in the snapshot's px_conf_modset_t */
    unsigned has;  /* PX_FILTER_HAS_*: the callbacks this filter uses (conf_uses) */
    unsigned line; /* where it was written, for logs */
} px_conf_filter_t;

/* A module used by a snapshot, with every conf it made for it. */
typedef struct {
    px_module_t *module;
    void *gconf; /* what conf_global made for the snapshot's top-level key, or NULL */
    void **confs;
    size_t nconfs;
} px_conf_moduse_t;

typedef struct {
    px_conf_moduse_t *uses;
    size_t n;
    size_t cap;
} px_conf_modset_t;

#endif
