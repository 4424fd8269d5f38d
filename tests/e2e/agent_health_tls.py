#!/usr/bin/env python3
"""One ttrpc call, grpc.Health/Check, to an agent-protocol-forwarder over mutual TLS.

Written from the ttrpc wire format (10-byte header: length, stream id, type, flags; a Request
message: service=1, method=2, payload=3, timeout_nano=4; a Response: status=1, payload=2) with
Python's own ssl module, so that neither end of the TLS link is our C++ code.

usage: agent_health_tls.py HOST PORT SERVER_NAME CA [CLIENT_CERT CLIENT_KEY]
Prints SERVING and exits 0 when the agent behind the forwarder answers SERVING; exits 1 with
the reason otherwise (a refused handshake, a closed connection, an error status).
"""
import socket
import ssl
import struct
import sys

MSG_REQUEST, MSG_RESPONSE = 1, 2


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field_bytes(number, data):
    return varint(number << 3 | 2) + varint(len(data)) + data


def parse(buf):
    """Top-level fields of a protobuf message: {number: [value, ...]}."""
    fields, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(buf, i)
        elif wire == 2:
            n, i = read_varint(buf, i)
            value, i = buf[i:i + n], i + n
        else:
            raise ValueError("unexpected wire type %d" % wire)
        fields.setdefault(number, []).append(value)
    return fields


def read_varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def main():
    if len(sys.argv) not in (5, 7):
        print(__doc__, file=sys.stderr)
        return 2
    host, port, server_name, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    if len(sys.argv) == 7:
        ctx.load_cert_chain(sys.argv[5], sys.argv[6])
    try:
        with socket.create_connection((host, port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=server_name) as tls:
                request = field_bytes(1, b"grpc.Health") + field_bytes(2, b"Check") + field_bytes(3, b"")
                tls.sendall(struct.pack(">IIBB", len(request), 1, MSG_REQUEST, 0) + request)
                length, stream, kind, _flags = struct.unpack(">IIBB", read_exact(tls, 10))
                body = read_exact(tls, length)
    except (OSError, ssl.SSLError, ConnectionError) as e:
        print("no answer: %s" % e)
        return 1
    if stream != 1 or kind != MSG_RESPONSE:
        print("unexpected frame: stream %d type %d" % (stream, kind))
        return 1
    response = parse(body)
    status = parse(response.get(1, [b""])[0])
    if status.get(1, [0])[0] != 0:
        print("error status %d: %s" % (status[1][0], status.get(2, [b""])[0].decode(errors="replace")))
        return 1
    health = parse(response.get(2, [b""])[0])
    serving = health.get(1, [0])[0]
    print("SERVING" if serving == 1 else "status %d" % serving)
    return 0 if serving == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
