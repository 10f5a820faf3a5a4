"""Drill: a TTS-style QoS 0 gap (bridge down, the broker drops messages for the absent
subscriber) filled by backfill from a fake Storage Integration on restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lorakeet.gateway_bridge.broker import LocalBroker

from ..fake_storage_integration import FakeStorageIntegration
from .conftest import APP, BridgeProcess, Streamer, bridge_env, report, sqlite_counts, wait_until

pytestmark = pytest.mark.services


@pytest.fixture
def storage_integration() -> Iterator[FakeStorageIntegration]:
    f = FakeStorageIntegration(APP).start()
    yield f
    f.close()


def test_qos0_gap_filled_by_backfill(
    tmp_path: Path,
    drill_broker: LocalBroker,
    bridges: list[BridgeProcess],
    storage_integration: FakeStorageIntegration,
) -> None:
    db = tmp_path / "readings.db"
    env = bridge_env(
        tmp_path,
        drill_broker,
        LORAKEET_MQTT__QOS="0",
        LORAKEET_BACKFILL__ENABLED="true",
        LORAKEET_BACKFILL__BASE_URL=storage_integration.url,
        LORAKEET_BACKFILL__API_KEY=storage_integration.api_key,
        LORAKEET_BACKFILL__OVERLAP_S="60",
        LORAKEET_BACKFILL__PAGE_SIZE="200",
    )
    b = BridgeProcess(tmp_path, env).start()
    bridges.append(b)
    b.wait_log("connected to MQTT")
    b.wait_log("backfill from")  # the start-up backfill (nothing to fetch yet)
    s = Streamer(drill_broker.port, qos=0, rate=300)
    try:
        s.stream(0, 500, hook=storage_integration.add)  # TTS stores every uplink too
        s.wait_sent()
        wait_until(lambda: sqlite_counts(db)[0] >= 500, 30, "phase 1 stored")
        b.kill()
        s.stream(500, 500, hook=storage_integration.add)  # the bridge is away: dropped by the broker
        s.wait_sent()
        time.sleep(0.5)
        assert sqlite_counts(db)[0] == 500
        b.start()
        b.wait_log("connected to MQTT", count=2)
        s.stream(1000, 500, hook=storage_integration.add)
        s.wait_sent()
        n = 1500
        wait_until(lambda: sqlite_counts(db)[0] >= n, 60, f"{n} uplinks stored")
        time.sleep(1.0)
        stored, dups = sqlite_counts(db)
        pages = sum(1 for r in storage_integration.requests if r["auth"])
        report("qos0-gap-backfill", n, stored, dups, f"500 lost on MQTT, backfilled in {pages} requests")
        assert (stored, dups) == (n, 0)
        import sqlite3

        with sqlite3.connect(db) as conn:
            (backfilled,) = conn.execute("SELECT count(*) FROM uplink WHERE source = 'backfill'").fetchone()
        assert backfilled >= 500  # the gap came from the Storage Integration, not from MQTT
    finally:
        s.close()
        b.stop()
