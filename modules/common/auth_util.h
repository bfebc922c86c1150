/*
 * auth_util.h: what the authentication filters (basic_auth, api_key) share: reading a
 * credentials file at config time, checking a header name the config gives, and what a filter
 * does once it knows who the client is, or that it does not.
 *
 * Built only against <pyxis/module.h>. Each module compiles this file into its own .so (symbols
 * hidden), so nothing is shared between modules at run time; every function takes the module's
 * service table.
 */
#ifndef AU_AUTH_UTIL_H
#define AU_AUTH_UTIL_H

#include <pyxis/module.h>

/* Largest credentials file read (a users or keys file); a larger one is a config error. */
#define AU_MAX_FILE (16u * 1024 * 1024)

/* Called for each line of a file: `line` (not NUL-terminated, without its "\n" or "\r\n") is
 * borrowed for the call; lineno counts from 1. Returns 0 to go on, -1 after recording an error
 * (the remaining lines are still read, so every bad line is reported). */
typedef int (*au_line_fn)(void *arg, const char *line, size_t len, unsigned lineno);

/* The start of a filter's conf_create: `node` must be a map holding only keys[0..nkeys) (else
 * an error says the entry expects `what`). Returns `size` bytes of zero-filled config memory, or
 * NULL after recording an error (not a map, out of memory): conf_create then returns
 * PYXIS_ERROR. Unknown or repeated keys are recorded and set *bad, and the memory is returned
 * all the same so the other settings are checked too. */
void *au_conf_begin(const pyxis_api_t *api, pyxis_conf_ctx_t *cc, const pyxis_node_t *node,
                    const char *const *keys, size_t nkeys, size_t size, const char *what, int *bad);

/* Read the file named by the scalar `node` (absolute, or relative to the config file's
 * directory, like every path in the config) and hand each line to fn. The file's bytes are
 * wiped and freed before this returns: a caller keeps what it needs (in the config arena).
 * *path is the resolved path (config arena) for messages. 0, or -1 after an error was recorded
 * (unreadable file, too large, or a line fn refused). Main thread, inside conf_create. */
int au_conf_read_lines(const pyxis_api_t *api, pyxis_conf_ctx_t *cc, const pyxis_node_t *node,
                       const char **path, au_line_fn fn, void *arg);

/* A header name given in the config under `key` (a token; not a field pyxis manages, Host or
 * Authorization), copied into the config arena. 0, or -1 after recording an error. */
int au_conf_header_name(const pyxis_api_t *api, pyxis_conf_ctx_t *cc, const pyxis_node_t *n,
                        const char *key, pyxis_str_t *out);

/* The client is `user`, as established by `method` ("basic", "api_key"): sets the request
 * variables auth_user and auth_method and, when forward.len > 0, the request field `forward`
 * to the user (the caller removed the client's copies of it first). 0, or -1 (logged) to fail
 * the request. */
int au_identify(const pyxis_api_t *api, pyxis_txn_t *txn, const char *method, pyxis_str_t user,
                pyxis_str_t forward);

/* Answer the request with `status`, a text/plain `body` and, when hname.len > 0, one more field
 * (WWW-Authenticate). Returns what the filter callback returns: STOP, or ERROR when the reply
 * could not be made. */
pyxis_filter_status_t au_deny(const pyxis_api_t *api, pyxis_txn_t *txn, int status,
                              pyxis_str_t body, pyxis_str_t hname, pyxis_str_t hvalue);

/* A printable rendering of untrusted bytes (a user name a client sent) for a log line: quoted,
 * with control characters, quotes, backslashes and non-ASCII bytes escaped as \xHH, cut after 64
 * bytes with "...". Written to buf (cap >= 16), which is returned. */
const char *au_log_quote(char *buf, size_t cap, const char *s, size_t len);

#endif /* AU_AUTH_UTIL_H */
