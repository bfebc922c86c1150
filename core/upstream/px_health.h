/*
 * px_health.h: active health checks (upstreams.NAME.health_check), run by the main thread.
 *
 * One checker per endpoint of every upstream that has health_check, keyed by the endpoint
 * (px_ep_t): it lives as long as its endpoint stays in its upstream's host set, across reloads,
 * so a reload keeps both the verdict (ep->unhealthy) and the counts of checks passed or failed
 * in a row. Each check is one non-blocking connection on the main thread's event_base (px_io,
 * TLS when the upstream has tls); nothing blocks and no worker is involved. Workers only read
 * ep->unhealthy, with a relaxed load, on every pick (px_ep_usable).
 */
#ifndef PX_HEALTH_H
#define PX_HEALTH_H

#include <stddef.h>

#include "px_worker-t.h"

struct event_base;
typedef struct px_health_s px_health_t;

/* The checkers of a process, on base (borrowed; it outlives them). NULL when out of memory. */
px_health_t *px_health_new(struct event_base *base);

/* Follow gen (borrowed: the caller keeps it, and the generation synced before it, alive until
 * this returns): start checking endpoints that need it, apply changed health_check settings,
 * stop checking endpoints that left, and mark endpoints whose upstream no longer has
 * health_check healthy. Cheap when gen was synced already and no host set moved on. Main
 * thread: after each new generation, and about once a second (host sets may change without a
 * reload). */
void px_health_sync(px_health_t *h, px_gen_t *gen);

/* Stop every check and free h (NULL is fine). Main thread. */
void px_health_free(px_health_t *h);

/* The first status line in buf[0..len): its status code (100..599), 0 when no full line is
 * there yet (and len is under PX_HEALTH_MAX_LINE), or -1 when the line is invalid (*why says
 * what is wrong: static text). Strict: HTTP/1.0 or HTTP/1.1, three digits, CRLF. */
#define PX_HEALTH_MAX_LINE 512
int px_health_status_line(const char *buf, size_t len, const char **why);

#endif
