"""Query times: RFC 3339 or relative to now (``-7d``, ``-15m``, ``now``).

Times are nanoseconds in a signed 64-bit integer downstream (SQLite, InfluxDB), and the
stores add windows to them: a time must lie within ``±2**62`` ns of the epoch (about the
years 1824 to 2116) and a duration may be at most ``2**61`` ns (about 73 years), so no sum
of the two can overflow. Anything outside is a ValueError saying the accepted range.
"""

from __future__ import annotations

import re

from lorakeet.timefmt import format_rfc3339_ns, parse_rfc3339_ns

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_RELATIVE = re.compile(r"^-(\d{1,7})([smhdw])\Z")
_DURATION = re.compile(r"^(\d{1,7})([smhdw])\Z")
TIME_LIMIT_NS = 2**62
DURATION_LIMIT_NS = 2**61
MAX_TIME_TEXT = 64


def _in_range(text: str, ns: int) -> int:
    if -TIME_LIMIT_NS <= ns <= TIME_LIMIT_NS:
        return ns
    raise ValueError(
        f"{text[:MAX_TIME_TEXT]!r} is out of range: times must lie between "
        f"{format_rfc3339_ns(-TIME_LIMIT_NS)} and {format_rfc3339_ns(TIME_LIMIT_NS)}"
    )


def parse_time(text: str, now_ns: int) -> int:
    """Nanoseconds since the epoch; raises ValueError with a readable message."""
    t = text.strip()
    if len(t) > MAX_TIME_TEXT:
        raise ValueError(f"a time is at most {MAX_TIME_TEXT} characters")
    if t == "now":
        return now_ns
    m = _RELATIVE.match(t)
    if m:
        return _in_range(text, now_ns - int(m.group(1)) * _UNITS[m.group(2)] * 1_000_000_000)
    try:
        ns = parse_rfc3339_ns(t)
    except (ValueError, OverflowError):
        raise ValueError(
            f"{text[:MAX_TIME_TEXT]!r} is not a time: use RFC 3339 (2024-05-01T10:00:00Z) or relative "
            "(-7d, -15m, now)"
        ) from None
    return _in_range(text, ns)


def parse_duration(text: str) -> int:
    """Nanoseconds from ``30s``, ``15m``, ``1h``, ``1d``, ``1w``; raises ValueError."""
    m = _DURATION.match(text.strip())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{text[:MAX_TIME_TEXT]!r} is not a duration: use e.g. 30s, 15m, 1h, 1d")
    ns = int(m.group(1)) * _UNITS[m.group(2)] * 1_000_000_000
    if ns > DURATION_LIMIT_NS:
        raise ValueError(
            f"{text!r} is too long: a duration may be at most {DURATION_LIMIT_NS // 604_800_000_000_000}w"
        )
    return ns


def parse_range(
    start: str, end: str, now_ns: int, names: tuple[str, str] = ("start", "end")
) -> tuple[int, int]:
    """[start, end) in ns from two times (see ``parse_time``); raises ValueError when either is
    unreadable or the range is empty (``names``: what the message calls the two)."""
    start_ns, end_ns = parse_time(start, now_ns), parse_time(end, now_ns)
    if end_ns <= start_ns:
        raise ValueError(f"{names[1]} must be after {names[0]}")
    return start_ns, end_ns
