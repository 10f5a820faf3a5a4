"""Bin views: emptying detection, least-squares fill rate, time-to-full, route; on real stores.

A simulated bin fills at a steady rate with sensor noise after being emptied; the predicted
full time must be within 10 % of the true one (measured as time-to-full from the last reading).
"""

from __future__ import annotations

import random
import time

import pytest

from lorakeet.storage.factory import Store
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import DeviceFilter, Registry
from lorakeet.views.bins import (
    FillSample,
    bin_state,
    emptyings,
    fit_fill,
    haversine_m,
    nearest_neighbour_route,
    threshold_of,
)
from lorakeet.views.fleet import bin_views, fill_samples

from .conftest import stored

H = 3_600 * 1_000_000_000


def steady_bin(t_end: int, rate_pct_h: float, seed: int = 1) -> tuple[list[FillSample], int]:
    """Full bin emptied 30 h before ``t_end``, then filling at ``rate`` ± noise every 30 min.

    Returns the samples and the true time the bin reaches 100 %.
    """
    rng = random.Random(seed)
    out = [FillSample(t_end - (40 - i) * H, 60 + i * 3.0) for i in range(10)]  # before the emptying
    t_empty = t_end - 30 * H
    start_fill = 5.0
    t = t_empty
    while t <= t_end:
        true = start_fill + rate_pct_h * (t - t_empty) / H
        out.append(FillSample(t, min(100.0, max(0.0, true + rng.uniform(-1.5, 1.5)))))
        t += H // 2
    true_full = t_empty + round((100 - start_fill) / rate_pct_h * H)
    return out, true_full


def test_emptying_is_a_sharp_drop() -> None:
    s = [FillSample(i, v) for i, v in enumerate([10, 20, 30, 31, 5, 8, 9, 7, 40, 12])]
    assert emptyings(s) == [4, 9]  # 31 -> 5 and 40 -> 12; 9 -> 7 is noise


def test_least_squares_rate() -> None:
    s = [FillSample(i * H, 10 + 2.5 * i) for i in range(10)]
    fit = fit_fill(s)
    assert fit is not None and fit.rate_pct_per_h == pytest.approx(2.5)
    assert fit.time_at(100) == pytest.approx(36 * H, rel=1e-9)


def test_threshold_from_metadata_or_default() -> None:
    assert threshold_of({"thresholds": {"fill_pct": 70}}) == 70
    assert threshold_of({"collect_at_pct": 90}) == 90
    assert threshold_of({"thresholds": {"fill_pct": "x"}}, 85) == 85
    assert threshold_of({}) == 80


def test_predicted_full_time_within_ten_percent_pure() -> None:
    t_end = 1_700_000_000 * 1_000_000_000
    samples, true_full = steady_bin(t_end, rate_pct_h=2.0)
    st = bin_state(samples, 80, t_end + 24 * H)
    assert st.last_emptied_ns == t_end - 30 * H
    assert st.full_at_ns is not None
    assert abs(st.full_at_ns - true_full) <= 0.1 * (true_full - t_end)
    assert st.rate_pct_per_h == pytest.approx(2.0, rel=0.1)


def test_needs_collection_by_level_or_prediction() -> None:
    t = 1_700_000_000 * 1_000_000_000
    full = [FillSample(t - i * H, 85 - i) for i in range(5)][::-1]
    assert bin_state(full, 80, t).needs_collection
    filling = [FillSample(t - (4 - i) * H, 60 + 4 * i) for i in range(5)]  # 76 % now, +4 %/h
    assert not bin_state(filling, 80, t + H // 2).needs_collection
    assert bin_state(filling, 80, t + 2 * H).needs_collection
    slow = [FillSample(t - (4 - i) * H, 10 + 0.1 * i) for i in range(5)]
    assert not bin_state(slow, 80, t + 24 * H).needs_collection
    assert bin_state([], 80, t).reason == "no readings"


def test_nearest_neighbour_route() -> None:
    depot = (51.90, 4.48)
    stops = {"far": (51.95, 4.48), "near": (51.901, 4.48), "mid": (51.92, 4.48)}
    order = nearest_neighbour_route(depot, list(stops), lambda s: stops[s])
    assert order == ["near", "mid", "far"]
    assert haversine_m((0, 0), (0, 1)) == pytest.approx(111_195, rel=1e-3)


def test_bin_views_on_real_store(store: Store, sqlite_registry: Registry) -> None:
    now = time.time_ns()
    samples, true_full = steady_bin(now - 60_000_000_000, rate_pct_h=1.5, seed=3)
    batch = [
        stored("town.bin-a", "bin", s.time_ns, i + 1, fill_pct=s.fill_pct) for i, s in enumerate(samples)
    ]
    batch += [
        stored("town.bin-b", "bin", now - H * (3 - i), 100 + i, fill_pct=90.0 + i, battery=55.0)
        for i in range(3)
    ]
    store.write(batch)
    sqlite_registry.upsert_device(DeviceKey("town", "bin-a"), kind="bin", visibility="public")
    sqlite_registry.upsert_device(
        DeviceKey("town", "bin-b"), kind="bin", visibility="public", metadata={"thresholds": {"fill_pct": 95}}
    )
    sqlite_registry.upsert_device(DeviceKey("town", "bin-c"), kind="bin", visibility="public")  # silent

    got = fill_samples(store, DeviceKey("town", "bin-a"), now, 14 * 24 * H)
    assert [round(s.fill_pct, 6) for s in got] == [round(s.fill_pct, 6) for s in samples]

    views = bin_views(sqlite_registry, store, DeviceFilter(), now, now + 24 * H)
    assert [v.device.uid for v in views] == ["town.bin-b", "town.bin-a", "town.bin-c"]  # fullest first
    b, a, c = views
    assert b.state.threshold_pct == 95 and b.battery == 55.0 and b.state.fill_pct == 92.0
    assert a.state.full_at_ns is not None
    last = samples[-1].time_ns
    assert abs(a.state.full_at_ns - true_full) <= 0.1 * (true_full - last)
    assert c.state.fill_pct is None and not c.state.needs_collection
