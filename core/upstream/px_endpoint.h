/*
 * px_endpoint.h: endpoints, host sets and per-generation upstream runtimes (types and the
 * sharing rules in px_endpoint-t.h).
 */
#ifndef PX_ENDPOINT_H
#define PX_ENDPOINT_H

#include "px_endpoint-t.h"
#include "px_worker-t.h"

/* Build gen->uprt, one runtime per upstream of gen->conf, each with the config's endpoints as
 * its host set. Endpoints of `old` (may be NULL) whose upstream name and address match are
 * shared, with their health and outlier state. -1 when out of memory (nothing is left
 * allocated). Main thread. */
int px_uprt_init(px_gen_t *gen, const px_gen_t *old);

/* The endpoint (borrowed) of upstream `upstream` at addr (compared by socket address) in the
 * current host set of old's upstream of that name, or NULL (old may be NULL). Main thread. */
px_ep_t *px_uprt_find_old(const px_gen_t *old, const char *upstream, const px_conf_addr_t *addr);

/* Free gen->uprt (the generation's last reference is gone). Any thread. */
void px_uprt_free(px_gen_t *gen);

/* A new endpoint (one reference) of upstream `upstream` at addr (text copied). NULL when out
 * of memory. */
px_ep_t *px_ep_new(const char *upstream, const px_conf_addr_t *addr);
void px_ep_retain(px_ep_t *ep);
void px_ep_release(px_ep_t *ep);

/* A host set of n entries for rt's upstream: fill e[0..n) (each holding a reference), then
 * px_hostset_seal() it. NULL when out of memory. */
px_hostset_t *px_hostset_new(size_t n);
/* Finish a filled set: the Maglev table when rt balances by hash. -1 when out of memory. */
int px_hostset_seal(const px_uprt_t *rt, px_hostset_t *hs);
void px_hostset_release(px_hostset_t *hs);

/* Make hs (its reference handed over) rt's host set; workers switch to it at their next pick.
 * Main thread. */
void px_uprt_publish(px_uprt_t *rt, px_hostset_t *hs);

/* A reference to rt's current host set, and the version it belongs to. Workers call it when
 * rt->version differs from theirs. */
px_hostset_t *px_uprt_hosts(px_uprt_t *rt, uint64_t *version);

/* May ep take requests at time now (px_time_ms)? Not ejected, and not unhealthy. */
static inline int px_ep_usable(const px_ep_t *ep, uint64_t now)
{
    return atomic_load_explicit(&ep->ejected_until, memory_order_relaxed) <= now &&
           !atomic_load_explicit(&ep->unhealthy, memory_order_relaxed);
}

/* Report an attempt's outcome on ep, one of rt's endpoints (outlier detection: may eject it,
 * logged). Cheap when nothing changes: a success only writes counters that are not zero. */
void px_ep_report(px_uprt_t *rt, const px_hostset_t *hs, px_ep_t *ep, px_ep_outcome_t outcome);

/* Main thread, about once a second: log ejections that ended, and let an endpoint that has
 * stayed in long enough forget one ejection (the next one is shorter again). */
void px_uprt_tick(px_gen_t *gen);

#endif
