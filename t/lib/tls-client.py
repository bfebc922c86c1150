#!/usr/bin/env python3
"""A TLS client that keeps its connection, for tests that act between two requests on it.

tls-client.py PORT CA [SNI]

Connects to 127.0.0.1:PORT, verifies the server against CA (for SNI when given, else without
checking the name), and prints one line: "connected CN=<server certificate's CN> <version>".
Then reads commands from stdin, one per line, and answers each with one line:
  "GET /path"  sends the request on the same connection (keep-alive) and prints
               "<status> <body with newlines as |>"
Exits at EOF on stdin, or prints "error <why>" and exits when something fails.
"""
import socket
import ssl
import sys

port, ca = int(sys.argv[1]), sys.argv[2]
sni = sys.argv[3] if len(sys.argv) > 3 else None


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = sni is not None
try:
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                        server_hostname=sni)
except (ssl.SSLError, OSError) as e:
    out("error %s" % e)
    sys.exit(0)
subject = dict(x[0] for x in s.getpeercert().get("subject", ()))
out("connected CN=%s %s" % (subject.get("commonName", ""), s.version()))

buf = b""
for cmd in sys.stdin:
    method, path = cmd.split()
    s.sendall(("%s %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (method, path, sni or "localhost"))
              .encode("latin-1"))
    try:
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                raise OSError("connection closed")
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        h = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
        n = int(h.get("content-length", "0"))
        while len(buf) < n:
            d = s.recv(65536)
            if not d:
                raise OSError("connection closed")
            buf += d
        body, buf = buf[:n], buf[n:]
    except (ssl.SSLError, OSError) as e:
        out("error %s" % e)
        sys.exit(0)
    out("%s %s" % (lines[0].split(" ")[1], body.decode("latin-1").replace("\n", "|")))
