"""Backfill from the (fake) TTS Storage Integration through the real pipeline into SQLite."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lorakeet.gateway_bridge.backfill import (
    Backfill,
    BackfillError,
    StorageIntegration,
    application_id,
)
from lorakeet.gateway_bridge.devices import DeviceDirectory
from lorakeet.gateway_bridge.pipeline import Decoding, Pipeline
from lorakeet.gateway_bridge.simulator import ttn_uplink_body
from lorakeet.storage.history import newest_uplink_ns
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.sqlite_store import SqliteStore

from .fake_storage_integration import FakeStorageIntegration
from .fakes import StaticDevices

APP = "harbour-boats"
S = 1_000_000_000


@pytest.fixture
def fake() -> Iterator[FakeStorageIntegration]:
    f = FakeStorageIntegration(APP).start()
    yield f
    f.close()


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    store = SqliteStore(tmp_path / "r.db")
    p = Pipeline(store, Decoding(DeviceDirectory(StaticDevices())), batch_size=200, flush_interval=0.01)
    p.start()
    yield p
    p.stop()
    store.close()


def fill(fake: FakeStorageIntegration, n: int, t0: int) -> None:
    for i in range(n):
        fake.add(ttn_uplink_body(APP, f"boat-{i % 5}", b"\x01\x02", f_cnt=i + 1, received_at_ns=t0 + i * S))


def test_pages_through_a_gap_and_submits_as_backfill(
    fake: FakeStorageIntegration, pipeline: Pipeline
) -> None:
    now = time.time_ns()
    t0 = now - 3600 * S
    fill(fake, 250, t0)
    fake.junk = [b"this is not json", b'{"error": {"code": 14, "message": "unavailable"}}']
    client = StorageIntegration(fake.url, APP, fake.api_key, page_size=100)
    res = Backfill(client, pipeline.submit).run(t0 - S)
    assert pipeline.wait_idle(10)
    assert res.durable and res.malformed == 2 and res.lines == 252 and res.pages == 3
    store = pipeline.writer
    assert isinstance(store, SqliteStore)
    assert store.count_uplinks() == 250
    assert {r.body for r in store.rejected()} == {
        b"this is not json",
        b'{"error": {"code": 14, "message": "unavailable"}}',
    }
    ups = store.uplinks(DeviceKey(APP, "boat-0"), 0, now, 1)
    assert ups[0].source == "backfill"
    assert newest_uplink_ns(store, APP) == t0 + 249 * S
    assert fake.requests[0]["auth"] == f"Bearer {fake.api_key}"
    assert fake.requests[0]["query"]["limit"] == "100" and fake.requests[0]["query"]["order"] == "received_at"
    # an overlapping second run stores nothing twice
    res2 = Backfill(client, pipeline.submit).run(t0 + 200 * S)
    assert pipeline.wait_idle(10)
    assert res2.submitted == 49 and store.count_uplinks() == 250 and pipeline.stats.dedup_hits == 49


def test_wrong_key_is_a_loud_error(fake: FakeStorageIntegration, pipeline: Pipeline) -> None:
    client = StorageIntegration(fake.url, APP, "NNSXS.WRONG")
    with pytest.raises(BackfillError, match="refused the API key \\(401\\)"):
        Backfill(client, pipeline.submit).run(time.time_ns() - 60 * S)


def test_gap_older_than_retention_is_logged_as_lost(
    fake: FakeStorageIntegration, pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    client = StorageIntegration(fake.url, APP, fake.api_key)
    with caplog.at_level(logging.ERROR):
        Backfill(client, pipeline.submit, retention_s=86_400).run(time.time_ns() - 2 * 86_400 * S)
    assert any("LOST" in r.message and "retention (24 h)" in r.message for r in caplog.records)


def test_application_id_from_mqtt_username() -> None:
    assert application_id("town-bins@ttn") == "town-bins"
    assert application_id("+") is None


def test_cli_backfill_since(
    fake: FakeStorageIntegration, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from lorakeet.cli import app

    fill(fake, 30, time.time_ns() - 3600 * S)
    fill(fake, 5, time.time_ns() - 5 * 3600 * S)  # older than --since 2h: not fetched
    env = {
        "LORAKEET_BACKFILL__BASE_URL": fake.url,
        "LORAKEET_BACKFILL__APPLICATION": APP,
        "LORAKEET_BACKFILL__API_KEY": fake.api_key,
        "LORAKEET_STORE__SQLITE_PATH": str(tmp_path / "r.db"),
        "LORAKEET_REGISTRY_URL": f"sqlite:///{tmp_path / 'reg.db'}",
        "LORAKEET_PIPELINE__SPOOL_PATH": str(tmp_path / "spool.db"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    result = CliRunner().invoke(app, ["backfill", "--since", "2h"])
    assert result.exit_code == 0, result.output
    assert SqliteStore(tmp_path / "r.db").count_uplinks() == 30
