/*
 * px_module.c: finding, checking and loading filter modules.
 *
 * A module file is accepted when it exports `pyxis_module`, its descriptor declares the core's
 * ABI major and a minor no newer than the core's, its declared size covers at least the 1.0
 * descriptor, and its name is a valid filter name not already taken by another file. Checks run
 * before init(), so a refused module never runs any code of its own (dlopen does run its
 * constructors; STYLE.md habit 7 asks modules not to have any).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "px_log.h"
#include "px_module.h"

/* Messages name files by their full path; one that does not fit its buffer is cut, which is
 * what we want. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

__thread const px_module_t *px_module_current;

/* The size of the first (1.0) descriptor: everything up to and including on_log. */
#define PX_MODULE_MIN_SIZE (offsetof(pyxis_module_t, on_log) + sizeof(void (*)(void)))

static px_module_t *px_modules; /* loaded modules, newest first */
static unsigned px_nmodules;

static int px_module_name_ok(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 64)
        return 0;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

static px_module_t *px_module_by_name(const char *name)
{
    for (px_module_t *m = px_modules; m != NULL; m = m->next)
        if (strcmp(m->desc.name, name) == 0)
            return m;
    return NULL;
}

static px_module_t *px_module_by_path(const char *path)
{
    for (px_module_t *m = px_modules; m != NULL; m = m->next)
        if (strcmp(m->path, path) == 0)
            return m;
    return NULL;
}

/*
 * Open `path` and check its descriptor. On success *handle is the dlopen handle and *desc its
 * descriptor (not yet copied). Returns 0, or -1 with err filled (the handle closed).
 */
static int px_module_open(const char *path, void **handle, const pyxis_module_t **desc,
                          px_module_err_t *err)
{
    *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (*handle == NULL) {
        const char *why = dlerror();
        snprintf(err->msg, sizeof(err->msg), "cannot load module %s: %s", path,
                 why ? why : "unknown error");
        return -1;
    }
    const pyxis_module_t *d = dlsym(*handle, PYXIS_MODULE_SYMBOL);
    if (d == NULL) {
        snprintf(err->msg, sizeof(err->msg),
                 "%s is not a pyxis module: it does not export the \"%s\" symbol", path,
                 PYXIS_MODULE_SYMBOL);
    } else if (d->abi_major != PYXIS_ABI_MAJOR) {
        snprintf(err->msg, sizeof(err->msg),
                 "module %s was built for pyxis module ABI %u.%u; this pyxis has ABI %u.%u "
                 "(rebuild the module against this pyxis)",
                 path, (unsigned)d->abi_major, (unsigned)d->abi_minor, PYXIS_ABI_MAJOR,
                 PYXIS_ABI_MINOR);
    } else if (d->abi_minor > PYXIS_ABI_MINOR) {
        snprintf(err->msg, sizeof(err->msg),
                 "module %s needs pyxis module ABI %u.%u, newer than this pyxis's %u.%u "
                 "(upgrade pyxis or use a module built for %u.%u)",
                 path, (unsigned)d->abi_major, (unsigned)d->abi_minor, PYXIS_ABI_MAJOR,
                 PYXIS_ABI_MINOR, PYXIS_ABI_MAJOR, PYXIS_ABI_MINOR);
    } else if (d->size < PX_MODULE_MIN_SIZE) {
        snprintf(err->msg, sizeof(err->msg),
                 "module %s has a descriptor of %u bytes, smaller than the %zu bytes of ABI %u.0 "
                 "(module ABI %u.%u, this pyxis %u.%u)",
                 path, (unsigned)d->size, (size_t)PX_MODULE_MIN_SIZE, PYXIS_ABI_MAJOR,
                 (unsigned)d->abi_major, (unsigned)d->abi_minor, PYXIS_ABI_MAJOR, PYXIS_ABI_MINOR);
    } else if (!px_module_name_ok(d->name)) {
        snprintf(err->msg, sizeof(err->msg),
                 "module %s has an invalid name (use 1 to 64 of a-z, 0-9 and _)", path);
    } else {
        *desc = d;
        return 0;
    }
    dlclose(*handle);
    *handle = NULL;
    return -1;
}

px_module_t *px_module_load(const char *path, px_module_err_t *err)
{
    char real[PATH_MAX];
    if (realpath(path, real) == NULL) {
        snprintf(err->msg, sizeof(err->msg), "cannot load module %s: %s", path, strerror(errno));
        return NULL;
    }
    px_module_t *m = px_module_by_path(real);
    if (m != NULL)
        return m;
    void *handle;
    const pyxis_module_t *d;
    if (px_module_open(real, &handle, &d, err) < 0)
        return NULL;
    px_module_t *other = px_module_by_name(d->name);
    if (other != NULL) {
        snprintf(err->msg, sizeof(err->msg),
                 "module %s is named \"%s\", like the module already loaded from %s "
                 "(module names must be unique; a module moved to another file needs a restart)",
                 real, d->name, other->path);
        dlclose(handle);
        return NULL;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL || (m->path = strdup(real)) == NULL) {
        free(m);
        dlclose(handle);
        snprintf(err->msg, sizeof(err->msg), "cannot load module %s: out of memory", real);
        return NULL;
    }
    /* Copy what the module has; what it does not have stays NULL. */
    memcpy(&m->desc, d, d->size < sizeof(m->desc) ? d->size : sizeof(m->desc));
    m->handle = handle;
    if (m->desc.init != NULL) {
        px_module_current = m;
        pyxis_rc_t rc = m->desc.init(px_module_api());
        px_module_current = NULL;
        if (rc != PYXIS_OK) {
            snprintf(err->msg, sizeof(err->msg), "module %s (%s): init failed", m->desc.name, real);
            /* Not dlclose'd: init may have registered things (atexit, threads) we cannot
             * see. The record is dropped; the file stays mapped. */
            free(m->path);
            free(m);
            return NULL;
        }
    }
    m->index = px_nmodules++;
    m->next = px_modules;
    px_modules = m;
    px_log_debug("module %s %s loaded from %s (ABI %u.%u)", m->desc.name,
                 m->desc.version ? m->desc.version : "", real, (unsigned)m->desc.abi_major,
                 (unsigned)m->desc.abi_minor);
    return m;
}

const char *px_module_builtin_path(void)
{
    const char *env = getenv("PYXIS_MODULES_PATH");
    return env != NULL && *env != '\0' ? env : PX_MODULESDIR;
}

px_module_t *px_module_get(const char *name, const char *dir, px_module_err_t *err)
{
    px_module_t *m = px_module_by_name(name);
    if (m != NULL)
        return m;
    /* dir (modules_path), then each directory of the built-in path. */
    char searched[1024] = "";
    size_t slen = 0;
    const char *list[2] = {dir, px_module_builtin_path()};
    for (int k = 0; k < 2; k++) {
        const char *p = list[k];
        while (p != NULL && *p != '\0') {
            const char *end = strchr(p, ':');
            size_t dlen = end ? (size_t)(end - p) : strlen(p);
            char path[PATH_MAX];
            if (dlen > 0 && (size_t)snprintf(path, sizeof(path), "%.*s/%s.so", (int)dlen, p, name) <
                                sizeof(path)) {
                struct stat st;
                if (stat(path, &st) == 0) {
                    m = px_module_load(path, err);
                    if (m != NULL && strcmp(m->desc.name, name) != 0) {
                        snprintf(err->msg, sizeof(err->msg),
                                 "module file %s names itself \"%s\", not \"%s\"", path,
                                 m->desc.name, name);
                        return NULL;
                    }
                    return m;
                }
                int w = snprintf(searched + slen, sizeof(searched) - slen, "%s%.*s",
                                 slen ? ", " : "", (int)dlen, p);
                if (w > 0 && (size_t)w < sizeof(searched) - slen)
                    slen += (size_t)w;
            }
            if (end == NULL || k == 0)
                break;
            p = end + 1;
        }
    }
    snprintf(err->msg, sizeof(err->msg),
             "unknown filter \"%s\": no %s.so in %s (set modules_path, or name the file in "
             "load_modules)",
             name, name, searched);
    return NULL;
}

static int px_module_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int px_module_list(const char *dir, FILE *out)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(out, "%s: %s\n", dir, strerror(errno));
        return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof(*names));
            if (nn == NULL)
                break;
            names = nn;
        }
        if ((names[n] = strdup(e->d_name)) != NULL)
            n++;
    }
    closedir(d);
    qsort(names, n, sizeof(*names), px_module_cmp);
    fprintf(out, "modules in %s (this pyxis: module ABI %u.%u)\n", dir, PYXIS_ABI_MAJOR,
            PYXIS_ABI_MINOR);
    int refused = 0;
    char **seen = calloc(n + 1, sizeof(*seen)); /* module names listed so far */
    size_t nseen = 0;
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        void *handle;
        const pyxis_module_t *desc;
        px_module_err_t err;
        if (px_module_open(path, &handle, &desc, &err) == 0) {
            int dup = 0;
            for (size_t k = 0; k < nseen && !dup; k++)
                dup = strcmp(seen[k], desc->name) == 0;
            if (dup) {
                snprintf(err.msg, sizeof(err.msg),
                         "module %s is named \"%s\", like an earlier file (names must be unique)",
                         path, desc->name);
            } else {
                char file_name[72];
                snprintf(file_name, sizeof(file_name), "%s.so", desc->name);
                fprintf(out, "  %-16s %-10s ABI %u.%u  %s%s\n", desc->name,
                        desc->version ? desc->version : "-", (unsigned)desc->abi_major,
                        (unsigned)desc->abi_minor, desc->description ? desc->description : "",
                        strcmp(file_name, names[i]) != 0
                            ? "  (file name differs: load it with load_modules)"
                            : "");
                if (seen != NULL && (seen[nseen] = strdup(desc->name)) != NULL)
                    nseen++;
            }
            dlclose(handle);
            if (!dup) {
                free(names[i]);
                continue;
            }
        }
        fprintf(out, "  %-16s refused: %s\n", names[i], err.msg);
        refused++;
        free(names[i]);
    }
    if (n == 0)
        fprintf(out, "  (no .so files)\n");
    for (size_t k = 0; k < nseen; k++)
        free(seen[k]);
    free(seen);
    free(names);
    return refused;
}

void px_module_fini_all(void)
{
    for (px_module_t *m = px_modules; m != NULL; m = m->next) {
        if (m->desc.fini != NULL) {
            px_module_current = m;
            m->desc.fini();
            px_module_current = NULL;
        }
    }
}
