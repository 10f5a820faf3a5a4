"""Dingtek DF702 / DF703 waste-bin sensors and the DF555 level sensor.

Written from Dingtek's "DF702&DF703 Waste Bin Sensor Protocol_LoRaWAN" (V2.8, 2021-08-09;
the DF555 uses the same frame, fewer alarms), firmware 1.x. Uplink on f_port 3.

Frame (big-endian unless noted)::

    0      0x80 header
    1      forced bit        2  device type
    3      report type: 0x01 heartbeat, 0x02 alarm, 0x03 parameters
    4      frame length L (whole frame, header and tail included)
    5..    body
    L-1    0x81 tail

Heartbeat / alarm body: height (2, mm: sensor-to-surface distance), GPS flag (1; when 1,
longitude and latitude follow as little-endian float32), temperature (1, signed °C),
alarm bits (1: bit 0 full/level, bit 1 fire, bit 2 fall/tilt, bit 3 low battery),
angle (1, °), reserved (2), frame counter (2), reserved (1).
Parameter body: firmware (2: major, minor), upload interval (1, h), detection interval
(1, min), then thresholds (not readings, not decoded).

The public example frames only exercise the all-clear alarm byte; the alarm bit order
above follows the protocol document and should be checked against a live alarm frame.
"""

from __future__ import annotations

import struct

from . import bins
from .errors import DecodeError, PayloadFormatError, TruncatedPayloadError, UnsupportedPortError
from .types import Decoder, DecodeResult, DeviceContext, ReadingsBuilder

PORT = 3
HEADER = 0x80
TAIL = 0x81
HEARTBEAT, ALARM, PARAMETERS = 0x01, 0x02, 0x03

FULL, FIRE, TILT, LOW_BATTERY = 0x01, 0x02, 0x04, 0x08


def _frame(p: bytes, name: str) -> tuple[int, bytes]:
    """Check header, length and tail; return (report type, frame without trailing bytes)."""
    if len(p) < 5:
        raise TruncatedPayloadError(5, len(p), f"{name} frame header")
    if p[0] != HEADER:
        raise PayloadFormatError(f"{name}: header byte {p[0]:#04x}, expected 0x80")
    length = p[4]
    if length < 7:
        raise PayloadFormatError(f"{name}: frame length {length} too small")
    if len(p) < length:
        raise TruncatedPayloadError(length, len(p), f"{name} frame")
    if p[length - 1] != TAIL:
        raise PayloadFormatError(f"{name}: tail byte {p[length - 1]:#04x}, expected 0x81")
    return p[3], p[:length]


def _data(b: ReadingsBuilder, f: bytes, ctx: DeviceContext, name: str, fire_tilt: bool) -> None:
    gps = f[7] == 1
    pos = 16 if gps else 8
    if len(f) < pos + 9:
        raise TruncatedPayloadError(pos + 9, len(f), f"{name} data frame")
    bins.add_distance(b, ((f[5] << 8) | f[6]) / 1000, ctx.metadata)
    if gps:
        lon, lat = struct.unpack_from("<ff", f, 8)
        b.add("longitude", lon)
        b.add("latitude", lat)
    b.add("temperature", struct.unpack_from("b", f, pos)[0])
    alarms = f[pos + 1]
    b.add("full_alarm", bool(alarms & FULL))
    if fire_tilt:
        b.add("fire_alarm", bool(alarms & FIRE))
        b.add("tilt_alarm", bool(alarms & TILT))
        b.add("tilt", f[pos + 2])
    if alarms & LOW_BATTERY:
        b.warn("low battery alarm")


def _parameters(b: ReadingsBuilder, f: bytes, name: str) -> None:
    if len(f) < 10:
        raise TruncatedPayloadError(10, len(f), f"{name} parameter frame")
    b.add("firmware_version", f"{f[5]}.{f[6]}")
    b.add("interval", f[7] * 3600)


def _make(name: str, fire_tilt: bool) -> Decoder:
    def decode(payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
        if f_port != PORT:
            raise UnsupportedPortError(f_port, name)
        p = bytes(payload)
        try:
            kind, f = _frame(p, name)
            b = ReadingsBuilder()
            if kind in (HEARTBEAT, ALARM):
                _data(b, f, ctx, name, fire_tilt)
            elif kind == PARAMETERS:
                _parameters(b, f, name)
            else:
                raise PayloadFormatError(f"{name}: unknown report type {kind:#04x}")
        except DecodeError:
            raise
        except (IndexError, ValueError, struct.error) as exc:
            raise PayloadFormatError(f"{name}: {exc}") from exc
        if len(p) > len(f):
            b.warn(f"{len(p) - len(f)} trailing byte(s) after the frame tail ignored")
        return b.result()

    decode.__name__ = f"decode_{name}"
    decode.__doc__ = f"Decode a {name} uplink (Dingtek frame, f_port {PORT})."
    return decode


decode_df702 = _make("dingtek_df702", fire_tilt=True)
decode_df703 = _make("dingtek_df703", fire_tilt=True)
decode_df555 = _make("dingtek_df555", fire_tilt=False)
