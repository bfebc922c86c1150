/*
 * fuzz_ext_authz_url.c: libFuzzer target for ext_authz's check of its `url:` key
 * (modules/ext_authz/ext_authz_url.c). Seeds: fuzz/corpus/ext_authz_url/.
 *
 * Besides "no crash": an accepted URL's origin is a prefix of it, at most one "/" shorter,
 * starts with http:// or https://, holds no "/", "?", "#", "@" or byte <= 0x20 after the
 * scheme, and is itself accepted with the same length; a refusal comes with a message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ext_authz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    size_t origin = 0, again = 0;
    const char *err = eaz_url_origin(s, size, &origin);
    if (err != NULL) {
        if (*err == '\0')
            abort();
        return 0;
    }
    if (origin > size || size - origin > 1 || (size > origin && s[origin] != '/'))
        abort();
    size_t skip = strncasecmp(s, "https://", 8) == 0 ? 8 : 7;
    if (origin < skip + 1 || (skip == 7 && strncasecmp(s, "http://", 7) != 0))
        abort();
    for (size_t i = skip; i < origin; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '/' || c == '?' || c == '#' || c == '@')
            abort();
    }
    if (eaz_url_origin(s, origin, &again) != NULL || again != origin)
        abort();
    return 0;
}
