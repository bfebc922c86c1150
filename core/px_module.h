/*
 * px_module.h: loading filter modules (dlopen) and the service table they get.
 *
 * Everything here runs on the main thread (config loads, `pyxis modules`). See px_module-t.h
 * for lifetimes.
 */
#ifndef PX_MODULE_H
#define PX_MODULE_H

#include <stdio.h>

#include "px_module-t.h"

/* Why a module file cannot be used; filled by px_module_inspect(). */
typedef struct {
    char msg[512];
} px_module_err_t;

/* The built-in modules directories: $PYXIS_MODULES_PATH (colon-separated) when set, else the
 * installed modules directory. */
const char *px_module_builtin_path(void);

/*
 * The module NAME, loaded from DIR/NAME.so (DIR may be NULL) or else from the first built-in
 * directory holding NAME.so, unless a module of that name is already loaded (by
 * load_modules or an earlier config). NULL with err filled when it cannot be loaded, is refused
 * (ABI, size, name) or its init() fails. The message names the file and, for version problems,
 * both versions.
 */
px_module_t *px_module_get(const char *name, const char *dir, px_module_err_t *err);

/* Load the module in file `path` (load_modules). Loading the same file again returns the
 * loaded module; another file whose module has a name already loaded is refused. */
px_module_t *px_module_load(const char *path, px_module_err_t *err);

/* Print what DIR holds ("NAME VERSION ABI FILE" or why a file would be refused) to out.
 * Nothing is initialized. Returns the number of refused files. */
int px_module_list(const char *dir, FILE *out);

/* Call every loaded module's fini() (process exit). */
void px_module_fini_all(void);

/* The service table handed to modules. */
const pyxis_api_t *px_module_api(void);

/* The module whose code is running on this thread (set around every call into a module), for
 * log tags and worker data. */
extern __thread const px_module_t *px_module_current;

#endif
