#!/usr/bin/python3
# grpc-tool.py: a real gRPC client (python3-grpcio, Debian 12) for the tests, without generated
# code: the method is called with raw bytes as the message.
#
#   grpc-tool.py KIND HOST:PORT /pkg.Service/Method [--timeout S] [--ca FILE]
#       [--authority NAME] [-m name=value]...
#
# KIND: unary, client_stream (sends "a", "b", "c"), server_stream, bidi (sends "a", "b").
# Prints one line, "code=NAME details=TEXT" (OK: "code=OK reply=BYTES", replies of a stream
# joined with ","), then "initial NAME=VALUE" and "trailing NAME=VALUE" lines for the
# metadata of a successful call, and exits 0. --ca: TLS to the target, verified with FILE.
import sys

import grpc


def main(argv):
    kind, target, method = argv[0], argv[1], argv[2]
    timeout, ca, authority, meta = 10.0, None, None, []
    i = 3
    while i < len(argv):
        opt, val = argv[i], argv[i + 1]
        i += 2
        if opt == "--timeout":
            timeout = float(val)
        elif opt == "--ca":
            ca = val
        elif opt == "--authority":
            authority = val
        elif opt == "-m":
            meta.append(tuple(val.split("=", 1)))
    opts = [("grpc.ssl_target_name_override", authority)] if authority else []
    if ca:
        with open(ca, "rb") as f:
            ch = grpc.secure_channel(target, grpc.ssl_channel_credentials(f.read()), opts)
    else:
        ch = grpc.insecure_channel(target, opts)
    with ch:
        kw = dict(timeout=timeout, metadata=meta, wait_for_ready=False)
        try:
            if kind == "unary":
                reply, call = ch.unary_unary(method).with_call(b"ping", **kw)
                replies = [reply]
            elif kind == "client_stream":
                reply, call = ch.stream_unary(method).with_call(iter([b"a", b"b", b"c"]), **kw)
                replies = [reply]
            elif kind == "server_stream":
                call = ch.unary_stream(method)(b"ping", **kw)
                replies = list(call)
            elif kind == "bidi":
                call = ch.stream_stream(method)(iter([b"a", b"b"]), **kw)
                replies = list(call)
            else:
                print("unknown call kind %s" % kind)
                return 2
            print("code=OK reply=%s" % ",".join(r.decode("latin-1") for r in replies))
            for k, v in call.initial_metadata():
                print("initial %s=%s" % (k, v))
            for k, v in call.trailing_metadata():
                print("trailing %s=%s" % (k, v))
        except grpc.RpcError as e:
            print("code=%s details=%s" % (e.code().name, e.details()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
