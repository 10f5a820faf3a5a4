"""Core decoder types: readings, results, the device context and the Decoder protocol."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple, Protocol

from .quantities import QUANTITIES

Value = float | bool | str


class Reading(NamedTuple):
    """One decoded value of a quantity in that quantity's unit.

    ``time_ns`` is set only when the payload carries its own sample time; otherwise the
    reading belongs to the uplink's network reception time. (Immutable; a NamedTuple
    because one is built per value on the per-uplink path.)
    """

    key: str
    value: Value
    unit: str
    time_ns: int | None = None


@dataclass(frozen=True, slots=True)
class DecodeResult:
    """What a decoder made of one payload."""

    readings: tuple[Reading, ...]
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Value]:
        """Readings at the uplink time as ``{key: value}`` (sampled readings are left out)."""
        return {r.key: r.value for r in self.readings if r.time_ns is None}


EMPTY_METADATA: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class FieldRule:
    """How one field of a model's decoded object becomes a reading of our vocabulary.

    ``unit`` is the unit the source uses for the field (converted exactly into the
    quantity's unit); ``scale`` multiplies the source number first (for example 0.01 for
    a field reported in hundredths).
    """

    quantity: str
    unit: str | None = None
    scale: float = 1.0


# Source path ("TempC_SHT", "air.temperature", "distance") -> rule.
FieldMap = Mapping[str, FieldRule]


class DeviceContext(NamedTuple):
    """What a decoder may know besides the bytes: all of it comes from the uplink or registry."""

    received_at_ns: int = 0
    metadata: Mapping[str, object] = EMPTY_METADATA
    network_decoded: Mapping[str, object] | None = None
    device_id: str = ""
    field_map: FieldMap | None = None
    network_normalized: Sequence[Mapping[str, object]] | None = None


DEFAULT_CONTEXT = DeviceContext()


class Decoder(Protocol):
    """Turns payload bytes into readings; raises only ``DecodeError`` subclasses."""

    def __call__(self, payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult: ...


_KEYS: dict[tuple[str, int], str] = {}


def channel_key(quantity: str, channel: int) -> str:
    """The reading key of a quantity on a channel (``temperature_3``)."""
    return _KEYS.get((quantity, channel)) or _channel_key(quantity, channel)


def _channel_key(quantity: str, channel: int) -> str:
    key = _KEYS.get((quantity, channel))
    if key is None:
        key = _KEYS[(quantity, channel)] = f"{quantity}_{channel}"
    return key


_tuple_new = tuple.__new__
"""Builds a Reading from its four fields in one C call (the NamedTuple's own constructor is a
Python function: one frame per value on the per-uplink path)."""
assert len(Reading._fields) == 4, "ReadingsBuilder builds a Reading from every one of its fields"


class ReadingsBuilder:
    """Collects readings, checking each against the quantity vocabulary.

    An unknown quantity is a programming error (KeyError); a value out of range or not
    finite is dropped with a warning so that the rest of the payload survives.
    """

    __slots__ = ("_readings", "_warnings")

    def __init__(self) -> None:
        self._readings: list[Reading] = []
        self._warnings: list[str] = []

    def add(
        self,
        quantity: str,
        value: Value,
        channel: int | None = None,
        time_ns: int | None = None,
    ) -> None:
        """Add one reading of ``quantity`` (already in the vocabulary's unit)."""
        q = QUANTITIES[quantity]
        if channel is None:
            key = quantity
        else:
            key = _KEYS.get((quantity, channel)) or _channel_key(quantity, channel)
        if q.type == "float":
            if type(value) is float:
                v = value
            elif isinstance(value, str):
                self.warn(f"{key}: expected a number, got {value!r}")
                return
            else:
                v = float(value)
            if not (q.minimum <= v <= q.maximum) or not math.isfinite(v):
                self.warn(f"{key}: {v:g} {q.unit} outside [{q.minimum:g}, {q.maximum:g}], dropped")
                return
            self._readings.append(_tuple_new(Reading, (key, v, q.unit, time_ns)))
        elif q.type == "bool":
            self._readings.append(_tuple_new(Reading, (key, bool(value), q.unit, time_ns)))
        else:
            self._readings.append(_tuple_new(Reading, (key, str(value), q.unit, time_ns)))

    def add_field(self, key: str, value: Value, unit: str, time_ns: int | None = None) -> None:
        """Add a reading as is: a vendor field, or a quantity already checked against its range."""
        self._readings.append(_tuple_new(Reading, (key, value, unit, time_ns)))

    def warn(self, message: str) -> None:
        """Record a warning that travels with the result."""
        self._warnings.append(message)

    def extend(self, other: DecodeResult) -> None:
        """Take over another result's readings and warnings."""
        self._readings.extend(other.readings)
        self._warnings.extend(other.warnings)

    def result(self) -> DecodeResult:
        """The collected readings and warnings."""
        return DecodeResult(tuple(self._readings), tuple(self._warnings))
