/*
 * px_route.h: matching a request to one of its listener's routes.
 */
#ifndef PX_ROUTE_H
#define PX_ROUTE_H

#include "px_txn-t.h"

/* Set t->host: the request's authority (absolute-form target, else Host) without the port,
 * lowercased, in the txn pool. Returns -1 when the authority is malformed. */
int px_route_host(px_txn_t *t);

/* The first route of t's listener whose match conditions all hold, or NULL. */
const px_conf_route_t *px_route_match(px_txn_t *t);

#endif
