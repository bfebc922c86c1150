#!/usr/bin/python3
# h2ws-tool.py: a WebSocket client over HTTP/2 (RFC 8441 extended CONNECT) for the tests, with
# python3-h2 (Debian 12) for the HTTP/2 side and hand-made WebSocket frames (RFC 6455).
#
#   h2ws-tool.py PORT PATH SCENARIO [ARG] [-H name:value ...]
#
# Prints one line per result and exits 0 when the scenario ran to its end. Every wait is
# bounded (10 s). Scenarios:
#   status        the response's status (and "accept" when it carries Sec-WebSocket-Accept)
#   connect       a plain CONNECT (no :protocol) to PATH as authority: its status or reset
#   echo [N]      text, binary of N bytes (default 1 MiB: beyond the windows), ping, close
#   server-close  the server closes (4001); then both END_STREAMs
#   half-close    END_STREAM right after one echo: the server side ends too
#   idle          open, then wait for pyxis to end the stream: "reset CODE" or "ended"
#   reset         one echo, then RST_STREAM CANCEL from the client
import os
import socket
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

DEADLINE = 10


class Tunnel:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        # Outbound checks off: a plain CONNECT without :path is what the "connect" case sends.
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_outbound_headers=False)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        self.flush()
        self.port = port
        self.sid = None
        self.status = None
        self.headers = {}
        self.data = b""
        self.ended = False
        self.reset = None
        self.settings = False
        self.pending = b""

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def pump(self, until):
        """Read and handle events until until() is true; False on timeout or EOF."""
        end = time.time() + DEADLINE
        while not until():
            left = end - time.time()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                buf = self.sock.recv(65536)
            except socket.timeout:
                return False
            if not buf:
                return until()
            try:
                events = self.conn.receive_data(buf)
            except h2.exceptions.ProtocolError:
                # After a GOAWAY python3-h2 takes no more frames: find the reset by hand.
                self.reset = self.raw_reset(buf)
                return until()
            for ev in events:
                if isinstance(ev, h2.events.RemoteSettingsChanged):
                    self.settings = True
                elif isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == self.sid:
                    self.headers = dict(ev.headers)
                    self.status = int(self.headers[":status"])
                elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == self.sid:
                    self.data += ev.data
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == self.sid:
                    self.ended = True
                elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == self.sid:
                    self.reset = ev.error_code
            self.send_pending()
            self.flush()
        return True

    def raw_reset(self, buf):
        """The error code of an RST_STREAM for our stream among the whole frames in buf."""
        while len(buf) >= 9:
            n = int.from_bytes(buf[0:3], "big")
            typ, sid = buf[3], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            if typ == 3 and sid == self.sid and len(buf) >= 13:
                return int.from_bytes(buf[9:13], "big")
            buf = buf[9 + n:]
        return -1

    def open(self, path, extra, protocol="websocket"):
        self.pump(lambda: self.settings)
        ecp = self.conn.remote_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL, 0)
        print("connect-protocol %d" % ecp)
        self.sid = self.conn.get_next_available_stream_id()
        hs = [(":method", "CONNECT")]
        if protocol:
            hs += [(":protocol", protocol), (":scheme", "http"), (":path", path),
                   (":authority", "127.0.0.1:%d" % self.port), ("sec-websocket-version", "13")]
        else:
            hs += [(":authority", path)]
        self.conn.send_headers(self.sid, hs + extra)
        self.flush()
        self.pump(lambda: self.status is not None or self.reset is not None)

    def send_pending(self):
        """Send what the stream's window allows of what is queued."""
        while self.pending and self.reset is None and not self.ended_local():
            n = min(len(self.pending), self.conn.local_flow_control_window(self.sid),
                    self.conn.max_outbound_frame_size)
            if n <= 0:
                return
            self.conn.send_data(self.sid, self.pending[:n])
            self.pending = self.pending[n:]

    def ended_local(self):
        return self.conn.streams[self.sid].closed if self.sid in self.conn.streams else True

    def send_frame(self, opcode, payload):
        mask = os.urandom(4)
        head = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 4096 else \
            (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")
             ).to_bytes(n, "big")
        self.pending += head + mask + masked
        self.send_pending()
        self.flush()

    def frame(self):
        """The next complete server frame (opcode, payload) from the data, or None."""
        d = self.data
        if len(d) < 2:
            return None
        n, off = d[1] & 0x7F, 2
        if n == 126:
            if len(d) < 4:
                return None
            n, off = struct.unpack("!H", d[2:4])[0], 4
        elif n == 127:
            if len(d) < 10:
                return None
            n, off = struct.unpack("!Q", d[2:10])[0], 10
        if len(d) < off + n:
            return None
        self.data = d[off + n:]
        return (d[0] & 0x0F, d[off:off + n])

    def recv(self):
        got = []
        if not self.pump(lambda: got.append(self.frame()) or got[-1] is not None):
            return None
        return got[-1]

    def end_stream(self):
        self.pump(lambda: not self.pending)
        self.conn.end_stream(self.sid)
        self.flush()


def echo(t, opcode, payload, what):
    t.send_frame(opcode, payload)
    f = t.recv()
    if f != (opcode, payload):
        print("%s failed: %r" % (what, f and (f[0], len(f[1]))))
        sys.exit(1)


def main():
    port, path, scenario = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    args = sys.argv[4:]
    extra, arg = [], None
    while args:
        a = args.pop(0)
        if a == "-H":
            k, v = args.pop(0).split(":", 1)
            extra.append((k.strip(), v.strip()))
        else:
            arg = a
    t = Tunnel(port)
    t.open(path, extra, protocol=None if scenario == "connect" else "websocket")
    if t.status is None:
        print("reset %s" % t.reset)
        return
    print("status %d" % t.status)
    if "sec-websocket-accept" in t.headers:
        print("accept")
    for k in ("sec-websocket-protocol", "x-filtered"):
        if k in t.headers:
            print("%s %s" % (k, t.headers[k]))
    if scenario == "status" and t.status == 200:
        return
    if scenario in ("status", "connect") or t.status != 200:
        t.pump(lambda: t.ended or t.reset is not None)
        if t.data:
            print("body %s" % t.data.decode(errors="replace").strip())
        return
    if scenario == "echo":
        echo(t, 1, b"hello", "text")
        print("text ok")
        n = int(arg or 1 << 20)
        echo(t, 2, os.urandom(n), "binary")
        print("binary ok %d" % n)
        t.send_frame(9, b"p1")
        if t.recv() != (10, b"p1"):
            sys.exit("no pong")
        print("pong ok")
        t.send_frame(8, struct.pack("!H", 1000))
        f = t.recv()
        print("closed %d" % struct.unpack("!H", f[1][:2])[0] if f and f[0] == 8 else "no close")
        t.end_stream()
        print("ended" if t.pump(lambda: t.ended or t.reset is not None) and t.ended
              else "reset %s" % t.reset)
    elif scenario == "server-close":
        t.send_frame(1, b"close-please")
        f = t.recv()
        print("closed %d" % struct.unpack("!H", f[1][:2])[0] if f and f[0] == 8 else "no close")
        t.send_frame(8, f[1][:2] if f else b"")
        t.pump(lambda: t.ended or t.reset is not None)
        t.end_stream()
        print("ended" if t.ended else "reset %s" % t.reset)
    elif scenario == "half-close":
        echo(t, 1, b"hello", "text")
        t.end_stream()
        print("ended" if t.pump(lambda: t.ended or t.reset is not None) and t.ended
              else "reset %s" % t.reset)
    elif scenario == "idle":
        start = time.time()
        t.pump(lambda: t.ended or t.reset is not None)
        how = "ended" if t.ended else "reset %s" % t.reset
        print(how + " after %.1f" % (time.time() - start))
    elif scenario == "reset":
        echo(t, 1, b"hello", "text")
        t.conn.reset_stream(t.sid, 8)
        t.flush()
        print("reset sent")


if __name__ == "__main__":
    main()
