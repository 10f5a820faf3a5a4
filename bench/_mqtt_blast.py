"""A fast QoS 0 publisher for benchmarks: pre-encoded MQTT packets written straight to a socket.

paho's publisher manages about 20k msg/s and would share the CPU with the consumer under
test; this one is not the bottleneck, so the figures measure the consumers.
"""

from __future__ import annotations

import socket
import struct


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def _utf8(s: str) -> bytes:
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def connect_packet(client_id: str, keepalive: int = 60) -> bytes:
    """MQTT 3.1.1 CONNECT with a clean session."""
    var = _utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", keepalive)
    body = var + _utf8(client_id)
    return bytes([0x10]) + _varint(len(body)) + body


def publish_packet(topic: str, payload: bytes) -> bytes:
    """A QoS 0 PUBLISH."""
    body = _utf8(topic) + payload
    return bytes([0x30]) + _varint(len(body)) + body


def blast(port: int, messages: list[tuple[str, bytes]], chunk: int = 500) -> None:
    """Publish every message at QoS 0 as fast as the socket takes them, then DISCONNECT."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(connect_packet("bench-blaster"))
        ack = s.recv(4)
        if len(ack) < 4 or ack[0] != 0x20 or ack[3] != 0:
            raise RuntimeError(f"broker refused CONNECT: {ack!r}")
        packets = [publish_packet(t, p) for t, p in messages]
        for i in range(0, len(packets), chunk):
            s.sendall(b"".join(packets[i : i + chunk]))
        s.sendall(b"\xe0\x00")
