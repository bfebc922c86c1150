/*
 * px_txn.h: transactions. See px_txn-t.h for ownership.
 *
 * The downstream connection creates a txn for each request head and calls px_txn_start();
 * from then on the txn drives the exchange (route, local reply or upstream) and calls its
 * downstream's done() exactly once when the whole response is queued or the exchange has
 * failed. The connection then calls px_txn_finish() (access log, free).
 */
#ifndef PX_TXN_H
#define PX_TXN_H

#include "px_txn-t.h"

/* A fresh txn for downstream d (borrowed until detached) on listener `listener` of view wg,
 * with its pool; NULL when out of memory. */
px_txn_t *px_txn_create(px_down_t *d, px_worker_t *w, px_wgen_t *wg, size_t listener);

/* Route the parsed request and start answering it. */
void px_txn_start(px_txn_t *t);

/* Queue a local reply (status, short text body) and complete the txn. Only before any response
 * byte was queued; later failures use px_txn_fail(). `cause` goes to the error log for 4xx
 * replies worth noting and for every 5xx. */
void px_txn_local_reply(px_txn_t *t, int status, const char *cause);

/* Send the local reply a filter prepared with respond() (through the response filters of the
 * filters before it). */
void px_txn_reply_from_filter(px_txn_t *t);

/* pyxis_api_t.req_body_read: 1 when the body will be read (the filter pauses; done runs when
 * it is), 0 when the request has none, -1 outside on_request_headers. */
int px_txn_body_read_request(px_txn_t *t, uint64_t max, pyxis_body_fn done, void *arg);

/* The exchange failed: a local reply when nothing was sent yet (status), else the client
 * connection is closed so the truncated response cannot look complete. */
void px_txn_fail(px_txn_t *t, int status, const char *cause);

/* Read the whole request body into t->req_full, then call done(t, NULL) (the proxy's replay
 * buffer for retries). ahead > 0: a body longer than that is no error: reading stops before
 * the bytes that would pass it, and done is called with t->req_state still PX_TXN_REQ_BODY,
 * t->req_full holding what was read and t->req_body ready to pump on from there. */
void px_txn_read_whole_body(px_txn_t *t, uint64_t ahead, pyxis_body_fn done);

/* Events from the downstream connection. */
void px_txn_client_readable(px_txn_t *t);
void px_txn_client_writable(px_txn_t *t);
void px_txn_client_timeout(px_txn_t *t, int reading);
void px_txn_client_gone(px_txn_t *t, const char *cause);

/* Called by the connection after its done(): access log, release, free. */
void px_txn_finish(px_txn_t *t);

/* Free a txn that never completed (its connection is going away). Does not touch the
 * connection. */
void px_txn_abort(px_txn_t *t);

/* The standard reason phrase for a status ("Bad Gateway"). */
const char *px_http_reason(int status);

/* Free the txn's resources and pool, nothing else. */
void px_txn_free(px_txn_t *t);

#endif
