/*
 * fuzz_grpc.c: libFuzzer target for the gRPC field parsers (core/px_grpc.c).
 *
 * The input is a grpc-timeout value and a content-type value at once. Checks: a timeout that
 * parses has 2 to 9 bytes, digits then a unit, and is at most 99999999 hours; the grpc-message
 * encoding of the input (cut at a random capacity) stays within it and holds only printable
 * bytes, every '%' starting a two-hex-digit escape.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "px_fuzz.h"
#include "px_grpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (in == NULL)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    px_str_t v = {in, size};
    uint64_t ms = 0;
    if (px_grpc_timeout_ms(v, &ms) == PX_OK) {
        PX_CHECK(size >= 2 && size <= 9);
        PX_CHECK(ms <= UINT64_C(99999999) * 3600000);
        for (size_t i = 0; i + 1 < size; i++)
            PX_CHECK(in[i] >= '0' && in[i] <= '9');
    }
    (void)px_grpc_content_type(v);
    size_t cap = size > 0 ? data[0] % 64 : 0;
    char out[64];
    size_t n = px_grpc_message(in, out, cap);
    PX_CHECK(n <= cap);
    for (size_t i = 0; i < n; i++) {
        PX_CHECK(out[i] >= 0x20 && out[i] <= 0x7e);
        if (out[i] == '%')
            PX_CHECK(i + 2 < n && isxdigit((unsigned char)out[i + 1]) &&
                     isxdigit((unsigned char)out[i + 2]));
    }
    free(in);
    return 0;
}
