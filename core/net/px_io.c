/*
 * px_io.c: buffered, non-blocking socket I/O on one edge-triggered event. See px_io.h.
 *
 * Readiness is tracked the way an edge-triggered poller needs it: can_read / can_write are set
 * by an event and cleared by EAGAIN or by a short read/write (the kernel then had no more to
 * give or take, and a new edge will come when that changes). The one exception is the peer's
 * FIN: arriving with the last data, it brings no edge of its own, so the event also asks for
 * EV_CLOSED (EPOLLRDHUP) and, once that is seen, reads go on until they return 0. The event is also
 * activated by hand (event_active, no syscall) to flush output queued during a callback or to
 * resume reading after a pause; such a wake-up at worst costs one read or write that returns
 * EAGAIN.
 *
 * TLS (px_io_start_tls for a client, px_io_accept_tls for a server) keeps the same event and
 * the same two flags. Everything TLS lives behind io->tls, so a plain socket pays one pointer
 * test per wake-up. OpenSSL reads and writes the socket itself; what it reports is mapped onto
 * the flags: SSL_ERROR_WANT_READ clears can_read, SSL_ERROR_WANT_WRITE clears can_write, and
 * each direction remembers which flag it waits for (a write that wants to read waits for
 * readability, and the reverse). Reading goes on until OpenSSL says WANT_READ (a record may
 * hold more than one read takes, so a short read proves nothing), which also drains
 * SSL_pending data.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "px_io.h"
#include "px_time.h"

#define PX_IO_READ_MIN (16 * 1024)
#define PX_IO_READ_MAX (64 * 1024)
/* The most plaintext one TLS record carries (RFC 8446 section 5.1). */
#define PX_IO_TLS_RECORD (16 * 1024)

/* What an SSL call waits for before it is tried again. */
enum { PX_IO_TLS_GO = 0, PX_IO_TLS_WANT_READ, PX_IO_TLS_WANT_WRITE };

/* The TLS state of a px_io (px_io_start_tls); NULL on a plain socket. */
typedef struct {
    SSL *ssl;                 /* owned: freed with the px_io */
    unsigned char rd_want;    /* PX_IO_TLS_*: what the last SSL_read waits for */
    unsigned char wr_want;    /* PX_IO_TLS_*: what the last SSL_write waits for */
    unsigned handshaking : 1; /* PX_IO_CONNECTED is reported when it ends */
    unsigned fatal : 1;       /* a fatal error: no SSL_shutdown at free */
    char reason[160];         /* px_io_tls_error() */
} px_io_tls_t;

struct px_io_s {
    int fd;
    int err;             /* errno of the failure reported with PX_IO_ERROR */
    struct event *ev;    /* EV_READ, EV_WRITE, EV_CLOSED, EV_ET, EV_PERSIST; added once */
    struct event *timer; /* idle timeouts */
    struct evbuffer *in, *out;
    px_io_cb readcb, writecb;
    px_io_event_cb eventcb;
    void *arg;
    px_io_tls_t *tls; /* NULL: a plain socket */
    size_t read_high, write_low;
    size_t read_size; /* next read's size: grows while reads fill it */
    uint64_t read_ms, write_ms;
    uint64_t last_read, last_write; /* monotonic ms of the last progress */
    uint64_t sent;                  /* bytes the socket (TLS: SSL_write) accepted: px_io_sent() */
    unsigned busy;                  /* callbacks running on this px_io */
    unsigned reading : 1;           /* the owner wants input */
    unsigned can_read : 1;          /* the socket may have more to read */
    unsigned can_write : 1;         /* the socket may take more */
    unsigned connecting : 1;
    unsigned done : 1;      /* EOF or an error was reported: no more reading or events */
    unsigned shut_wr : 1;   /* shutdown(SHUT_WR) once the output is empty */
    unsigned shut_done : 1; /* ... and it was done: never again (each call would wake us) */
    unsigned freed : 1;     /* px_io_free() was called during a callback */
    unsigned timer_on : 1;
    unsigned kick_read : 1; /* px_io_schedule_read(): hand buffered input to readcb */
    unsigned rdhup : 1;     /* the peer closed its side (EPOLLRDHUP): read to EOF, a short
                               read no longer means "nothing more" */
};

static uint64_t px_io_now(void)
{
    /* A timer that fires within a clock tick before its deadline just re-arms for the rest. */
    return px_time_ms();
}

static void px_io_tls_free(px_io_tls_t *tls);

static void px_io_destroy(px_io_t *io)
{
    if (io->tls != NULL)
        px_io_tls_free(io->tls);
    event_free(io->ev);
    event_free(io->timer);
    evbuffer_free(io->in);
    evbuffer_free(io->out);
    close(io->fd);
    free(io);
}

void px_io_free(px_io_t *io)
{
    if (io == NULL)
        return;
    if (io->busy > 0) {
        io->freed = 1;
        io->readcb = io->writecb = NULL;
        io->eventcb = NULL;
        return;
    }
    px_io_destroy(io);
}

/* Report an event to the owner unless it has let go of the px_io. */
static void px_io_event(px_io_t *io, short what)
{
    if (what & (PX_IO_EOF | PX_IO_ERROR)) {
        if (io->done)
            return;
        io->done = 1;
    }
    if (io->eventcb != NULL && !io->freed)
        io->eventcb(io, what, io->arg);
}

static void px_io_arm_timer(px_io_t *io, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(io->timer, &tv);
    io->timer_on = 1;
}

static void px_io_timer(evutil_socket_t fd, short what, void *arg)
{
    px_io_t *io = arg;
    uint64_t now = px_io_now(), next = 0;
    io->timer_on = 0;
    io->busy++;
    if (io->read_ms > 0 && io->reading && !io->done) {
        uint64_t idle = now - io->last_read;
        if (idle >= io->read_ms) {
            io->reading = 0;
            io->read_ms = 0;
            px_io_event(io, PX_IO_TIMEOUT | PX_IO_READING);
        } else {
            next = io->read_ms - idle;
        }
    }
    int connecting = io->connecting || (io->tls != NULL && io->tls->handshaking);
    if (!io->freed && io->write_ms > 0 && (connecting || evbuffer_get_length(io->out) > 0)) {
        uint64_t idle = now - io->last_write;
        if (idle >= io->write_ms) {
            io->write_ms = 0;
            px_io_event(io, PX_IO_TIMEOUT | PX_IO_WRITING);
        } else if (next == 0 || io->write_ms - idle < next) {
            next = io->write_ms - idle;
        }
    } else if (!io->freed && io->write_ms > 0 && (next == 0 || io->write_ms < next)) {
        next = io->write_ms; /* nothing pending: look again later */
    }
    io->busy--;
    if (io->freed) {
        if (io->busy == 0)
            px_io_destroy(io);
        return;
    }
    if (next > 0 && !io->timer_on)
        px_io_arm_timer(io, next);
}

void px_io_set_timeouts(px_io_t *io, uint64_t read_ms, uint64_t write_ms)
{
    uint64_t now = px_io_now();
    io->read_ms = read_ms;
    io->write_ms = write_ms;
    io->last_read = io->last_write = now;
    uint64_t first = read_ms && (!write_ms || read_ms < write_ms) ? read_ms : write_ms;
    if (first == 0) {
        if (io->timer_on)
            evtimer_del(io->timer);
        io->timer_on = 0;
        return;
    }
    px_io_arm_timer(io, first);
}

/* Stop sending: close_notify first on TLS (best effort: never waited for). */
static void px_io_shut(px_io_t *io)
{
    if (io->tls != NULL && !io->tls->handshaking && !io->tls->fatal) {
        ERR_clear_error();
        SSL_shutdown(io->tls->ssl);
        ERR_clear_error();
    }
    shutdown(io->fd, SHUT_WR);
}

/* Plain sockets only (px_io_cb_ev sends TLS elsewhere), as px_io_do_read. */
/* After a write pass, plain or TLS: the pending shutdown once the output is empty, and writecb
 * when bytes left and the output is at or below the low-water mark. */
static void px_io_wrote(px_io_t *io, size_t before)
{
    size_t after = evbuffer_get_length(io->out);
    if (after == 0 && io->shut_wr && !io->shut_done) {
        px_io_shut(io);
        io->shut_done = 1;
    }
    if (after < before && after <= io->write_low && io->writecb != NULL && !io->freed)
        io->writecb(io, io->arg);
}

static void px_io_do_write(px_io_t *io)
{
    size_t before = evbuffer_get_length(io->out);
    while (io->can_write && evbuffer_get_length(io->out) > 0) {
        int n = evbuffer_write(io->out, io->fd);
        if (n > 0) {
            io->sent += (uint64_t)n;
            io->last_write = px_io_now();
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            io->can_write = 0;
            break;
        }
        io->err = n < 0 ? errno : EPIPE;
        io->can_write = 0;
        px_io_event(io, PX_IO_ERROR | PX_IO_WRITING);
        return;
    }
    px_io_wrote(io, before);
}

static void px_io_do_read(px_io_t *io)
{
    while (io->reading && io->can_read && !io->done && !io->freed) {
        size_t have = evbuffer_get_length(io->in);
        if (io->read_high > 0 && have >= io->read_high)
            return;
        size_t want = io->read_size;
        if (io->read_high > 0 && io->read_high - have < want)
            want = io->read_high - have;
        struct evbuffer_iovec v[2];
        int nv = evbuffer_reserve_space(io->in, (ev_ssize_t)want, v, 2);
        if (nv < 1)
            return;
        size_t room = 0;
        for (int i = 0; i < nv; i++) {
            if (v[i].iov_len > want - room)
                v[i].iov_len = want - room;
            room += v[i].iov_len;
        }
        ssize_t n = readv(io->fd, (struct iovec *)v, nv);
        if (n < 0) {
            evbuffer_commit_space(io->in, v, 0);
            if (errno == EINTR)
                continue;
            io->can_read = 0;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            io->err = errno;
            px_io_event(io, PX_IO_ERROR | PX_IO_READING);
            return;
        }
        if (n == 0) {
            evbuffer_commit_space(io->in, v, 0);
            io->can_read = 0;
            px_io_event(io, PX_IO_EOF | PX_IO_READING);
            return;
        }
        size_t left = (size_t)n;
        for (int i = 0; i < nv; i++) {
            if (v[i].iov_len > left)
                v[i].iov_len = left;
            left -= v[i].iov_len;
        }
        evbuffer_commit_space(io->in, v, nv);
        io->last_read = px_io_now();
        if ((size_t)n < room && !io->rdhup) {
            io->can_read = 0; /* the socket is empty: the next arrival brings a new edge */
            if ((size_t)n < io->read_size / 4 && io->read_size > PX_IO_READ_MIN)
                io->read_size /= 2;
        } else if (io->read_size < PX_IO_READ_MAX) {
            io->read_size *= 2;
        }
        if (io->readcb != NULL)
            io->readcb(io, io->arg);
    }
}

static void px_io_finish_connect(px_io_t *io)
{
    int err = io->err;
    socklen_t len = sizeof(err);
    if (err == 0 && getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0) {
        /* SO_ERROR is 0 while the connect is still in progress too (and a socket not yet
         * connected can show a spurious first edge): only a peer name proves success. */
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        if (getpeername(io->fd, (struct sockaddr *)&peer, &plen) < 0) {
            if (errno == ENOTCONN)
                return; /* not yet: the next edge tells */
            err = errno;
        }
    }
    io->connecting = 0;
    if (err != 0) {
        io->err = err;
        px_io_event(io, PX_IO_ERROR | PX_IO_WRITING);
        return;
    }
    io->last_read = io->last_write = px_io_now();
    if (io->tls != NULL)
        return; /* PX_IO_CONNECTED comes when the handshake is done */
    px_io_event(io, PX_IO_CONNECTED);
}

static void px_io_tls_ev(px_io_t *io, short what);

static void px_io_cb_ev(evutil_socket_t fd, short what, void *arg)
{
    px_io_t *io = arg;
    io->busy++;
    if (what & EV_CLOSED) {
        io->rdhup = 1; /* an EOF is pending even if a short read came before it */
        what |= EV_READ;
    }
    if (io->connecting) {
        io->can_write = 1;
        px_io_finish_connect(io);
        if (io->connecting || io->freed || io->done) {
            /* still connecting, or failed: reading waits for the outcome */
            goto out;
        }
    }
    if (io->tls != NULL) {
        px_io_tls_ev(io, what);
        goto out;
    }
    if (what & EV_WRITE) {
        io->can_write = 1;
        px_io_do_write(io);
    }
    if ((what & EV_READ) && !io->freed) {
        io->can_read = 1;
        if (io->kick_read) {
            /* A resumed reader: bytes already buffered are its first. */
            io->kick_read = 0;
            if (io->reading && evbuffer_get_length(io->in) > 0 && io->readcb != NULL)
                io->readcb(io, io->arg);
        }
        if (io->reading)
            px_io_do_read(io);
    }
out:
    io->busy--;
    if (io->freed && io->busy == 0)
        px_io_destroy(io);
}

/* Output was queued: write it from the loop, in this iteration, once for all of it. */
static void px_io_outbuf_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    px_io_t *io = arg;
    if (info->n_added == 0)
        return;
    if (info->orig_size == 0)
        io->last_write = px_io_now(); /* the send timeout counts from the first pending byte */
    if (!io->connecting && io->can_write)
        event_active(io->ev, EV_WRITE, 1);
}

px_io_t *px_io_new(struct event_base *base, int fd)
{
    px_io_t *io = calloc(1, sizeof(*io));
    if (io == NULL)
        return NULL;
    io->fd = fd;
    io->read_size = PX_IO_READ_MIN;
    io->can_write = 1;
    io->in = evbuffer_new();
    io->out = evbuffer_new();
    io->ev =
        event_new(base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST, px_io_cb_ev, io);
    io->timer = evtimer_new(base, px_io_timer, io);
    if (io->in == NULL || io->out == NULL || io->ev == NULL || io->timer == NULL ||
        evbuffer_add_cb(io->out, px_io_outbuf_cb, io) == NULL || event_add(io->ev, NULL) < 0) {
        if (io->ev != NULL)
            event_free(io->ev);
        if (io->timer != NULL)
            event_free(io->timer);
        if (io->in != NULL)
            evbuffer_free(io->in);
        if (io->out != NULL)
            evbuffer_free(io->out);
        free(io);
        return NULL;
    }
    return io;
}

int px_io_connect(px_io_t *io, const struct sockaddr *sa, socklen_t len)
{
    io->connecting = 1;
    io->can_write = 0;
    io->last_write = px_io_now();
    if (sa != NULL && connect(io->fd, sa, len) < 0 && errno != EINPROGRESS) {
        if (errno == EBADF || errno == EFAULT || errno == ENOTSOCK)
            return -1;
        io->err = errno; /* refused at once: reported from the loop, like any failure */
    }
    event_active(io->ev, EV_WRITE, 1);
    return 0;
}

void px_io_setcb(px_io_t *io, px_io_cb readcb, px_io_cb writecb, px_io_event_cb eventcb, void *arg)
{
    io->readcb = readcb;
    io->writecb = writecb;
    io->eventcb = eventcb;
    io->arg = arg;
}

struct evbuffer *px_io_input(px_io_t *io)
{
    return io->in;
}
struct evbuffer *px_io_output(px_io_t *io)
{
    return io->out;
}
int px_io_error(const px_io_t *io)
{
    return io->err;
}
uint64_t px_io_sent(const px_io_t *io)
{
    return io->sent;
}
void px_io_schedule_read(px_io_t *io)
{
    if (io->connecting)
        return;
    io->kick_read = 1;
    event_active(io->ev, EV_READ, 1);
}

void px_io_read_enable(px_io_t *io)
{
    if (io->reading) {
        /* The owner may have drained input that had reached the read limit: the socket may
         * hold more, and no new edge will say so. */
        if (io->can_read && io->read_high > 0 && evbuffer_get_length(io->in) < io->read_high)
            px_io_schedule_read(io);
        return;
    }
    io->reading = 1;
    io->last_read = px_io_now();
    /* The idle clock restarts now; the timer stops looking while reading is paused. */
    if (io->read_ms > 0 && !io->timer_on)
        px_io_arm_timer(io, io->read_ms);
    if (io->can_read || evbuffer_get_length(io->in) > 0)
        px_io_schedule_read(io);
}

void px_io_read_disable(px_io_t *io)
{
    io->reading = 0;
}

void px_io_set_read_high(px_io_t *io, size_t high)
{
    size_t old = io->read_high;
    io->read_high = high;
    /* A raised limit may let a paused reader go on. */
    if (io->reading && io->can_read && old > 0 && (high == 0 || high > old))
        px_io_schedule_read(io);
}

void px_io_set_write_low(px_io_t *io, size_t low)
{
    io->write_low = low;
}

void px_io_shutdown_write(px_io_t *io)
{
    io->shut_wr = 1;
    if (evbuffer_get_length(io->out) == 0 && !io->shut_done) {
        px_io_shut(io);
        io->shut_done = 1;
    }
}

/* ---- TLS ----------------------------------------------------------------------------------- */

/* Both sides: the client connects, the server accepts; the rest is the same. */
static int px_io_tls_start(px_io_t *io, SSL *ssl, int server)
{
    px_io_tls_t *tls = calloc(1, sizeof(*tls));
    if (tls == NULL)
        return -1;
    if (SSL_set_fd(ssl, io->fd) != 1) { /* a socket BIO without BIO_CLOSE: the fd stays ours */
        ERR_clear_error();
        free(tls);
        return -1;
    }
    if (server)
        SSL_set_accept_state(ssl);
    else
        SSL_set_connect_state(ssl);
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Read what the socket has in one read(), not a record's 5-byte header and then its body
     * in two. */
    SSL_set_read_ahead(ssl, 1);
    tls->ssl = ssl;
    tls->handshaking = 1;
    io->tls = tls;
    if (!io->connecting)
        event_active(io->ev, EV_WRITE, 1); /* connected already: the handshake starts now */
    return 0;
}

int px_io_start_tls(px_io_t *io, SSL *ssl)
{
    return px_io_tls_start(io, ssl, 0);
}

int px_io_accept_tls(px_io_t *io, SSL *ssl)
{
    return px_io_tls_start(io, ssl, 1);
}

int px_io_tls_heard(const px_io_t *io)
{
    return io->tls != NULL && BIO_number_read(SSL_get_rbio(io->tls->ssl)) > 0;
}

SSL *px_io_ssl(const px_io_t *io)
{
    return io->tls != NULL && !io->tls->handshaking ? io->tls->ssl : NULL;
}

int px_io_is_tls(const px_io_t *io)
{
    return io->tls != NULL;
}

const char *px_io_tls_error(const px_io_t *io)
{
    return io->tls != NULL && io->tls->reason[0] != '\0' ? io->tls->reason : NULL;
}

static void px_io_tls_free(px_io_tls_t *tls)
{
    /* close_notify, best effort: one non-blocking try, its answer never waited for; not after
     * a fatal error (OpenSSL forbids it) nor before the handshake ended. */
    if (!tls->handshaking && !tls->fatal) {
        ERR_clear_error();
        SSL_shutdown(tls->ssl);
    }
    ERR_clear_error();
    SSL_free(tls->ssl);
    free(tls);
}

/* May an SSL call that waits for `want` be tried now? */
static int px_io_tls_ready(const px_io_t *io, unsigned want)
{
    return want == PX_IO_TLS_GO || (want == PX_IO_TLS_WANT_READ ? io->can_read : io->can_write);
}

/* Classify the failure of an SSL call that returned ret <= 0, right after it (before anything
 * else touches the thread's error queue). Returns 0 when it waits for the socket (the flag it
 * waits for is cleared and *want says which), else the event to report: PX_IO_EOF (the peer
 * closed; after the handshake a close without close_notify counts as EOF too, as on a plain
 * socket: HTTP framing tells a whole response from a cut one) or PX_IO_ERROR (io->err set and,
 * for TLS failures, the reason px_io_tls_error() gives). */
static short px_io_tls_check(px_io_t *io, int ret, unsigned char *want)
{
    px_io_tls_t *tls = io->tls;
    int sys = errno;
    int err = SSL_get_error(tls->ssl, ret);
    if (err == SSL_ERROR_WANT_READ) {
        io->can_read = 0;
        *want = PX_IO_TLS_WANT_READ;
        return 0;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
        io->can_write = 0;
        *want = PX_IO_TLS_WANT_WRITE;
        return 0;
    }
    unsigned long e = ERR_peek_error();
    int peer_closed =
        err == SSL_ERROR_ZERO_RETURN ||
        (err == SSL_ERROR_SYSCALL && e == 0 && (sys == 0 || ret == 0)) ||
        (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING);
    ERR_clear_error();
    if (err != SSL_ERROR_ZERO_RETURN)
        tls->fatal = 1;
    if (peer_closed && !tls->handshaking) {
        io->can_read = 0;
        return PX_IO_EOF;
    }
    const char *what = tls->handshaking ? "TLS handshake failed" : "TLS error";
    long v = SSL_get_verify_result(tls->ssl);
    io->err = EPROTO;
    if (v != X509_V_OK) {
        snprintf(tls->reason, sizeof(tls->reason), "certificate verify failed: %s",
                 X509_verify_cert_error_string(v));
    } else if (peer_closed) {
        snprintf(tls->reason, sizeof(tls->reason), "%s: connection closed by the peer", what);
    } else if (e != 0) {
        const char *r = ERR_reason_error_string(e);
        snprintf(tls->reason, sizeof(tls->reason), "%s: %s", what, r != NULL ? r : "error");
    } else {
        io->err = sys != 0 ? sys : EIO; /* a socket error: px_io_error() tells it */
    }
    return PX_IO_ERROR;
}

/* One handshake step: 1 done (PX_IO_CONNECTED was reported), 0 waiting, -1 failed. */
static int px_io_tls_handshake(px_io_t *io)
{
    px_io_tls_t *tls = io->tls;
    if (!px_io_tls_ready(io, tls->rd_want))
        return 0;
    ERR_clear_error();
    int ret = SSL_do_handshake(tls->ssl);
    if (ret == 1) {
        tls->handshaking = 0;
        tls->rd_want = PX_IO_TLS_GO;
        io->last_read = io->last_write = px_io_now();
        px_io_event(io, PX_IO_CONNECTED);
        return 1;
    }
    short ev = px_io_tls_check(io, ret, &tls->rd_want);
    if (ev == 0)
        return 0;
    px_io_event(io, PX_IO_ERROR | PX_IO_WRITING); /* as a failed connect */
    return -1;
}

static void px_io_tls_do_write(px_io_t *io)
{
    px_io_tls_t *tls = io->tls;
    size_t before = evbuffer_get_length(io->out);
    while (!tls->handshaking && evbuffer_get_length(io->out) > 0 &&
           px_io_tls_ready(io, tls->wr_want)) {
        /* The first segment as it is: SSL_write copies it into records, nothing else does. A
         * retry after WANT_* sees the same bytes again (maybe more: the segment only grows),
         * which ACCEPT_MOVING_WRITE_BUFFER allows. */
        struct evbuffer_iovec v;
        if (evbuffer_peek(io->out, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
            break;
        /* Small segments (a response head, then its small body) are joined up to one record's
         * worth first: one record and one write() rather than one per segment. The joined
         * segment only grows, as a retry needs. */
        size_t total = evbuffer_get_length(io->out);
        if (v.iov_len < PX_IO_TLS_RECORD && total > v.iov_len) {
            size_t join = total < PX_IO_TLS_RECORD ? total : PX_IO_TLS_RECORD;
            unsigned char *p = evbuffer_pullup(io->out, (ev_ssize_t)join);
            if (p != NULL) {
                v.iov_base = p;
                v.iov_len = join;
            }
        }
        int len = v.iov_len > INT32_MAX ? INT32_MAX : (int)v.iov_len;
        ERR_clear_error();
        int n = SSL_write(tls->ssl, v.iov_base, len);
        if (n > 0) {
            tls->wr_want = PX_IO_TLS_GO;
            io->sent += (uint64_t)n;
            evbuffer_drain(io->out, (size_t)n);
            io->last_write = px_io_now();
            continue;
        }
        short ev = px_io_tls_check(io, n, &tls->wr_want);
        if (ev != 0) {
            px_io_event(io, ev | PX_IO_WRITING);
            return;
        }
        break;
    }
    px_io_wrote(io, before);
}

static void px_io_tls_do_read(px_io_t *io)
{
    px_io_tls_t *tls = io->tls;
    int tried = 0;
    while (io->reading && !io->done && !io->freed && !tls->handshaking &&
           px_io_tls_ready(io, tls->rd_want)) {
        /* A batch: records until OpenSSL wants the socket or the batch is full, then readcb
         * once. An SSL_read returns at most one record (16 KiB). */
        size_t have = evbuffer_get_length(io->in), got = 0, want = PX_IO_READ_MAX;
        if (io->read_high > 0 && have >= io->read_high)
            return;
        if (io->read_high > 0 && io->read_high - have < want)
            want = io->read_high - have;
        short ev = 0;
        while (got < want) {
            struct evbuffer_iovec v;
            if (evbuffer_reserve_space(io->in, (ev_ssize_t)(want - got), &v, 1) < 1)
                break;
            size_t room = v.iov_len < want - got ? v.iov_len : want - got;
            ERR_clear_error();
            int n = SSL_read(tls->ssl, v.iov_base, room > INT32_MAX ? INT32_MAX : (int)room);
            tried = 1;
            if (n <= 0) {
                ev = px_io_tls_check(io, n, &tls->rd_want);
                evbuffer_commit_space(io->in, &v, 0);
                break;
            }
            v.iov_len = (size_t)n;
            evbuffer_commit_space(io->in, &v, 1);
            got += (size_t)n;
            tls->rd_want = PX_IO_TLS_GO;
        }
        if (got > 0) {
            io->last_read = px_io_now();
            if (io->readcb != NULL)
                io->readcb(io, io->arg);
        }
        if (ev != 0) { /* after the bytes that came before it, as on a plain socket */
            if (!io->freed)
                px_io_event(io, ev | PX_IO_READING);
            return;
        }
        if (got < want)
            break; /* waiting for the socket (or out of memory) */
    }
    /* A write that waited for incoming data may go on now that records were read. */
    if (tried && tls->wr_want == PX_IO_TLS_WANT_READ && !io->freed && !io->done) {
        tls->wr_want = PX_IO_TLS_GO;
        px_io_tls_do_write(io);
    }
}

/* The event fired (or was activated) on a TLS px_io. */
static void px_io_tls_ev(px_io_t *io, short what)
{
    if (what & EV_WRITE)
        io->can_write = 1;
    if (what & EV_READ)
        io->can_read = 1;
    if (io->done)
        return;
    if (io->tls->handshaking && px_io_tls_handshake(io) <= 0)
        return;
    if (io->freed || io->done)
        return;
    px_io_tls_do_write(io);
    if (io->freed)
        return;
    if (io->kick_read) {
        /* A resumed reader: bytes already buffered are its first. */
        io->kick_read = 0;
        if (io->reading && evbuffer_get_length(io->in) > 0 && io->readcb != NULL)
            io->readcb(io, io->arg);
    }
    if (io->reading && !io->freed)
        px_io_tls_do_read(io);
}
