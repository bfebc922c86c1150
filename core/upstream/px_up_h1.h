/*
 * px_up_h1.h: the HTTP/1.1 codec behind the upstream seam (px_up-t.h).
 */
#ifndef PX_UP_H1_H
#define PX_UP_H1_H

#include "px_up-t.h"

/* The ops of a pooled HTTP/1.1 connection attached to a proxied txn: bytes go to and come
 * from the connection's px_io buffers as they are. */
extern const px_up_ops_t px_up_h1_ops;

#endif
