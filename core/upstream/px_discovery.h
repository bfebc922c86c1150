/*
 * px_discovery.h: service discovery on the main thread (types in px_discovery-t.h), and the
 * endpoints file parser (px_epfile.c, which needs nothing else of the core).
 */
#ifndef PX_DISCOVERY_H
#define PX_DISCOVERY_H

#include "px_discovery-t.h"

struct event_base;
struct px_gen_s;

/*
 * Start discovery for every upstream of gen that has a `discovery` section, on base (the main
 * thread's loop). prev (may be NULL) is the discovery of the generation gen replaces: the last
 * endpoints it found for an upstream of the same name and source are published into gen at
 * once (traffic does not stop across a reload), then prev is stopped and freed. gen must
 * outlive the result: free it (px_disc_free) before releasing gen. NULL when out of memory
 * (prev is then left running).
 */
px_disc_t *px_disc_start(struct event_base *base, struct px_gen_s *gen, px_disc_t *prev);

/* Stop every lookup and watch of d and free it (NULL is fine). Main thread. */
void px_disc_free(px_disc_t *d);

/*
 * Parse an endpoints file: one endpoint per line, "ADDRESS:PORT" or "[IPv6]:PORT" (IP literals
 * only), optionally followed by "weight=N" (1..10000, default 1); "#" starts a comment; blank
 * lines are skipped. Every entry is validated; duplicates are errors. On success returns the
 * number of entries (>= 1) and *out (malloc'd, the caller frees) holds them sorted by address;
 * on error returns -1, *out is NULL and err says where and what.
 */
long px_epfile_parse(const char *buf, size_t len, px_disc_ep_t **out, px_epfile_error_t *err);

/* Order of px_disc_ep_t by address (family, bytes, port): qsort's comparator. */
int px_disc_ep_cmp(const void *a, const void *b);

/* Write sa's "IP:PORT" / "[IPv6]:PORT" into text (PX_DISC_ADDR_TEXT bytes). */
void px_disc_addr_text(const struct sockaddr *sa, char *text);

#endif
