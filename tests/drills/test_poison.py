"""Poison drills: out-of-range uplinks, points the store refuses, a crashing pipeline thread.

Each ends with every message stored, rejected (kept raw) or dead-lettered, and ingest
still running: the uplinks around the poison are all stored.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion

from lorakeet.gateway_bridge.bridge import Bridge
from lorakeet.gateway_bridge.broker import LocalBroker, free_port
from lorakeet.gateway_bridge.devices import DeviceDirectory
from lorakeet.gateway_bridge.durability import replay_dead_letters
from lorakeet.gateway_bridge.pipeline import Decoding, Inbound, Pipeline
from lorakeet.settings import ApiSettings, MqttSettings, PipelineSettings, Settings, StoreSettings
from lorakeet.storage.dead_letters import DeadLetters
from lorakeet.storage.influx_store import InfluxStore
from lorakeet.storage.records import DeviceKey, StoredUplink
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore

from ..services import InfluxServer
from .conftest import APP, report, sqlite_counts, uplink, wait_until
from .test_store_faults import influx_counts

pytestmark = [
    pytest.mark.services,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]

HOUR_NS = 3600 * 10**9


def patched(i: int, **changes: object) -> bytes:
    """Uplink i with envelope fields replaced (``received_at`` at the top, others in uplink_message)."""
    doc = orjson.loads(uplink(i)[1])
    for key, value in changes.items():
        if key == "received_at":
            doc["received_at"] = value
            for rx in doc["uplink_message"]["rx_metadata"]:
                rx.pop("time", None)
        elif key == "frequency":
            doc["uplink_message"]["settings"]["frequency"] = value
        elif key == "spreading_factor":
            doc["uplink_message"]["settings"]["data_rate"]["lora"]["spreading_factor"] = value
        else:
            doc["uplink_message"][key] = value
    return orjson.dumps(doc)


def big_int_object(i: int) -> bytes:
    """Uplink i whose decoded object holds an integer beyond 64 bits (the validated parser keeps it)."""
    body = patched(i, f_cnt=str(i + 1), decoded_payload={"counter": 7})
    return body.replace(b'"counter":7', b'"counter":' + str(2**70).encode())


def with_payload(body: bytes, payload: bytes) -> bytes:
    doc = orjson.loads(body)
    doc["uplink_message"]["frm_payload"] = base64.b64encode(payload).decode()
    return orjson.dumps(doc)


def publish(port: int, messages: Sequence[tuple[str, bytes]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"drill-pub-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, body, qos=1) for topic, body in messages]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def topic(i: int) -> str:
    return uplink(i)[0]


def run_bridge(
    tmp_path: Path, broker: LocalBroker, store: SqliteStore | InfluxStore
) -> tuple[Bridge, Registry]:
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    settings = Settings(
        mqtt=MqttSettings(url=broker.url, qos=1, client_id=f"drill-{uuid.uuid4().hex[:6]}"),
        pipeline=PipelineSettings(batch_size=100, flush_interval_s=0.05, spool_path=tmp_path / "spool.db"),
        registry_url=f"sqlite:///{tmp_path / 'registry.db'}",
    )
    bridge = Bridge(settings, store=store, registry=registry)
    bridge.start()
    assert bridge.mqtt.wait_connected(10)
    return bridge, registry


def test_overflow_poison_sqlite(tmp_path: Path, broker: LocalBroker) -> None:
    store = SqliteStore(tmp_path / "readings.db")
    bridge, registry = run_bridge(tmp_path, broker, store)
    poison = {
        40: patched(40, f_cnt=2**63),
        80: patched(80, received_at="9999-12-31T23:59:59Z"),
        120: patched(120, received_at="0001-01-01T00:00:00Z"),
        160: patched(160, frequency=str(2**63)),
        180: patched(180, spreading_factor=2**63),
    }
    n = 200
    try:
        publish(broker.port, [(topic(i), poison.get(i, uplink(i)[1])) for i in range(n)])
        wait_until(lambda: bridge.pipeline.stats.received >= n, 30, f"{n} messages received")
        assert bridge.pipeline.wait_idle(30)
        stored, dups = sqlite_counts(tmp_path / "readings.db")
        rejected = store.rejected(1000)
        dead = DeadLetters(registry).count()
        report(
            "overflow-poison-sqlite",
            n,
            stored,
            dups,
            "f_cnt 2^63, years 9999 and 0001, frequency and SF 2^63",
            rejected=len(rejected),
            dead_lettered=dead,
        )
        assert (stored, len(rejected), dead, dups) == (n - len(poison), len(poison), 0, 0)
        assert sorted(r.error.split(" ")[0] for r in rejected) == [
            "f_cnt",
            "frequency",
            "reception",
            "reception",
            "spreading",
        ]
        assert bridge.pipeline.health() == []
    finally:
        bridge.stop()
        registry.close()


def test_overflow_poison_influxdb(tmp_path: Path, broker: LocalBroker, influx_server: InfluxServer) -> None:
    store = InfluxStore(influx_server.url, influx_server.new_database(), timeout_s=5)
    store.create_database()
    bridge, registry = run_bridge(tmp_path, broker, store)
    poison = {77: patched(77, f_cnt=2**63), 150: big_int_object(150)}
    n = 200
    try:
        publish(broker.port, [(topic(i), poison.get(i, uplink(i)[1])) for i in range(n)])
        wait_until(lambda: bridge.pipeline.stats.received >= n, 30, f"{n} messages received")
        assert bridge.pipeline.wait_idle(30)
        stored, dups = influx_counts(store)
        rejected = int(store.query("SELECT count(error) FROM rejected")[0]["series"][0]["values"][0][1])
        letters = DeadLetters(registry).page()
        report(
            "overflow-poison-influxdb",
            n,
            stored,
            dups,
            "f_cnt 2^63; a 70-bit integer in the decoded object",
            rejected=rejected,
            dead_lettered=len(letters),
        )
        assert (stored, rejected, len(letters), dups) == (n - 2, 1, 1, 0)
        assert letters[0].f_cnt == 151 and "64-bit" in letters[0].reason
    finally:
        bridge.stop()
        registry.close()
        store.close()


def ingest(
    tmp_path: Path, store: InfluxStore, bodies: Sequence[bytes]
) -> tuple[Pipeline, Registry, DeadLetters]:
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    for d in range(10):
        registry.upsert_device(DeviceKey(APP, f"bin-{d:02d}"), kind="bin", decoder="cayenne_lpp")
    dead = DeadLetters(registry)
    p = Pipeline(
        store, Decoding(DeviceDirectory(registry)), batch_size=1000, flush_interval=0.05, dead_letters=dead
    )
    p.start()
    now = time.time_ns()
    for b in bodies:
        p.submit(Inbound(b, "ttn", "drill", arrived_ns=now))
    assert p.wait_idle(60)
    p.stop()
    return p, registry, dead


def test_retention_poison_then_replay(tmp_path: Path, influx_server: InfluxServer) -> None:
    db = influx_server.new_database()
    store = InfluxStore(influx_server.url, db, timeout_s=5)
    store.query(f'CREATE DATABASE "{db}" WITH DURATION 1h', method="POST")
    now = time.time_ns()
    n, old = 300, 123
    bodies = [uplink(i, now - (48 * HOUR_NS if i == old else (n - i) * 10**9))[1] for i in range(n)]
    p, registry, dead = ingest(tmp_path, store, bodies)
    try:
        stored, dups = influx_counts(store)
        letters = dead.page()
        report(
            "retention-poison",
            n,
            stored,
            dups,
            "one uplink 2 days old into a 1h retention policy",
            rejected=p.stats.rejected,
            dead_lettered=len(letters),
        )
        assert (stored, len(letters), dups) == (n - 1, 1, 0)
        assert letters[0].f_cnt == old + 1 and "retention" in letters[0].reason
        store.query(f'ALTER RETENTION POLICY "autogen" ON "{db}" DURATION 30d', method="POST")
        result = replay_dead_letters(store, dead)
        again = replay_dead_letters(store, dead)
        stored, dups = influx_counts(store)
        report(
            "retention-poison-replayed",
            n,
            stored,
            dups,
            "after ALTER RETENTION POLICY ... DURATION 30d",
            dead_lettered=dead.count(),
        )
        assert (result.stored, result.refused, again.stored) == (1, 0, 0)
        assert (stored, dups, dead.count()) == (n, 0, 0)
    finally:
        registry.close()
        store.close()


def test_field_type_conflict_with_another_writer(tmp_path: Path, influx_server: InfluxServer) -> None:
    store = InfluxStore(influx_server.url, influx_server.new_database(), timeout_s=5)
    store.create_database()
    now = time.time_ns()
    # another tool wrote distance_1 as a string first (same measurement, same shard)
    store.write_lines([f'reading,application_id=other-tool,device_id=x,kind=bin distance_1="far" {now}'])
    n = 200
    voltage_only = bytes([2, 116, 1, 44])
    bodies = [uplink(i, now - (n - i) * 10**6)[1] for i in range(n)]
    for i in range(n):
        if i % 10:  # nine in ten carry only a voltage; every tenth a distance as well
            bodies[i] = with_payload(bodies[i], voltage_only)
    p, registry, dead = ingest(tmp_path, store, bodies)
    try:
        _, dups = influx_counts(store)
        readings = store.query("SELECT count(voltage_2) FROM reading")[0]["series"][0]["values"][0][1]
        letters = dead.page(1000)
        report(
            "field-type-conflict",
            n,
            int(readings),
            dups,
            "distance_1 written as a string by another tool",
            rejected=p.stats.rejected,
            dead_lettered=len(letters),
        )
        assert len(letters) == n // 10 and all("conflict" in d.reason for d in letters)
        assert int(readings) == n - n // 10  # every uplink without the conflicting field has its readings
        assert p.stats.stored + p.stats.dead_lettered == n
    finally:
        registry.close()
        store.close()


class CrashOnce(SqliteStore):
    """A SQLite store whose Nth write raises a bug-like error (not a StoreError)."""

    crash_at = 5
    writes = 0

    def write(self, batch: Sequence[StoredUplink]) -> None:
        self.writes += 1
        if self.writes == self.crash_at:
            raise RuntimeError("injected crash of the pipeline thread")
        super().write(batch)


@pytest.fixture
def crash_api(tmp_path: Path) -> Iterator[tuple[str, Pipeline, CrashOnce]]:
    from lorakeet.api.app import create_app
    from lorakeet.api.deps import Services

    store = CrashOnce(tmp_path / "readings.db")
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    registry.set_application_secret(APP, hashlib.sha256(b"drill-crash-secret-0123456789").hexdigest(), None)
    pipeline = Pipeline(store, Decoding(DeviceDirectory(registry)), batch_size=20, flush_interval=0.01)
    pipeline.start()
    settings = Settings(api=ApiSettings(rate_limit_per_minute=1_000_000, rate_limit_burst=100_000))
    services = Services(settings, registry, store, pipeline=pipeline, ingest_timeout_s=8.0)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 10, "uvicorn")
    yield f"http://127.0.0.1:{port}", pipeline, store
    server.should_exit = True
    thread.join(10)
    pipeline.stop()
    registry.close()


def test_pipeline_thread_crash(crash_api: tuple[str, Pipeline, CrashOnce]) -> None:
    url, pipeline, store = crash_api
    n = 200
    statuses: list[tuple[int, str]] = []
    answers: dict[int, int] = {}
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=url, timeout=5) as c:
            while not stop.is_set():
                r = c.get("/readyz")
                statuses.append((r.status_code, r.text))
                time.sleep(0.01)

    def send(start: int) -> None:
        with httpx.Client(base_url=url, timeout=20) as c:
            for i in range(start, n, 4):
                r = c.post(
                    "/v1/ingest/ttn",
                    content=uplink(i)[1],
                    headers={"X-Lorakeet-Secret": "drill-crash-secret-0123456789"},
                )
                answers[r.status_code] = answers.get(r.status_code, 0) + 1

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    senders = [threading.Thread(target=send, args=(k,)) for k in range(4)]
    for t in senders:
        t.start()
    for t in senders:
        t.join(60)
    assert pipeline.wait_idle(20)
    time.sleep(0.1)
    stop.set()
    prober.join(5)
    stored = store.count_uplinks()
    down = [text for code, text in statuses if code == 503]
    report(
        "pipeline-thread-crash",
        n,
        stored,
        0,
        f"{pipeline.stats.restarts} restart, /readyz 503 {len(down)} times then {statuses[-1][0]}, answers {answers}",
    )
    assert stored == n and answers == {200: n}
    assert pipeline.stats.restarts == 1
    assert down and "pipeline thread died" in down[0] and "injected crash" in down[0]
    assert statuses[-1][0] == 200


def test_missing_database_blocks_loudly_then_drains(
    tmp_path: Path, influx_server: InfluxServer, caplog: pytest.LogCaptureFixture
) -> None:
    from lorakeet.storage.spool import Spool

    db = influx_server.new_database()
    store = InfluxStore(influx_server.url, db, timeout_s=5)  # the database does not exist yet
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    p = Pipeline(
        store,
        Decoding(DeviceDirectory(registry)),
        batch_size=25,
        flush_interval=0.01,
        retry_initial=0.1,
        retry_max=0.5,
        spool=Spool(tmp_path / "spool.db"),
        dead_letters=DeadLetters(registry),
    )
    acks: list[BaseException | None] = []
    n = 100
    p.start()
    try:
        for i in range(n):
            p.submit(Inbound(uplink(i)[1], "ttn", "drill", arrived_ns=time.time_ns(), done=acks.append))
        assert p.wait_idle(30)
        blocked = p.health()
        assert acks == [None] * n  # durable in the spool meanwhile
        assert blocked and "store blocked" in blocked[0] and "database not found" in blocked[0]
        assert any(r.levelname == "CRITICAL" and "BLOCKED" in r.message for r in caplog.records)
        store.create_database()  # the operator fixes it
        wait_until(lambda: p.stats.spool_depth == 0, 30, "the spool drained")
        stored, dups = influx_counts(store)
        report(
            "missing-database",
            n,
            stored,
            dups,
            f"blocked: {blocked[0][:60]}...; spooled, drained once created",
            dead_lettered=0,
        )
        assert (stored, dups) == (n, 0) and p.health() == []
    finally:
        p.stop()
        registry.close()
        store.close()


def test_overflow_poison_through_a_worker_process(tmp_path: Path, broker: LocalBroker) -> None:
    registry_url = f"sqlite:///{tmp_path / 'registry.db'}"
    settings = Settings(
        mqtt=MqttSettings(url=broker.url, qos=1, client_id=f"drill-{uuid.uuid4().hex[:6]}"),
        pipeline=PipelineSettings(
            batch_size=100, flush_interval_s=0.05, spool_path=tmp_path / "spool.db", workers=1
        ),
        store=StoreSettings(kind="sqlite", sqlite_path=tmp_path / "readings.db"),
        registry_url=registry_url,
    )
    bridge = Bridge(settings)
    bridge.start()
    assert bridge.mqtt.wait_connected(10)
    n = 200
    poison = {10: patched(10, f_cnt=2**64 - 1), 90: patched(90, received_at="2300-01-01T00:00:00Z")}
    try:
        publish(broker.port, [(topic(i), poison.get(i, uplink(i)[1])) for i in range(n)])
        wait_until(lambda: bridge.pipeline.stats.received >= n, 60, f"{n} messages received")
        assert bridge.pipeline.wait_idle(30)
        stored, dups = sqlite_counts(tmp_path / "readings.db")
        stats = bridge.pipeline.stats
        report(
            "overflow-poison-worker",
            n,
            stored,
            dups,
            "pipeline.workers=1",
            rejected=stats.rejected,
            dead_lettered=stats.dead_lettered,
        )
        assert (stored, stats.rejected, dups) == (n - 2, 2, 0)
        assert stats.rejected_by == {"f_cnt": 1, "time": 1} and bridge.pipeline.health() == []
    finally:
        bridge.stop()
