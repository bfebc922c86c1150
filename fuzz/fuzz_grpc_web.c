/*
 * fuzz_grpc_web.c: libFuzzer target for the grpc_web filter's byte transforms
 * (modules/grpc_web/gw_codec.c). Seeds: fuzz/corpus/grpc_web/.
 *
 * The input is split at its first byte's value into two pieces and decoded as a text-mode body
 * in those pieces. Besides "no crash": the output stays within GW_B64_DECODED_MAX, and
 * whatever decodes re-encodes and decodes again to the same bytes; the whole input, read as a
 * content type and as an Accept value, never yields a subtype outside it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *sub = NULL;
    size_t sublen = 0;
    if (gw_content_type(s, size, &sub, &sublen) != GW_NONE && (sub < s || sub + sublen > s + size))
        abort();
    (void)gw_accepts_text(s, size);

    size_t cut = size > 0 ? data[0] % (size + 1) : 0;
    unsigned char *out = malloc(GW_B64_DECODED_MAX(size) + 1);
    if (out == NULL)
        return 0;
    gw_b64dec_t d = {{0}, 0};
    ssize_t a = gw_b64_decode(&d, s, cut, out);
    ssize_t b = a < 0 ? -1 : gw_b64_decode(&d, s + cut, size - cut, out + a);
    if (a >= 0 && b >= 0 && gw_b64_decode_end(&d) == 0) {
        size_t n = (size_t)a + (size_t)b;
        if (n > GW_B64_DECODED_MAX(size))
            abort();
        char *enc = malloc(GW_B64_ENCODED_LEN(n) + 1);
        unsigned char *back = malloc(GW_B64_DECODED_MAX(GW_B64_ENCODED_LEN(n)) + 1);
        if (enc != NULL && back != NULL) {
            size_t e = gw_b64_encode(out, n, enc);
            gw_b64dec_t d2 = {{0}, 0};
            ssize_t r = gw_b64_decode(&d2, enc, e, back);
            if (e != GW_B64_ENCODED_LEN(n) || r != (ssize_t)n || memcmp(out, back, n) != 0)
                abort();
        }
        free(enc);
        free(back);
    }
    free(out);
    return 0;
}
