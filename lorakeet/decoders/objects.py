"""Readings from a decoded object: every scalar leaf kept, units only where stated.

Used for TTS ``decoded_payload``, ChirpStack ``object`` and a JavaScript codec's
``data``. Each scalar leaf (nested objects and arrays are walked; ``null`` means no
value) becomes exactly one reading:

1. **Field map** (``ctx.field_map``, keyed by the dotted source path): the leaf becomes
   the rule's quantity; its number is multiplied by ``scale`` and converted exactly from
   the rule's unit (or the unit the value itself states) into the quantity's unit.
2. **TTS Cayenne LPP names** (``temperature_3``, ``relative_humidity_1``,
   ``barometric_pressure_0``, ...): a top-level number named the way The Things Stack's
   LPP formatter names it is in the unit the LPP specification fixes.
3. **Stated unit + naming word**: a top-level field whose unit is stated (by a
   ``{value, unit}`` object, a string such as ``"3.384 V"``, or a unit word in its name such
   as ``BatV``, ``distance_mm``, ``TempC``) and whose name, less the unit and a channel
   number, is a word for a quantity of that dimension (``Bat`` + V -> battery_voltage,
   ``Distance`` + mm -> distance, ``distance1_cm`` -> distance_1), becomes that quantity.
4. **Everything else** is a vendor field under its path (see :mod:`.fields`) with the unit
   the source states, unconverted, or with no unit. A bare ``distance: 62`` is a vendor
   field without a unit: a name alone never fixes a unit.

A quantity is claimed once per object: a second field that would land on the same key
(``TempC_DS`` next to ``TempC_SHT``, a nested ``cached.latitudeDeg``) is a vendor field,
as is a converted value outside the quantity's range (a unit read from the name alone is
then dropped too, since the value shows the name misled). Numbers stay numbers (floats;
integers beyond 2**53 are kept as text), booleans stay booleans, text stays text; only
non-finite numbers are left out, with a warning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from .fields import DECODED_PREFIX, value_kind, vendor_key
from .naming import lpp_key, quantity_for, quantity_of, unitless_quantity
from .quantities import QUANTITIES, Quantity, split_key
from .types import FieldMap, FieldRule, ReadingsBuilder, Value
from .units import convert, name_parts, split_number, stated_unit

MAX_DEPTH = 8
MAX_LEAVES = 1000
_MAX_EXACT_INT = 2**53


@dataclass(frozen=True, slots=True)
class _Leaf:
    path: tuple[str, ...]
    value: object
    unit: str | None  # stated next to the value ({value, unit}); None when not


@dataclass(slots=True)
class _Claim:
    leaf: _Leaf
    key: str
    value: Value
    fallback: tuple[Value, str]  # value and unit to store as a vendor field instead


_SCALARS = (float, int, str, bool, type(None))


def _scalar_list(v: object) -> bool:
    return isinstance(v, list) and 0 < len(v) <= MAX_LEAVES and all(type(x) in _SCALARS for x in v)


def _leaves(obj: Mapping[str, object], b: ReadingsBuilder) -> list[_Leaf]:
    if len(obj) <= MAX_LEAVES and all(type(v) in _SCALARS for v in obj.values()):
        # the common flat object: one leaf per key, in order
        return [_Leaf((k if type(k) is str else str(k),), v, None) for k, v in obj.items() if v is not None]
    out: list[_Leaf] = []
    stack: list[tuple[tuple[str, ...], object]] = [((), obj)]
    dropped = 0
    while stack:
        path, node = stack.pop()
        if isinstance(node, Mapping):
            inner = node.get("value") if "value" in node else None
            unit = node.get("unit")
            stated = stated_unit(unit) if isinstance(unit, str) else None
            if path and "value" in node and not isinstance(inner, Mapping | list):
                if inner is not None:
                    out.append(_Leaf(path, inner, stated))
                # the unit becomes the reading's; a unit text that is no unit stays a field
                children = [(k, v) for k, v in node.items() if k != "value" and not (k == "unit" and stated)]
            elif path and stated and _scalar_list(node.get("values")):
                # {unit, values: [...]}: one unit for a series (Adeunis sends t=0, t-1, ...)
                series = node["values"]
                assert isinstance(series, list)
                out.extend(
                    _Leaf((*path, "values", str(i)), v, stated) for i, v in enumerate(series) if v is not None
                )
                children = [(k, v) for k, v in node.items() if k not in ("values", "unit")]
            else:
                children = list(node.items())
        elif isinstance(node, list | tuple):
            children = [(str(i), v) for i, v in enumerate(node)]
        else:
            if node is not None:
                out.append(_Leaf(path, node, None))
            continue
        if len(path) >= MAX_DEPTH and children:
            b.warn(f"{'.'.join(path)}: nested deeper than {MAX_DEPTH} levels, kept as text")
            out.append(_Leaf(path, repr(node)[:4096], None))
            continue
        for k, v in reversed(children):
            stack.append(((*path, str(k)), v))
        if len(out) + len(stack) > MAX_LEAVES * 4:
            dropped += len(stack)
            stack.clear()
    if len(out) > MAX_LEAVES:
        dropped += len(out) - MAX_LEAVES
        out = out[:MAX_LEAVES]
    if dropped:
        b.warn(f"more than {MAX_LEAVES} fields: {dropped} left out (the raw object is kept with the uplink)")
    return out


def _plain(value: object) -> Value | None:
    """The value to store: bool, finite float, or text (None when not storable)."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return float(value) if -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def _key(quantity: str, channel: int | None) -> str:
    return quantity if channel is None else f"{quantity}_{channel}"


def _in_range(q: Quantity, v: float) -> bool:
    return q.minimum <= v <= q.maximum


def _number_and_unit(leaf: _Leaf) -> tuple[float | None, str | None, str]:
    """(number, unit, where the unit came from: value/name/'') of a leaf."""
    v = leaf.value
    unit = leaf.unit
    number: float | None = None
    if isinstance(v, bool):
        return None, unit, "value" if unit else ""
    if isinstance(v, int | float):
        number = float(v)
    elif isinstance(v, str):
        parsed = split_number(v)
        if parsed is not None:
            number, in_text = parsed
            if in_text:
                unit = in_text
    if unit:
        return number, unit, "value"
    name_unit = name_parts(leaf.path[-1]).unit if leaf.path else None
    return number, name_unit, "name" if name_unit else ""


def _from_rule(leaf: _Leaf, rule: FieldRule, b: ReadingsBuilder) -> _Claim | None:
    path = ".".join(leaf.path)
    try:
        q, channel = split_key(rule.quantity)
    except KeyError:
        b.warn(f"{path}: field map names {rule.quantity!r}, not a quantity; kept as a vendor field")
        return None
    key = _key(q.name, channel)
    v = leaf.value
    if q.type != "float":
        if q.type == "bool" and isinstance(v, bool | int | float) and not isinstance(v, str):
            return _Claim(leaf, key, bool(v), (_plain(v) or "", leaf.unit or ""))
        if q.type == "str" and isinstance(v, str):
            return _Claim(leaf, key, v, (v, ""))
        b.warn(f"{path}: {v!r} does not fit {q.name} ({q.type}); kept as a vendor field")
        return None
    number, unit, where = _number_and_unit(leaf)
    if number is None:
        b.warn(f"{path}: {v!r} is not a number for {q.name}; kept as a vendor field")
        return None
    src_unit = unit if where == "value" and unit else (rule.unit or q.unit)
    scaled = number * rule.scale if rule.scale != 1.0 else number
    converted = scaled if src_unit == q.unit else convert(scaled, src_unit, q.unit)
    if converted is None:
        b.warn(f"{path}: cannot convert {src_unit!r} into {q.name}'s {q.unit!r}; kept as a vendor field")
        return None
    return _Claim(leaf, key, converted, (scaled, src_unit))


def _unitless(leaf: _Leaf, v: Value) -> _Claim | None:
    """A top-level field named exactly like a vocabulary quantity that has no unit
    (``counter``, ``hdop``, ``lamp_on``, ``status``, ``firmware_version``), of its type."""
    if len(leaf.path) != 1 or leaf.unit:
        return None
    q = unitless_quantity(leaf.path[0])
    if q is None:
        return None
    fits = (
        isinstance(v, bool)
        if q.type == "bool"
        else isinstance(v, str)
        if q.type == "str"
        else type(v) is float
    )
    return _Claim(leaf, leaf.path[0], v, (v, "")) if fits else None


def _generic(leaf: _Leaf) -> _Claim | tuple[Value, str] | None:
    """A vocabulary claim, or the (value, unit) of a vendor field, or None (nothing to store)."""
    v = _plain(leaf.value)
    if v is None:
        return None
    unitless = _unitless(leaf, v)
    if unitless is not None:
        return unitless
    number, unit, where = _number_and_unit(leaf)
    if number is None:
        return v, unit if (unit and where == "value" and not isinstance(v, str)) else ""
    if not unit:
        return v, ""  # a number without a unit, or a numeric string kept as text
    top = len(leaf.path) == 1
    name = leaf.path[-1]
    if top:
        q_name, channel = quantity_for(name, unit)
        if q_name is not None:
            q = QUANTITIES[q_name]
            converted = number if unit == q.unit else convert(number, unit, q.unit)
            if converted is not None:
                fallback_unit = unit if where == "value" else ""
                return _Claim(leaf, _key(q_name, channel), converted, (number, fallback_unit))
    return number, unit


def _lpp(leaf: _Leaf) -> _Claim | None:
    if len(leaf.path) != 1 or isinstance(leaf.value, bool) or not isinstance(leaf.value, int | float):
        return None
    key = lpp_key(leaf.path[0])
    if key is None:
        return None
    return _Claim(leaf, key, float(leaf.value), (float(leaf.value), ""))


@lru_cache(maxsize=1 << 15)
def _number_plan(
    path: tuple[str, ...], stated: str | None
) -> tuple[str | None, Quantity | None, str | None, str]:
    """What a finite number at ``path`` becomes without a field map: (vocabulary key, its
    quantity, the source unit to convert from, the unit of the vendor field otherwise)."""
    top = len(path) == 1
    if top and not stated:
        q = unitless_quantity(path[0])
        if q is not None and q.type == "float":
            return path[0], q, None, ""
    if top:
        lk = lpp_key(path[0])
        if lk is not None:
            return lk, quantity_of(lk), None, ""
    unit = stated or name_parts(path[-1]).unit
    if not unit:
        return None, None, None, ""
    if top:
        q_name, channel = quantity_for(path[0], unit)
        if q_name is not None:
            q = QUANTITIES[q_name]
            if unit == q.unit or convert(1.0, unit, q.unit) is not None:
                return _key(q_name, channel), q, unit, unit if stated else ""
    return None, None, None, unit


def readings_from_object(
    obj: Mapping[str, object],
    b: ReadingsBuilder,
    field_map: FieldMap | None = None,
    *,
    prefix: str = DECODED_PREFIX,
    time_ns: int | None = None,
    schema: Mapping[str, tuple[str | None, str]] | None = None,
    claimed: set[str] | None = None,
) -> None:
    """Add one reading per scalar leaf of ``obj`` to ``b`` (see the module docstring).

    ``schema`` (path -> (quantity or None, unit)) states units the way a documented format
    does; it ranks after a field map and before the generic rules. ``claimed`` shares the
    vocabulary keys already taken at the same time (by another object of the same uplink).
    """
    if claimed is None:
        claimed = set()
    pending: list[tuple[_Leaf, _Claim | tuple[Value, str]]] = []
    for leaf in _leaves(obj, b):
        v = leaf.value
        t = type(v)
        if (
            not field_map
            and schema is None
            and (
                (t is float and math.isfinite(v)) or (t is int and -_MAX_EXACT_INT <= v <= _MAX_EXACT_INT)  # type: ignore[operator,arg-type]
            )
        ):
            key, quantity, src, vunit = _number_plan(leaf.path, leaf.unit)
            number = float(v)  # type: ignore[arg-type]
            converted: float | None = None
            if key is not None and quantity is not None:
                converted = (
                    number if src is None or src == quantity.unit else convert(number, src, quantity.unit)
                )
            if key is None or converted is None:
                pending.append((leaf, (number, vunit)))
            else:
                pending.append((leaf, _Claim(leaf, key, converted, (number, vunit))))
            continue
        path = ".".join(leaf.path)
        rule = field_map.get(path) if field_map else None
        result: _Claim | tuple[Value, str] | None = None
        if rule is not None:
            result = _from_rule(leaf, rule, b)
        if result is None and schema is not None and path in schema:
            result = _from_schema(leaf, schema[path])
        if result is None:
            result = _lpp(leaf) or _generic(leaf)
        if result is None:
            b.warn(f"{path}: {leaf.value!r} is not a finite number, left out")
            continue
        pending.append((leaf, result))
    # field-map claims first, then the rest in the object's order
    if field_map:
        pending.sort(key=lambda p: 0 if ".".join(p[0].path) in field_map else 1)
    for leaf, result in pending:
        if isinstance(result, _Claim):
            q = quantity_of(result.key)
            ok = result.key not in claimed
            if ok and q.type == "float":
                assert isinstance(result.value, float)
                ok = _in_range(q, result.value)
                if not ok:
                    b.warn(
                        f"{'.'.join(leaf.path)}: {result.value:g} {q.unit} is outside {q.name}'s range; "
                        "kept as a vendor field"
                    )
            if ok:
                claimed.add(result.key)
                b.add_field(result.key, result.value, q.unit, time_ns)
                continue
            value, unit = result.fallback
        else:
            value, unit = result
        b.add_field(vendor_key(leaf.path, value_kind(value), prefix), value, unit, time_ns)


def _from_schema(leaf: _Leaf, spec: tuple[str | None, str]) -> _Claim | tuple[Value, str] | None:
    quantity, unit = spec
    v = _plain(leaf.value)
    if v is None:
        return None
    if isinstance(v, bool | str) or not unit:
        return v, ""
    if quantity is None:
        return v, unit
    q = QUANTITIES[quantity]
    converted = v if unit == q.unit else convert(v, unit, q.unit)
    if converted is None:
        return v, unit
    return _Claim(leaf, quantity, converted, (v, unit))
