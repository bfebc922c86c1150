#!/usr/bin/python3
# grpc-tool.py: a real gRPC client (python3-grpcio, Debian 12) for the tests, without generated
# code: the method is called with raw bytes as the message.
#
#   grpc-tool.py unary HOST:PORT /pkg.Service/Method [--timeout S]
#
# Prints one line, "code=NAME details=TEXT" (OK: "code=OK reply=BYTES"), and exits 0.
import sys

import grpc


def main(argv):
    kind, target, method = argv[0], argv[1], argv[2]
    timeout = float(argv[4]) if len(argv) > 4 and argv[3] == "--timeout" else 10.0
    if kind != "unary":
        print("unknown call kind %s" % kind)
        return 2
    with grpc.insecure_channel(target) as ch:
        call = ch.unary_unary(method, request_serializer=None, response_deserializer=None)
        try:
            reply = call(b"ping", timeout=timeout, wait_for_ready=False)
            print("code=OK reply=%s" % reply.decode("latin-1"))
        except grpc.RpcError as e:
            print("code=%s details=%s" % (e.code().name, e.details()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
