"""``GET /metrics`` (Prometheus text, a registry per app) and ``GET /readyz`` (registry and store
answer, or 503 problem+json naming what failed), over real SQLite, InfluxDB and a real pipeline."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from lorakeet.api.app import create_app
from lorakeet.api.deps import Services
from lorakeet.gateway_bridge.devices import DeviceDirectory
from lorakeet.gateway_bridge.pipeline import Decoding, Pipeline
from lorakeet.gateway_bridge.simulator import ttn_uplink_body
from lorakeet.storage.influx_store import InfluxStore
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore

from .conftest import api_settings

SECRET = "hook-secret"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page by (name, sorted labels)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_counts_devices_by_kind(api_client: TestClient, api_services: Services) -> None:
    reg = api_services.registry
    reg.upsert_device(DeviceKey("town", "bin-1"), kind="bin")
    reg.upsert_device(DeviceKey("town", "bin-2"), kind="bin")
    reg.ensure_device(DeviceKey("town", "stray"))
    r = api_client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    got = samples(r.text)
    assert got[("lorakeet_devices", (("kind", "bin"), ("registered_by", "registered")))] == 2
    assert got[("lorakeet_devices", (("kind", "other"), ("registered_by", "auto")))] == 1
    assert got[("lorakeet_devices", (("kind", "boat"), ("registered_by", "registered")))] == 0
    assert not any(name.startswith("lorakeet_uplinks") for name, _ in got)  # no pipeline, no pipeline metrics
    reg.delete_device(DeviceKey("town", "bin-2"))
    again = samples(api_client.get("/metrics").text)  # read at scrape time
    assert again[("lorakeet_devices", (("kind", "bin"), ("registered_by", "registered")))] == 1


def test_every_app_has_its_own_metrics_registry(api_services: Services) -> None:
    for _ in range(3):  # a process-wide registry would refuse the second, duplicate collector
        with TestClient(create_app(api_services)) as client:
            assert client.get("/metrics").status_code == 200


@pytest.fixture
def hooked(sqlite_registry: Registry, sqlite_store: SqliteStore) -> Iterator[TestClient]:
    pipeline = Pipeline(
        sqlite_store, Decoding(DeviceDirectory(sqlite_registry)), batch_size=100, flush_interval=0.01
    )
    pipeline.start()
    sqlite_registry.set_application_secret("town", hashlib.sha256(SECRET.encode()).hexdigest(), None)
    services = Services(api_settings(), sqlite_registry, sqlite_store, pipeline=pipeline)
    with TestClient(create_app(services)) as client:
        yield client
    pipeline.stop()


def test_metrics_export_the_ingest_pipeline(hooked: TestClient) -> None:
    for f_cnt in (1, 2, 2):  # the third is a duplicate
        body = ttn_uplink_body(
            "town", "bin-1", b"\x01", f_cnt=f_cnt, received_at_ns=1_767_225_600_000_000_000 + f_cnt
        )
        r = hooked.post(
            "/v1/ingest/ttn",
            content=body,
            headers={"X-Lorakeet-Secret": SECRET, "Content-Type": "application/json"},
        )
        assert r.status_code == 200, r.text
    got = samples(hooked.get("/metrics").text)
    assert got[("lorakeet_uplinks_received_total", (("source", "webhook"),))] == 3
    assert got[("lorakeet_uplinks_stored_total", (("source", "webhook"),))] == 2
    assert got[("lorakeet_dedup_hits_total", (("source", "webhook"),))] == 1
    assert got[("lorakeet_devices", (("kind", "other"), ("registered_by", "auto")))] == 1


def test_readyz_when_both_answer(api_client: TestClient) -> None:
    r = api_client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"registry": "ok", "store": "ok"}}


@pytest.mark.services
def test_readyz_on_influxdb(sqlite_registry: Registry, influx_store: InfluxStore) -> None:
    with TestClient(create_app(Services(api_settings(), sqlite_registry, influx_store))) as client:
        assert client.get("/readyz").status_code == 200


def test_readyz_names_a_store_that_does_not_answer(sqlite_registry: Registry) -> None:
    dead = InfluxStore("http://127.0.0.1:9", "lorakeet", timeout_s=2)
    try:
        with TestClient(create_app(Services(api_settings(), sqlite_registry, dead))) as client:
            r = client.get("/readyz")
    finally:
        dead.close()
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 503 and body["failed"] == ["store"] and body["instance"] == "/readyz"
    assert body["detail"].startswith("store: ")
    assert body["checks"]["registry"] == "ok"


def test_readyz_names_a_registry_that_does_not_answer(tmp_path: Path, sqlite_store: SqliteStore) -> None:
    broken = Registry(f"sqlite:///{tmp_path / 'no-such-dir' / 'sub' / 'registry.db'}", create=False)
    shutil.rmtree(
        tmp_path / "no-such-dir"
    )  # make_engine made the folder; without it SQLite cannot open the file
    try:
        with TestClient(create_app(Services(api_settings(), broken, sqlite_store))) as client:
            r = client.get("/readyz")
    finally:
        broken.close()
    assert r.status_code == 503
    body = r.json()
    assert body["failed"] == ["registry"] and body["checks"]["store"] == "ok"
    assert "OperationalError" in body["detail"]
