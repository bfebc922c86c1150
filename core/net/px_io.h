/*
 * px_io.h: buffered, non-blocking socket I/O on one edge-triggered event.
 *
 * Why not libevent's bufferevents: they ask the kernel how much is readable before every read
 * (an ioctl), read at most 4 KiB at a time, and never write at once: write interest is added,
 * the loop goes round, the write happens, and interest is removed again (two epoll_ctl calls
 * per response). A px_io registers its socket once, for reading and writing, edge-triggered,
 * and never touches epoll again: it reads until a short read says the socket is empty, and
 * writes in the same loop iteration the data was queued in.
 *
 * Ownership: the px_io owns its socket and its two evbuffers; px_io_free() closes and frees
 * them. Callbacks may call px_io_free() on their own px_io: the free is then completed when
 * the callback returns.
 *
 * Callback contract:
 *  - readcb: new bytes are in px_io_input(), or reading was re-enabled with bytes still
 *    buffered. Called only while reading is enabled.
 *  - writecb: a write moved bytes and px_io_output() now holds at most the write low-water
 *    mark (0 by default: it is empty).
 *  - eventcb: PX_IO_CONNECTED; PX_IO_EOF (the peer closed its side; any bytes that came with
 *    it were given to readcb first); PX_IO_ERROR (px_io_error() is the errno); PX_IO_TIMEOUT
 *    with PX_IO_READING or PX_IO_WRITING. After EOF or an error no further events come.
 *
 * TLS: px_io_start_tls() (client) or px_io_accept_tls() (server) gives a px_io an SSL object.
 * The socket keeps its one edge-triggered event; OpenSSL reads and writes it, and its
 * SSL_ERROR_WANT_READ / SSL_ERROR_WANT_WRITE clear can_read / can_write like EAGAIN does. Each
 * direction remembers what its last SSL call waits for, so an SSL_write that wants to read
 * waits for readability and an SSL_read that wants to write waits for writability. Reading
 * goes on until OpenSSL wants the socket (no short-read shortcut: a record may hold more than
 * one read took), which also drains data OpenSSL holds (SSL_pending). Output leaves as
 * SSL_write of the output buffer's first segment, in place (SSL_MODE_ENABLE_PARTIAL_WRITE |
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER: a retry sees the same bytes at the same or a new
 * address); input lands directly in reserved evbuffer space; the only copies are OpenSSL's own
 * records. The callbacks keep their contract; only these differ:
 *  - PX_IO_CONNECTED comes after the handshake (and the write timeout bounds connect and
 *    handshake together; a server's owner bounds its handshake with its own timer);
 *  - a handshake failure (certificate verification, hostname, protocol) is PX_IO_ERROR |
 *    PX_IO_WRITING with px_io_tls_error() saying why; a TLS-level failure later is
 *    PX_IO_ERROR with a reason too; socket errors keep px_io_error() only;
 *  - after the handshake, a peer that closes without close_notify is PX_IO_EOF, as on a plain
 *    socket (HTTP framing tells whether what came was complete);
 *  - px_io_free() and px_io_shutdown_write() send close_notify, best effort: one
 *    non-blocking try, never waited for (none after a fatal error).
 * A plain px_io pays one pointer test per wake-up for all this.
 */
#ifndef PX_IO_H
#define PX_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct evbuffer;
typedef struct px_io_s px_io_t;

enum {
    PX_IO_READING = 0x01,
    PX_IO_WRITING = 0x02,
    PX_IO_EOF = 0x10,
    PX_IO_ERROR = 0x20,
    PX_IO_TIMEOUT = 0x40,
    PX_IO_CONNECTED = 0x80,
};

typedef void (*px_io_cb)(px_io_t *io, void *arg);
typedef void (*px_io_event_cb)(px_io_t *io, short what, void *arg);

/* Wrap a connected non-blocking socket (or one to connect with px_io_connect()). Reading
 * starts disabled. Returns NULL when out of memory (the socket is then not closed). */
px_io_t *px_io_new(struct event_base *base, int fd);

/* Start a non-blocking connect; the result comes as PX_IO_CONNECTED or PX_IO_ERROR (never
 * from within this call). The write timeout bounds the connect. Returns -1 with errno only
 * when the connect could not even be attempted. sa == NULL: the socket is connected already
 * (a socketpair); PX_IO_CONNECTED comes from the loop all the same. */
int px_io_connect(px_io_t *io, const struct sockaddr *sa, socklen_t len);

void px_io_free(px_io_t *io);

struct ssl_st;
/* Make io a TLS client connection over its socket: call after px_io_new(), before or after
 * px_io_connect() (or on a connected socket). ssl is configured by the caller (context, SNI,
 * verification) and owned by io from here on, freed with it; on failure (-1: out of memory)
 * the caller still owns it. The handshake starts when the socket is connected, from the loop;
 * PX_IO_CONNECTED reports its end. */
int px_io_start_tls(px_io_t *io, struct ssl_st *ssl);

/* The server side of px_io_start_tls(): io is an accepted socket; ssl comes from a server
 * context and is owned by io from here on (on failure, -1, the caller still owns it). The
 * handshake starts from the loop; PX_IO_CONNECTED reports its end, PX_IO_ERROR | PX_IO_WRITING
 * its failure (px_io_tls_error() says why). Reading must be enabled for the handshake's end to
 * be followed by readcb. */
int px_io_accept_tls(px_io_t *io, struct ssl_st *ssl);

/* The SSL object of a TLS px_io once its handshake is done (borrowed, valid until
 * px_io_free()); NULL on a plain px_io or while the handshake runs. */
struct ssl_st *px_io_ssl(const px_io_t *io);

/* 1 when io speaks TLS (px_io_start_tls or px_io_accept_tls was called), handshake done or not. */
int px_io_is_tls(const px_io_t *io);

/* 1 when a TLS px_io has received any byte from its peer: one that connects and closes (or
 * waits) without sending one is a probe, not a failed TLS client. */
int px_io_tls_heard(const px_io_t *io);

/* Why a TLS px_io failed: "certificate verify failed: hostname mismatch", "TLS handshake
 * failed: wrong version number", ...; NULL on a plain px_io or when the failure was a socket
 * error (px_io_error()). Valid until px_io_free(). */
const char *px_io_tls_error(const px_io_t *io);

void px_io_setcb(px_io_t *io, px_io_cb readcb, px_io_cb writecb, px_io_event_cb eventcb, void *arg);

struct evbuffer *px_io_input(px_io_t *io);
struct evbuffer *px_io_output(px_io_t *io);
int px_io_error(const px_io_t *io);

/* Bytes of output the socket has accepted since px_io_new(): what write() took on a plain
 * socket, what SSL_write() took on TLS (application bytes; handshake records do not count).
 * Unchanged across a failure means not one byte of what was queued since left pyxis: on TLS
 * no complete record of it was written, and a peer cannot read a partial one. */
uint64_t px_io_sent(const px_io_t *io);

/* Enable or pause reading. Pausing is free: the kernel's buffer fills and TCP pushes back.
 * Enabling runs readcb from the loop (not from this call) when bytes are buffered or the
 * socket may have more. */
void px_io_read_enable(px_io_t *io);
void px_io_read_disable(px_io_t *io);

/* Stop reading while the input buffer holds `high` bytes or more (0: no limit). */
void px_io_set_read_high(px_io_t *io, size_t high);
/* Call writecb when the output drains to `low` bytes or fewer (default 0). */
void px_io_set_write_low(px_io_t *io, size_t low);

/* Idle timeouts in milliseconds (0: none), counted from now: reading times out when reading
 * is enabled and nothing arrives for read_ms; writing when output is pending and nothing
 * leaves for write_ms. */
void px_io_set_timeouts(px_io_t *io, uint64_t read_ms, uint64_t write_ms);

/* Run readcb from the loop even if nothing new arrived (a pipelined request waiting in the
 * input buffer). */
void px_io_schedule_read(px_io_t *io);

/* Stop sending after the output is flushed: shutdown(SHUT_WR) once it is empty. */
void px_io_shutdown_write(px_io_t *io);

#endif
