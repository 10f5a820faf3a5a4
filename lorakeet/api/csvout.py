"""CSV rendering of readings: one row per time, one column per reading key.

The header names each column ``<key> [<unit>]`` (bare key when the quantity has no unit),
so spreadsheets keep the unit with the data; times are RFC 3339 with nanoseconds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

from lorakeet.decoders import Value
from lorakeet.storage.records import Point
from lorakeet.timefmt import format_rfc3339_ns


def column_name(key: str, unit: str) -> str:
    """``fill_pct [%]``, or ``lamp_on`` for unitless quantities."""
    return f"{key} [{unit}]" if unit else key


def _cell(v: Value | None) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return v


def points_csv(points: Iterable[Point], keys: Sequence[str], units: Mapping[str, str]) -> str:
    """The points as CSV text; ``keys`` fixes the column order."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["time", *(column_name(k, units.get(k, "")) for k in keys)])
    for p in points:
        w.writerow([format_rfc3339_ns(p.time_ns), *(_cell(p.values.get(k)) for k in keys)])
    return buf.getvalue()
