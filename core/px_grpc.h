/*
 * px_grpc.h: what the core knows of gRPC (over HTTP/2, or any framing): which requests are gRPC,
 * their deadline (grpc-timeout), and how a failure pyxis answers itself becomes a gRPC status.
 * See docs/proxy.md#grpc.
 */
#ifndef PX_GRPC_H
#define PX_GRPC_H

#include <stdint.h>

#include "px_http1-t.h"
#include "px_status-t.h"

/* gRPC status codes pyxis produces (grpc/doc/statuscodes.md). */
enum {
    PX_GRPC_UNKNOWN = 2,
    PX_GRPC_DEADLINE_EXCEEDED = 4,
    PX_GRPC_PERMISSION_DENIED = 7,
    PX_GRPC_UNIMPLEMENTED = 12,
    PX_GRPC_INTERNAL = 13,
    PX_GRPC_UNAVAILABLE = 14,
    PX_GRPC_UNAUTHENTICATED = 16,
};

/* Is a request with this Content-Type value gRPC? "application/grpc", alone or followed by
 * "+proto", "+json", ... or parameters; case-insensitive. */
int px_grpc_content_type(px_str_t value);

/*
 * Parse a grpc-timeout value (1 to 8 digits and a unit: H, M, S, m, u, n) into milliseconds,
 * rounded up (a deadline shorter than 1 ms is 1 ms, 0 stays 0: already expired). PX_OK, or
 * PX_ERROR for anything else (the field is then ignored, as gRPC servers do).
 */
px_status_t px_grpc_timeout_ms(px_str_t value, uint64_t *ms);

/* The gRPC status of a failure pyxis would answer with HTTP `status`; `deadline`: the request's
 * own deadline (route timeout or grpc-timeout) expired. */
int px_grpc_status_of(int status, int deadline);

/* Percent-encode `msg` for grpc-message (bytes outside 0x20..0x7e and '%') into out[0..cap);
 * the result is cut at cap (never in the middle of an escape). Returns its length. */
size_t px_grpc_message(const char *msg, char *out, size_t cap);

#endif
