"""Milesight IoT channel/type TLV payloads, decoded by one table-driven engine.

Devices: EM310-UDL, EM400-UDL, EM400-TLD, EM500-LGT, WS52x (WS523/WS525 smart plugs),
WS202. Written from the "Uplink Data" chapters of Milesight's user guides for those
models (EM310-UDL/EM400-UDL/EM400-TLD/EM500 series/WS52x/WS202 User Guide, documents
V1.0-V1.3, firmware V1.x-V3.x) and the basic-information packet common to the family.

Frame: ``[channel_id][channel_type][value...]`` repeated, values little-endian, uplink
on f_port 85. A value's size is fixed by its (channel, type) pair, so an unknown pair
ends parsing: readings before it are kept with a warning; a frame with no known item
raises. The same pair can mean different things on different models (``04 00`` is the
EM310-UDL's position but the WS202's light state), so each model has its own table:
the shared :data:`COMMON` items plus its model items. One decoder is registered per
model (``milesight_em310_udl`` ...), all built by :func:`make_decoder`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from . import bins
from .errors import UnsupportedPortError
from .items import walk_items
from .types import Decoder, DecodeResult, DeviceContext, ReadingsBuilder

PORT = 85

# Sensor values Milesight reserves: read failure, out of measuring range.
READ_FAILED_16 = 0xFFFF
OUT_OF_RANGE_16 = 0xFFFD

Emit = Callable[[ReadingsBuilder, bytes, DeviceContext], None]


def _le(data: bytes, signed: bool = False) -> int:
    return int.from_bytes(data, "little", signed=signed)


@dataclass(frozen=True, slots=True)
class Item:
    """One (channel, type) row: what it is, how many bytes, how to emit readings."""

    name: str
    size: int
    emit: Emit


def _scalar(quantity: str, size: int, scale: float = 1.0, signed: bool = False) -> Item:
    def emit(b: ReadingsBuilder, data: bytes, ctx: DeviceContext) -> None:
        b.add(quantity, _le(data, signed) * scale)

    return Item(quantity, size, emit)


def _flag(quantity: str, name: str) -> Item:
    def emit(b: ReadingsBuilder, data: bytes, ctx: DeviceContext) -> None:
        b.add(quantity, data[0] != 0)

    return Item(name, 1, emit)


def _ignored(name: str, size: int) -> Item:
    def emit(b: ReadingsBuilder, data: bytes, ctx: DeviceContext) -> None:
        return None

    return Item(name, size, emit)


def _distance_mm(b: ReadingsBuilder, raw: int, ctx: DeviceContext) -> None:
    if raw == READ_FAILED_16:
        b.warn("distance: sensor read failed (ffff)")
    elif raw == OUT_OF_RANGE_16:
        b.warn("distance: out of measuring range (fffd)")
    else:
        bins.add_distance(b, raw / 1000, ctx.metadata)


def _distance(size: int) -> Item:
    """Distance in mm (UINT16); a 3-byte alarm variant carries a trailing status byte."""

    def emit(b: ReadingsBuilder, data: bytes, ctx: DeviceContext) -> None:
        _distance_mm(b, _le(data[0:2]), ctx)

    return Item("distance" if size == 2 else "distance alarm", size, emit)


def _temperature(size: int) -> Item:
    def emit(b: ReadingsBuilder, data: bytes, ctx: DeviceContext) -> None:
        raw = _le(data[0:2], signed=True)
        if raw in (-1, -3):  # ffff / fffd read as INT16
            b.warn("temperature: sensor read failed or out of range")
        else:
            b.add("temperature", raw / 10)

    return Item("temperature" if size == 2 else "temperature alarm", size, emit)


def _firmware(b: ReadingsBuilder, data: bytes, ctx: DeviceContext) -> None:
    # Milesight writes the bytes as hex digits: ``01 14`` is V1.14.
    b.add("firmware_version", f"{data[0]:x}.{data[1]:x}")


Table = Mapping[tuple[int, int], Item]

COMMON: Table = {
    (0xFF, 0x01): _ignored("protocol version", 1),
    (0xFF, 0x09): _ignored("hardware version", 2),
    (0xFF, 0x0A): Item("firmware version", 2, _firmware),
    (0xFF, 0x0B): _ignored("power on", 1),
    (0xFF, 0x0F): _ignored("device class", 1),
    (0xFF, 0x16): _ignored("serial number", 8),
    (0x01, 0x75): _scalar("battery", 1),
}

_TILT = _flag("tilt_alarm", "device position")

EM310_UDL: Table = {**COMMON, (0x03, 0x82): _distance(2), (0x04, 0x00): _TILT}

EM400: Table = {
    **COMMON,
    (0x03, 0x67): _temperature(2),
    (0x04, 0x82): _distance(2),
    (0x05, 0x00): _TILT,
    (0x83, 0x67): _temperature(3),
    (0x84, 0x82): _distance(3),
}

EM500_LGT: Table = {**COMMON, (0x03, 0x94): _scalar("illuminance", 4)}

WS52X: Table = {
    **COMMON,
    (0x03, 0x74): _scalar("voltage", 2, 0.1),
    (0x04, 0x80): _scalar("power", 4),
    (0x05, 0x81): _scalar("power_factor", 1, 0.01),
    (0x06, 0x83): _scalar("energy", 4, 0.001),  # Wh -> kWh
    (0x07, 0xC9): _scalar("current", 2, 0.001),  # mA -> A
    (0x08, 0x70): _flag("relay", "socket state"),
}

WS202: Table = {
    **COMMON,
    (0x03, 0x00): _flag("occupancy", "PIR"),
    (0x04, 0x00): _flag("daylight", "light state"),
}


def _parse(table: Table, name: str, payload: bytes, ctx: DeviceContext) -> DecodeResult:
    b = ReadingsBuilder()
    return walk_items(
        payload,
        b,
        lambda channel, type_: table.get((channel, type_)),
        lambda item, data, _: item.emit(b, data, ctx),
        name,
        lambda channel, type_: f"unknown channel {channel:02x} type {type_:02x}",
    )


def make_decoder(table: Table, name: str) -> Decoder:
    """A Decoder for one model's (channel, type) table."""

    def decode(payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
        if f_port != PORT:
            raise UnsupportedPortError(f_port, name)
        return _parse(table, name, bytes(payload), ctx)

    decode.__name__ = f"decode_{name}"
    decode.__doc__ = f"Decode a {name} uplink (Milesight TLV, f_port {PORT})."
    return decode


decode_em310_udl = make_decoder(EM310_UDL, "milesight_em310_udl")
decode_em400_udl = make_decoder(EM400, "milesight_em400_udl")
decode_em400_tld = make_decoder(EM400, "milesight_em400_tld")
decode_em500_lgt = make_decoder(EM500_LGT, "milesight_em500_lgt")
decode_ws52x = make_decoder(WS52X, "milesight_ws52x")
decode_ws202 = make_decoder(WS202, "milesight_ws202")
