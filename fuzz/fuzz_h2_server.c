/*
 * fuzz_h2_server.c: libFuzzer target for the HTTP/2 server session (px_h2_server.c).
 *
 * Input: the bytes a client sends after the connection preface (which the harness writes
 * first). They go through nghttp2 and our callbacks exactly as on a real connection: a local
 * worker (px_worker_create_local, as `pyxis test-filter` uses) accepts one end of a
 * socketpair with px_h1_conn_accept; the harness writes the input into the other end, runs
 * the worker's loop until nothing moves, then closes its end and checks that the connection
 * and every stream are gone. No network: routes answer locally (`respond`, including the
 * 2xx an extended CONNECT must not get) or go to an "upstream" that px_upstream_connect_hook
 * makes a socketpair with a canned response, so request heads are rebuilt, limits checked,
 * bodies moved and streams reset or finished. ASan/UBSan and the worker's own bookkeeping
 * are the checks; the harness adds that a closed client leaves no connection behind.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "px_conf.h"
#include "px_fuzz.h"
#include "px_h1_server.h"
#include "px_h2_server.h"
#include "px_log.h"
#include "px_upstream.h"
#include "px_worker.h"

/* A response body larger than a small client window (2 KiB). */
#define PX_FUZZ_X16 "xxxxxxxxxxxxxxxx"
#define PX_FUZZ_X256                                                                               \
    PX_FUZZ_X16 PX_FUZZ_X16 PX_FUZZ_X16 PX_FUZZ_X16 PX_FUZZ_X16 PX_FUZZ_X16 PX_FUZZ_X16            \
        PX_FUZZ_X16 PX_FUZZ_X16 PX_FUZZ_X16 PX_FUZZ_X16 PX_FUZZ_X16 PX_FUZZ_X16 PX_FUZZ_X16        \
            PX_FUZZ_X16 PX_FUZZ_X16
#define PX_FUZZ_BIG                                                                                \
    PX_FUZZ_X256 PX_FUZZ_X256 PX_FUZZ_X256 PX_FUZZ_X256 PX_FUZZ_X256 PX_FUZZ_X256 PX_FUZZ_X256     \
        PX_FUZZ_X256

static const char px_fuzz_yaml[] =
    "workers: 1\n"
    "listeners:\n"
    "  - name: h2\n"
    "    listen: 127.0.0.1:1\n"
    "    http2: { enabled: true, max_concurrent_streams: 8, initial_window_size: 1k }\n"
    "    limits: { max_header_size: 2k, max_headers: 16, max_body_size: 4k }\n"
    "    routes:\n"
    "      - match: { path_prefix: /up }\n"
    "        upstream: app\n"
    "      - match: { path: /big }\n"
    "        respond: { status: 200, body: \"" PX_FUZZ_BIG "\" }\n"
    "      - respond: { status: 201, body: \"ok\\n\" }\n"
    "upstreams:\n"
    "  app: { endpoints: [ \"127.0.0.1:1\" ] }\n";

static px_worker_t *px_fuzz_worker;

/* An upstream connection: a socketpair whose far end has sent a response and closed. */
static int px_fuzz_connect(const px_upool_t *p)
{
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nupstrm";
    int sv[2];
    (void)p;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    if (write(sv[1], resp, sizeof(resp) - 1) < 0) {
        /* a full buffer cannot happen on a new socketpair; the request just fails */
    }
    close(sv[1]);
    return sv[0];
}

static int px_fuzz_init(void)
{
    px_conf_error_t errs[4];
    size_t nerrs = 0;
    signal(SIGPIPE, SIG_IGN); /* pyxis closes connections the harness may still write to */
    px_log_open("/dev/null", PX_LOG_ERROR);
    px_conf_t *conf = px_conf_load_string("fuzz.yaml", px_fuzz_yaml, sizeof(px_fuzz_yaml) - 1, 0,
                                          errs, 4, &nerrs);
    PX_CHECK(conf != NULL);
    px_gen_t *gen = px_worker_local_gen(conf);
    PX_CHECK(gen != NULL);
    px_fuzz_worker = px_worker_create_local(gen);
    PX_CHECK(px_fuzz_worker != NULL);
    px_upstream_connect_hook = px_fuzz_connect;
    return 0;
}

/* Run the loop until a pass finds nothing to do, at most `passes` times; read and drop what
 * pyxis wrote to the client so it never blocks on a full socket. */
static void px_fuzz_run(int client, int passes)
{
    char buf[16384];
    for (int i = 0; i < passes; i++) {
        event_base_loop(px_fuzz_worker->base, EVLOOP_NONBLOCK);
        ssize_t n = client >= 0 ? read(client, buf, sizeof(buf)) : -1;
        if (n <= 0 && (client < 0 || n == 0 || errno == EAGAIN) && i > 4)
            break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (px_fuzz_worker == NULL)
        px_fuzz_init();
    int sv[2];
    PX_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    struct sockaddr_in peer = {
        .sin_family = AF_INET, .sin_port = htons(40000), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    px_h1_conn_accept(px_fuzz_worker, px_fuzz_worker->cur, 0, sv[0], (const struct sockaddr *)&peer,
                      sizeof(peer));
    PX_CHECK(write(sv[1], PX_H2_PREFACE, PX_H2_PREFACE_LEN) == PX_H2_PREFACE_LEN);
    size_t off = 0;
    for (int tries = 0; off < len && tries < 64; tries++) {
        ssize_t n = write(sv[1], data + off, len - off);
        if (n > 0)
            off += (size_t)n;
        px_fuzz_run(sv[1], 8);
    }
    px_fuzz_run(sv[1], 64);
    close(sv[1]);
    px_fuzz_run(-1, 64);
    /* The client is gone: its connection, streams and txns must be too. */
    PX_CHECK(px_fuzz_worker->nconns == 0);
    return 0;
}
