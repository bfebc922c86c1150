#!/usr/bin/python3
# h2-server.py: one HTTP/2 server connection (python3-h2) on fd 0, for PxTest::Backend->h2.
#
#   h2-server.py CONN_ID NOTES_FILE STATE_DIR MAX_STREAMS [CERT KEY]
#
# With CERT and KEY the connection is TLS and offers h2 by ALPN; else h2c (prior knowledge).
# Every complete request is answered 200 with x-conn-id, x-stream-id and a JSON body: method,
# path, authority, headers and trailers (lists of [name, value]) and body. Request fields steer
# it: x-delay-ms (answer later; other streams go on meanwhile), x-cl: 1 (send content-length),
# x-resp-trailers: name=value (send a trailers HEADERS frame). Paths: /reset (RST_STREAM
# INTERNAL_ERROR once the head is in), /goaway-refuse... (the first time for that path in
# STATE_DIR: GOAWAY with last-stream-id below this stream, then close), /goaway-fail (GOAWAY with last-stream-id = this
# stream, then close without answering).
# Notes: "conn N stream S METHOD PATH", "conn N streams K" when K streams are open at once (each
# new maximum).
import json
import os
import select
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings


def note(path, text):
    with open(path, "a") as f:
        f.write(text + "\n")


def main(argv):
    conn_id, notes, state, max_streams = argv[0], argv[1], argv[2], int(argv[3])
    sock = socket.socket(fileno=os.dup(0))
    if len(argv) > 5:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(argv[4], argv[5])
        ctx.set_alpn_protocols(["h2"])
        sock = ctx.wrap_socket(sock, server_side=True)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
        client_side=False, header_encoding="utf-8", validate_inbound_headers=True))
    conn.initiate_connection()
    conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_streams})
    sock.sendall(conn.data_to_send())
    reqs, due, top, closing = {}, [], 0, False

    def answer(sid):
        r = reqs.pop(sid, None)
        if r is None:
            return
        h = dict(r["headers"])
        body = json.dumps({"method": h.get(":method"), "path": h.get(":path"),
                           "authority": h.get(":authority"),
                           "headers": [[n, v] for n, v in r["headers"] if not n.startswith(":")],
                           "trailers": r["trailers"], "body": r["body"].decode("latin-1")}).encode()
        out = [(":status", "200"), ("content-type", "application/json"), ("x-conn-id", conn_id),
               ("x-stream-id", str(sid))]
        if h.get("x-cl") == "1":
            out.append(("content-length", str(len(body))))
        tr = h.get("x-resp-trailers")
        try:
            conn.send_headers(sid, out)
            conn.send_data(sid, body, end_stream=not tr)
            if tr:
                n, v = tr.split("=", 1)
                conn.send_headers(sid, [(n, v)], end_stream=True)
        except Exception as e:  # the stream was reset meanwhile
            note(notes, "conn %s stream %d not answered: %s" % (conn_id, sid, e))

    while True:
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
        if closing:
            sock.close()
            return 0
        now = time.time()
        wait = min([d[0] for d in due] + [now + 5]) - now
        if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
            ready, _, _ = select.select([sock], [], [], max(wait, 0))
        else:
            ready = [sock]
        if ready:
            try:
                chunk = sock.recv(65536)
            except (ConnectionError, ssl.SSLError):
                return 0
            if not chunk:
                return 0
            for ev in conn.receive_data(chunk):
                if isinstance(ev, h2.events.RequestReceived):
                    sid = ev.stream_id
                    reqs[sid] = {"headers": list(ev.headers), "body": b"", "trailers": []}
                    h = dict(ev.headers)
                    if len(reqs) > top:
                        top = len(reqs)
                        note(notes, "conn %s streams %d" % (conn_id, top))
                    path = h.get(":path")
                    if path == "/reset":
                        note(notes, "conn %s stream %d reset" % (conn_id, sid))
                        conn.reset_stream(sid, 2)
                        reqs.pop(sid)
                    elif ("/goaway-refuse" in path and
                          not os.path.exists(state + "/goaway" + path.replace("/", "_"))):
                        open(state + "/goaway" + path.replace("/", "_"), "w").close()
                        note(notes, "conn %s stream %d goaway below it" % (conn_id, sid))
                        conn.close_connection(0, last_stream_id=sid - 2)
                        closing = True
                    elif path == "/goaway-fail":
                        note(notes, "conn %s stream %d goaway at it" % (conn_id, sid))
                        conn.close_connection(0, last_stream_id=sid)
                        closing = True
                elif isinstance(ev, h2.events.DataReceived):
                    if ev.stream_id in reqs:
                        reqs[ev.stream_id]["body"] += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.TrailersReceived):
                    if ev.stream_id in reqs:
                        reqs[ev.stream_id]["trailers"] = [[n, v] for n, v in ev.headers]
                elif isinstance(ev, h2.events.StreamEnded):
                    sid = ev.stream_id
                    r = reqs.get(sid)
                    if r is None:
                        continue
                    h = dict(r["headers"])
                    note(notes, "conn %s stream %d %s %s" % (conn_id, sid, h.get(":method"),
                                                             h.get(":path")))
                    delay = int(h.get("x-delay-ms", "0")) / 1000.0
                    due.append((time.time() + delay, sid))
                elif isinstance(ev, h2.events.StreamReset):
                    reqs.pop(ev.stream_id, None)
                    note(notes, "conn %s stream %d reset by peer" % (conn_id, ev.stream_id))
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    return 0
        now = time.time()
        for d in sorted(due):
            if d[0] <= now:
                due.remove(d)
                answer(d[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
