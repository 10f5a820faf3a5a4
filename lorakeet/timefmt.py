"""RFC 3339 timestamps with nanoseconds, as The Things Stack and ChirpStack send them."""

from __future__ import annotations

from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTES: dict[str, int] = {}
"""Epoch seconds of ``YYYY-MM-DDTHH:MM`` prefixes seen (uplinks of one minute share one)."""
_MINUTES_MAX = 4096


def parse_rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch from ``2024-05-01T10:00:00.123456789Z`` (any offset).

    Python's datetime keeps microseconds only; the fraction is parsed here so that
    nanosecond timestamps survive (they are part of the dedup key). Raises ValueError.
    A ``...Z`` timestamp whose minute was seen before is read from the minute's cached
    epoch seconds (the same checks, without building a datetime).
    """
    minute = _MINUTES.get(text[:16])
    if minute is not None and text[-1:] == "Z":
        sec, rest = text[17:19], text[19:-1]
        if text[16] == ":" and sec.isascii() and sec.isdigit() and sec < "60":
            if not rest:
                return (minute + int(sec)) * 1_000_000_000
            if rest[0] == "." and rest[1:].isdigit() and 0 < len(rest) - 1 <= 9:
                return (minute + int(sec)) * 1_000_000_000 + int(rest[1:].ljust(9, "0"))
    s = text.strip()
    clean = s is text  # nothing stripped (str.strip returns the same object then)
    if s.endswith(("Z", "z")):
        s, offset = s[:-1], "+00:00"
    elif len(s) > 6 and s[-6] in "+-" and s[-3] == ":":
        s, offset = s[:-6], s[-6:]
    else:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    base, dot, frac = s.partition(".")
    if dot and not (frac.isdigit() and 0 < len(frac) <= 9):
        raise ValueError(f"timestamp {text!r} has a malformed fraction")
    dt = datetime.fromisoformat(base + offset)
    seconds = int((dt - _EPOCH).total_seconds())
    if clean and offset == "+00:00" and len(base) == 19 and base[10] == "T" and base[16] == ":":
        if len(_MINUTES) >= _MINUTES_MAX:
            _MINUTES.clear()
        _MINUTES[base[:16]] = seconds - dt.second
    return seconds * 1_000_000_000 + (int(frac.ljust(9, "0")) if dot else 0)


def format_rfc3339_ns(ns: int) -> str:
    """``2024-05-01T10:00:00.123456789Z`` from nanoseconds since the epoch."""
    seconds, frac = divmod(ns, 1_000_000_000)
    dt = datetime.fromtimestamp(seconds, UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{frac:09d}Z"
