"""Waste bins: fill level, emptying detection, fill rate, time-to-full and a collection route.

An *emptying* is a drop of at least ``EMPTY_DROP_PCT`` percentage points between two
successive readings (a crew tipped the bin). The fill rate is a pooled least-squares slope
over the whole look-back window (days, not minutes): the readings between emptyings form
segments, each with its own level, and one slope fits them all, so emptyings do not count
as negative filling and sensor noise over a few minutes cannot make hundreds of percent an
hour. Readings at the brim (``BRIM_PCT`` and up) are left out of the fit: a full bin stops
rising. With less than ``MIN_FIT_SPAN_NS`` of filling seen there is no rate. The predicted
full time is where the line through the current segment's level reaches 100 % (or a bin's
collection threshold). A bin needs collection when it is at or
above its threshold, or is predicted to get there before a deadline (the end of the day).

A bin's threshold comes from its registry metadata (``thresholds.fill_pct`` or
``collect_at_pct``), else the fleet default.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

EMPTY_DROP_PCT = 25.0
DEFAULT_THRESHOLD_PCT = 80.0
MIN_FIT_SAMPLES = 3
MIN_FIT_SPAN_NS = 3 * 3_600 * 1_000_000_000
BRIM_PCT = 98.0
NS_PER_H = 3_600 * 1_000_000_000
EARTH_RADIUS_M = 6_371_008.8

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FillSample:
    """One fill reading."""

    time_ns: int
    fill_pct: float


@dataclass(frozen=True, slots=True)
class Fit:
    """A least-squares line ``fill = intercept + slope * (t - t0)`` (slope in % per ns)."""

    t0_ns: int
    intercept: float
    slope_per_ns: float

    @property
    def rate_pct_per_h(self) -> float:
        """The slope in percentage points per hour."""
        return self.slope_per_ns * NS_PER_H

    def time_at(self, level_pct: float) -> int | None:
        """When the line reaches ``level_pct``; None when it never rises."""
        if self.slope_per_ns <= 0:
            return None
        return self.t0_ns + round((level_pct - self.intercept) / self.slope_per_ns)


def emptyings(samples: Sequence[FillSample], min_drop: float = EMPTY_DROP_PCT) -> list[int]:
    """Indices of the first reading after each emptying (samples oldest first)."""
    return [i for i in range(1, len(samples)) if samples[i - 1].fill_pct - samples[i].fill_pct >= min_drop]


def since_last_emptying(samples: Sequence[FillSample], min_drop: float = EMPTY_DROP_PCT) -> list[FillSample]:
    """The readings from the last emptying on (all of them when none was seen)."""
    found = emptyings(samples, min_drop)
    return list(samples[found[-1] :] if found else samples)


def fit_fill(samples: Sequence[FillSample]) -> Fit | None:
    """Least-squares line through the samples; None with too few or all at one time."""
    if len(samples) < MIN_FIT_SAMPLES:
        return None
    t0 = samples[0].time_ns
    xs = [float(s.time_ns - t0) for s in samples]
    ys = [s.fill_pct for s in samples]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return Fit(t0, my - slope * mx, slope)


def pooled_fit(
    samples: Sequence[FillSample],
    min_drop: float = EMPTY_DROP_PCT,
    min_span_ns: int = MIN_FIT_SPAN_NS,
) -> Fit | None:
    """One slope through every segment between emptyings, anchored at the last reading.

    Each segment is centred on its own means (its own level), so the slope is
    ``Σ Sxy / Σ Sxx`` over the segments. The line's level at the latest reading comes from
    the current segment when it has ``MIN_FIT_SAMPLES``, else from that reading alone.
    None when the segments span less than ``min_span_ns`` in all, or hold too few readings.
    """
    if not samples:
        return None
    cuts = [0, *emptyings(samples, min_drop), len(samples)]
    sxx = sxy = 0.0
    span = used = 0
    last_mean: tuple[float, float, int] | None = None
    t_ref = samples[-1].time_ns
    for a, b in itertools.pairwise(cuts):
        seg = [s for s in samples[a:b] if s.fill_pct < BRIM_PCT]
        if len(seg) < 2:
            continue
        xs = [float(s.time_ns - t_ref) for s in seg]
        ys = [s.fill_pct for s in seg]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx += sum((x - mx) ** 2 for x in xs)
        sxy += sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
        span += seg[-1].time_ns - seg[0].time_ns
        used += len(seg)
        if b == len(samples):
            last_mean = (mx, my, len(seg))
    if used < MIN_FIT_SAMPLES or span < min_span_ns or sxx == 0:
        return None
    slope = sxy / sxx
    latest = samples[-1]
    if last_mean is not None and last_mean[2] >= MIN_FIT_SAMPLES and latest.fill_pct < BRIM_PCT:
        level = last_mean[1] - slope * last_mean[0]  # the segment's line at t_ref (x = 0)
    else:
        level = latest.fill_pct
    return Fit(t_ref, level, slope)


def threshold_of(metadata: Mapping[str, object], default: float = DEFAULT_THRESHOLD_PCT) -> float:
    """The bin's collection threshold in percent: its metadata, else ``default``."""
    candidates: list[object] = []
    thresholds = metadata.get("thresholds")
    if isinstance(thresholds, Mapping):
        candidates.append(thresholds.get("fill_pct"))
    candidates.append(metadata.get("collect_at_pct"))
    for c in candidates:
        if isinstance(c, int | float) and not isinstance(c, bool) and 0 < c <= 100:
            return float(c)
    return default


@dataclass(frozen=True, slots=True)
class BinState:
    """What a crew needs to know about one bin."""

    fill_pct: float | None
    time_ns: int | None
    threshold_pct: float
    rate_pct_per_h: float | None
    full_at_ns: int | None
    threshold_at_ns: int | None
    last_emptied_ns: int | None
    needs_collection: bool
    reason: str


@dataclass(frozen=True, slots=True)
class FillTrend:
    """What a bin's history says, independent of thresholds and deadlines (cached per bin)."""

    latest: FillSample
    fit: Fit | None
    last_emptied_ns: int | None


def fill_trend(samples: Sequence[FillSample], min_drop: float = EMPTY_DROP_PCT) -> FillTrend | None:
    """The latest reading, the pooled fit and the last emptying; None without readings."""
    if not samples:
        return None
    found = emptyings(samples, min_drop)
    return FillTrend(
        samples[-1], pooled_fit(samples, min_drop), samples[found[-1]].time_ns if found else None
    )


def assess(trend: FillTrend | None, threshold_pct: float, deadline_ns: int) -> BinState:
    """A bin's state from its trend against a threshold and a collection deadline (cheap)."""
    if trend is None:
        return BinState(None, None, threshold_pct, None, None, None, None, False, "no readings")
    latest, fit = trend.latest, trend.fit
    rate = fit.rate_pct_per_h if fit else None
    full_at = _not_before(fit.time_at(100.0), latest) if fit else None
    at_threshold = _not_before(fit.time_at(threshold_pct), latest) if fit else None
    if latest.fill_pct >= threshold_pct:
        needs, reason = True, f"{latest.fill_pct:.0f} % ≥ threshold {threshold_pct:.0f} %"
    elif at_threshold is not None and at_threshold <= deadline_ns:
        needs, reason = True, f"predicted to reach {threshold_pct:.0f} % before the deadline"
    else:
        needs, reason = False, "below threshold"
    return BinState(
        latest.fill_pct,
        latest.time_ns,
        threshold_pct,
        rate,
        full_at,
        at_threshold,
        trend.last_emptied_ns,
        needs,
        reason,
    )


def bin_state(
    samples: Sequence[FillSample],
    threshold_pct: float,
    deadline_ns: int,
    *,
    min_drop: float = EMPTY_DROP_PCT,
) -> BinState:
    """Assess one bin from its fill readings (oldest first) against a collection deadline."""
    return assess(fill_trend(samples, min_drop), threshold_pct, deadline_ns)


def _not_before(t: int | None, latest: FillSample) -> int | None:
    """A predicted time is never before the latest reading (already there: now)."""
    return None if t is None else max(t, latest.time_ns)


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres between two (lat, lon) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def nearest_neighbour_route(
    depot: tuple[float, float], stops: Sequence[T], position: Callable[[T], tuple[float, float]]
) -> list[T]:
    """Stops ordered greedily: from the depot, always to the nearest unvisited stop.

    Not optimal (a crew may shave 10-25 % off with a real solver) but stable, explainable
    and O(n²), which is nothing for the few hundred bins of a round.
    """
    left = list(stops)
    here = depot
    out: list[T] = []
    while left:
        i = min(range(len(left)), key=lambda j: haversine_m(here, position(left[j])))
        nxt = left.pop(i)
        out.append(nxt)
        here = position(nxt)
    return out


def route_length_m(depot: tuple[float, float], points: Sequence[tuple[float, float]]) -> float:
    """Length of depot → points in order, in metres (not back to the depot)."""
    total, here = 0.0, depot
    for p in points:
        total += haversine_m(here, p)
        here = p
    return total
