/*
 * auth_line.h: the line syntax the authentication filters' files share (an htpasswd file, an
 * API keys file): one entry per line, "\r\n" or "\n" endings, spaces and tabs at the end
 * ignored, blank lines and "#" comments skipped. Header-only and free of the SDK, so each
 * filter's line parser stays linkable alone (unit tests, fuzz targets).
 */
#ifndef AU_AUTH_LINE_H
#define AU_AUTH_LINE_H

#include <stddef.h>

/* What a line parser found. */
typedef enum {
    AU_LINE_SKIP = 0, /* blank, or a comment */
    AU_LINE_ENTRY,    /* an entry */
    AU_LINE_ERROR,    /* not an entry: the parser says what is wrong and at which column */
} au_line_rc_t;

/* Why a line is refused: static text, and the 1-based column it is about. */
typedef struct {
    const char *error;
    size_t col;
} au_line_error_t;

static inline au_line_rc_t au_line_refuse(au_line_error_t *e, const char *error, size_t col)
{
    e->error = error;
    e->col = col;
    return AU_LINE_ERROR;
}

/* Drop the spaces, tabs and CR at the end of the line from *len, and count the spaces and tabs
 * at its start into *indent. Returns 1 when the line is blank or a comment (its first
 * non-blank character is "#"), else 0. */
static inline int au_line_skip(const char *line, size_t *len, size_t *indent)
{
    size_t n = *len, i = 0;
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
        n--;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    *len = n;
    *indent = i;
    return i == n || line[i] == '#';
}

#endif /* AU_AUTH_LINE_H */
