"""Cayenne Low Power Payload (LPP), with the extended type table.

Frame: ``[channel][type][data...]`` repeated, all values big-endian. Type table from
the ElectronicCats CayenneLPP specification (CayenneLPP.h), with voltage and current
read unsigned as the specification's comments and most decoders do.

Readings are keyed ``<quantity>_<channel>`` (``temperature_3``), the way The Things
Stack names Cayenne channels; TTS's own names (``relative_humidity_3``) are mapped onto
our quantities by :data:`TTS_NAMES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .items import walk_items
from .quantities import QUANTITIES
from .types import DecodeResult, DeviceContext, ReadingsBuilder, channel_key


def _u(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _s(data: bytes) -> int:
    return int.from_bytes(data, "big", signed=True)


Emit = Callable[[ReadingsBuilder, bytes, int], None]


def _scalar(quantity: str, signed: bool, scale: float) -> Emit:
    from_bytes = int.from_bytes
    q = QUANTITIES[quantity]
    if q.type != "float":

        def emit_other(b: ReadingsBuilder, data: bytes, channel: int) -> None:
            b.add(quantity, from_bytes(data, "big", signed=signed) / scale, channel)

        return emit_other
    # an integer over a scale is a finite float: only the range is left to check here
    low, high, unit = q.minimum, q.maximum, q.unit

    def emit(b: ReadingsBuilder, data: bytes, channel: int) -> None:
        v = from_bytes(data, "big", signed=signed) / scale
        if low <= v <= high:
            b.add_field(channel_key(quantity, channel), v, unit)
        else:
            b.add(quantity, v, channel)  # dropped with the vocabulary's warning

    return emit


def _triple(prefix: str, scale: float) -> Emit:
    def emit(b: ReadingsBuilder, data: bytes, channel: int) -> None:
        for i, axis in enumerate("xyz"):
            b.add(f"{prefix}_{axis}", _s(data[2 * i : 2 * i + 2]) / scale, channel)

    return emit


def _colour(b: ReadingsBuilder, data: bytes, channel: int) -> None:
    b.add("colour_r", data[0], channel)
    b.add("colour_g", data[1], channel)
    b.add("colour_b", data[2], channel)


def _gps(b: ReadingsBuilder, data: bytes, channel: int) -> None:
    b.add("latitude", _s(data[0:3]) / 10_000, channel)
    b.add("longitude", _s(data[3:6]) / 10_000, channel)
    b.add("altitude", _s(data[6:9]) / 100, channel)


def _switch(b: ReadingsBuilder, data: bytes, channel: int) -> None:
    b.add("switch", data[0] != 0, channel)


@dataclass(frozen=True, slots=True)
class LppType:
    """One row of the LPP type table."""

    type_id: int
    name: str
    size: int
    emit: Emit


LPP_TYPES: dict[int, LppType] = {
    t.type_id: t
    for t in (
        LppType(0, "digital_input", 1, _scalar("digital_input", False, 1)),
        LppType(1, "digital_output", 1, _scalar("digital_output", False, 1)),
        LppType(2, "analog_input", 2, _scalar("analog_input", True, 100)),
        LppType(3, "analog_output", 2, _scalar("analog_output", True, 100)),
        LppType(100, "generic", 4, _scalar("generic", False, 1)),
        LppType(101, "illuminance", 2, _scalar("illuminance", False, 1)),
        LppType(102, "presence", 1, _scalar("presence", False, 1)),
        LppType(103, "temperature", 2, _scalar("temperature", True, 10)),
        LppType(104, "humidity", 1, _scalar("humidity", False, 2)),
        LppType(113, "accelerometer", 6, _triple("acceleration", 1000)),
        LppType(115, "barometer", 2, _scalar("pressure", False, 10)),
        LppType(116, "voltage", 2, _scalar("voltage", False, 100)),
        LppType(117, "current", 2, _scalar("current", False, 1000)),
        LppType(118, "frequency", 4, _scalar("frequency", False, 1)),
        LppType(120, "percentage", 1, _scalar("percentage", False, 1)),
        LppType(121, "altitude", 2, _scalar("altitude", True, 1)),
        LppType(125, "concentration", 2, _scalar("concentration", False, 1)),
        LppType(128, "power", 2, _scalar("power", False, 1)),
        LppType(130, "distance", 4, _scalar("distance", False, 1000)),
        LppType(131, "energy", 4, _scalar("energy", False, 1000)),
        LppType(132, "direction", 2, _scalar("direction", False, 1)),
        LppType(133, "unix_time", 4, _scalar("unix_time", False, 1)),
        LppType(134, "gyrometer", 6, _triple("gyro", 100)),
        LppType(135, "colour", 3, _colour),
        LppType(136, "gps", 9, _gps),
        LppType(142, "switch", 1, _switch),
    )
}

# The Things Stack's Cayenne output names -> our quantities (TTS keys are ``<name>_<channel>``).
TTS_NAMES: dict[str, str] = {
    "digital_in": "digital_input",
    "digital_out": "digital_output",
    "analog_in": "analog_input",
    "analog_out": "analog_output",
    "luminosity": "illuminance",
    "presence": "presence",
    "temperature": "temperature",
    "relative_humidity": "humidity",
    "barometric_pressure": "pressure",
}


def decode(payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
    """Decode a Cayenne LPP frame.

    A malformed item ends parsing (its length is unknown past that point), but the
    readings before it survive with a warning. Only a payload with no readable item
    at all raises.
    """
    b = ReadingsBuilder()
    n, i, types = len(payload), 0, LPP_TYPES
    while i < n - 1:  # well-formed frames in one pass; anything else is worded by walk_items
        t = types.get(payload[i + 1])
        if t is None or i + 2 + t.size > n:
            break
        end = i + 2 + t.size
        t.emit(b, payload[i + 2 : end], payload[i])
        i = end
    if n and i == n:
        return b.result()
    b = ReadingsBuilder()
    return walk_items(
        payload,
        b,
        _lookup,
        lambda t, data, channel: t.emit(b, data, channel),
        "Cayenne LPP",
        lambda channel, type_id: f"unknown LPP type {type_id} on channel {channel}",
    )


def _lookup(channel: int, type_id: int) -> LppType | None:
    return LPP_TYPES.get(type_id)
