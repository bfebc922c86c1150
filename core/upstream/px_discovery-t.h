/*
 * px_discovery-t.h: service discovery (DNS A/AAAA, DNS SRV, an endpoints file) and what it
 * finds.
 *
 * Discovery runs on the main thread only. For each upstream with a `discovery` section it keeps
 * the last list of endpoints it found (px_disc_ep_t, sorted by address) and publishes a new host
 * set (px_uprt_publish) when that list changes; workers follow on their next pick.
 */
#ifndef PX_DISCOVERY_T_H
#define PX_DISCOVERY_T_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

/* The longest text of an address: "[" IPv6 "]:" port. */
#define PX_DISC_ADDR_TEXT 56
/* The longest host name (DNS). */
#define PX_DISC_HOST 256

/* One endpoint discovery found. Plain data: copied by value. */
typedef struct {
    struct sockaddr_storage sa;
    socklen_t salen;
    unsigned weight;              /* >= 1 */
    unsigned priority;            /* SRV: the record's priority (lower first); else 0 */
    char text[PX_DISC_ADDR_TEXT]; /* "10.0.0.7:8080", "[::1]:8080" */
    char host[PX_DISC_HOST];      /* the name upstream TLS verifies: the DNS name, the SRV
                                     target, or the file's address; "" = none */
} px_disc_ep_t;

/* Where an endpoints file is wrong: 1-based line and column, and what. */
typedef struct {
    unsigned line;
    unsigned col;
    char msg[160];
} px_epfile_error_t;

/* The largest endpoints file and the most endpoints in one (a bigger one is refused). */
#define PX_EPFILE_MAX_SIZE      (1024 * 1024)
#define PX_EPFILE_MAX_ENDPOINTS 10000

struct px_disc_s;
typedef struct px_disc_s px_disc_t; /* the discovery of one generation (px_discovery.c) */

#endif
