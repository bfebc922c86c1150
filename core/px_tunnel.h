/*
 * px_tunnel.h: HTTP/1.1 Upgrade passthrough (WebSocket) and WebSocket over HTTP/2 (RFC 8441):
 * the handshake checks and the byte relay after 101 Switching Protocols.
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
 *
 * The client side is a px_down_t (px_down-t.h): an HTTP/1.1 connection, or an HTTP/2 extended
 * CONNECT stream (t->ext_connect) whose head px_h2_server.c rebuilt as an HTTP/1.1 upgrade
 * (GET, Connection: upgrade, Upgrade: websocket and a Sec-WebSocket-Key pyxis made, t->ws_key,
 * whose Sec-WebSocket-Accept pyxis checks since the HTTP/2 client cannot). The relay only uses
 * the seam's ops; the codec reports the client's events with px_tunnel_client_*().
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

/* Does t's request ask for an upgrade its route lets through? A GET without a body, HTTP/1.1
 * (or HTTP/2 extended CONNECT), Connection: upgrade, and every protocol of its Upgrade fields
 * in route->upgrades. */
int px_tunnel_wanted(const px_txn_t *t);

/* Make the Sec-WebSocket-Key of an extended CONNECT's upgrade (t->ws_key, pool memory, 24
 * base64 characters of 16 random bytes). 0, or -1 (out of memory, no randomness). */
int px_tunnel_ws_key(px_txn_t *t);

/* The upstream answered 101 to t: NULL when the switch is acceptable (t->switching set, its
 * Upgrade value kept for the client), else the reason it is a 502 (a 101 to a request that did
 * not ask for an upgrade, one without an Upgrade naming a protocol the request asked for, or,
 * with t->ws_key, without the one Sec-WebSocket-Accept that key asks for). */
const char *px_tunnel_accept_101(px_txn_t *t, const px_h1_response_t *resp);

/* The 101 passed the response filters: write it to the client and relay bytes both ways. The
 * txn ends with the tunnel (access log, both connections closed). */
void px_tunnel_start(px_txn_t *t);

/* The client side's events, from its codec once the down op `tunnel` succeeded (px_down-t.h).
 * Each may end the tunnel: the txn is gone when it returns (d->ops->detach was called). */
void px_tunnel_client_readable(px_txn_t *t);
void px_tunnel_client_writable(px_txn_t *t);
void px_tunnel_client_eof(px_txn_t *t);
void px_tunnel_client_failed(px_txn_t *t, const char *cause);

/* A worker drains or the tunnel's configuration generation was replaced: close it within ms
 * at the latest (0: now). */
void px_tunnel_drain(px_txn_t *t, uint64_t ms);

#endif
