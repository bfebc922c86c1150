/*
 * px_h1_write.h: serializing HTTP/1.1 message heads.
 */
#ifndef PX_H1_WRITE_H
#define PX_H1_WRITE_H

#include <stddef.h>

#include "px_headers.h"
#include "px_str-t.h"

struct evbuffer;

/*
 * Append a head to out with one reservation and no intermediate copy: the start line given as
 * pieces (joined as they are; the last one ends with CRLF), every field of `fields` as
 * "name: value" CRLF, then `extra` (whole lines pyxis adds: framing, Connection), then the
 * empty line. Returns 0, or -1 when out of memory.
 */
int px_h1_write_head(struct evbuffer *out, const px_str_t *start, size_t nstart,
                     const px_headers_t *fields, const char *extra, size_t extra_len);

#endif
