"""Drills on the store: InfluxDB SIGKILLed mid-stream (bridge spools), webhook sender retrying 5xx."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from lorakeet.gateway_bridge.bridge import Bridge
from lorakeet.gateway_bridge.broker import LocalBroker, free_port
from lorakeet.gateway_bridge.devices import DeviceDirectory
from lorakeet.gateway_bridge.pipeline import Decoding, Pipeline
from lorakeet.settings import ApiSettings, MqttSettings, PipelineSettings, Settings
from lorakeet.storage.influx_store import InfluxStore
from lorakeet.storage.protocols import StoreError
from lorakeet.storage.registry import Registry

from ..services import InfluxServer
from .conftest import APP, Streamer, report, uplink, wait_until

pytestmark = pytest.mark.services

OUTAGE_S = 15.0  # shortened from ~30 s to keep the drill suite near 3 minutes


@pytest.fixture
def influxd() -> Iterator[InfluxServer]:
    """A private influxd this drill may kill."""
    server = InfluxServer().start()
    yield server
    server.close()


def influx_counts(store: InfluxStore) -> tuple[int, int]:
    """(distinct uplinks by device and f_cnt, duplicate points); (-1, 0) while InfluxDB is down."""
    try:
        total = store.count_uplinks()
        rows = store.query("SELECT count(distinct(f_cnt)) FROM uplink GROUP BY device_id")
    except StoreError:
        return -1, 0
    distinct = sum(s["values"][0][1] for r in rows for s in r.get("series", []) or [])
    return int(distinct), total - int(distinct)


def test_influxdb_killed_mid_stream(tmp_path: Path, drill_broker: LocalBroker, influxd: InfluxServer) -> None:
    store = InfluxStore(influxd.url, influxd.new_database(), timeout_s=5)
    store.create_database()
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    settings = Settings(
        mqtt=MqttSettings(url=drill_broker.url, qos=1, client_id=f"drill-{uuid.uuid4().hex[:6]}"),
        pipeline=PipelineSettings(batch_size=200, flush_interval_s=0.05, spool_path=tmp_path / "spool.db"),
    )
    bridge = Bridge(settings, store=store, registry=registry)
    bridge.start()
    assert bridge.mqtt.wait_connected(10)
    n = 3000
    s = Streamer(drill_broker.port, qos=1, rate=150)  # 20 s of traffic
    try:
        s.stream(0, n)
        wait_until(lambda: influx_counts(store)[0] >= 300, 30, "300 stored before the kill")
        influxd.kill()
        time.sleep(OUTAGE_S)
        depth = bridge.pipeline.stats.spool_depth
        influxd.start()
        s.wait_sent()
        wait_until(lambda: influx_counts(store)[0] >= n, 90, f"{n} uplinks in InfluxDB")
        assert bridge.pipeline.wait_idle(30)
        stored, dups = influx_counts(store)
        stats = bridge.pipeline.stats
        report(
            "influxdb-sigkill",
            n,
            stored,
            dups,
            f"{OUTAGE_S:.0f}s outage, spool depth {depth} at restart, {stats.replayed} replayed",
        )
        assert (stored, dups) == (n, 0)
        assert depth > 0 and stats.spool_depth == 0
    finally:
        s.close()
        bridge.stop()
        registry.close()


def test_webhook_sender_retries_after_5xx(tmp_path: Path, influxd: InfluxServer) -> None:
    from lorakeet.api.app import create_app
    from lorakeet.api.deps import Services

    secret = "drill-webhook-secret-0123456789"
    store = InfluxStore(influxd.url, influxd.new_database(), timeout_s=5)
    store.create_database()
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    registry.set_application_secret(APP, hashlib.sha256(secret.encode()).hexdigest(), None)
    # no spool here: a store outage must surface as 503 so the sender's retry is exercised
    pipeline = Pipeline(
        store, Decoding(DeviceDirectory(registry)), batch_size=50, flush_interval=0.01, retry_initial=0.1
    )
    pipeline.start()
    settings = Settings(api=ApiSettings(rate_limit_per_minute=1_000_000, rate_limit_burst=100_000))
    services = Services(settings, registry, store, pipeline=pipeline, ingest_timeout_s=1.0)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 10, "uvicorn")
    n = 300
    statuses: dict[int, int] = {}
    retries = [0]

    def sender() -> None:  # what TTS does: retry until 2xx
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            for i in range(n):
                _, body = uplink(i)
                while True:
                    r = c.post("/v1/ingest/ttn", content=body, headers={"X-Lorakeet-Secret": secret})
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    if r.status_code == 200:
                        break
                    assert r.status_code >= 500, r.text
                    retries[0] += 1
                    time.sleep(0.3)
                time.sleep(0.01)

    t = threading.Thread(target=sender, daemon=True)
    try:
        t.start()
        wait_until(lambda: statuses.get(200, 0) >= 50, 30, "50 webhooks stored")
        influxd.kill()
        time.sleep(5)
        influxd.start()
        t.join(120)
        assert not t.is_alive()
        assert pipeline.wait_idle(30)
        stored, dups = influx_counts(store)
        report("webhook-5xx-retry", n, stored, dups, f"{retries[0]} retries after 5xx, statuses {statuses}")
        assert (stored, dups) == (n, 0) and retries[0] > 0
    finally:
        server.should_exit = True
        thread.join(10)
        pipeline.stop()
        registry.close()
