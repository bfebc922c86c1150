/*
 * px_h2_util.h: what the HTTP/2 server (px_h2_server.c) and client (upstream/px_h2_client.c)
 * both do to fields crossing between pyxis's HTTP/1-shaped lists and nghttp2.
 */
#ifndef PX_H2_UTIL_H
#define PX_H2_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

#include "px_headers.h"
#include "px_pool-t.h"
#include "px_str-t.h"

/* Flow control of one stream's received DATA with automatic WINDOW_UPDATE off: bytes are
 * acknowledged (nghttp2_session_consume) only as the reader takes them out of the stream's
 * input buffer, so a slow reader closes the sender's window. */
typedef struct {
    uint64_t recv;     /* DATA payload bytes received */
    uint64_t consumed; /* of them, acknowledged */
    uint64_t drained;  /* bytes the reader took out of the input buffer (framing included) */
} px_h2_flow_t;

/* The reader took n more bytes out: how many DATA bytes to acknowledge now (0: none). */
size_t px_h2_flow_taken(px_h2_flow_t *f, size_t n);

/* The stream closed: what it received and nobody acknowledged, which still counts against the
 * connection's window (nghttp2_session_consume_connection); 0 when nothing. */
size_t px_h2_flow_closed(px_h2_flow_t *f);

/* A copy of p[0..len) in the pool (a one-byte allocation for an empty one, so data is never
 * NULL on success); {NULL, 0} when out of memory. */
px_str_t px_h2_dup(px_pool_t *pool, const uint8_t *p, size_t len);

/* A field an HTTP/2 message may not carry (RFC 9113 section 8.2.2: Connection, Keep-Alive,
 * Proxy-Connection, Transfer-Encoding, Upgrade, TE), or that HTTP/2 carries otherwise (Host is
 * :authority; HTTP2-Settings belongs to the HTTP/1.1 upgrade). Dropped when a list is sent. */
int px_h2_connection_specific(px_str_t name);

/* *nv for the field name: value, the name lowercased into the pool (HTTP/2 field names are
 * lowercase), the value referenced. 0, or -1 when out of memory. */
int px_h2_nv(px_pool_t *pool, nghttp2_nv *nv, px_str_t name, px_str_t value);

/* The trailer fields of tr as one malloc holding the nv array and their lowercased names and
 * values, for a trailers HEADERS frame submitted after the pool that holds tr may be gone;
 * connection-specific fields left out. *n: how many. NULL when out of memory. */
nghttp2_nv *px_h2_trailers_nv(const px_headers_t *tr, size_t *n);

#endif
