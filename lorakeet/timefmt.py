"""RFC 3339 timestamps with nanoseconds, as The Things Stack and ChirpStack send them."""

from __future__ import annotations

from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch from ``2024-05-01T10:00:00.123456789Z`` (any offset).

    Python's datetime keeps microseconds only; the fraction is parsed here so that
    nanosecond timestamps survive (they are part of the dedup key). Raises ValueError.
    """
    s = text.strip()
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
    return seconds * 1_000_000_000 + (int(frac.ljust(9, "0")) if dot else 0)


def format_rfc3339_ns(ns: int) -> str:
    """``2024-05-01T10:00:00.123456789Z`` from nanoseconds since the epoch."""
    seconds, frac = divmod(ns, 1_000_000_000)
    dt = datetime.fromtimestamp(seconds, UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{frac:09d}Z"
