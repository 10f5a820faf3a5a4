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

Every frame kind has one length per model (the length byte L): a data frame is 17 bytes,
25 with GPS; a parameter frame 25 on the DF702/DF703, 17 on the DF555. A frame whose length
or GPS flag does not fit (a sibling model's frame, such as the DF701's 18-byte heartbeat) raises
LayoutMismatchError rather than being read at the wrong offsets.

The public example frames only exercise the all-clear alarm byte; the alarm bit order
above follows the protocol document and should be checked against a live alarm frame.
"""

from __future__ import annotations

import struct

from . import bins
from .errors import (
    DecodeError,
    LayoutMismatchError,
    PayloadFormatError,
    TruncatedPayloadError,
    UnsupportedPortError,
)
from .types import Decoder, DecodeResult, DeviceContext, ReadingsBuilder

PORT = 3
HEADER = 0x80
TAIL = 0x81
HEARTBEAT, ALARM, PARAMETERS = 0x01, 0x02, 0x03

FULL, FIRE, TILT, LOW_BATTERY = 0x01, 0x02, 0x04, 0x08
DATA_LENGTH, DATA_GPS_LENGTH = 17, 25


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


def _layout(name: str, what: str, want: int, got: int) -> None:
    # ``got`` is the declared length, already checked against the bytes received and the tail
    if got != want:
        raise LayoutMismatchError(
            f"{name}: a {what} is {want} bytes, this frame declares {got} (another model's frame?); not read"
        )


def _data(b: ReadingsBuilder, f: bytes, ctx: DeviceContext, name: str, fire_tilt: bool) -> None:
    if len(f) < 8:
        raise TruncatedPayloadError(8, len(f), f"{name} data frame")
    if f[7] not in (0, 1):
        raise LayoutMismatchError(f"{name}: GPS flag {f[7]:#04x} is neither 0 nor 1 (another model's frame?)")
    gps = f[7] == 1
    pos = 16 if gps else 8
    _layout(name, "GPS data frame" if gps else "data frame", DATA_GPS_LENGTH if gps else DATA_LENGTH, len(f))
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


def _parameters(b: ReadingsBuilder, f: bytes, name: str, length: int) -> None:
    _layout(name, "parameter frame", length, len(f))
    b.add("firmware_version", f"{f[5]}.{f[6]}")
    b.add("interval", f[7] * 3600)


def _make(name: str, fire_tilt: bool, parameter_length: int) -> Decoder:
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
                _parameters(b, f, name, parameter_length)
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


decode_df702 = _make("dingtek_df702", fire_tilt=True, parameter_length=25)
decode_df703 = _make("dingtek_df703", fire_tilt=True, parameter_length=25)
decode_df555 = _make("dingtek_df555", fire_tilt=False, parameter_length=17)
