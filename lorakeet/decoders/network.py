"""The network server's own decoded payload (TTS ``decoded_payload``, ChirpStack ``object``).

Real formatters are loose: numbers arrive as strings with units ("3.384 V"), keys use
vendor spellings (``BatV``, ``TempC_SHT``) and objects nest. This decoder flattens the
object, maps known spellings onto our vocabulary, converts numeric strings and common
unit prefixes, and warns about (never fails on) keys it cannot place.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from .cayenne import TTS_NAMES
from .errors import MissingNetworkPayloadError
from .quantities import QUANTITIES, split_key
from .types import DecodeResult, DeviceContext, ReadingsBuilder

# Vendor spellings (lower-cased, non-alphanumerics removed) -> our quantity.
ALIASES: dict[str, str] = {
    "batv": "battery_voltage",
    "bat": "battery_voltage",
    "vbat": "battery_voltage",
    "batteryvoltage": "battery_voltage",
    "batteryv": "battery_voltage",
    "batterylevel": "battery",
    "batterypercent": "battery",
    "battery": "battery",
    "temp": "temperature",
    "tempc": "temperature",
    "tempcsht": "temperature",
    "tempcds": "temperature",
    "temperature": "temperature",
    "hum": "humidity",
    "humsht": "humidity",
    "rh": "humidity",
    "relativehumidity": "humidity",
    "humidity": "humidity",
    "lux": "illuminance",
    "light": "illuminance",
    "luminosity": "illuminance",
    "illumination": "illuminance",
    "pressure": "pressure",
    "barometricpressure": "pressure",
    "co2": "co2",
    "lat": "latitude",
    "latitude": "latitude",
    "lon": "longitude",
    "lng": "longitude",
    "longitude": "longitude",
    "alt": "altitude",
    "altitude": "altitude",
    "speed": "speed",
    "distance": "distance",
}

# Unit suffix (lower-cased) -> factor to the vocabulary's unit of the same dimension.
_UNIT_FACTORS: dict[str, float] = {
    "mv": 1e-3,
    "v": 1.0,
    "ma": 1e-3,
    "a": 1.0,
    "mm": 1e-3,
    "cm": 1e-2,
    "m": 1.0,
    "km": 1e3,
    "wh": 1e-3,
    "kwh": 1.0,
    "w": 1.0,
    "kw": 1e3,
    "%": 1.0,
    "°c": 1.0,
    "c": 1.0,
    "lx": 1.0,
    "lux": 1.0,
    "hpa": 1.0,
    "pa": 1e-2,
    "ppm": 1.0,
    "km/h": 1.0,
    "hz": 1.0,
    "s": 1.0,
    "°": 1.0,
}

_NUMBER_WITH_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s].*?)?\s*$")
_SNAKE = re.compile(r"[^a-z0-9]+")


def _flatten(obj: Mapping[str, object], prefix: str = "", depth: int = 0) -> Iterator[tuple[str, object]]:
    for k, v in obj.items():
        name = f"{prefix}_{k}" if prefix else str(k)
        if isinstance(v, Mapping) and depth < 4:
            yield from _flatten(v, name, depth + 1)
        else:
            yield name, v


def _place(name: str) -> str | None:
    """Map a network key onto a reading key in our vocabulary, or None."""
    low = name.lower()
    try:
        split_key(low)
    except KeyError:
        pass
    else:
        return low
    base, _, channel = low.rpartition("_")
    if base and channel.isdigit() and base in TTS_NAMES:
        return f"{TTS_NAMES[base]}_{channel}"
    return ALIASES.get(_SNAKE.sub("", low))


def _number(value: object) -> float | bool | str | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    m = _NUMBER_WITH_UNIT.match(value)
    if m is None:
        return value
    number = float(m.group(1))
    unit = (m.group(2) or "").strip().lower()
    if not unit:
        return number
    factor = _UNIT_FACTORS.get(unit)
    if factor is None:
        return None
    return number * factor


def decode(payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
    """Readings from the network's decoded payload in ``ctx.network_decoded``."""
    obj = ctx.network_decoded
    if obj is None:
        raise MissingNetworkPayloadError("the network sent no decoded_payload for this uplink")
    b = ReadingsBuilder()
    readings_from_object(obj, b)
    return b.result()


def readings_from_object(obj: Mapping[str, object], b: ReadingsBuilder) -> None:
    """Add the readings of a decoded object (TTS ``decoded_payload``, a JS codec's ``data``) to ``b``."""
    for name, raw in _flatten(obj):
        key = _place(name)
        if key is None:
            b.warn(f"{name}: not in the quantity vocabulary, ignored")
            continue
        quantity, _, channel = key.rpartition("_")
        if not (channel.isdigit() and quantity in QUANTITIES):
            quantity, channel = key, ""
        value = _number(raw)
        if value is None or (isinstance(value, str) and QUANTITIES[quantity].type != "str"):
            b.warn(f"{name}: cannot read {raw!r} as {quantity}")
            continue
        b.add(quantity, value, int(channel) if channel else None)
