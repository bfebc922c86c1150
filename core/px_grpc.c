/*
 * px_grpc.c: gRPC requests, deadlines and status codes (px_grpc.h).
 */
#include <stdio.h>
#include <string.h>

#include "px_grpc.h"
#include "px_http1.h"

int px_grpc_content_type(px_str_t v)
{
    static const char lit[] = "application/grpc";
    size_t n = sizeof(lit) - 1;
    if (v.len < n || !px_h1_token_eq((px_str_t){v.data, n}, lit, n))
        return 0;
    return v.len == n || v.data[n] == '+' || v.data[n] == ';' || v.data[n] == ' ' ||
           v.data[n] == '\t';
}

px_status_t px_grpc_timeout_ms(px_str_t v, uint64_t *ms)
{
    if (v.len < 2 || v.len > 9)
        return PX_ERROR;
    uint64_t n = 0;
    for (size_t i = 0; i + 1 < v.len; i++) {
        if (v.data[i] < '0' || v.data[i] > '9')
            return PX_ERROR;
        n = n * 10 + (uint64_t)(v.data[i] - '0');
    }
    /* At most 99999999 of a unit: no overflow below. */
    switch (v.data[v.len - 1]) {
    case 'H': *ms = n * 3600000; break;
    case 'M': *ms = n * 60000; break;
    case 'S': *ms = n * 1000; break;
    case 'm': *ms = n; break;
    case 'u': *ms = (n + 999) / 1000; break;
    case 'n': *ms = (n + 999999) / 1000000; break;
    default: return PX_ERROR;
    }
    return PX_OK;
}

int px_grpc_status_of(int status, int deadline)
{
    switch (status) {
    case 400: return PX_GRPC_INTERNAL;
    case 401: return PX_GRPC_UNAUTHENTICATED;
    case 403: return PX_GRPC_PERMISSION_DENIED;
    case 404: return PX_GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503: return PX_GRPC_UNAVAILABLE;
    case 504: return deadline ? PX_GRPC_DEADLINE_EXCEEDED : PX_GRPC_UNAVAILABLE;
    default: return PX_GRPC_UNKNOWN;
    }
}

size_t px_grpc_message(const char *msg, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p != '\0'; p++) {
        if (*p >= 0x20 && *p <= 0x7e && *p != '%') {
            if (o + 1 > cap)
                break;
            out[o++] = (char)*p;
        } else {
            if (o + 3 > cap)
                break;
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    return o;
}
