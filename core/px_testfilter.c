/*
 * px_testfilter.c: `pyxis test-filter`, a route's filter chain run offline. See
 * px_testfilter.h for the shape and docs/testing.md for the manual.
 *
 * Nothing here stands in for the core: the request is parsed, routed, filtered, proxied and
 * answered by the same code a listening pyxis runs. The harness only plays the two peers,
 * through socketpairs: the client (it writes the request file and reads the response until
 * the response's own framing says it is complete) and every upstream and call-out connection
 * (it reads until the request's framing says it is complete, then answers with the response
 * file or the call-out's fixture and shuts its side down, so a response without length ends
 * cleanly).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "px_callout.h"
#include "px_conf.h"
#include "px_h1_body.h"
#include "px_h1_server.h"
#include "px_http1.h"
#include "px_io.h"
#include "px_log.h"
#include "px_testfilter.h"
#include "px_upstream.h"
#include "px_worker.h"

#define PX_TF_DEFAULT_TIMEOUT_MS 10000
#define PX_TF_MAX_HEAD           (1024 * 1024) /* heads the harness itself parses */
#define PX_TF_MAX_HEADERS        1000
#define PX_TF_DATE               "<date>" /* what a Date field's value is printed as */

/* ---- reading one message off a socket ------------------------------------------------------ */

typedef enum {
    PX_TF_HEAD = 0, /* waiting for (the rest of) a head */
    PX_TF_BODY,     /* head parsed; body framing being followed */
    PX_TF_DONE,     /* the message is complete */
    PX_TF_FAILED,   /* it never will be: `error` says why */
} px_tf_state_t;

/* A message as it arrives: every byte is kept for printing, a copy is parsed to know where the
 * message ends. */
typedef struct {
    int response;          /* read a response (else a request) */
    px_method_t method;    /* response: the method of its request (HEAD has no body) */
    struct evbuffer *raw;  /* every byte received, as received */
    struct evbuffer *work; /* received bytes not parsed yet */
    struct evbuffer *sink; /* decoded body bytes, dropped */
    size_t scanned;        /* head-end scan progress over work */
    px_h1_body_t body;
    px_tf_state_t state;
    size_t len;        /* DONE: how many bytes of raw the message spans */
    const char *error; /* FAILED: static text */
} px_tf_msg_t;

/* A connection pyxis opened, to an upstream or for a call-out: the harness plays the peer. */
typedef struct px_tf_peer_s {
    px_io_t *io; /* the harness's end */
    px_tf_msg_t req;
    const char *reply; /* answered once the request is complete (borrowed from px_tf_t) */
    size_t reply_len;
    char *name; /* for logs: "upstream NAME (ENDPOINT)", "GET http://host/path" */
    int answered;
    int closed; /* pyxis closed its end */
    struct px_tf_peer_s *next;
} px_tf_peer_t;

/* --callout-response TARGET=FILE */
typedef struct px_tf_fixture_s {
    const char *target; /* an upstream name, or a URL prefix in canonical form (px_tf_url) */
    const char *file;
    struct evbuffer *bytes; /* the file in wire form */
    struct px_tf_fixture_s *next;
} px_tf_fixture_t;

/* A string kept until the run ends (errors handed to call-outs). */
typedef struct px_tf_note_s {
    struct px_tf_note_s *next;
    char text[];
} px_tf_note_t;

typedef struct {
    px_worker_t *worker;
    px_io_t *client; /* the harness's end of the client connection */
    px_tf_msg_t resp;
    px_tf_peer_t *ups, **ups_tail;           /* upstream connections, in order */
    px_tf_peer_t *callouts, **callouts_tail; /* call-out connections, in order */
    px_tf_fixture_t *fixtures;               /* in command-line order */
    px_tf_note_t *notes;
    const char *up_resp; /* what every upstream connection answers */
    size_t up_resp_len;
    const char *failure; /* why no complete response came back (static text) */
    px_header_t *scratch;
} px_tf_t;

/* The run in progress (the connect hooks take no argument). */
static px_tf_t *px_tf_current;

static int px_tf_msg_init(px_tf_msg_t *m, int response)
{
    memset(m, 0, sizeof(*m));
    m->response = response;
    m->raw = evbuffer_new();
    m->work = evbuffer_new();
    m->sink = evbuffer_new();
    return m->raw && m->work && m->sink ? 0 : -1;
}

static void px_tf_msg_free(px_tf_msg_t *m)
{
    if (m->raw != NULL)
        evbuffer_free(m->raw);
    if (m->work != NULL)
        evbuffer_free(m->work);
    if (m->sink != NULL)
        evbuffer_free(m->sink);
}

static void px_tf_msg_fail(px_tf_msg_t *m, const char *why)
{
    m->state = PX_TF_FAILED;
    m->error = why;
}

/* Parse a complete head of `head` bytes at the front of m->work and set up its body. PX_OK,
 * PX_AGAIN for an interim response (skip it, look for the next head), or PX_ERROR (failed). */
static px_status_t px_tf_msg_head(px_tf_t *tf, px_tf_msg_t *m, const char *buf, size_t head)
{
    px_h1_limits_t lim = {PX_TF_MAX_HEAD, PX_TF_MAX_HEADERS, PX_TF_MAX_HEAD};
    px_h1_error_t err = {0, NULL, 0};
    px_body_kind_t kind;
    uint64_t length;
    if (m->response) {
        px_h1_response_t resp;
        if (px_h1_parse_response(buf, head, &resp, tf->scratch, PX_TF_MAX_HEADERS, &lim, &err) !=
            PX_H1_DONE) {
            px_tf_msg_fail(m, err.reason ? err.reason : "unparsable response head");
            return PX_ERROR;
        }
        if (resp.status < 200)
            return PX_AGAIN;
        kind = px_h1_response_body(&resp, m->method);
        length = resp.content_length;
    } else {
        px_h1_request_t req;
        if (px_h1_parse_request(buf, head, &req, tf->scratch, PX_TF_MAX_HEADERS, &lim, &err) !=
            PX_H1_DONE) {
            px_tf_msg_fail(m, err.reason ? err.reason : "unparsable request head");
            return PX_ERROR;
        }
        kind = req.body;
        length = req.content_length;
    }
    /* Decoded data goes to the sink; only the framing's end matters. */
    px_h1_body_init(&m->body, kind, length, PX_BODY_CLOSE);
    return PX_OK;
}

/* Take the new bytes of `in` (all of them) and follow the message's framing; eof: the peer
 * closed its side. */
static void px_tf_msg_feed(px_tf_t *tf, px_tf_msg_t *m, struct evbuffer *in, int eof)
{
    size_t n = evbuffer_get_length(in);
    if (m->state == PX_TF_DONE || m->state == PX_TF_FAILED) {
        evbuffer_remove_buffer(in, m->raw, n); /* kept for the record: bytes after the end */
        return;
    }
    if (n > 0) {
        evbuffer_add(m->raw, evbuffer_pullup(in, (ev_ssize_t)n), n);
        evbuffer_remove_buffer(in, m->work, n);
    }
    for (;;) {
        if (m->state == PX_TF_HEAD) {
            size_t len = evbuffer_get_length(m->work);
            const char *buf = len ? (const char *)evbuffer_pullup(m->work, (ev_ssize_t)len) : "";
            size_t head = px_h1_find_head_end(buf, len, &m->scanned);
            if (head == PX_H1_HEAD_BARE_LF) {
                px_tf_msg_fail(m, "bare LF in the head");
                return;
            }
            if (head == 0) {
                if (len > PX_TF_MAX_HEAD)
                    px_tf_msg_fail(m, "head larger than 1 MiB");
                else if (eof)
                    px_tf_msg_fail(m, len ? "closed in the middle of the head"
                                          : "closed before sending anything");
                return;
            }
            px_status_t rc = px_tf_msg_head(tf, m, buf, head);
            if (rc == PX_ERROR)
                return;
            evbuffer_drain(m->work, head);
            m->scanned = 0;
            if (rc == PX_AGAIN)
                continue; /* 1xx: the final head follows */
            m->state = PX_TF_BODY;
        }
        px_h1_error_t err = {0, NULL, 0};
        px_status_t rc = px_h1_body_pump(&m->body, m->work, m->sink, SIZE_MAX, &err);
        evbuffer_drain(m->sink, evbuffer_get_length(m->sink));
        if (rc == PX_AGAIN && eof) {
            rc = px_h1_body_eof(&m->body, m->sink);
            if (rc != PX_OK) {
                px_tf_msg_fail(m, "closed before the end of the body");
                return;
            }
        }
        if (rc == PX_OK) {
            m->state = PX_TF_DONE;
            m->len = evbuffer_get_length(m->raw) - evbuffer_get_length(m->work);
        } else if (rc != PX_AGAIN) {
            px_tf_msg_fail(m, err.reason ? err.reason : "invalid body framing");
        }
        return;
    }
}

/* ---- the client ---------------------------------------------------------------------------- */

static void px_tf_stop(px_tf_t *tf)
{
    event_base_loopbreak(tf->worker->base);
}

static void px_tf_client_read(px_io_t *io, void *arg)
{
    px_tf_t *tf = arg;
    px_tf_msg_feed(tf, &tf->resp, px_io_input(io), 0);
    if (tf->resp.state == PX_TF_DONE || tf->resp.state == PX_TF_FAILED)
        px_tf_stop(tf);
}

static void px_tf_client_event(px_io_t *io, short what, void *arg)
{
    px_tf_t *tf = arg;
    if (what & (PX_IO_EOF | PX_IO_ERROR)) {
        px_tf_msg_feed(tf, &tf->resp, px_io_input(io), 1);
        if (tf->resp.state != PX_TF_DONE && tf->resp.state != PX_TF_FAILED)
            px_tf_msg_fail(&tf->resp, "connection closed");
        px_tf_stop(tf);
    }
}

/* ---- the upstream and call-out peers ------------------------------------------------------ */

static void px_tf_peer_read(px_io_t *io, void *arg)
{
    px_tf_peer_t *u = arg;
    px_tf_msg_feed(px_tf_current, &u->req, px_io_input(io), 0);
    if (u->req.state == PX_TF_DONE && !u->answered) {
        u->answered = 1;
        if (px_log_enabled(PX_LOG_DEBUG)) {
            const char *p = (const char *)evbuffer_pullup(u->req.raw, (ev_ssize_t)u->req.len);
            px_log_debug("test-filter: %s received:\n%.*s", u->name, (int)u->req.len, p);
        }
        evbuffer_add(px_io_output(io), u->reply, u->reply_len);
        px_io_shutdown_write(io);
    }
}

static void px_tf_peer_event(px_io_t *io, short what, void *arg)
{
    px_tf_peer_t *u = arg;
    if (what & (PX_IO_EOF | PX_IO_ERROR)) {
        px_tf_msg_feed(px_tf_current, &u->req, px_io_input(io), 1);
        if (u->req.state != PX_TF_DONE && u->req.state != PX_TF_FAILED)
            px_tf_msg_fail(&u->req, "pyxis closed the connection");
        u->closed = 1;
        /* Done with it (what it received is in u->req). Kept, a shut-down socket whose peer
         * is gone would wake the loop again at every turn. */
        px_io_free(io);
        u->io = NULL;
    }
}

/* Is a call-out still using its connection? */
static int px_tf_callouts_open(const px_tf_t *tf)
{
    for (const px_tf_peer_t *u = tf->callouts; u != NULL; u = u->next) {
        if (!u->closed)
            return 1;
    }
    return 0;
}

/* A socketpair whose harness end answers `reply` to the first complete request; appended to
 * *tail. Returns pyxis's end, or -1 with errno set. */
static int px_tf_peer_new(px_tf_t *tf, px_tf_peer_t ***tail, const char *name, const char *reply,
                          size_t reply_len)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    px_tf_peer_t *u = calloc(1, sizeof(*u));
    if (u == NULL || (u->name = strdup(name)) == NULL || px_tf_msg_init(&u->req, 0) < 0 ||
        (u->io = px_io_new(tf->worker->base, sv[1])) == NULL) {
        if (u != NULL) {
            px_tf_msg_free(&u->req);
            free(u->name);
            free(u);
        }
        close(sv[0]);
        close(sv[1]);
        errno = ENOMEM;
        return -1;
    }
    u->reply = reply;
    u->reply_len = reply_len;
    px_io_setcb(u->io, px_tf_peer_read, NULL, px_tf_peer_event, u);
    px_io_read_enable(u->io);
    **tail = u;
    *tail = &u->next;
    return sv[0];
}

static void px_tf_peers_free(px_tf_peer_t *u)
{
    for (px_tf_peer_t *next; u != NULL; u = next) {
        next = u->next;
        if (u->io != NULL)
            px_io_free(u->io);
        px_tf_msg_free(&u->req);
        free(u->name);
        free(u);
    }
}

/* px_upstream_connect_hook: a new upstream connection is a socketpair. */
static int px_tf_connect(const px_upool_t *p)
{
    px_tf_t *tf = px_tf_current;
    char name[512];
    snprintf(name, sizeof(name), "upstream %s (%s)", p->upstream->name, p->name);
    px_log_info("test-filter: connection to %s", name);
    return px_tf_peer_new(tf, &tf->ups_tail, name, tf->up_resp, tf->up_resp_len);
}

/* A URL in the form fixtures are compared in: scheme and authority lowercased, the default
 * port (":80", ":443" for https) dropped. `authority` is host[:port] (brackets kept for IPv6),
 * `rest` the path and query. */
static char *px_tf_url(int https, const char *authority, size_t alen, const char *rest, size_t rlen)
{
    const char *scheme = https ? "https://" : "http://", *dflt = https ? ":443" : ":80";
    size_t slen = strlen(scheme), dlen = strlen(dflt);
    if (alen >= dlen && memcmp(authority + alen - dlen, dflt, dlen) == 0)
        alen -= dlen;
    char *u = malloc(slen + alen + rlen + 1);
    if (u == NULL)
        return NULL;
    memcpy(u, scheme, slen);
    for (size_t i = 0; i < alen; i++)
        u[slen + i] = (char)tolower((unsigned char)authority[i]);
    memcpy(u + slen + alen, rest, rlen);
    u[slen + alen + rlen] = '\0';
    return u;
}

/* A --callout-response target as given: an upstream name stays as it is; a URL prefix is put
 * in canonical form. NULL for a URL that is not http:// or https://. */
static char *px_tf_fixture_target(const char *t)
{
    const char *sep = strstr(t, "://");
    if (sep == NULL)
        return strdup(t);
    int https = sep - t == 5 && strncasecmp(t, "https", 5) == 0;
    if (!https && (sep - t != 4 || strncasecmp(t, "http", 4) != 0))
        return NULL;
    const char *a = sep + 3;
    size_t alen = strcspn(a, "/?");
    return px_tf_url(https, a, alen, a + alen, strlen(a + alen));
}

/* Keep a formatted string until the run ends. */
static const char *px_tf_note(px_tf_t *tf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *px_tf_note(px_tf_t *tf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    px_tf_note_t *note = n < 0 ? NULL : malloc(sizeof(*note) + (size_t)n + 1);
    if (note == NULL)
        return "no fixture (out of memory)";
    va_start(ap, fmt);
    vsnprintf(note->text, (size_t)n + 1, fmt, ap);
    va_end(ap);
    note->next = tf->notes;
    tf->notes = note;
    return note->text;
}

/* px_callout_connect_hook: the first --callout-response whose target matches answers, on a
 * socketpair; a call-out no fixture matches fails with "no fixture for ...". */
static int px_tf_callout(const char *upstream, const char *key, const char *head, size_t head_len,
                         const char **error)
{
    px_tf_t *tf = px_tf_current;
    /* The request line: METHOD SP TARGET SP HTTP/1.1 */
    const char *eol = memchr(head, '\r', head_len);
    size_t llen = eol ? (size_t)(eol - head) : head_len;
    const char *sp1 = memchr(head, ' ', llen);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', llen - (size_t)(sp1 + 1 - head)) : NULL;
    if (sp2 == NULL) {
        *error = "no fixture (unreadable request line)";
        return -1;
    }
    int mlen = (int)(sp1 - head);
    const char *target = sp1 + 1;
    size_t tlen = (size_t)(sp2 - target);
    /* The key is "host:port", or "https://host:port" for https (the fixture's answer goes
     * out in plain text all the same: no TLS in test-filter). */
    int https = key != NULL && strncmp(key, "https://", 8) == 0;
    const char *k = https ? key + 8 : key;
    char *url = key != NULL ? px_tf_url(https, k, strlen(k), target, tlen) : NULL;
    if (key != NULL && url == NULL) {
        *error = "no fixture (out of memory)";
        return -1;
    }
    const char *what = url != NULL ? px_tf_note(tf, "%.*s %s", mlen, head, url)
                                   : px_tf_note(tf, "%.*s %.*s (upstream %s)", mlen, head,
                                                (int)tlen, target, upstream);
    const px_tf_fixture_t *f = tf->fixtures;
    for (; f != NULL; f = f->next) {
        if (url == NULL ? strcmp(f->target, upstream) == 0
                        : strncmp(url, f->target, strlen(f->target)) == 0)
            break;
    }
    free(url);
    if (f == NULL) {
        px_log_info("test-filter: call-out %s: no fixture", what);
        *error = px_tf_note(tf, "no fixture for %s", what);
        return -1;
    }
    px_log_info("test-filter: call-out %s answered from %s", what, f->file);
    size_t len = evbuffer_get_length(f->bytes);
    const char *reply = (const char *)evbuffer_pullup(f->bytes, (ev_ssize_t)len);
    int fd = px_tf_peer_new(tf, &tf->callouts_tail, what, reply, len);
    if (fd < 0)
        *error = "no fixture (out of memory)";
    return fd;
}

/* ---- input files --------------------------------------------------------------------------- */

/* The whole file, NUL-terminated (*len excludes the NUL); NULL with errno set. */
static char *px_tf_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n < cap - 1) {
            if (ferror(f)) {
                free(buf);
                buf = NULL;
            }
            break;
        }
        char *bigger = realloc(buf, cap * 2);
        if (bigger == NULL)
            free(buf);
        buf = bigger;
        cap *= 2;
    }
    int saved = errno;
    fclose(f);
    errno = saved;
    if (buf == NULL)
        return NULL;
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* A hand-written message into wire form: every line of the head ends with CRLF (bare LF
 * becomes CRLF), blank lines before the start line are skipped, a head without its empty line
 * gets one; the bytes after the empty line (the body) are copied as they are. */
static void px_tf_wire(const char *data, size_t len, struct evbuffer *out)
{
    size_t pos = 0;
    int started = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len, line = end - pos;
        if (line > 0 && data[end - 1] == '\r')
            line--;
        size_t next = nl ? end + 1 : len;
        if (line == 0 && !started) {
            pos = next;
            continue;
        }
        evbuffer_add(out, data + pos, line);
        evbuffer_add(out, "\r\n", 2);
        pos = next;
        if (line == 0) {
            evbuffer_add(out, data + pos, len - pos);
            return;
        }
        started = 1;
    }
    if (started)
        evbuffer_add(out, "\r\n", 2);
}

/* The method of a wire-form request (for the response's framing: HEAD has no body). */
static px_method_t px_tf_method(struct evbuffer *req)
{
    size_t len = evbuffer_get_length(req);
    const char *p = (const char *)evbuffer_pullup(req, (ev_ssize_t)len);
    const char *sp = p ? memchr(p, ' ', len) : NULL;
    return sp ? px_h1_method_id(p, (size_t)(sp - p)) : PX_METHOD_OTHER;
}

/* Warn when a file's body does not match its Content-Length: extra bytes would be read as
 * the start of another message, missing ones waited for. Nothing is changed. */
static void px_tf_check_length(px_tf_t *tf, const char *file, struct evbuffer *msg, int response)
{
    size_t len = evbuffer_get_length(msg), scanned = 0;
    const char *p = (const char *)evbuffer_pullup(msg, (ev_ssize_t)len);
    size_t head = p ? px_h1_find_head_end(p, len, &scanned) : 0;
    if (head == 0 || head == PX_H1_HEAD_BARE_LF)
        return; /* pyxis will say what is wrong with it */
    px_h1_limits_t lim = {PX_TF_MAX_HEAD, PX_TF_MAX_HEADERS, PX_TF_MAX_HEAD};
    px_h1_error_t err;
    px_h1_request_t req;
    px_h1_response_t resp;
    px_body_kind_t kind;
    uint64_t cl;
    if (response) {
        if (px_h1_parse_response(p, head, &resp, tf->scratch, PX_TF_MAX_HEADERS, &lim, &err) !=
            PX_H1_DONE)
            return;
        kind = resp.body;
        cl = resp.content_length;
    } else {
        if (px_h1_parse_request(p, head, &req, tf->scratch, PX_TF_MAX_HEADERS, &lim, &err) !=
            PX_H1_DONE)
            return;
        kind = req.body;
        cl = req.content_length;
    }
    uint64_t body = len - head;
    if (kind == PX_BODY_LENGTH && body > cl)
        fprintf(stderr,
                "pyxis test-filter: warning: %s: %llu bytes after the body's Content-Length "
                "(%llu) are sent as they are, as the start of another message (a newline at the "
                "end of the file counts)\n",
                file, (unsigned long long)(body - cl), (unsigned long long)cl);
    else if (kind == PX_BODY_LENGTH && body < cl)
        fprintf(stderr,
                "pyxis test-filter: warning: %s: the body has %llu bytes, Content-Length says "
                "%llu\n",
                file, (unsigned long long)body, (unsigned long long)cl);
    else if (kind == PX_BODY_NONE && body > 0 && !response)
        fprintf(stderr,
                "pyxis test-filter: warning: %s: %llu bytes after a head without Content-Length "
                "or Transfer-Encoding are sent as another request\n",
                file, (unsigned long long)body);
}

/* ---- output -------------------------------------------------------------------------------- */

static void px_tf_write(const char *p, size_t n)
{
    if (n > 0)
        fwrite(p, 1, n, stdout);
}

/* Print n bytes and a newline when they did not end with one. */
static void px_tf_print_bytes(const char *p, size_t n)
{
    px_tf_write(p, n);
    if (n == 0 || p[n - 1] != '\n')
        fputc('\n', stdout);
}

/* Print a response with the value of every Date field of its heads (interim ones too) as
 * PX_TF_DATE, unless keep_date; then a newline when it did not end with one. */
static void px_tf_print_response(const char *p, size_t n, int keep_date)
{
    size_t pos = 0;
    /* Is the head starting at pos an interim (1xx) one, after which another head follows? */
#define PX_TF_INTERIM(at)                                                                          \
    (n - (at) > 9 && memcmp(p + (at), "HTTP/1.", 7) == 0 && p[(at) + 9] == '1')
    int interim = PX_TF_INTERIM(0);
    while (!keep_date && pos < n) {
        const char *eol = memchr(p + pos, '\n', n - pos);
        if (eol == NULL)
            break;
        size_t end = (size_t)(eol - p) + 1, line = end - pos;
        if (line == 1 || (line == 2 && p[pos] == '\r')) {
            px_tf_write(p + pos, line); /* the end of a head */
            pos = end;
            if (!interim)
                break;
            interim = PX_TF_INTERIM(pos);
            continue;
        }
        if (line > 5 && strncasecmp(p + pos, "date:", 5) == 0) {
            size_t crlf = p[end - 2] == '\r' ? 2 : 1;
            fputs("Date: " PX_TF_DATE, stdout);
            px_tf_write(p + end - crlf, crlf);
        } else {
            px_tf_write(p + pos, line);
        }
        pos = end;
    }
#undef PX_TF_INTERIM
    px_tf_write(p + pos, n - pos);
    if (n > 0 && p[n - 1] != '\n')
        fputc('\n', stdout);
}

static void px_tf_print(px_tf_t *tf, int keep_date)
{
    if (tf->ups == NULL)
        fputs("--- upstream request ---\n(none)\n", stdout);
    for (px_tf_peer_t *u = tf->ups; u != NULL; u = u->next) {
        fputs("--- upstream request ---\n", stdout);
        size_t len = evbuffer_get_length(u->req.raw);
        const char *p = (const char *)evbuffer_pullup(u->req.raw, (ev_ssize_t)len);
        if (len == 0)
            fputs("(none)\n", stdout);
        else
            px_tf_print_bytes(p, u->req.state == PX_TF_DONE ? u->req.len : len);
        if (u->req.state == PX_TF_FAILED)
            fprintf(stdout, "(incomplete: %s)\n", u->req.error);
        else if (u->req.state != PX_TF_DONE && len > 0)
            fputs("(incomplete)\n", stdout);
    }
    fputs("--- client response ---\n", stdout);
    size_t len = evbuffer_get_length(tf->resp.raw);
    const char *p = (const char *)evbuffer_pullup(tf->resp.raw, (ev_ssize_t)len);
    if (len == 0)
        fputs("(none)\n", stdout);
    else
        px_tf_print_response(p, tf->resp.state == PX_TF_DONE ? tf->resp.len : len, keep_date);
    if (tf->resp.state != PX_TF_DONE && len > 0)
        fputs("(incomplete)\n", stdout);
    fflush(stdout);
}

/* ---- the run ------------------------------------------------------------------------------- */

static void px_tf_timeout(evutil_socket_t fd, short what, void *arg)
{
    px_tf_t *tf = arg;
    tf->failure = "timeout";
    px_tf_stop(tf);
}

typedef struct {
    const char *config, *request, *upstream_response, *listener, *client;
    const char **callouts; /* --callout-response arguments, in order */
    size_t ncallouts;
    uint64_t timeout_ms;
    int verbose, keep_date;
} px_tf_opts_t;

static void px_tf_usage(FILE *out)
{
    fprintf(
        out,
        "usage: pyxis test-filter --config FILE --request FILE [options]\n"
        "  -c, --config FILE             a pyxis configuration (its listeners are not opened)\n"
        "  -r, --request FILE            the request: HTTP/1.1 as text (LF line ends are fine)\n"
        "  -u, --upstream-response FILE  what every upstream connection answers\n"
        "                                (default: 200 with an empty body)\n"
        "      --callout-response TARGET=FILE\n"
        "                                answer call-outs to TARGET (an upstream name or a URL\n"
        "                                prefix) with FILE; repeatable, the first match answers,\n"
        "                                an unmatched call-out fails (\"no fixture for ...\")\n"
        "  -l, --listener NAME           match the routes of this listener (default: the first)\n"
        "      --client ADDR             the client's IP address (default 127.0.0.1)\n"
        "  -t, --timeout DURATION        give up after this long (default 10s)\n"
        "      --keep-date               print Date fields as received, not as " PX_TF_DATE "\n"
        "  -v                            error log at level debug\n"
        "Prints the request as the upstream received it and the response as the client\n"
        "received it. Exit status 0 when a complete response came back, else 1.\n");
}

/* Parse the command line: PX_OK to go on, or PX_DECLINED to exit at once with *exit_status
 * (--help, bad options). */
static px_status_t px_tf_parse_args(int argc, char **argv, px_tf_opts_t *o, int *exit_status)
{
    enum { OPT_CLIENT = 256, OPT_KEEP_DATE, OPT_CALLOUT };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"request", required_argument, NULL, 'r'},
        {"upstream-response", required_argument, NULL, 'u'},
        {"listener", required_argument, NULL, 'l'},
        {"timeout", required_argument, NULL, 't'},
        {"client", required_argument, NULL, OPT_CLIENT},
        {"callout-response", required_argument, NULL, OPT_CALLOUT},
        {"keep-date", no_argument, NULL, OPT_KEEP_DATE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->timeout_ms = PX_TF_DEFAULT_TIMEOUT_MS;
    o->client = "127.0.0.1";
    o->callouts = calloc((size_t)argc, sizeof(*o->callouts));
    if (o->callouts == NULL) {
        fprintf(stderr, "pyxis test-filter: out of memory\n");
        *exit_status = 1;
        return PX_DECLINED;
    }
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:r:u:l:t:vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': o->config = optarg; break;
        case 'r': o->request = optarg; break;
        case 'u': o->upstream_response = optarg; break;
        case 'l': o->listener = optarg; break;
        case 't':
            if (px_conf_parse_duration(optarg, &o->timeout_ms) < 0 || o->timeout_ms == 0) {
                fprintf(stderr, "pyxis test-filter: --timeout: not a duration: %s\n", optarg);
                *exit_status = 2;
                return PX_DECLINED;
            }
            break;
        case OPT_CLIENT: o->client = optarg; break;
        case OPT_KEEP_DATE: o->keep_date = 1; break;
        case OPT_CALLOUT:
            if (strrchr(optarg, '=') == NULL || *optarg == '=') {
                fprintf(stderr, "pyxis test-filter: --callout-response: expected TARGET=FILE: %s\n",
                        optarg);
                *exit_status = 2;
                return PX_DECLINED;
            }
            o->callouts[o->ncallouts++] = optarg;
            break;
        case 'v': o->verbose = 1; break;
        case 'h':
            px_tf_usage(stdout);
            *exit_status = 0;
            return PX_DECLINED;
        default:
            px_tf_usage(stderr);
            *exit_status = 2;
            return PX_DECLINED;
        }
    }
    if (optind < argc || o->config == NULL || o->request == NULL) {
        if (optind >= argc)
            fprintf(stderr, "pyxis test-filter: --config and --request are required\n");
        px_tf_usage(stderr);
        *exit_status = 2;
        return PX_DECLINED;
    }
    return PX_OK;
}

/* The client's address for the accept: what X-Forwarded-For and client_addr() will say. */
static int px_tf_client_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        *len = sizeof(*in);
        return 0;
    }
    if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        *len = sizeof(*in6);
        return 0;
    }
    return -1;
}

/* Serve the request on a local worker of conf (whose reference is handed over); fills tf. */
static int px_tf_run(px_tf_t *tf, px_conf_t *conf, size_t listener, const px_tf_opts_t *o,
                     struct evbuffer *request, const struct sockaddr_storage *peer,
                     socklen_t peer_len)
{
    /* No listening socket, no access log: the output is what the client received. */
    px_gen_t *gen = px_worker_local_gen(conf);
    if (gen == NULL) {
        fprintf(stderr, "pyxis test-filter: out of memory\n");
        return -1;
    }
    tf->worker = px_worker_create_local(gen);
    if (tf->worker == NULL) {
        fprintf(stderr, "pyxis test-filter: cannot start a worker\n");
        return -1;
    }
    struct event_base *base = tf->worker->base;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        fprintf(stderr, "pyxis test-filter: socketpair: %s\n", strerror(errno));
        return -1;
    }
    tf->client = px_io_new(base, sv[1]);
    if (tf->client == NULL) {
        close(sv[0]);
        close(sv[1]);
        fprintf(stderr, "pyxis test-filter: out of memory\n");
        return -1;
    }
    /* Exactly what the accept path does with an accepted socket. */
    px_h1_conn_accept(tf->worker, tf->worker->cur, listener, sv[0], (const struct sockaddr *)peer,
                      peer_len);
    px_io_setcb(tf->client, px_tf_client_read, NULL, px_tf_client_event, tf);
    px_io_read_enable(tf->client);
    evbuffer_add_buffer(px_io_output(tf->client), request);

    struct event *timer = evtimer_new(base, px_tf_timeout, tf);
    if (timer == NULL) {
        fprintf(stderr, "pyxis test-filter: out of memory\n");
        return -1;
    }
    struct timeval tv = {(time_t)(o->timeout_ms / 1000),
                         (suseconds_t)((o->timeout_ms % 1000) * 1000)};
    evtimer_add(timer, &tv);
    event_base_dispatch(base);
    /* The response is complete; call-outs made after it (on_log) may still run: let them end,
     * within the same timeout, then deliver what waits for the loop (a parked failure). */
    while (tf->resp.state == PX_TF_DONE && tf->failure == NULL && px_tf_callouts_open(tf))
        event_base_loop(base, EVLOOP_ONCE);
    event_base_loop(base, EVLOOP_NONBLOCK);
    event_free(timer);
    return 0;
}

/* Read a message file into wire form (px_tf_wire), warning about its length. */
static int px_tf_load(px_tf_t *tf, const char *file, struct evbuffer *out, int response)
{
    size_t len = 0;
    char *text = px_tf_read_file(file, &len);
    if (text == NULL) {
        fprintf(stderr, "pyxis test-filter: %s: %s\n", file, strerror(errno));
        return -1;
    }
    px_tf_wire(text, len, out);
    free(text);
    if (evbuffer_get_length(out) == 0) {
        fprintf(stderr, "pyxis test-filter: %s: no HTTP message in the file\n", file);
        return -1;
    }
    px_tf_check_length(tf, file, out, response);
    return 0;
}

/* The --callout-response fixtures, in order. */
static int px_tf_load_fixtures(px_tf_t *tf, const px_tf_opts_t *o)
{
    px_tf_fixture_t **tail = &tf->fixtures;
    for (size_t i = 0; i < o->ncallouts; i++) {
        const char *arg = o->callouts[i], *eq = strrchr(arg, '=');
        px_tf_fixture_t *f = calloc(1, sizeof(*f));
        if (f == NULL)
            return -1;
        *tail = f;
        tail = &f->next;
        char *target = strndup(arg, (size_t)(eq - arg));
        f->file = eq + 1;
        f->target = target != NULL ? px_tf_fixture_target(target) : NULL;
        free(target);
        f->bytes = evbuffer_new();
        if (f->target == NULL) {
            fprintf(stderr,
                    "pyxis test-filter: --callout-response %s: the target is an upstream "
                    "name or an http:// or https:// URL prefix\n",
                    arg);
            return -1;
        }
        if (f->bytes == NULL || px_tf_load(tf, f->file, f->bytes, 1) < 0)
            return -1;
    }
    return 0;
}

/* Pick the listener whose routes the request is matched against: its index, or -1. */
static long px_tf_listener(const px_conf_t *conf, const px_tf_opts_t *o)
{
    if (conf->nlisteners == 0) {
        fprintf(stderr, "pyxis test-filter: %s: no listener\n", o->config);
        return -1;
    }
    if (o->listener == NULL)
        return 0;
    for (size_t i = 0; i < conf->nlisteners; i++) {
        if (strcmp(conf->listeners[i].name, o->listener) == 0)
            return (long)i;
    }
    fprintf(stderr, "pyxis test-filter: %s: no listener named \"%s\"\n", o->config, o->listener);
    return -1;
}

static void px_tf_free(px_tf_t *tf)
{
    /* The harness's ends first: they live on the worker's event_base. */
    if (tf->client != NULL)
        px_io_free(tf->client);
    px_tf_peers_free(tf->ups);
    px_tf_peers_free(tf->callouts);
    if (tf->worker != NULL)
        px_worker_free_local(tf->worker);
    px_tf_msg_free(&tf->resp);
    free(tf->scratch);
    for (px_tf_fixture_t *f = tf->fixtures, *next; f != NULL; f = next) {
        next = f->next;
        free((char *)f->target);
        if (f->bytes != NULL)
            evbuffer_free(f->bytes);
        free(f);
    }
    for (px_tf_note_t *n = tf->notes, *next; n != NULL; n = next) {
        next = n->next;
        free(n);
    }
}

int px_testfilter_main(int argc, char **argv)
{
    px_tf_opts_t o;
    int status = 1;
    if (px_tf_parse_args(argc, argv, &o, &status) != PX_OK) {
        free(o.callouts);
        return status;
    }
    struct sockaddr_storage peer;
    socklen_t peer_len;
    if (px_tf_client_addr(o.client, &peer, &peer_len) < 0) {
        fprintf(stderr, "pyxis test-filter: --client: not an IP address: %s\n", o.client);
        free(o.callouts);
        return 2;
    }

    status = 1;
    px_tf_t tf = {0};
    tf.ups_tail = &tf.ups;
    tf.callouts_tail = &tf.callouts;
    struct evbuffer *request = evbuffer_new(), *up_resp = evbuffer_new();
    tf.scratch = calloc(PX_TF_MAX_HEADERS, sizeof(px_header_t));
    if (request == NULL || up_resp == NULL || tf.scratch == NULL ||
        px_tf_msg_init(&tf.resp, 1) < 0) {
        fprintf(stderr, "pyxis test-filter: out of memory\n");
        goto out;
    }
    if (px_tf_load(&tf, o.request, request, 0) < 0 ||
        (o.upstream_response != NULL && px_tf_load(&tf, o.upstream_response, up_resp, 1) < 0) ||
        px_tf_load_fixtures(&tf, &o) < 0)
        goto out;
    if (o.upstream_response == NULL)
        evbuffer_add_printf(up_resp, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    tf.up_resp_len = evbuffer_get_length(up_resp);
    tf.up_resp = (const char *)evbuffer_pullup(up_resp, -1);
    tf.resp.method = px_tf_method(request);

    px_conf_t *conf = px_conf_load_or_report(o.config, stderr);
    if (conf == NULL)
        goto out;
    long listener = px_tf_listener(conf, &o);
    if (listener < 0) {
        px_conf_release(conf);
        goto out;
    }
    /* The error log goes to stderr whatever the config says; its level is the config's. */
    px_log_open(NULL, o.verbose ? PX_LOG_DEBUG : conf->error_log_level);
    signal(SIGPIPE, SIG_IGN);

    px_tf_current = &tf;
    px_upstream_connect_hook = px_tf_connect;
    px_callout_connect_hook = px_tf_callout;
    if (px_tf_run(&tf, conf, (size_t)listener, &o, request, &peer, peer_len) == 0) {
        px_tf_print(&tf, o.keep_date);
        if (tf.resp.state == PX_TF_DONE)
            status = 0;
        else if (tf.failure != NULL && tf.resp.state != PX_TF_FAILED)
            fprintf(stderr,
                    "pyxis test-filter: no complete response after %llu ms (a request body "
                    "shorter than its Content-Length waits for the rest)\n",
                    (unsigned long long)o.timeout_ms);
        else
            fprintf(stderr, "pyxis test-filter: no complete response: %s\n",
                    tf.resp.state == PX_TF_FAILED ? tf.resp.error : "no response");
    }
out:
    px_tf_free(&tf);
    px_upstream_connect_hook = NULL;
    px_callout_connect_hook = NULL;
    px_tf_current = NULL;
    if (request != NULL)
        evbuffer_free(request);
    if (up_resp != NULL)
        evbuffer_free(up_resp);
    free(o.callouts);
    return status;
}
