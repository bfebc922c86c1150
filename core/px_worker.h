/*
 * px_worker.h: worker threads. Each runs its own event loop; the main thread talks to it only
 * through px_worker_post_gen() and px_worker_post_cmd(), which never block the worker.
 */
#ifndef PX_WORKER_H
#define PX_WORKER_H

#include "px_worker-t.h"

/* Create and start worker `id`; it switches to `gen` (taking one reference) before serving.
 * main_notify_fd is written to (eventfd) whenever the worker applied a generation or exited.
 * Returns NULL on failure. */
px_worker_t *px_worker_start(unsigned id, px_gen_t *gen, int main_notify_fd);

/* Ask the worker to switch to gen (one reference is handed over with it). The caller must not
 * post again before the worker has applied it (w->applied == gen->generation). */
void px_worker_post_gen(px_worker_t *w, px_gen_t *gen);

/* Post PX_WORKER_CMD_DRAIN or PX_WORKER_CMD_STOP. */
void px_worker_post_cmd(px_worker_t *w, unsigned cmd);

/* Wait for the thread to end and free the worker. */
void px_worker_join(px_worker_t *w);

/*
 * A worker on the calling thread, for `pyxis test-filter`: no thread of its own and no
 * listening sockets. It serves gen (whose reference is handed over; gen->listen_fds is NULL)
 * on connections its owner makes with px_h1_conn_accept(w, w->cur, ...), and the owner runs
 * w->base. Sets px_worker_self for the calling thread. NULL on failure (gen is released).
 */
px_worker_t *px_worker_create_local(px_gen_t *gen);

/* A generation of conf for a local worker: no listening sockets, no access logs, the
 * upstreams' runtime state made; one reference, for px_worker_create_local. conf's reference
 * is handed over. NULL when out of memory (conf released). */
px_gen_t *px_worker_local_gen(px_conf_t *conf);

/* Close a local worker's connections, free its views (modules' worker_exit runs), its
 * event_base and w itself. */
void px_worker_free_local(px_worker_t *w);

/* ---- for code running on the worker --------------------------------------------------------- */

/* The worker running on this thread (NULL on the main thread). */
extern __thread px_worker_t *px_worker_self;

/* Drop one use of a view; a retired view is freed when its last use goes. */
void px_worker_wgen_put(px_worker_t *w, px_wgen_t *wg);

/* Index of the listener bound to addr in view wg, or -1. */
long px_worker_find_listener(const px_wgen_t *wg, const px_conf_addr_t *addr);

/* When draining and no connection is left, end the loop. */
void px_worker_check_drained(px_worker_t *w);

/* The current time as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), cached per second. */
const char *px_worker_date(px_worker_t *w);

/* Release a generation reference (any thread); the last one frees it. */
void px_gen_release(px_gen_t *gen);

#endif
