"""The bridge with decoding and writing in a worker process (``pipeline.workers = 1``).

Real Mosquitto, SQLite store, QoS 1: everything published is stored exactly once, and
when the worker process is SIGKILLed mid-stream it is restarted, the unacknowledged
chunks are replayed, and still nothing is lost or duplicated.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest

from lorakeet.gateway_bridge.bridge import Bridge
from lorakeet.gateway_bridge.broker import LocalBroker
from lorakeet.gateway_bridge.worker import RemotePipeline
from lorakeet.settings import MqttSettings, PipelineSettings, Settings, StoreSettings
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.sqlite_store import SqliteStore

from .e2e import publish, wait_until
from .test_e2e_ingest import APP, STEP, T0, uplinks

pytestmark = pytest.mark.services


def worker_bridge(broker: LocalBroker, tmp_path: Path) -> Bridge:
    settings = Settings(
        mqtt=MqttSettings(url=broker.url, qos=1, client_id=f"bridge-{uuid.uuid4().hex[:8]}"),
        store=StoreSettings(kind="sqlite", sqlite_path=tmp_path / "readings.db"),
        pipeline=PipelineSettings(batch_size=200, flush_interval_s=0.05, workers=1),
        registry_url=f"sqlite:///{tmp_path / 'registry.db'}",
    )
    b = Bridge(settings)
    for i in range(10):
        b.registry.upsert_device(DeviceKey(APP, f"bin-{i:02d}"), kind="bin", decoder="cayenne_lpp")
    b.start()
    assert b.mqtt.wait_connected(10)
    return b


def test_worker_process_stores_everything_once(broker: LocalBroker, tmp_path: Path) -> None:
    b = worker_bridge(broker, tmp_path)
    assert isinstance(b.pipeline, RemotePipeline)
    reader = SqliteStore(tmp_path / "readings.db")
    try:
        publish(broker, uplinks(2000))
        wait_until(lambda: reader.count_uplinks() == 2000, timeout=60, what="2000 uplinks")
        assert b.pipeline.wait_idle(20)
        assert b.pipeline.stats.stored == 2000
    finally:
        b.stop()
    points = reader.points(DeviceKey(APP, "bin-05"), ["distance_1"], T0, T0 + 2000 * STEP, 10_000)
    assert len(points) == 200
    assert points[0].values["distance_1"] == pytest.approx(0.105)


def test_worker_killed_mid_stream_is_restarted_without_loss(broker: LocalBroker, tmp_path: Path) -> None:
    b = worker_bridge(broker, tmp_path)
    assert isinstance(b.pipeline, RemotePipeline)
    reader = SqliteStore(tmp_path / "readings.db")
    try:
        publish(broker, uplinks(1000))
        wait_until(lambda: reader.count_uplinks() > 0, timeout=30, what="first writes")
        os.kill(b.pipeline._proc.pid, signal.SIGKILL)
        publish(broker, uplinks(1000, start=1000))
        wait_until(lambda: b.pipeline.restarts >= 1, timeout=10, what="worker restart")
        wait_until(lambda: reader.count_uplinks() == 2000, timeout=60, what="2000 uplinks after the kill")
        assert b.pipeline.wait_idle(30)
    finally:
        b.stop()
    assert reader.count_uplinks() == 2000
