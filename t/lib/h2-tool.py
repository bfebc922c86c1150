#!/usr/bin/python3
# h2-tool.py: one HTTP/2 request with prior knowledge (python3-h2), with control over what the
# command-line clients hide: request trailers, and the response's trailers kept apart from its
# head.
#
#   h2-tool.py PORT METHOD PATH [-H name:value]... [-d BODY] [-T name:value]... [--timeout S]
#
# -d sends BODY as DATA (no content-length unless given with -H); -T adds a trailers HEADERS
# frame after it. Prints one JSON object: status, headers and trailers (lists of [name, value]
# in order), body, reset (the RST_STREAM error code, or null), end (the stream ended cleanly),
# frames (the kinds of frames received on the stream, in order: "headers", "data", "trailers").
import json
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events


def main(argv):
    port, method, path = int(argv[0]), argv[1], argv[2]
    headers, trailers, body, timeout = [], [], None, 10.0
    i = 3
    while i < len(argv):
        opt, val = argv[i], argv[i + 1]
        i += 2
        if opt == "-H":
            n, v = val.split(":", 1)
            headers.append((n.strip(), v.strip()))
        elif opt == "-T":
            n, v = val.split(":", 1)
            trailers.append((n.strip(), v.strip()))
        elif opt == "-d":
            body = val.encode()
        elif opt == "--timeout":
            timeout = float(val)
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    req = [(":method", method), (":scheme", "http"), (":authority", "h2.test"), (":path", path)]
    conn.send_headers(sid, req + headers, end_stream=body is None and not trailers)
    if body is not None:
        conn.send_data(sid, body, end_stream=not trailers)
    if trailers:
        conn.send_headers(sid, trailers, end_stream=True)
    sock.sendall(conn.data_to_send())
    out = {"status": None, "headers": [], "trailers": [], "body": "", "reset": None,
           "end": False, "frames": []}
    data = b""
    deadline = time.time() + timeout
    done = False
    while not done and time.time() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        for ev in conn.receive_data(chunk):
            if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                out["frames"].append("headers")
                for n, v in ev.headers:
                    n, v = n.decode(), v.decode()
                    if n == ":status":
                        out["status"] = int(v)
                    else:
                        out["headers"].append([n, v])
            elif isinstance(ev, h2.events.TrailersReceived) and ev.stream_id == sid:
                out["frames"].append("trailers")
                out["trailers"] = [[n.decode(), v.decode()] for n, v in ev.headers]
            elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                out["frames"].append("data")
                data += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                out["end"] = True
                done = True
            elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid:
                out["reset"] = int(ev.error_code)
                done = True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                done = True
        pending = conn.data_to_send()
        if pending:
            sock.sendall(pending)
    out["body"] = data.decode("latin-1")
    print(json.dumps(out))
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
