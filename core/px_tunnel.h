/*
 * px_tunnel.h: HTTP/1.1 Upgrade passthrough (WebSocket): the handshake checks and the byte
 * relay after 101 Switching Protocols.
 *
 * A request asks for an upgrade with Connection: upgrade and Upgrade; when its route lets
 * every protocol it names through (route `upgrade`), px_proxy forwards both and marks the txn
 * `upgrading`. A 101 from the upstream is then checked (px_tunnel_accept_101), goes through
 * the response-headers filters like any head, and px_tunnel_start() sends it to the client
 * and turns the exchange into a tunnel: bytes are moved (never copied) between the two
 * connections' evbuffers, each direction stops reading while the other side's output holds
 * PX_TUNNEL_HIGH bytes, an EOF on one side becomes a half-close (shutdown(SHUT_WR), or
 * close_notify on TLS) of the other, and the tunnel ends when both directions are done, on an
 * error, on the route's tunnel_idle_timeout, or on a drain deadline. The txn lives until
 * then: it ends with one access-log line (status 101) and both connections closed; neither is
 * ever reused.
 */
#ifndef PX_TUNNEL_H
#define PX_TUNNEL_H

#include "px_http1-t.h"
#include "px_txn-t.h"

/* The next protocol of an Upgrade field value (RFC 9110 section 7.8: a list of
 * protocol-name ["/" protocol-version], both tokens), from *pos on. Returns 1 with *name (the
 * protocol-name, borrowed from value) and *pos moved past it; 0 at the end of the list (empty
 * elements are skipped); -1 when the element is malformed. */
int px_tunnel_next_protocol(px_str_t value, size_t *pos, px_str_t *name);

/* Does t's request ask for an upgrade its route lets through? A GET without a body, HTTP/1.1,
 * Connection: upgrade, and every protocol of its Upgrade fields in route->upgrades. */
int px_tunnel_wanted(const px_txn_t *t);

/* The upstream answered 101 to t: NULL when the switch is acceptable (t->switching set, its
 * Upgrade value kept for the client), else the reason it is a 502 (a 101 to a request that did
 * not ask for an upgrade, or one without an Upgrade naming a protocol the request asked for). */
const char *px_tunnel_accept_101(px_txn_t *t, const px_h1_response_t *resp);

/* The 101 passed the response filters: write it to the client and relay bytes both ways. The
 * txn ends with the tunnel (access log, both connections closed). */
void px_tunnel_start(px_txn_t *t);

/* A worker drains or the tunnel's configuration generation was replaced: close it within ms
 * at the latest (0: now). */
void px_tunnel_drain(px_txn_t *t, uint64_t ms);

#endif
