"""Encoders (and raw decoders) for the payloads of Lorakeet's reference devices.

The byte layouts are specified in ``SPEC.md`` next to this file; ``lorakeet_payloads.h``
is the C twin of these encoders for firmware, and ``golden_vectors.json`` pins both to
the same bytes. This module is standalone: it imports nothing from the rest of Lorakeet,
so simulators and firmware test rigs can vendor it.

Field values are the integers the firmware has at hand (millimetres, millivolts, tenths
of a degree), not floats, so Python and C agree bit for bit. Out-of-range values raise
``ValueError``; ``None`` marks an optional field the device could not measure.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

BIN_PORT = 10
TRACKER_PORT = 20
LIGHT_STATUS_PORT = 30
LIGHT_COMMAND_PORT = 31

BIN_SIZE = 7
TRACKER_SIZE = 15
LIGHT_STATUS_SIZE = 11

NO_ECHO = 0xFFFF
"""Bin distance sentinel: the ultrasonic sensor got no valid echo."""
NO_TEMPERATURE = -0x8000
"""Bin temperature sentinel: no temperature sensor fitted or it failed."""
NO_HEADING = 0xFFFF
"""Tracker heading sentinel: heading unknown (standing still or no fix)."""

BIN_TILT = 0x01
BIN_FIRE = 0x02
BIN_LOW_BATTERY = 0x04
TRACKER_GPS_FIX = 0x01
TRACKER_IN_MOTION = 0x02
LIGHT_LAMP_ON = 0x01
LIGHT_LAMP_FAULT = 0x01
LIGHT_POWER_FAULT = 0x02

CMD_DIM = 0x01
CMD_SWITCH = 0x02
CMD_INTERVAL = 0x03
INTERVAL_MIN_MINUTES = 1
INTERVAL_MAX_MINUTES = 10_080

_BIN = struct.Struct(">HHhB")
_TRACKER = struct.Struct(">iiHHHB")
_LIGHT = struct.Struct(">BBHIHB")


def _check(name: str, value: int, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name}={value!r} outside [{lo}, {hi}]")
    return value


def _length(data: bytes, size: int, what: str) -> None:
    if len(data) != size:
        raise ValueError(f"{what} is {size} bytes, got {len(data)}")


@dataclass(frozen=True, slots=True)
class BinStatus:
    """Waste-bin fill sensor, fPort 10."""

    distance_mm: int | None
    battery_mv: int
    temperature_dc: int | None
    tilt: bool = False
    fire: bool = False
    low_battery: bool = False


@dataclass(frozen=True, slots=True)
class TrackerStatus:
    """Boat tracker, fPort 20. Position fields mean something only with ``gps_fix``."""

    latitude_e7: int
    longitude_e7: int
    speed_dkmh: int
    heading_deg: int | None
    battery_mv: int
    gps_fix: bool = True
    in_motion: bool = False


@dataclass(frozen=True, slots=True)
class LightStatus:
    """Street-light controller status, fPort 30."""

    lamp_on: bool
    dim_pct: int
    power_dw: int
    energy_wh: int
    voltage_dv: int
    lamp_fault: bool = False
    power_fault: bool = False


@dataclass(frozen=True, slots=True)
class LightCommand:
    """Street-light downlink, fPort 31: any non-empty combination of the three commands."""

    dim_pct: int | None = None
    lamp_on: bool | None = None
    interval_min: int | None = None


def encode_bin(s: BinStatus) -> bytes:
    """The 7-byte fPort 10 payload."""
    distance = NO_ECHO if s.distance_mm is None else _check("distance_mm", s.distance_mm, 0, 0xFFFE)
    temperature = (
        NO_TEMPERATURE
        if s.temperature_dc is None
        else _check("temperature_dc", s.temperature_dc, -0x7FFF, 0x7FFF)
    )
    flags = (
        (BIN_TILT if s.tilt else 0) | (BIN_FIRE if s.fire else 0) | (BIN_LOW_BATTERY if s.low_battery else 0)
    )
    return _BIN.pack(distance, _check("battery_mv", s.battery_mv, 0, 0xFFFF), temperature, flags)


def decode_bin(data: bytes) -> BinStatus:
    """Inverse of :func:`encode_bin` (reserved flag bits are ignored)."""
    _length(data, BIN_SIZE, "bin payload")
    distance, battery, temperature, flags = _BIN.unpack(data)
    return BinStatus(
        None if distance == NO_ECHO else distance,
        battery,
        None if temperature == NO_TEMPERATURE else temperature,
        bool(flags & BIN_TILT),
        bool(flags & BIN_FIRE),
        bool(flags & BIN_LOW_BATTERY),
    )


def encode_tracker(s: TrackerStatus) -> bytes:
    """The 15-byte fPort 20 payload."""
    heading = NO_HEADING if s.heading_deg is None else _check("heading_deg", s.heading_deg, 0, 359)
    flags = (TRACKER_GPS_FIX if s.gps_fix else 0) | (TRACKER_IN_MOTION if s.in_motion else 0)
    return _TRACKER.pack(
        _check("latitude_e7", s.latitude_e7, -900_000_000, 900_000_000),
        _check("longitude_e7", s.longitude_e7, -1_800_000_000, 1_800_000_000),
        _check("speed_dkmh", s.speed_dkmh, 0, 0xFFFF),
        heading,
        _check("battery_mv", s.battery_mv, 0, 0xFFFF),
        flags,
    )


def decode_tracker(data: bytes) -> TrackerStatus:
    """Inverse of :func:`encode_tracker`."""
    _length(data, TRACKER_SIZE, "tracker payload")
    lat, lon, speed, heading, battery, flags = _TRACKER.unpack(data)
    return TrackerStatus(
        lat,
        lon,
        speed,
        None if heading == NO_HEADING else heading,
        battery,
        bool(flags & TRACKER_GPS_FIX),
        bool(flags & TRACKER_IN_MOTION),
    )


def encode_light_status(s: LightStatus) -> bytes:
    """The 11-byte fPort 30 payload."""
    faults = (LIGHT_LAMP_FAULT if s.lamp_fault else 0) | (LIGHT_POWER_FAULT if s.power_fault else 0)
    return _LIGHT.pack(
        LIGHT_LAMP_ON if s.lamp_on else 0,
        _check("dim_pct", s.dim_pct, 0, 100),
        _check("power_dw", s.power_dw, 0, 0xFFFF),
        _check("energy_wh", s.energy_wh, 0, 0xFFFF_FFFF),
        _check("voltage_dv", s.voltage_dv, 0, 0xFFFF),
        faults,
    )


def decode_light_status(data: bytes) -> LightStatus:
    """Inverse of :func:`encode_light_status`."""
    _length(data, LIGHT_STATUS_SIZE, "light status payload")
    state, dim, power, energy, voltage, faults = _LIGHT.unpack(data)
    return LightStatus(
        bool(state & LIGHT_LAMP_ON),
        dim,
        power,
        energy,
        voltage,
        bool(faults & LIGHT_LAMP_FAULT),
        bool(faults & LIGHT_POWER_FAULT),
    )


def encode_light_command(c: LightCommand) -> bytes:
    """The fPort 31 downlink: the given commands in opcode order (2 to 7 bytes)."""
    out = bytearray()
    if c.dim_pct is not None:
        out += bytes((CMD_DIM, _check("dim_pct", c.dim_pct, 0, 100)))
    if c.lamp_on is not None:
        out += bytes((CMD_SWITCH, 1 if c.lamp_on else 0))
    if c.interval_min is not None:
        minutes = _check("interval_min", c.interval_min, INTERVAL_MIN_MINUTES, INTERVAL_MAX_MINUTES)
        out += bytes((CMD_INTERVAL,)) + minutes.to_bytes(2, "big")
    if not out:
        raise ValueError("a light command needs at least one of dim_pct, lamp_on, interval_min")
    return bytes(out)


def decode_light_command(data: bytes) -> LightCommand:
    """Inverse of :func:`encode_light_command`; raises ValueError on a malformed frame."""
    fields: dict[str, int | bool] = {}
    i = 0
    while i < len(data):
        op = data[i]
        size = {CMD_DIM: 1, CMD_SWITCH: 1, CMD_INTERVAL: 2}.get(op)
        if size is None:
            raise ValueError(f"unknown light command opcode 0x{op:02x} at byte {i}")
        arg = data[i + 1 : i + 1 + size]
        if len(arg) != size:
            raise ValueError(f"light command 0x{op:02x} truncated")
        value = int.from_bytes(arg, "big")
        name = {CMD_DIM: "dim_pct", CMD_SWITCH: "lamp_on", CMD_INTERVAL: "interval_min"}[op]
        if name in fields:
            raise ValueError(f"light command 0x{op:02x} repeated")
        fields[name] = value
        i += 1 + size
    if not fields:
        raise ValueError("empty light command")
    dim = fields.get("dim_pct")
    switch = fields.get("lamp_on")
    interval = fields.get("interval_min")
    if switch is not None and switch not in (0, 1):
        raise ValueError(f"switch argument {switch} is not 0 or 1")
    cmd = LightCommand(
        None if dim is None else int(dim),
        None if switch is None else bool(switch),
        None if interval is None else int(interval),
    )
    encode_light_command(cmd)  # range checks
    return cmd
