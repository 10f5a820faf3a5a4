"""Milesight IoT channel/type TLV payloads, decoded by one table-driven engine.

Devices: EM310-UDL, EM400-UDL, EM400-TLD, EM500-LGT, WS52x (WS523/WS525 smart plugs),
WS202, EM300-TH / EM320-TH. Written from the "Uplink Data" chapters of Milesight's user
guides for those models (EM310-UDL/EM400-UDL/EM400-TLD/EM500 series/WS52x/WS202/EM300
series User Guide, documents V1.0-V1.3, firmware V1.x-V3.x) and the basic-information
packet common to the family.

Frame: ``[channel_id][channel_type][value...]`` repeated, values little-endian, uplink
on f_port 85. A value's size is fixed by its (channel, type) pair. A pair the model's
table does not know is read by its channel type alone, which fixes the size across the
family (:data:`TYPES`): a type that also fixes the quantity (``0x67`` temperature,
``0x68`` humidity ...) gives a reading with a warning, any other is skipped with a
warning, and decoding goes on. Only an unknown type ends parsing (the length of what
follows is unknown): readings before it are kept with a warning; a frame with no known
item raises. The same pair can mean different things on different models (``04 00`` is
the EM310-UDL's position but the WS202's light state), so each model has its own table:
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

EM300_TH: Table = {**COMMON, (0x03, 0x67): _temperature(2), (0x04, 0x68): _scalar("humidity", 1, 0.5)}

WS202: Table = {
    **COMMON,
    (0x03, 0x00): _flag("occupancy", "PIR"),
    (0x04, 0x00): _flag("daylight", "light state"),
}


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """What a channel type byte means across the family: its size and, if it fixes one, the quantity."""

    name: str
    size: int
    quantity: str | None = None
    scale: float = 1.0
    signed: bool = False


# Channel types with the same size on every model in Milesight's user guides. Only the
# types whose meaning does not depend on the channel name a quantity.
TYPES: Mapping[int, TypeInfo] = {
    0x00: TypeInfo("digital input", 1),
    0x01: TypeInfo("digital output", 1),
    0x65: TypeInfo("illumination (3 values)", 6),
    0x67: TypeInfo("temperature", 2, "temperature", 0.1, signed=True),
    0x68: TypeInfo("humidity", 1, "humidity", 0.5),
    0x6A: TypeInfo("activity", 2),
    0x70: TypeInfo("switch state", 1),
    0x73: TypeInfo("barometric pressure", 2, "pressure", 0.1),
    0x74: TypeInfo("voltage", 2),
    0x75: TypeInfo("battery", 1, "battery"),
    0x7D: TypeInfo("concentration", 2),
    0x80: TypeInfo("active power", 4),
    0x81: TypeInfo("power factor", 1),
    0x82: TypeInfo("distance", 2, "distance", 0.001),
    0x83: TypeInfo("energy", 4),
    0x94: TypeInfo("illuminance", 4),
    0xC8: TypeInfo("pulse counter", 4),
    0xC9: TypeInfo("current", 2),
    0xCB: TypeInfo("light level", 1),
}

_SENTINELS = {1: (), 2: (READ_FAILED_16, OUT_OF_RANGE_16)}


def _by_type(channel: int, type_: int) -> Item | None:
    """An item for a (channel, type) pair the model's table lacks, read by its type alone."""
    info = TYPES.get(type_)
    if info is None:
        return None
    where = f"channel {channel:02x} type {type_:02x} ({info.name})"

    def emit(b: ReadingsBuilder, data: bytes, ctx: DeviceContext) -> None:
        if info.quantity is None:
            b.warn(f"unknown {where}: {info.size} byte(s) skipped")
            return
        raw = _le(data, info.signed)
        if (raw & 0xFFFF if info.signed else raw) in _SENTINELS.get(info.size, ()):
            b.warn(f"unknown {where}: no value ({data.hex()})")
            return
        taken = {r.key for r in b.result().readings}
        b.add(info.quantity, raw * info.scale, channel if info.quantity in taken else None)
        b.warn(f"unknown {where}: read by its type")

    return Item(info.name, info.size, emit)


def _parse(table: Table, name: str, payload: bytes, ctx: DeviceContext) -> DecodeResult:
    b = ReadingsBuilder()
    return walk_items(
        payload,
        b,
        lambda channel, type_: table.get((channel, type_)) or _by_type(channel, type_),
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
decode_em300_th = make_decoder(EM300_TH, "milesight_em300_th")
