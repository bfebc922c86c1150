#!/usr/bin/env python3
"""One TLS connection for PxTest::Backend->tls: the accepted socket is fd 0.

tls-conn.py CERT KEY NAME CONN_ID NOTES_FILE [CLIENT_CA]

Makes the server side of the handshake with CERT/KEY (and, with CLIENT_CA, requires a client
certificate that chains to it), then answers HTTP/1.1 requests with
keep-alive like PxTest::Backend->echo: 200, x-backend: NAME, x-conn-id, x-conn-seq, and a body
describing the request (request line, headers, empty line, body). "GET /size/N" answers N
bytes instead. Each event is a line in NOTES_FILE ("sni NAME" when the client sent one,
"handshake ok", "client CN=...", "handshake failed: ...", "got METHOD TARGET LENGTH"), written
under flock like $c->note.
"""
import fcntl
import socket
import ssl
import sys

cert, key, name, conn_id, notes = sys.argv[1:6]
client_ca = sys.argv[6] if len(sys.argv) > 6 else None


def note(text):
    with open(notes, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(text + "\n")


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.sni_callback = lambda sock, server_name, c: note("sni %s" % server_name) if server_name else None
if client_ca:
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(client_ca)
raw = socket.socket(fileno=0)
try:
    s = ctx.wrap_socket(raw, server_side=True)
except (ssl.SSLError, OSError) as e:
    note("handshake failed: %s" % e)
    sys.exit(0)
note("handshake ok")
if client_ca:
    subject = dict(x[0] for x in s.getpeercert().get("subject", ()))
    note("client CN=%s" % subject.get("commonName", ""))


def fill(buf):
    try:
        d = s.recv(65536)
    except (ssl.SSLError, OSError):
        d = b""
    if not d:
        sys.exit(0)
    return buf + d


buf, seq = b"", 0
while True:
    while b"\r\n\r\n" not in buf:
        buf = fill(buf)
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:]]
    h = {k.lower(): v for k, v in headers}
    n = int(h.get("content-length", "0"))
    while len(buf) < n:
        buf = fill(buf)
    body, buf = buf[:n], buf[n:]
    seq += 1
    note("got %s %s %d" % (method, target, n))
    if target.startswith("/size/"):
        out = b"x" * int(target[6:])
    else:
        out = ("%s %s %s\n" % (method, target, version)
               + "".join("%s: %s\n" % hv for hv in headers) + "\n").encode("latin-1") + body
    s.sendall(("HTTP/1.1 200 OK\r\nx-backend: %s\r\nx-conn-id: %s\r\nx-conn-seq: %d\r\n"
               "content-type: text/plain\r\ncontent-length: %d\r\n\r\n"
               % (name, conn_id, seq, len(out))).encode("latin-1") + out)
    if "close" in h.get("connection", "").lower():
        break
try:
    s.unwrap()
except (ssl.SSLError, OSError):
    pass
