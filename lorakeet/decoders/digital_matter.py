"""Digital Matter Oyster LoRaWAN GPS tracker.

Spec: Digital Matter "Oyster LoRaWAN Integration" (uplink section), firmware 1.x; the
port layout is the same on later Oyster firmware for these three ports. All multi-byte
values are little-endian.

f_port 1, position update (11 bytes)::

    0-3   latitude   int32  x 1e-7 deg
    4-7   longitude  int32  x 1e-7 deg
    8     bit 0 in trip, bit 1 last fix failed, bits 2-7 heading x 5.625 deg
    9     speed      uint8  km/h
    10    battery    uint8  x 0.025 V

When the fix failed the coordinates, speed and heading are the last good (cached) fix:
they are not stored as a new position; ``gps_fix`` is False and a warning says so.

f_port 2, downlink acknowledgement (3 bytes): byte 0 bit 7 accepted, bits 0-6 sequence
number; bytes 1-2 firmware major / minor -> ``firmware_version`` and ``status``.

f_port 3, statistics (11 bytes of packed counters: transmissions, trips, GPS
successes/failures, average fix times, uptime). None of them has a quantity, so the
uplink yields only ``status`` = "stats".
"""

from __future__ import annotations

from .errors import TruncatedPayloadError, UnsupportedPortError
from .types import DecodeResult, DeviceContext, ReadingsBuilder

POSITION_PORT = 1
DOWNLINK_ACK_PORT = 2
STATS_PORT = 3

_SIZES = {POSITION_PORT: 11, DOWNLINK_ACK_PORT: 3, STATS_PORT: 11}


def _position(b: ReadingsBuilder, p: bytes) -> None:
    flags = p[8]
    in_trip, fix_failed = bool(flags & 0x01), bool(flags & 0x02)
    b.add("battery_voltage", p[10] * 25 / 1000)
    b.add("in_motion", in_trip)
    b.add("gps_fix", not fix_failed)
    if fix_failed:
        b.warn("fix failed: the position is the last cached fix and is not stored")
        return
    b.add("latitude", int.from_bytes(p[0:4], "little", signed=True) / 1e7)
    b.add("longitude", int.from_bytes(p[4:8], "little", signed=True) / 1e7)
    b.add("heading", (flags >> 2) * 5.625)
    b.add("speed", p[9])


def _downlink_ack(b: ReadingsBuilder, p: bytes) -> None:
    sequence, accepted = p[0] & 0x7F, bool(p[0] & 0x80)
    b.add("firmware_version", f"{p[1]}.{p[2]}")
    b.add("status", f"downlink {sequence} {'accepted' if accepted else 'rejected'}")


def decode(payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
    """Decode an Oyster position (port 1), downlink ack (port 2) or stats (port 3) uplink."""
    size = _SIZES.get(f_port)
    if size is None:
        raise UnsupportedPortError(f_port, "digital_matter_oyster")
    if len(payload) < size:
        raise TruncatedPayloadError(size, len(payload), f"Oyster port {f_port} uplink")
    b = ReadingsBuilder()
    if f_port == POSITION_PORT:
        _position(b, payload)
    elif f_port == DOWNLINK_ACK_PORT:
        _downlink_ack(b, payload)
    else:
        b.add("status", "stats")
    return b.result()
