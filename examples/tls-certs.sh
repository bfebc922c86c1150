#!/bin/sh
# tls-certs.sh: make the test certificates examples/tls.yaml uses, with openssl.
#
#   examples/tls-certs.sh [DIR]        # default: examples/tls/ (ignored by git)
#
# A throwaway CA and, signed by it:
#   server.pem / server.key   localhost, 127.0.0.1        (the listeners' default certificate)
#   api.pem / api.key         api.example.test, *.api.example.test   (chosen by SNI)
#   client.pem / client.key   CN=web, URI:spiffe://example.test/ns/default/sa/web,
#                             DNS:web.internal            (a client or mesh certificate)
# Keys are ECDSA P-256, unencrypted (pyxis does not read encrypted keys); certificates last 30
# days. For your own machine only: never ship these keys, never trust this CA elsewhere.
set -eu
dir=${1:-$(dirname "$0")/tls}
mkdir -p "$dir"
cd "$dir"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.pem -days 30 -subj /CN=pyxis-example-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
issue() { # NAME CN SAN
    openssl req $ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" \
        -addext "subjectAltName=$3" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
        -copy_extensions copy -out "$1.pem" 2>/dev/null
    rm -f "$1.csr"
}
issue server localhost "DNS:localhost,IP:127.0.0.1"
issue api api.example.test "DNS:api.example.test,DNS:*.api.example.test"
issue client web "URI:spiffe://example.test/ns/default/sa/web,DNS:web.internal"
chmod 600 ./*.key
echo "certificates in $dir"
