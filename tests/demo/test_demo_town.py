"""The demo tells the truth: after 14 days of filled-in history and its first minutes live, a
believable share of bins is due, bins fill a few percent a day, lights follow dusk and dawn,
and boats stay on the waterways. Runs the demo's own fleet through the real pipeline into a
real SQLite store."""

from __future__ import annotations

import itertools
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lorakeet.gateway_bridge.compose import make_pipeline
from lorakeet.gateway_bridge.demo_fleet import fill_history, register_fleet
from lorakeet.gateway_bridge.pipeline import Inbound
from lorakeet.gateway_bridge.sim_town import (
    BOAT_ROUTES,
    DAY_S,
    DUSK_ELEVATION_DEG,
    BinModel,
    LightModel,
    fill_factor,
    metres,
    sun_elevation_deg,
)
from lorakeet.gateway_bridge.simulator import SimDevice, make_fleet, uplink
from lorakeet.settings import PipelineSettings, Settings
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import DeviceFilter, Registry
from lorakeet.storage.sqlite_store import SqliteStore
from lorakeet.views.fleet import BinView, bin_views, boat_views, light_views

APP = "lorakeet-demo"
LIVE_S = 180
INTERVAL_S = 10


@dataclass
class Demo:
    registry: Registry
    store: SqliteStore
    fleet: list[SimDevice]
    now_ns: int


def end_of_day_ns(t_ns: int) -> int:
    day = datetime.fromtimestamp(t_ns / 1e9, UTC).date() + timedelta(days=1)
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000_000


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    tmp: Path = tmp_path_factory.mktemp("demo")
    registry = Registry(f"sqlite:///{tmp / 'registry.db'}")
    store = SqliteStore(tmp / "readings.db")
    fleet = make_fleet(interval_s=INTERVAL_S)
    register_fleet(registry, APP, fleet)
    settings = Settings(pipeline=PipelineSettings(spool_path=None))
    pipeline = make_pipeline(settings, store, registry)
    pipeline.start()
    start = time.time_ns()
    assert fill_history(pipeline.submit, fleet, APP, start) > 20_000
    # the first three minutes live: every device every ten seconds
    for k in range(1, LIVE_S // INTERVAL_S + 1):
        t = start + k * INTERVAL_S * 1_000_000_000
        for d in fleet:
            pipeline.submit(Inbound(uplink(d, APP, t), "ttn", f"v3/{APP}@ttn/devices/{d.device_id}/up"))
    assert pipeline.wait_idle(120)
    pipeline.stop()
    yield Demo(registry, store, fleet, start + LIVE_S * 1_000_000_000)
    store.close()
    registry.close()


def bins(demo: Demo) -> list[BinView]:
    return bin_views(demo.registry, demo.store, DeviceFilter(), demo.now_ns, end_of_day_ns(demo.now_ns))


def test_a_believable_share_of_bins_is_due(demo: Demo) -> None:
    views = bins(demo)
    assert len(views) == 50
    due = sum(v.state.needs_collection for v in views)
    assert 0.05 <= due / len(views) <= 0.40, f"{due} of {len(views)} bins due"
    emptied = sum(v.state.last_emptied_ns is not None for v in views)
    assert emptied >= 0.6 * len(views), f"only {emptied} bins emptied in 14 days"


def test_bins_fill_a_few_percent_a_day(demo: Demo) -> None:
    rates = [v.state.rate_pct_per_h * 24 for v in bins(demo) if v.state.rate_pct_per_h is not None]
    assert len(rates) == 50
    assert all(0.5 <= r <= 30 for r in rates), sorted(rates)
    assert 3 <= statistics.median(rates) <= 15


def true_rate_pct_day(model: BinModel, end_s: float, days: float = 14.0) -> float:
    """The model's own mean fill rate over the look-back window: its base rate times the mean
    of its fill factor (day and night, weekdays, market days for bins near the market)."""
    hours = int(days * 24)
    factors = [fill_factor(end_s - (h + 0.5) * 3600, model.near_market) for h in range(hours)]
    return model.rate_pct_day * statistics.fmean(factors)


def test_estimated_rates_follow_the_true_ones(demo: Demo) -> None:
    end_s = demo.now_ns / 1e9
    true = {
        f"{APP}.{d.device_id}": true_rate_pct_day(d.model, end_s)
        for d in demo.fleet
        if isinstance(d.model, BinModel)
    }
    assert len(true) == 50
    for v in bins(demo):
        assert v.state.rate_pct_per_h is not None
        assert v.state.rate_pct_per_h * 24 == pytest.approx(true[v.device.uid], rel=0.25)


def test_lights_switch_at_dusk_and_dawn(demo: Demo) -> None:
    views = light_views(demo.registry, demo.store, DeviceFilter(), demo.now_ns)
    assert len(views) == 30
    for v in views:
        assert v.device.latitude is not None and v.device.longitude is not None
        elevation = sun_elevation_deg(v.device.latitude, v.device.longitude, demo.now_ns / 1e9)
        if abs(elevation - DUSK_ELEVATION_DEG) > 1.5:
            assert v.state.lamp_on == (elevation < DUSK_ELEVATION_DEG), (v.device.uid, elevation)
    # over the filled-in days every light was on some hours and off others
    some = next(d for d in demo.fleet if d.kind == "streetlight")
    pts = demo.store.points(DeviceKey(APP, some.device_id), ["lamp_on"], 0, demo.now_ns + 1, 10_000)
    on = [p.values["lamp_on"] for p in pts]
    assert 0.25 < sum(bool(x) for x in on) / len(on) < 0.8  # December nights are long


def test_lights_fail_now_and_then() -> None:
    rng = random.Random(3)
    lights = [LightModel((51.92, 4.48), random.Random(rng.random())) for _ in range(30)]
    failures = 0
    t0 = 1_780_000_000.0
    for light in lights:
        was = None
        for h in range(365 * 24):
            light.state(t0 + h * 3600)
            if light.fault is not None and was is None:
                failures += 1
            was = light.fault
    assert 40 <= failures <= 160  # about one failure per light every four months


def test_boats_stay_on_the_waterways(demo: Demo) -> None:
    views = boat_views(demo.registry, demo.store, DeviceFilter())
    assert len(views) == 10
    for v in views:
        assert v.position is not None
        p = (v.position.latitude, v.position.longitude)
        assert min(distance_to_route(p, r) for r in BOAT_ROUTES) < 25, v.device.uid


def distance_to_route(p: tuple[float, float], route: list[tuple[float, float]]) -> float:
    best = float("inf")
    for a, b in itertools.pairwise(route):
        for i in range(101):
            f = i / 100
            best = min(best, metres(p, (a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]))))
    return best


def test_nothing_is_time_compressed() -> None:
    """A bin's level depends on the real time elapsed, not on how often it reports."""
    a, b = make_fleet(1, 0, 0)[0], make_fleet(1, 0, 0)[0]
    a.model.round_days = b.model.round_days = ()  # type: ignore[union-attr]  # no emptying in between
    t0 = 1_780_000_000.0
    for h in range(48):
        a.payload(t0 + h * 3600)
    for m in range(48 * 60):
        b.payload(t0 + m * 60)
    assert abs(a.model.fill_pct - b.model.fill_pct) < 1.0  # type: ignore[union-attr]
    assert DAY_S == 86_400
