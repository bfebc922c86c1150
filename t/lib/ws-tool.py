#!/usr/bin/python3
# ws-tool.py: a WebSocket echo server and scripted clients for the tests (python3-websockets,
# asyncio API of websockets 10.4, Debian 12).
#
#   ws-tool.py serve PORTFILE NOTES [CERT KEY]   echo server on 127.0.0.1, port written to
#                                                PORTFILE; NOTES gets one line per event
#   ws-tool.py client URL SCENARIO [ARG] [--ca FILE]
#                                                prints one line per result, exits 0 on success
#
# Server paths: /refuse answers 403 to the handshake; anything else echoes every message. A
# text message "close-please" makes the server close with 4001 "bye".
import asyncio
import http
import os
import ssl
import sys
import time

import websockets


def note(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")


async def serve(portfile, notes, cert=None, key=None):
    ctx = None
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)

    async def refuse(path, headers):
        if path == "/refuse":
            return (http.HTTPStatus.FORBIDDEN, [("Content-Type", "text/plain")],
                    b"refused by the backend\n")
        note(notes, "handshake %s key=%s" % (path, headers.get("Sec-WebSocket-Key", "-")))
        return None

    async def handler(ws, path):
        note(notes, "open %s" % path)
        try:
            async for msg in ws:
                if msg == "close-please":
                    await ws.close(4001, "bye")
                    break
                await ws.send(msg)
        except websockets.ConnectionClosed:
            pass
        note(notes, "closed %s %s" % (path, ws.close_code))

    server = await websockets.serve(handler, "127.0.0.1", 0, process_request=refuse,
                                    max_size=None, ssl=ctx, ping_interval=None)
    port = server.sockets[0].getsockname()[1]
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(portfile + ".tmp", portfile)
    await asyncio.Future()


def connect(url, ca):
    ctx = None
    if url.startswith("wss:"):
        ctx = ssl.create_default_context(cafile=ca)
    return websockets.connect(url, ssl=ctx, max_size=None, open_timeout=10, close_timeout=10,
                              ping_interval=None)


async def echo_once(ws, msg):
    await ws.send(msg)
    got = await asyncio.wait_for(ws.recv(), 10)
    if got != msg:
        raise SystemExit("echo mismatch: %r" % (got[:40],))


async def client(url, scenario, arg, ca):
    if scenario == "echo":
        async with connect(url, ca) as ws:
            await echo_once(ws, "hello")
            print("text ok")
            await echo_once(ws, bytes(range(256)))
            print("binary ok")
            big = os.urandom(int(arg or 4 << 20))
            await echo_once(ws, big)
            print("large ok %d" % len(big))
            pong = await ws.ping(b"p1")
            await asyncio.wait_for(pong, 10)
            print("pong ok")
            await ws.close(1000, "done")
            print("closed %s" % ws.close_code)
    elif scenario == "server-close":
        async with connect(url, ca) as ws:
            await ws.send("close-please")
            try:
                await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed:
                pass
            await asyncio.wait_for(ws.wait_closed(), 10)
            print("closed %s %s" % (ws.close_code, ws.close_reason))
    elif scenario == "many":
        n = int(arg)

        async def one(i):
            async with connect(url, ca) as ws:
                for j in range(5):
                    await echo_once(ws, "m%d-%d" % (i, j))

        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), 60)
        print("many ok %d" % n)
    elif scenario == "idle":
        # Stay silent; report how the tunnel ended (bounded by ARG seconds).
        async with connect(url, ca) as ws:
            await echo_once(ws, "before")
            print("open", flush=True)
            t0 = time.monotonic()
            try:
                await asyncio.wait_for(ws.recv(), float(arg))
                print("unexpected message")
            except websockets.ConnectionClosed:
                print("closed by peer after %.1f" % (time.monotonic() - t0))
            except asyncio.TimeoutError:
                print("still open")
    elif scenario == "status":
        try:
            async with connect(url, ca) as ws:
                print("upgraded")
        except websockets.InvalidStatusCode as e:
            print("status %d" % e.status_code)
    else:
        raise SystemExit("unknown scenario " + scenario)


def main():
    a = sys.argv[1:]
    ca = None
    if "--ca" in a:
        i = a.index("--ca")
        ca = a[i + 1]
        del a[i:i + 2]
    if a[0] == "serve":
        asyncio.run(serve(*a[1:]))
    else:
        asyncio.run(client(a[1], a[2], a[3] if len(a) > 3 else None, ca))


main()
