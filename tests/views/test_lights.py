"""Street-light views on real stores: state, fault flags, inferred faults, silence by median interval."""

from __future__ import annotations

import time

from lorakeet.storage.factory import Store
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import DeviceFilter, Registry
from lorakeet.views.activity import is_silent, median_interval_ns
from lorakeet.views.fleet import light_views
from lorakeet.views.lights import light_state

from .conftest import stored

MIN = 60 * 1_000_000_000


def test_median_interval_and_silence() -> None:
    assert median_interval_ns([0, 10, 20, 35, 45]) == 10
    assert median_interval_ns([5]) is None
    assert is_silent(0, 10, 31)
    assert not is_silent(0, 10, 30)
    assert not is_silent(None, 10, 1000) and not is_silent(0, None, 1000)


def test_light_state_faults() -> None:
    assert light_state({"lamp_on": True, "power": 40.0}).faults == ()
    assert light_state({"lamp_on": True, "power": 0.0}).faults == ("no_power_when_on",)
    assert light_state({"lamp_on": False, "power": 0.0, "power_fault": True}).faults == ("power_fault",)
    assert light_state({"lamp_on": True, "lamp_fault": True, "power": 0.0}, silent=True).faults == (
        "lamp_fault",
        "silent",
    )


def test_light_views_on_real_store(store: Store, sqlite_registry: Registry) -> None:
    now = time.time_ns()
    batch = []
    for i in range(12):  # every 10 min, last one 5 min ago: fine
        batch.append(
            stored(
                "town.light-ok",
                "streetlight",
                now - (5 + 10 * (11 - i)) * MIN,
                i + 1,
                lamp_on=True,
                dim_level=70.0,
                power=42.0,
                energy=12.5 + i,
                lamp_fault=False,
            )
        )
    for i in range(12):  # every 10 min, last one 2 h ago: silent
        batch.append(
            stored(
                "town.light-quiet",
                "streetlight",
                now - (120 + 10 * (11 - i)) * MIN,
                i + 1,
                lamp_on=True,
                dim_level=100.0,
                power=60.0,
                energy=3.0,
            )
        )
    batch.append(
        stored("town.light-dead", "streetlight", now - MIN, 1, lamp_on=True, power=0.0, lamp_fault=True)
    )
    store.write(batch)
    for dev in ("light-ok", "light-quiet", "light-dead"):
        sqlite_registry.upsert_device(DeviceKey("town", dev), kind="streetlight", visibility="public")

    views = {v.device.uid: v for v in light_views(sqlite_registry, store, DeviceFilter(), now)}
    ok, quiet, dead = views["town.light-ok"], views["town.light-quiet"], views["town.light-dead"]
    assert ok.state.faults == () and ok.state.dim_level == 70.0 and ok.state.energy_kwh == 23.5
    assert ok.interval_ns == 10 * MIN and not ok.silent
    assert quiet.silent and quiet.state.faults == ("silent",)
    assert dead.state.faults == ("lamp_fault",) and dead.interval_ns is None
    order = [v.device.uid for v in light_views(sqlite_registry, store, DeviceFilter(), now)]
    assert order.index("town.light-ok") == 2  # faulty ones first
