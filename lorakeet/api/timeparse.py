"""Query times: RFC 3339 or relative to now (``-7d``, ``-15m``, ``now``)."""

from __future__ import annotations

import re

from lorakeet.timefmt import parse_rfc3339_ns

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_RELATIVE = re.compile(r"^-(\d{1,7})([smhdw])$")
_DURATION = re.compile(r"^(\d{1,7})([smhdw])$")


def parse_time(text: str, now_ns: int) -> int:
    """Nanoseconds since the epoch; raises ValueError with a readable message."""
    t = text.strip()
    if t == "now":
        return now_ns
    m = _RELATIVE.match(t)
    if m:
        return now_ns - int(m.group(1)) * _UNITS[m.group(2)] * 1_000_000_000
    try:
        return parse_rfc3339_ns(t)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use RFC 3339 (2024-05-01T10:00:00Z) or relative (-7d, -15m, now)"
        ) from None


def parse_duration(text: str) -> int:
    """Nanoseconds from ``30s``, ``15m``, ``1h``, ``1d``, ``1w``; raises ValueError."""
    m = _DURATION.match(text.strip())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration: use e.g. 30s, 15m, 1h, 1d")
    return int(m.group(1)) * _UNITS[m.group(2)] * 1_000_000_000
