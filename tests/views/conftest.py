"""Fixtures for the views: one test body runs on SQLite and on InfluxDB 1.6.7 (real servers)."""

from __future__ import annotations

import pytest

from lorakeet.decoders import Reading, Value, split_key
from lorakeet.storage.factory import Store
from lorakeet.storage.records import DeviceKey, StoredUplink, Uplink


@pytest.fixture(params=["sqlite", "influxdb"])
def store(request: pytest.FixtureRequest) -> Store:
    """The real SQLite store and the real InfluxDB store."""
    s: Store = request.getfixturevalue("sqlite_store" if request.param == "sqlite" else "influx_store")
    return s


def stored(uid: str, kind: str, t_ns: int, f_cnt: int, **values: Value) -> StoredUplink:
    """One uplink of ``uid`` at ``t_ns`` carrying ``values``."""
    key = DeviceKey.from_uid(uid)
    up = Uplink("simulator", key.application_id, key.device_id, t_ns, 1, f_cnt, b"\x00")
    readings = tuple(Reading(k, v, split_key(k)[0].unit) for k, v in values.items())
    return StoredUplink(up, kind, "test", readings)
