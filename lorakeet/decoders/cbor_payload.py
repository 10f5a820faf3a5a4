"""Self-describing CBOR payloads for makers' firmware (decoder ``cbor``).

The payload is one CBOR map (RFC 8949) with text keys, any f_port::

    payload  = { * key => entry }
    entry    = value                     ; reading in the vocabulary's unit
             / { "v": value, ? "u": unit }   ; reading in the given unit, converted
             / { * key => entry }        ; nested map: keys joined with "_"
             / [ * sample ]              ; time series of the key's quantity
    sample   = { "t": offset, "v": value, ? "u": unit }
    value    = int / float / bool / text
    offset   = seconds relative to the uplink's reception, <= 0 (int or float)

After joining nested keys with ``_`` a key must name a quantity of the vocabulary,
optionally with a channel suffix (``temperature``, ``temperature_2``,
``{"battery": {"voltage": 3.3}}`` -> ``battery_voltage``). Example (diagnostic notation)::

    {"temperature": 21.5,
     "battery_voltage": {"v": 3312, "u": "mV"},
     "distance": [{"t": -600, "v": 812, "u": "mm"}, {"t": -300, "v": 790, "u": "mm"}]}

A sample's reading carries ``time_ns = ctx.received_at_ns + t * 1e9``; every other
reading belongs to the uplink time. Offsets older than :data:`MAX_SAMPLE_AGE_S` or in the
future are dropped with a warning.

Limits (:class:`PayloadLimitError`): :data:`MAX_BYTES` bytes, nesting depth
:data:`MAX_DEPTH` (the top-level map is depth 1; a series and each of its samples add a
level each), :data:`MAX_ITEMS` data items in total. Bytes that are not one well-formed
CBOR item are a :class:`PayloadFormatError`. Keys outside the vocabulary, unknown or
incompatible units, values of the wrong type and values outside a quantity's range are kept
as vendor fields (``v.<key>``, see :mod:`lorakeet.decoders.fields`) with the unit stated in
``u`` (or none), with a warning.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import cbor2

from .errors import PayloadFormatError, PayloadLimitError, TruncatedPayloadError
from .fields import value_kind, vendor_key
from .quantities import Quantity, split_key
from .types import DecodeResult, DeviceContext, ReadingsBuilder, Value
from .units import stated_unit

MAX_BYTES = 1024
MAX_DEPTH = 4
MAX_ITEMS = 256
MAX_SAMPLE_AGE_S = 31 * 24 * 3600

Convert = Callable[[float], float]


def _scale(factor: float) -> Convert:
    return lambda x: x * factor


def _div(divisor: float) -> Convert:
    return lambda x: x / divisor


_SAME: Convert = _scale(1.0)

# Unit as written by firmware -> (vocabulary unit, conversion into it).
UNITS: dict[str, tuple[str, Convert]] = {
    # electrical
    "V": ("V", _SAME),
    "mV": ("V", _div(1e3)),
    "kV": ("V", _scale(1e3)),
    "A": ("A", _SAME),
    "mA": ("A", _div(1e3)),
    "µA": ("A", _div(1e6)),
    "uA": ("A", _div(1e6)),
    "W": ("W", _SAME),
    "mW": ("W", _div(1e3)),
    "kW": ("W", _scale(1e3)),
    "Wh": ("kWh", _div(1e3)),
    "kWh": ("kWh", _SAME),
    "MWh": ("kWh", _scale(1e3)),
    "Hz": ("Hz", _SAME),
    "kHz": ("Hz", _scale(1e3)),
    # length
    "m": ("m", _SAME),
    "mm": ("m", _div(1e3)),
    "cm": ("m", _div(1e2)),
    "km": ("m", _scale(1e3)),
    # temperature
    "°C": ("°C", _SAME),
    "C": ("°C", _SAME),
    "degC": ("°C", _SAME),
    "cC": ("°C", _div(1e2)),
    "dC": ("°C", _div(10.0)),
    "K": ("°C", lambda x: x - 273.15),
    "°F": ("°C", lambda x: (x - 32.0) * 5.0 / 9.0),
    "F": ("°C", lambda x: (x - 32.0) * 5.0 / 9.0),
    # pressure
    "hPa": ("hPa", _SAME),
    "mbar": ("hPa", _SAME),
    "Pa": ("hPa", _div(1e2)),
    "kPa": ("hPa", _scale(10.0)),
    "bar": ("hPa", _scale(1e3)),
    # speed
    "km/h": ("km/h", _SAME),
    "m/s": ("km/h", _scale(3.6)),
    "kn": ("km/h", _scale(1.852)),
    # time
    "s": ("s", _SAME),
    "ms": ("s", _div(1e3)),
    "min": ("s", _scale(60.0)),
    "h": ("s", _scale(3600.0)),
    # angles, ratios and the rest
    "°": ("°", _SAME),
    "deg": ("°", _SAME),
    "rad": ("°", _scale(180.0 / math.pi)),
    "%": ("%", _SAME),
    "‰": ("%", _div(10.0)),
    "lx": ("lx", _SAME),
    "ppm": ("ppm", _SAME),
    "ppb": ("ppm", _div(1e3)),
    "dB": ("dB", _SAME),
    "g": ("g", _SAME),
    "mg": ("g", _div(1e3)),
    "°/s": ("°/s", _SAME),
    "": ("", _SAME),
}

_UNIT_VALUE_KEYS = frozenset({"v", "u"})
_SAMPLE_KEYS = frozenset({"t", "v", "u"})


class _Walker:
    """Turns the decoded CBOR tree into readings, enforcing depth and item limits."""

    __slots__ = ("b", "items", "received_at_ns")

    def __init__(self, b: ReadingsBuilder, received_at_ns: int) -> None:
        self.b = b
        self.items = 0
        self.received_at_ns = received_at_ns

    def enter(self, depth: int) -> None:
        """A container (map or array) at nesting level ``depth``."""
        if depth > MAX_DEPTH:
            raise PayloadLimitError(f"CBOR nesting deeper than {MAX_DEPTH} levels")
        self.count(1)

    def count(self, n: int) -> None:
        self.items += n
        if self.items > MAX_ITEMS:
            raise PayloadLimitError(f"CBOR payload has more than {MAX_ITEMS} data items")

    def map(self, obj: dict[object, object], prefix: str, depth: int) -> None:
        self.enter(depth)
        for k, v in obj.items():
            self.count(1)  # the key
            if not isinstance(k, str):
                self.b.warn(f"{prefix or 'payload'}: non-text key {k!r} ignored")
                continue
            name = f"{prefix}_{k}" if prefix else k
            if isinstance(v, dict):
                if "v" in v and v.keys() <= _UNIT_VALUE_KEYS:
                    self.enter(depth + 1)
                    self.count(2 * len(v))
                    self.reading(name, v["v"], v.get("u"), None)
                else:
                    self.map(v, name, depth + 1)
            elif isinstance(v, list):
                self.series(v, name, depth + 1)
            else:
                self.count(1)
                self.reading(name, v, None, None)

    def series(self, samples: list[object], name: str, depth: int) -> None:
        self.enter(depth)
        for i, s in enumerate(samples):
            if not (isinstance(s, dict) and "t" in s and "v" in s and s.keys() <= _SAMPLE_KEYS):
                self.count(1)
                self.b.warn(f"{name}[{i}]: a sample is {{'t': offset, 'v': value, 'u'?: unit}}, ignored")
                continue
            self.enter(depth + 1)
            self.count(2 * len(s))
            t = s["t"]
            if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
                self.b.warn(f"{name}[{i}]: time offset {t!r} is not a number, ignored")
                continue
            if t > 0 or t < -MAX_SAMPLE_AGE_S:
                self.b.warn(f"{name}[{i}]: time offset {t!r} s outside [-{MAX_SAMPLE_AGE_S}, 0], ignored")
                continue
            self.reading(name, s["v"], s.get("u"), self.received_at_ns + round(t * 1e9))

    def reading(self, name: str, value: object, unit: object, time_ns: int | None) -> None:
        try:
            quantity, channel = split_key(name)
        except KeyError:
            self.keep(name, value, unit, time_ns, "not in the quantity vocabulary")
            return
        if quantity.type == "str":
            if isinstance(value, str) and unit is None:
                self.b.add(quantity.name, value, channel, time_ns)
            else:
                self.keep(name, value, unit, time_ns, f"expected text, got {value!r}")
            return
        if quantity.type == "bool":
            if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
                if unit is None:
                    self.b.add(quantity.name, bool(value), channel, time_ns)
                    return
            self.keep(name, value, unit, time_ns, f"expected true/false, got {value!r}")
            return
        number = _number(value)
        if number is None:
            self.keep(name, value, unit, time_ns, f"expected a number, got {value!r}")
            return
        stated = unit
        if unit is not None:
            converted = _convert(number, unit, quantity)
            if isinstance(converted, str):
                self.keep(name, value, unit, time_ns, converted)
                return
            number = converted
        if not (quantity.minimum <= number <= quantity.maximum and math.isfinite(number)):
            unit_text = stated if stated is not None else quantity.unit
            self.keep(name, value, unit_text, time_ns, f"outside {quantity.name}'s range")
            return
        self.b.add(quantity.name, number, channel, time_ns)

    def keep(self, name: str, value: object, unit: object, time_ns: int | None, why: str) -> None:
        """A value that is no reading of the vocabulary: a vendor field, with its stated unit."""
        if isinstance(value, bool | str):
            v: Value = value
        elif isinstance(value, int):
            v = float(value) if abs(value) <= 2**53 else str(value)
        elif isinstance(value, float) and math.isfinite(value):
            v = value
        else:
            self.b.warn(f"{name}: {why}; {value!r} cannot be stored, ignored")
            return
        u = stated_unit(unit) if isinstance(unit, str) and isinstance(v, float) else None
        self.b.warn(f"{name}: {why}; kept as a vendor field")
        self.b.add_field(vendor_key((name,), value_kind(v)), v, u or "", time_ns)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def _convert(number: float, unit: object, quantity: Quantity) -> float | str:
    """``number`` in ``unit`` converted to the quantity's unit, or the reason it cannot be."""
    if not isinstance(unit, str):
        return f"unit {unit!r} is not text"
    entry = UNITS.get(unit)
    if entry is None:
        return f"unknown unit {unit!r}"
    target, conv = entry
    if target != quantity.unit:
        return f"unit {unit!r} does not measure {quantity.name} ({quantity.unit or 'dimensionless'})"
    return conv(number)


def loads(payload: bytes) -> object:
    """Parse exactly one CBOR data item; any cbor2 failure becomes PayloadFormatError."""
    if len(payload) > MAX_BYTES:
        raise PayloadLimitError(f"CBOR payload is {len(payload)} bytes, limit {MAX_BYTES}")
    if not payload:
        raise TruncatedPayloadError(1, 0, "CBOR payload")
    fp = io.BytesIO(payload)
    try:
        obj = cbor2.CBORDecoder(fp).decode()
    except cbor2.CBORDecodeError as exc:
        raise PayloadFormatError(f"not well-formed CBOR: {exc}") from exc
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError, LookupError) as exc:
        # semantic tags (dates, decimals, regexes, ...) that cbor2 fails to build
        raise PayloadFormatError(f"unreadable CBOR: {exc}") from exc
    if fp.tell() != len(payload):
        raise PayloadFormatError(f"{len(payload) - fp.tell()} trailing byte(s) after the CBOR item")
    return obj


def decode(payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
    """Readings from a self-describing CBOR payload (see the module documentation)."""
    obj = loads(payload)
    if not isinstance(obj, dict):
        raise PayloadFormatError(f"CBOR payload must be a map, got {type(obj).__name__}")
    b = ReadingsBuilder()
    _Walker(b, ctx.received_at_ns).map(obj, "", 1)
    return b.result()
