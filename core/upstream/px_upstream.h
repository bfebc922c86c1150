/*
 * px_upstream.h: choosing an endpoint and attaching a connection to a transaction.
 *
 * While a connection is attached (CONNECTING or ACTIVE), its events go to px_proxy.c; while
 * idle, px_upstream.c watches it and closes it on any event.
 */
#ifndef PX_UPSTREAM_H
#define PX_UPSTREAM_H

#include "px_status-t.h"
#include "px_txn-t.h"
#include "px_upstream-t.h"

/*
 * Attach a connection to t for t->route->upstream: a pooled one unless `fresh`, else a new
 * one. PX_OK: t->uconn is a pooled connection ready to take a request now. PX_AGAIN: t->uconn
 * is connecting; px_proxy_upstream_event() will report BEV_EVENT_CONNECTED or the failure.
 * PX_ERROR: nothing could be attempted; *cause says why.
 */
px_status_t px_upstream_attach(px_txn_t *t, int fresh, const char **cause);

/* Detach uc from its txn: back to its pool when `reusable` (and the pool wants it), else
 * closed. */
void px_upstream_release(px_uconn_t *uc, int reusable);

/* Close every idle connection of a view's pools (the view is retired or the worker drains). */
void px_upstream_close_idle(px_wgen_t *wg);

/* Prepare a view's pools (allocated by the worker). */
void px_upstream_pools_init(px_wgen_t *wg);

#endif
