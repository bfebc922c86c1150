#!/usr/bin/python3
# grpc-server.py: a real gRPC server (python3-grpcio) for the tests, without generated code:
# messages are raw bytes.
#
#   grpc-server.py PORT_FILE [CERT KEY]
#
# Listens on 127.0.0.1 at a free port (written to PORT_FILE once serving), h2c or TLS.
# /test.Echo/Unary: replies with the request prefixed by "echo:", initial metadata x-echo (the
# request's x-echo metadata) and trailing metadata x-trailer: done. /test.Echo/ClientStream:
# the requests joined with "+". /test.Echo/ServerStream: three replies "N:request".
# /test.Echo/Bidi: each request back as "bidi:request". /test.Echo/NotFound: status NOT_FOUND,
# details "no such thing". /test.Echo/Slow: replies after 5 s.
import sys
import time
from concurrent import futures

import grpc


def md(ctx, name):
    return dict(ctx.invocation_metadata()).get(name, "")


def unary(req, ctx):
    ctx.send_initial_metadata((("x-echo", md(ctx, "x-echo")),))
    ctx.set_trailing_metadata((("x-trailer", "done"),))
    return b"echo:" + req


def client_stream(it, ctx):
    return b"+".join(it)


def server_stream(req, ctx):
    for i in range(3):
        yield b"%d:" % i + req


def bidi(it, ctx):
    for req in it:
        yield b"bidi:" + req


def not_found(req, ctx):
    ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


def slow(req, ctx):
    time.sleep(5)
    return req


def main(argv):
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "NotFound": grpc.unary_unary_rpc_method_handler(not_found),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))
    if len(argv) > 2:
        with open(argv[1], "rb") as c, open(argv[2], "rb") as k:
            creds = grpc.ssl_server_credentials(((k.read(), c.read()),))
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with open(argv[0] + ".tmp", "w") as f:
        f.write(str(port))
    import os
    os.rename(argv[0] + ".tmp", argv[0])
    server.wait_for_termination()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
