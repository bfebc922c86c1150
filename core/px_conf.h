/*
 * px_conf.h: loading and validating the YAML configuration into a px_conf_t snapshot.
 */
#ifndef PX_CONF_H
#define PX_CONF_H

#include <stdio.h>

#include "px_conf-t.h"

/*
 * Load and validate FILE. On success returns a snapshot with one reference held by the caller.
 * On failure returns NULL and fills errs[0..*nerrs) (up to max_errs; loading stops at the first
 * error in a value but reports as many independent errors as fit). Every error carries the file,
 * 1-based line and column of the offending YAML node: "FILE:LINE:COL: message".
 * Hostnames in endpoints and listen addresses are resolved here (blocking getaddrinfo).
 */
px_conf_t *px_conf_load(const char *file, px_conf_error_t *errs, size_t max_errs, size_t *nerrs);

/* The same from an in-memory YAML document; `name` is used as the file name in errors.
 * Used by unit tests and the fuzz target. Does not resolve hostnames when resolve == 0
 * (a non-literal host is then an error "hostname resolution disabled"). */
px_conf_t *px_conf_load_string(const char *name, const char *yaml, size_t len, int resolve,
                               px_conf_error_t *errs, size_t max_errs, size_t *nerrs);

void px_conf_retain(px_conf_t *conf);
void px_conf_release(px_conf_t *conf);

/* Parse helpers shared with modules' config code. Return 0 on success, -1 on bad input. */
int px_conf_parse_duration(const char *s, uint64_t *ms); /* "250ms" "15s" "2m" "1h" "0" */
int px_conf_parse_size(const char *s, uint64_t *bytes);  /* "512" "16k" "1m" "1g" (binary) */

/* px_conf_load(), printing every error as one "FILE:LINE:COL: message" line to `out`. */
px_conf_t *px_conf_load_or_report(const char *file, FILE *out);

/* Format "FILE:LINE:COL: message" into buf. */
void px_conf_error_format(const px_conf_error_t *e, char *buf, size_t size);

#endif
