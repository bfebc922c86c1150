/*
 * px_filter.h: running a transaction's filter chain.
 *
 * The txn calls these at fixed points (docs/internals.md, "Filters"): attach after routing,
 * the request-headers phase before the route's action, the response-headers phase before a
 * response head is written, the body phases per chunk, log and detach at the end. Each phase
 * returns:
 *   PX_OK        every filter continued: go on;
 *   PX_AGAIN     a filter paused; `cont` is called from the event loop once it resumes (and
 *                calling the same phase function again then picks up where it stopped);
 *   PX_DECLINED  a filter stopped the chain with a local reply (t->replying is set);
 *   PX_ERROR     a filter failed (logged): answer 500 or abort the response.
 */
#ifndef PX_FILTER_H
#define PX_FILTER_H

#include "px_status-t.h"
#include "px_txn-t.h"

/* Set up t->filters for t->route and call every attach(). PX_ERROR when one failed (the
 * filters attached so far are still detached with the txn). */
px_status_t px_filter_attach(px_txn_t *t);

/* PX_FPHASE_REQ_HEADERS or PX_FPHASE_RESP_HEADERS. */
px_status_t px_filter_headers(px_txn_t *t, px_fphase_t phase, px_fcont_t cont);

/* PX_FPHASE_REQ_BODY (on t->req_chunk) or PX_FPHASE_RESP_BODY (on t->resp_chunk); `last`
 * says the chunk ends the body. */
px_status_t px_filter_body(px_txn_t *t, px_fphase_t phase, int last, px_fcont_t cont);

/* Does a body phase have any filter to run? */
int px_filter_has_body(const px_txn_t *t, px_fphase_t phase);

/* on_log of every reached filter, in written order. */
void px_filter_log(px_txn_t *t);

/* detach of every attached filter, in reverse order. Called once, from px_txn_free(). */
void px_filter_detach(px_txn_t *t);

/* pyxis_api_t.resume / resume_with. */
void px_filter_resume(px_txn_t *t, int status);

#endif
