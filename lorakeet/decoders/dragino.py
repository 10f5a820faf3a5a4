"""Dragino distance sensors, the LGT-92 GPS tracker and the LT-22222-L I/O controller.

Written from the byte layouts in Dragino's user manuals (wiki.dragino.com):

- "LDDS75 - LoRaWAN Distance Detection Sensor User Manual" (firmware v1.0 5-byte frame
  and v1.1.4+ 8-byte frame, the "LDDS75-114" variant);
- "LDDS20 - LoRaWAN Ultrasonic Liquid Level Sensor User Manual" (same frames as LDDS75);
- "LDDS04 - LoRaWAN 4-Channels Distance Detection Sensor User Manual" (v1.0+);
- "LLDS12 - LoRaWAN LiDAR ToF Distance Sensor User Manual" (v1.0+);
- "LGT-92 LoRa GPS Tracker User Manual" (firmware v1.5/v1.6: 11-byte frame, 15 bytes
  with roll/pitch);
- "LT-22222-L LoRa IO Controller User Manual" (firmware v1.x, work modes MOD1-MOD3).

All sensors uplink on f_port 2, big-endian. The distance sensors, LLDS12 and the
LT-22222-L also send a device-status frame on f_port 5 (model, firmware, band,
sub-band, battery). Battery voltage is the low 14 bits of the first two bytes, in mV.

An LDDS75/LDDS20 frame is 4, 5 or 8 bytes; a frame of 11 bytes or more (the other
models' data frames) raises LayoutMismatchError rather than being read at offsets that mean
something else there.

Reading keys: ``temperature`` is the external DS18B20 probe; the LLDS12's internal LiDAR
temperature is ``temperature_1``. LDDS04 channels are ``distance_1``..``distance_4`` (and
``fill_pct_<n>``). LT-22222-L: ``voltage_1/2`` (AVI), ``current_1/2`` (ACI, in A),
``digital_input_1..3``, ``digital_output_1..3`` (1 = high), ``relay_1/2``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from . import bins
from .errors import (
    DecodeError,
    LayoutMismatchError,
    PayloadFormatError,
    TruncatedPayloadError,
    UnsupportedPortError,
)
from .types import Decoder, DecodeResult, DeviceContext, ReadingsBuilder

DATA_PORT = 2
STATUS_PORT = 5
SIBLING_FRAME = 11
"""LDDS04, LLDS12, LHT65 and LT-22222-L data frames are 11 bytes: not an LDDS75/LDDS20 frame."""


def _u16(p: bytes, i: int) -> int:
    return (p[i] << 8) | p[i + 1]


def _s16(p: bytes, i: int) -> int:
    return int.from_bytes(p[i : i + 2], "big", signed=True)


def _s32(p: bytes, i: int) -> int:
    return int.from_bytes(p[i : i + 4], "big", signed=True)


def _u32(p: bytes, i: int) -> int:
    return int.from_bytes(p[i : i + 4], "big")


def _battery(p: bytes) -> float:
    return (_u16(p, 0) & 0x3FFF) / 1000


def _need(p: bytes, n: int, what: str) -> None:
    if len(p) < n:
        raise TruncatedPayloadError(n, len(p), what)


def _trailing(b: ReadingsBuilder, p: bytes, used: int) -> None:
    if len(p) > used:
        b.warn(f"{len(p) - used} trailing byte(s) ignored")


def _guarded(name: str, ports: tuple[int, ...], body: Callable[..., DecodeResult]) -> Decoder:
    """Wrap a decoder body: port check and foreign exceptions -> DecodeError."""

    def decode(payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
        if f_port not in ports:
            raise UnsupportedPortError(f_port, name)
        try:
            return body(bytes(payload), f_port, ctx)
        except DecodeError:
            raise
        except (IndexError, ValueError, struct.error, OverflowError) as exc:
            raise PayloadFormatError(f"{name}: {exc}") from exc

    decode.__name__ = f"decode_{name}"
    decode.__doc__ = f"Decode a {name} uplink (f_port {', '.join(map(str, ports))})."
    return decode


def _device_status(p: bytes) -> DecodeResult:
    """f_port 5: model(1) firmware(2) band(1) sub-band(1) battery mV(2)."""
    _need(p, 7, "Dragino device status")
    b = ReadingsBuilder()
    fw = _u16(p, 1)
    b.add("firmware_version", f"{fw >> 8}.{(fw >> 4) & 0xF}.{fw & 0xF}")
    b.add("battery_voltage", (_u16(p, 5) & 0x3FFF) / 1000)
    _trailing(b, p, 7)
    return b.result()


# --- LDDS75 / LDDS20 -----------------------------------------------------------------


def _checked_distance(
    b: ReadingsBuilder, mm: int, min_mm: int, ctx: DeviceContext, channel: int | None = None
) -> None:
    """Add a distance given in mm unless the sensor flags it missing or invalid."""
    where = "" if channel is None else f" on channel {channel}"
    if mm == 0:
        b.warn(f"No Sensor{where}: distance 0 means no ultrasonic sensor detected")
        return
    if mm < min_mm:
        b.warn(f"invalid distance reading{where}: {mm} mm below the {min_mm} mm minimum")
        return
    if channel is None:
        bins.add_distance(b, mm / 1000, ctx.metadata)
        return
    b.add("distance", mm / 1000, channel)
    pct = bins.fill_pct(mm / 1000, ctx.metadata)
    if pct is not None:
        b.add("fill_pct", pct, channel)


def _ultrasonic(min_mm: int, model: str) -> Callable[[bytes, int, DeviceContext], DecodeResult]:
    def body(p: bytes, f_port: int, ctx: DeviceContext) -> DecodeResult:
        if f_port == STATUS_PORT:
            return _device_status(p)
        n = len(p)
        _need(p, 4, f"{model} frame")
        b = ReadingsBuilder()
        b.add("battery_voltage", _battery(p))
        if n == 4:
            # Not a distance frame; the vendor's reference decoder reports "No Sensor".
            b.warn("No Sensor: 4-byte frame carries no distance reading")
            return b.result()
        if n in (6, 7):
            raise TruncatedPayloadError(8, n, f"{model} v1.1 frame")
        if n >= SIBLING_FRAME:
            raise LayoutMismatchError(
                f"{model}: a frame is 4, 5 or 8 bytes, this one is {n} (the family's 11-byte frame of"
                " another model, such as the LLDS12 or LDDS04?); not read"
            )
        sensor_present = True
        if n >= 8:
            b.add("temperature", _s16(p, 5) / 10)
            sensor_present = p[7] != 0
            _trailing(b, p, 8)
        b.add("interrupt", p[4] != 0)
        if sensor_present:
            _checked_distance(b, _u16(p, 2), min_mm, ctx)
        else:
            b.warn("No Sensor: sensor flag says no ultrasonic sensor is connected")
        return b.result()

    return body


# LDDS75 range 280-7500 mm (readings below 280 mm are invalid); LDDS20 range 20-2000 mm.
decode_ldds75 = _guarded("dragino_ldds75", (DATA_PORT, STATUS_PORT), _ultrasonic(280, "LDDS75"))
decode_ldds20 = _guarded("dragino_ldds20", (DATA_PORT, STATUS_PORT), _ultrasonic(20, "LDDS20"))


# --- LDDS04 ---------------------------------------------------------------------------


def _ldds04(p: bytes, f_port: int, ctx: DeviceContext) -> DecodeResult:
    if f_port == STATUS_PORT:
        return _device_status(p)
    _need(p, 11, "LDDS04 frame")
    b = ReadingsBuilder()
    b.add("battery_voltage", _battery(p))
    for ch in range(1, 5):
        _checked_distance(b, _u16(p, 2 * ch), 1, ctx, ch)
    b.add("interrupt", bool(p[10] & 0x80))
    _trailing(b, p, 11)
    return b.result()


decode_ldds04 = _guarded("dragino_ldds04", (DATA_PORT, STATUS_PORT), _ldds04)


# --- LLDS12 ---------------------------------------------------------------------------

LIDAR_MIN_SIGNAL = 100
LIDAR_OVEREXPOSED = 0xFFFF


def _llds12(p: bytes, f_port: int, ctx: DeviceContext) -> DecodeResult:
    if f_port == STATUS_PORT:
        return _device_status(p)
    _need(p, 11, "LLDS12 frame")
    b = ReadingsBuilder()
    b.add("battery_voltage", _battery(p))
    b.add("temperature", _s16(p, 2) / 10)
    mm, signal = _u16(p, 4), _u16(p, 6)
    if signal < LIDAR_MIN_SIGNAL or signal == LIDAR_OVEREXPOSED:
        b.warn(f"invalid distance reading: LiDAR signal strength {signal} is unreliable")
    else:
        _checked_distance(b, mm, 1, ctx)
    b.add("interrupt", p[8] != 0)
    b.add("temperature", int.from_bytes(p[9:10], "big", signed=True), channel=1)
    _trailing(b, p, 11)
    return b.result()


decode_llds12 = _guarded("dragino_llds12", (DATA_PORT, STATUS_PORT), _llds12)


# --- LGT-92 ---------------------------------------------------------------------------


def _lgt92(p: bytes, f_port: int, ctx: DeviceContext) -> DecodeResult:
    _need(p, 11, "LGT-92 frame")
    b = ReadingsBuilder()
    lat, lon = _s32(p, 0), _s32(p, 4)
    if lat == 0 and lon == 0:
        b.warn("GPS failed to obtain location")
        b.add("gps_fix", False)
    else:
        b.add("gps_fix", True)
        b.add("latitude", lat / 1_000_000)
        b.add("longitude", lon / 1_000_000)
    b.add("alarm", bool(p[8] & 0x40))
    b.add("battery_voltage", (_u16(p, 8) & 0x3FFF) / 1000)
    # p[10]: motion-detection mode (bits 7-6, a setting), LED (bit 5), firmware (bits 4-0).
    b.add("firmware_version", str(160 + (p[10] & 0x1F)))
    used = 11
    if len(p) >= 15:
        used = 15  # roll and pitch (s16 / 100 degrees): no vocabulary counterpart
    _trailing(b, p, used)
    return b.result()


decode_lgt92 = _guarded("dragino_lgt92", (DATA_PORT,), _lgt92)


# --- LT-22222-L -----------------------------------------------------------------------


def _lt22222(p: bytes, f_port: int, ctx: DeviceContext) -> DecodeResult:
    if f_port == STATUS_PORT:
        return _device_status(p)
    _need(p, 11, "LT-22222-L frame")
    b = ReadingsBuilder()
    mode = p[10] & 0x3F
    io = p[8]
    if mode == 1:  # 2ACI + 2AVI
        b.add("voltage", _u16(p, 0) / 1000, 1)
        b.add("voltage", _u16(p, 2) / 1000, 2)
        b.add("current", _u16(p, 4) / 1_000_000, 1)
        b.add("current", _u16(p, 6) / 1_000_000, 2)
        for ch, bit in ((1, 0x08), (2, 0x10), (3, 0x20)):
            b.add("digital_input", 1 if io & bit else 0, ch)
    elif mode == 2:  # double DI counting
        b.add("counter", _u32(p, 0), 1)
        b.add("counter", _u32(p, 4), 2)
    elif mode == 3:  # single DI counting + 2ACI
        b.add("counter", _u32(p, 0), 1)
        b.add("current", _u16(p, 4) / 1_000_000, 1)
        b.add("current", _u16(p, 6) / 1_000_000, 2)
    else:
        b.warn(f"work mode {mode} not decoded; only relay and output states read")
    b.add("relay", bool(io & 0x80), 1)
    b.add("relay", bool(io & 0x40), 2)
    # A set DO bit means the output transistor conducts, i.e. the DO pin reads low.
    for ch, bit in ((1, 0x01), (2, 0x02), (3, 0x04)):
        b.add("digital_output", 0 if io & bit else 1, ch)
    _trailing(b, p, 11)
    return b.result()


decode_lt22222_l = _guarded("dragino_lt22222_l", (DATA_PORT, STATUS_PORT), _lt22222)
