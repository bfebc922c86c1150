/*
 * px_log.c: the error log.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "px_log.h"

px_log_level_t px_log_level = PX_LOG_INFO;
static int px_log_fd = 2;

static const char *const px_log_names[] = {"error", "warn", "info", "debug"};

int px_log_open_access(const char *path)
{
    if (path == NULL || strcmp(path, "stderr") == 0)
        return 2;
    if (strcmp(path, "stdout") == 0)
        return 1;
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int px_log_open(const char *path, px_log_level_t level)
{
    int fd = px_log_open_access(path);
    if (fd < 0)
        return -1;
    if (px_log_fd > 2)
        close(px_log_fd);
    px_log_fd = fd;
    px_log_level = level;
    return 0;
}

void px_log_timestamp(char *buf, size_t size)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
}

void px_log_write(px_log_level_t level, const char *fmt, ...)
{
    char line[2048];
    size_t n;
    px_log_timestamp(line, sizeof(line));
    n = strlen(line);
    n += (size_t)snprintf(line + n, sizeof(line) - n, " [%s] ", px_log_names[level]);
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (w < 0)
        w = 0;
    n += (size_t)w;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2; /* truncated: still one line */
    line[n++] = '\n';
    /* One write per line; a short write to a full pipe loses the tail, never interleaves. */
    ssize_t r;
    do {
        r = write(px_log_fd, line, n);
    } while (r < 0 && errno == EINTR);
}
