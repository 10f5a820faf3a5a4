"""When a device usually reports, and whether it has gone silent."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from itertools import pairwise

DEFAULT_SILENCE_FACTOR = 3.0


def median_interval_ns(times_ns: Sequence[int]) -> int | None:
    """The median gap between successive uplink times (any order); None with fewer than two."""
    ts = sorted(set(times_ns))
    if len(ts) < 2:
        return None
    return int(statistics.median(b - a for a, b in pairwise(ts)))


def is_silent(
    last_ns: int | None, interval_ns: int | None, now_ns: int, factor: float = DEFAULT_SILENCE_FACTOR
) -> bool:
    """True when nothing came for ``factor`` times the usual interval (unknown interval: never)."""
    if last_ns is None or interval_ns is None or interval_ns <= 0:
        return False
    return now_ns - last_ns > factor * interval_ns
