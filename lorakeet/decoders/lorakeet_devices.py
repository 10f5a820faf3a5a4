"""Decoders for Lorakeet's reference devices (decoders ``lorakeet_bin``, ``lorakeet_tracker``,
``lorakeet_light``).

The byte layouts are specified in ``lorakeet/firmware_payloads/SPEC.md``; the encoders
live in :mod:`lorakeet.firmware_payloads.formats`. This module deliberately does not
import them (decoders depend on nothing outside ``lorakeet.decoders``): the golden
vectors in ``firmware_payloads/golden_vectors.json`` keep both sides in step.

All fields are big-endian. A payload of the wrong length for its port is an error
(shorter: TruncatedPayloadError; longer: PayloadFormatError) because these formats have
no optional tail. Reserved flag bits are ignored with a warning.
"""

from __future__ import annotations

import struct

from .bins import add_distance
from .errors import PayloadFormatError, TruncatedPayloadError, UnsupportedPortError
from .types import DecodeResult, DeviceContext, ReadingsBuilder

BIN_PORT = 10
TRACKER_PORT = 20
LIGHT_STATUS_PORT = 30
LIGHT_COMMAND_PORT = 31

_NO_ECHO = 0xFFFF
_NO_TEMPERATURE = -0x8000
_NO_HEADING = 0xFFFF


_BIN = struct.Struct(">HHhB")
_TRACKER = struct.Struct(">iiHHHB")
_LIGHT = struct.Struct(">BBHIHB")


def _u(p: bytes, i: int, n: int) -> int:
    return int.from_bytes(p[i : i + n], "big")


def _exact(payload: bytes, size: int, what: str) -> None:
    if len(payload) < size:
        raise TruncatedPayloadError(size, len(payload), what)
    if len(payload) > size:
        raise PayloadFormatError(f"{what} is {size} bytes, got {len(payload)}")


def _reserved(b: ReadingsBuilder, what: str, value: int, known: int) -> None:
    extra = value & ~known & 0xFF
    if extra:
        b.warn(f"{what}: reserved bits 0x{extra:02x} set, ignored")


def decode_bin(payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
    """Bin fill sensor, fPort 10: distance (+ fill_pct), battery, temperature, alarms."""
    if f_port != BIN_PORT:
        raise UnsupportedPortError(f_port, "lorakeet_bin")
    _exact(payload, 7, "lorakeet bin payload")
    b = ReadingsBuilder()
    distance, battery, temperature, flags = _BIN.unpack(payload)
    if distance == _NO_ECHO:
        b.warn("distance: sensor reported no valid echo")
    else:
        add_distance(b, distance / 1000, ctx.metadata)
    b.add("battery_voltage", battery / 1000)
    if temperature != _NO_TEMPERATURE:
        b.add("temperature", temperature / 10)
    b.add("tilt_alarm", bool(flags & 0x01))
    b.add("fire_alarm", bool(flags & 0x02))
    b.add("status", "low_battery" if flags & 0x04 else "ok")
    _reserved(b, "flags", flags, 0x07)
    return b.result()


def decode_tracker(payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
    """Boat tracker, fPort 20: position, speed and heading (with a fix), battery, flags."""
    if f_port != TRACKER_PORT:
        raise UnsupportedPortError(f_port, "lorakeet_tracker")
    _exact(payload, 15, "lorakeet tracker payload")
    b = ReadingsBuilder()
    lat, lon, speed, heading, battery, flags = _TRACKER.unpack(payload)
    fix = bool(flags & 0x01)
    if fix:
        b.add("latitude", lat / 1e7)
        b.add("longitude", lon / 1e7)
        b.add("speed", speed / 10)
        if heading != _NO_HEADING:
            b.add("heading", heading)
    b.add("battery_voltage", battery / 1000)
    b.add("gps_fix", fix)
    b.add("in_motion", bool(flags & 0x02))
    _reserved(b, "flags", flags, 0x03)
    return b.result()


def decode_light(payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
    """Street-light controller status, fPort 30 (fPort 31 is our downlink, see
    :func:`decode_light_command`)."""
    if f_port != LIGHT_STATUS_PORT:
        raise UnsupportedPortError(f_port, "lorakeet_light")
    _exact(payload, 11, "lorakeet light status payload")
    b = ReadingsBuilder()
    state, dim, power, energy, voltage, faults = _LIGHT.unpack(payload)
    b.add("lamp_on", bool(state & 0x01))
    b.add("dim_level", dim)
    b.add("power", power / 10)
    b.add("energy", energy / 1000)
    b.add("voltage", voltage / 10)
    b.add("lamp_fault", bool(faults & 0x01))
    b.add("power_fault", bool(faults & 0x02))
    b.add("fault", bool(faults & 0x03))
    _reserved(b, "state", state, 0x01)
    _reserved(b, "faults", faults, 0x03)
    return b.result()


_COMMANDS: dict[int, tuple[str, int]] = {0x01: ("dim_level", 1), 0x02: ("lamp_on", 1), 0x03: ("interval", 2)}


def decode_light_command(payload: bytes) -> dict[str, int | bool]:
    """The street light's fPort 31 downlink as ``{dim_level, lamp_on, interval}`` (the
    interval in seconds), for showing queued or echoed downlinks."""
    out: dict[str, int | bool] = {}
    i = 0
    if not payload:
        raise TruncatedPayloadError(2, 0, "lorakeet light command")
    while i < len(payload):
        op = payload[i]
        if op not in _COMMANDS:
            raise PayloadFormatError(f"unknown light command opcode 0x{op:02x} at byte {i}")
        name, size = _COMMANDS[op]
        if i + 1 + size > len(payload):
            raise TruncatedPayloadError(size, len(payload) - i - 1, f"light command 0x{op:02x}")
        if name in out:
            raise PayloadFormatError(f"light command 0x{op:02x} repeated")
        arg = _u(payload, i + 1, size)
        if name == "dim_level" and arg > 100:
            raise PayloadFormatError(f"dim level {arg} % above 100")
        if name == "lamp_on" and arg > 1:
            raise PayloadFormatError(f"switch argument {arg} is not 0 or 1")
        if name == "interval" and not 1 <= arg <= 10_080:
            raise PayloadFormatError(f"reporting interval {arg} min outside [1, 10080]")
        out[name] = bool(arg) if name == "lamp_on" else arg * 60 if name == "interval" else arg
        i += 1 + size
    return out
