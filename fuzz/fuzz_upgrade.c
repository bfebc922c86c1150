/*
 * fuzz_upgrade.c: libFuzzer target for the Upgrade protocol-list parser.
 *
 * Input: an Upgrade field value. Every name returned lies inside the input, is non-empty, and
 * the position only moves forward; the walk ends (0 or -1) within len + 1 steps.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "px_fuzz.h"
#include "px_tunnel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    px_str_t v = {(const char *)data, len}, name;
    size_t pos = 0, steps = 0;
    int rc;
    while ((rc = px_tunnel_next_protocol(v, &pos, &name)) > 0) {
        if (name.len == 0 || name.data < v.data || name.data + name.len > v.data + len ||
            pos > len || pos < (size_t)(name.data + name.len - v.data) || ++steps > len + 1)
            abort();
    }
    if (rc != 0 && rc != -1)
        abort();
    return 0;
}
