/*
 * fuzz_config.c: libFuzzer target for the YAML configuration loader.
 *
 * Loads the input with hostname resolution off (no network), formats every error the way the
 * process would log it, and releases the snapshot when the input happened to be a valid config.
 * Seeds: fuzz/corpus/config/.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "px_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    px_conf_error_t errs[4];
    size_t nerrs = 0;
    char line[1200];
    px_conf_t *conf =
        px_conf_load_string("fuzz.yaml", (const char *)data, size, 0, errs, 4, &nerrs);
    if (conf != NULL) {
        /* A loaded snapshot is fully linked: touch what the runtime would. */
        for (size_t i = 0; i < conf->nlisteners; i++)
            for (size_t j = 0; j < conf->listeners[i].nroutes; j++)
                if (conf->listeners[i].routes[j].action == PX_ACTION_UPSTREAM &&
                    conf->listeners[i].routes[j].upstream->nendpoints == 0)
                    __builtin_trap();
        px_conf_retain(conf);
        px_conf_release(conf);
        px_conf_release(conf);
    } else if (nerrs == 0) {
        __builtin_trap(); /* a refused config always says why */
    }
    for (size_t i = 0; i < nerrs; i++) {
        px_conf_error_format(&errs[i], line, sizeof(line));
        if (memchr(line, '\n', strlen(line)) != NULL)
            __builtin_trap(); /* messages are one line: user text is escaped */
    }
    return 0;
}
