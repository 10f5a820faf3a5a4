"""Elsys sensors (ERS, ERS CO2, ERS Sound, ERS Eye, ELT, ELT Ultrasonic, EMS ...): one TLV format.

Written from Elsys's published "Elsys LoRa payload" specification (generic payload, the same
for every Elsys model and firmware 1.x-3.x). A frame is a sequence of ``[type][value]``
items, values big-endian; the type byte fixes the value's size and scaling, so one decoder
covers the whole range, on any f_port:

====  ============== ====  ==========================================  =====================
type  name           size  value                                       reading
====  ============== ====  ==========================================  =====================
0x01  temperature    2     signed, 0.1 °C                              temperature
0x02  humidity       1     %RH                                         humidity
0x03  acceleration   3     x, y, z signed bytes, 63 = 1 g              acceleration_x/y/z
0x04  light          2     lux                                         illuminance
0x05  motion         1     PIR motions since the last uplink           presence
0x06  CO2            2     ppm                                         co2
0x07  VDD            2     supply voltage, mV                          battery_voltage
0x08  analog 1       2     mV                                          voltage_1
0x09  GPS            6     3 bytes latitude, 3 bytes longitude         (skipped, warning)
0x0A  pulse 1        2     pulses since the last uplink                counter_1
0x0B  pulse 1 abs    4     pulse count since start                     counter_11
0x0C  ext. temp. 1   2     signed, 0.1 °C                              temperature_1
0x0D  ext. digital   1     0 / 1                                       digital_input_1
0x0E  ext. distance  2     mm                                          distance (fill_pct)
0x0F  acc. motion    1     accelerometer motions since the last uplink counter_3
0x10  IR temperature 4     internal, external; signed, 0.1 °C          temperature_3, _4
0x11  occupancy      1     0 free, 1 pending, 2 occupied               occupancy
0x12  water leak     1     0-255                                       generic_18
0x13  Grid-EYE       65    1 reference byte, 64 pixels                 (skipped, warning)
0x14  pressure       4     1/1000 hPa                                  pressure
0x15  sound          2     peak dB, average dB                         sound_level_1, sound_level
0x16  pulse 2        2     pulses since the last uplink                counter_2
0x17  pulse 2 abs    4     pulse count since start                     counter_12
0x18  analog 2       2     mV                                          voltage_2
0x19  ext. temp. 2   2     signed, 0.1 °C                              temperature_2
0x1A  ext. digital 2 1     0 / 1                                       digital_input_2
0x1B  ext. analog    4     signed, µV                                  voltage_3
0x1C  TVOC           2     ppb                                         concentration (ppm)
0x3D  debug          4     firmware debug word                         (skipped)
====  ============== ====  ==========================================  =====================

External temperature 2 may repeat (several probes on one input): the first is
``temperature_2``, the next ones ``temperature_21``, ``temperature_22`` ...

An unknown type ends decoding (the size of what follows is unknown): the readings before
it are kept with a warning; a frame whose first item is unknown or cut short raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import bins
from .errors import PayloadFormatError, TruncatedPayloadError
from .types import DecodeResult, DeviceContext, ReadingsBuilder

Emit = Callable[[ReadingsBuilder, bytes, DeviceContext], None]


def _u(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _s(data: bytes) -> int:
    return int.from_bytes(data, "big", signed=True)


@dataclass(frozen=True, slots=True)
class ItemType:
    """One Elsys type byte: its name, value size and what it emits."""

    name: str
    size: int
    emit: Emit


def _scaled(quantity: str, scale: float, signed: bool = False, channel: int | None = None) -> Emit:
    def emit(b: ReadingsBuilder, data: bytes, ctx: DeviceContext) -> None:
        b.add(quantity, (_s(data) if signed else _u(data)) * scale, channel)

    return emit


def _acceleration(b: ReadingsBuilder, data: bytes, ctx: DeviceContext) -> None:
    for axis, raw in zip("xyz", data, strict=True):
        b.add(f"acceleration_{axis}", (raw - 256 if raw > 127 else raw) / 63)


def _distance(b: ReadingsBuilder, data: bytes, ctx: DeviceContext) -> None:
    bins.add_distance(b, _u(data) / 1000, ctx.metadata)


def _ir_temperature(b: ReadingsBuilder, data: bytes, ctx: DeviceContext) -> None:
    b.add("temperature", _s(data[0:2]) / 10, 3)
    b.add("temperature", _s(data[2:4]) / 10, 4)


def _occupancy(b: ReadingsBuilder, data: bytes, ctx: DeviceContext) -> None:
    if data[0] == 1:
        b.warn("occupancy: pending (someone entering or leaving)")
    elif data[0] in (0, 2):
        b.add("occupancy", data[0] == 2)
    else:
        b.warn(f"occupancy: unknown state {data[0]}")


def _digital(channel: int) -> Emit:
    def emit(b: ReadingsBuilder, data: bytes, ctx: DeviceContext) -> None:
        b.add("digital_input", data[0], channel)

    return emit


def _sound(b: ReadingsBuilder, data: bytes, ctx: DeviceContext) -> None:
    b.add("sound_level", data[0], 1)
    b.add("sound_level", data[1])


def _external_temperature_2(b: ReadingsBuilder, data: bytes, ctx: DeviceContext) -> None:
    taken = {r.key for r in b.result().readings}
    channel = 2
    while f"temperature_{channel}" in taken:
        channel = 21 if channel == 2 else channel + 1
    b.add("temperature", _s(data) / 10, channel)


def _skipped(why: str) -> Emit:
    def emit(b: ReadingsBuilder, data: bytes, ctx: DeviceContext) -> None:
        if why:
            b.warn(why)

    return emit


TYPES: dict[int, ItemType] = {
    0x01: ItemType("temperature", 2, _scaled("temperature", 0.1, signed=True)),
    0x02: ItemType("humidity", 1, _scaled("humidity", 1)),
    0x03: ItemType("acceleration", 3, _acceleration),
    0x04: ItemType("light", 2, _scaled("illuminance", 1)),
    0x05: ItemType("motion", 1, _scaled("presence", 1)),
    0x06: ItemType("CO2", 2, _scaled("co2", 1)),
    0x07: ItemType("VDD", 2, _scaled("battery_voltage", 0.001)),
    0x08: ItemType("analog 1", 2, _scaled("voltage", 0.001, channel=1)),
    0x09: ItemType("GPS", 6, _skipped("GPS position not stored (coordinate scaling not specified)")),
    0x0A: ItemType("pulse 1", 2, _scaled("counter", 1, channel=1)),
    0x0B: ItemType("pulse 1 absolute", 4, _scaled("counter", 1, channel=11)),
    0x0C: ItemType("external temperature 1", 2, _scaled("temperature", 0.1, signed=True, channel=1)),
    0x0D: ItemType("external digital 1", 1, _digital(1)),
    0x0E: ItemType("external distance", 2, _distance),
    0x0F: ItemType("accelerometer motion", 1, _scaled("counter", 1, channel=3)),
    0x10: ItemType("IR temperature", 4, _ir_temperature),
    0x11: ItemType("occupancy", 1, _occupancy),
    0x12: ItemType("water leak", 1, _scaled("generic", 1, channel=18)),
    0x13: ItemType("Grid-EYE", 65, _skipped("Grid-EYE pixel map not stored")),
    0x14: ItemType("pressure", 4, _scaled("pressure", 0.001)),
    0x15: ItemType("sound", 2, _sound),
    0x16: ItemType("pulse 2", 2, _scaled("counter", 1, channel=2)),
    0x17: ItemType("pulse 2 absolute", 4, _scaled("counter", 1, channel=12)),
    0x18: ItemType("analog 2", 2, _scaled("voltage", 0.001, channel=2)),
    0x19: ItemType("external temperature 2", 2, _external_temperature_2),
    0x1A: ItemType("external digital 2", 1, _digital(2)),
    0x1B: ItemType("external analog", 4, _scaled("voltage", 1e-6, signed=True, channel=3)),
    0x1C: ItemType("TVOC", 2, _scaled("concentration", 0.001)),
    0x3D: ItemType("debug", 4, _skipped("")),
}


def decode(payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
    """Decode an Elsys uplink (any model, any f_port)."""
    p = bytes(payload)
    n = len(p)
    if n == 0:
        raise TruncatedPayloadError(1, 0, "Elsys frame")
    b = ReadingsBuilder()
    i = items = 0
    err: PayloadFormatError | None = None
    while i < n:
        code = p[i]
        item = TYPES.get(code)
        if item is None:
            err = PayloadFormatError(f"Elsys: unknown type 0x{code:02x} at byte {i}")
            break
        end = i + 1 + item.size
        if end > n:
            err = TruncatedPayloadError(item.size, n - i - 1, f"Elsys {item.name} at byte {i}")
            break
        item.emit(b, p[i + 1 : end], ctx)
        items += 1
        i = end
    if err is None:
        return b.result()
    if items == 0:
        raise err
    b.warn(f"{err}; {items} item(s) before it kept")
    return b.result()
