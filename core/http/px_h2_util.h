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
