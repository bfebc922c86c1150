/*
 * px_log.h: the error log.
 *
 * One process-wide destination (stderr or a file), written with one write(2) per line so lines
 * from different threads never interleave. Level checks are a load and a compare; the
 * formatting only happens for lines that are written.
 */
#ifndef PX_LOG_H
#define PX_LOG_H

#include "px_conf-t.h"

extern px_log_level_t px_log_level;

/* Direct the error log to path (NULL or "stderr": stderr; "stdout"; else a file opened for
 * append) at the given level. Returns -1 with errno set when the file cannot be opened; the
 * previous destination is then kept. Called from the main thread only. */
int px_log_open(const char *path, px_log_level_t level);

void px_log_write(px_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define px_log_enabled(lvl) ((lvl) <= px_log_level)
#define px_log(lvl, ...)                                                                           \
    do {                                                                                           \
        if (px_log_enabled(lvl))                                                                   \
            px_log_write((lvl), __VA_ARGS__);                                                      \
    } while (0)
#define px_log_error(...) px_log(PX_LOG_ERROR, __VA_ARGS__)
#define px_log_warn(...)  px_log(PX_LOG_WARN, __VA_ARGS__)
#define px_log_info(...)  px_log(PX_LOG_INFO, __VA_ARGS__)
#define px_log_debug(...) px_log(PX_LOG_DEBUG, __VA_ARGS__)

/* Open an access log destination; returns an fd (2 for stderr, 1 for stdout) or -1. */
int px_log_open_access(const char *path);

/* Format "2026-11-21T22:15:00.123Z" for now into buf (at least 32 bytes). */
void px_log_timestamp(char *buf, size_t size);

#endif
