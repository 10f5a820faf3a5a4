"""TTS ``normalized_payload``: measurements in the schema The Things Stack defines.

Source of the field list and units: The Things Stack's
``pkg/messageprocessors/normalizedpayload`` and the Device Repository's ``lib/payload.json``
(``air.temperature`` °C, ``air.relativeHumidity`` %, ``air.pressure`` hPa, ``air.co2`` ppm,
``air.lightIntensity`` lux, ``battery`` V, ``wind.speed`` m/s, ``soil.ec`` dS/m,
``metering.water.total`` L, ...). Fields that map onto the vocabulary become quantities;
the others are vendor fields under ``n.<path>`` with the schema's unit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from .fields import NORMALIZED_PREFIX
from .objects import readings_from_object
from .types import ReadingsBuilder

# TTS normalized payload (lorawan-stack pkg/messageprocessors/normalizedpayload and the
# Device Repository's lib/payload.json): every field's unit is fixed by the schema.
NORMALIZED_SCHEMA: dict[str, tuple[str | None, str]] = {
    "air.temperature": ("temperature", "°C"),
    "air.relativeHumidity": ("humidity", "%"),
    "air.pressure": ("pressure", "hPa"),
    "air.co2": ("co2", "ppm"),
    "air.lightIntensity": ("illuminance", "lx"),
    "battery": ("battery_voltage", "V"),
    "position.latitude": ("latitude", "°"),
    "position.longitude": ("longitude", "°"),
    "wind.speed": (None, "m/s"),
    "wind.direction": (None, "°"),
    "soil.depth": (None, "cm"),
    "soil.moisture": (None, "%"),
    "soil.temperature": (None, "°C"),
    "soil.ec": (None, "dS/m"),
    "soil.pH": (None, ""),
    "soil.n": (None, "ppm"),
    "soil.p": (None, "ppm"),
    "soil.k": (None, "ppm"),
    "water.temperature.min": (None, "°C"),
    "water.temperature.max": (None, "°C"),
    "water.temperature.avg": (None, "°C"),
    "water.temperature.current": (None, "°C"),
    "metering.water.total": (None, "L"),
    "action.motion.count": (None, ""),
}


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?(Z|z|[+-]\d{2}:\d{2})$"
)


def _time_ns(text: object) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 time, or None."""
    if not isinstance(text, str):
        return None
    m = _RFC3339.match(text)
    if m is None:
        return None
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    try:
        t = datetime(y, mo, d, h, mi, min(s, 59), tzinfo=UTC)
    except ValueError:
        return None
    tz = m.group(8)
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        t -= sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
    frac = int((m.group(7) or "0").ljust(9, "0"))
    return int(t.timestamp()) * 1_000_000_000 + frac


def readings_from_normalized(
    measurements: Sequence[object], b: ReadingsBuilder, claimed: set[str] | None = None
) -> None:
    """Add the readings of a TTS ``normalized_payload`` (a list of measurements) to ``b``.

    Units are the schema's (:data:`NORMALIZED_SCHEMA`); fields it does not list are vendor
    fields without a unit. A measurement's ``time`` (RFC 3339) becomes its readings' sample
    time; a later measurement without a time of its own is kept under its index
    (``n.1.air.temperature``) so it never overwrites the first.
    """
    for i, m in enumerate(measurements):
        if not isinstance(m, Mapping):
            b.warn(f"normalized_payload[{i}] is not an object, ignored")
            continue
        body = {k: v for k, v in m.items() if k != "time"}
        t = _time_ns(m.get("time"))
        if "time" in m and t is None:
            b.warn(f"normalized_payload[{i}].time {m.get('time')!r} is not an RFC 3339 time")
            body["time"] = m["time"]
        schema: Mapping[str, tuple[str | None, str]] = NORMALIZED_SCHEMA
        if i > 0 and t is None:
            body = {str(i): body}
            schema = {f"{i}.{k}": (None, unit) for k, (_, unit) in NORMALIZED_SCHEMA.items()}
        readings_from_object(
            body,
            b,
            prefix=NORMALIZED_PREFIX,
            time_ns=t,
            schema=schema,
            claimed=claimed if t is None else None,
        )
