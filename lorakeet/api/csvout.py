"""Every CSV the API serves goes through here: readings, device lists, collection lists, exports.

Spreadsheets run a cell that begins with ``=``, ``+``, ``-``, ``@``, TAB or CR as a formula
(CSV injection: ``=HYPERLINK(...)`` in a device name). :func:`safe_cell` puts a ``'`` before
such a text, which spreadsheets show but do not evaluate. Numbers (Python ints and floats)
are written as numbers: a negative temperature stays a number. Readings are one row per
time, one column per reading key; the header names each column ``<key> [<unit>]`` (bare key
when the quantity has no unit), so spreadsheets keep the unit with the data; times are
RFC 3339 with nanoseconds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import IO

from lorakeet.storage.records import Point
from lorakeet.timefmt import format_rfc3339_ns

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
Cell = str | int | float | bool | None


def safe_cell(v: Cell) -> str:
    """One cell's text: ``''`` for None, numbers as numbers, formula-like text escaped."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, int):
        return str(v)
    text = str(v)
    return "'" + text if text.startswith(FORMULA_START) else text


class SafeWriter:
    """``csv.writer`` whose rows go through :func:`safe_cell`."""

    def __init__(self, out: IO[str]) -> None:
        self._w = csv.writer(out, lineterminator="\n")

    def writerow(self, row: Iterable[Cell]) -> None:
        """Write one escaped row."""
        self._w.writerow([safe_cell(c) for c in row])


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """A whole CSV document (``\\n`` line ends), every cell through :func:`safe_cell`."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([safe_cell(h) for h in header])
    w.writerows([safe_cell(c) for c in row] for row in rows)
    return buf.getvalue()


def column_name(key: str, unit: str) -> str:
    """``fill_pct [%]``, or ``lamp_on`` for unitless quantities."""
    return f"{key} [{unit}]" if unit else key


def points_csv(points: Iterable[Point], keys: Sequence[str], units: Mapping[str, str]) -> str:
    """The points as CSV text; ``keys`` fixes the column order."""
    return csv_text(
        ["time", *(column_name(k, units.get(k, "")) for k in keys)],
        ([format_rfc3339_ns(p.time_ns), *(p.values.get(k) for k in keys)] for p in points),
    )
