"""Webhook ingest past one process: two ``lorakeet api`` processes, one PostgreSQL, one InfluxDB.

Two API processes are started with the CLI, as an operator runs them behind a load balancer,
with the same settings: the registry in one PostgreSQL schema, the readings in one private
InfluxDB database. They are started together on an empty schema, so both run the registry
migrations at once. Four concurrent clients then POST TTN webhook uplinks round robin to
both; every fourth uplink is delivered again to the *other* process (as TTS does when it
retries), and the first two uplinks of every device nobody registered yet reach both
processes at the same moment (both auto-register it). A 503 is retried on the other process,
as the ingest route asks; any other 5xx fails the test.

Afterwards every distinct uplink is in InfluxDB exactly once with its values, every device
is registered exactly once in PostgreSQL (auto-registered ones unowned, registered ones
untouched), and neither process logged an error.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from lorakeet.gateway_bridge.broker import free_port
from lorakeet.gateway_bridge.simulator import ttn_uplink_body
from lorakeet.storage.influx_store import InfluxStore
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import Registry

from .services import InfluxServer, drop_postgres_schema, postgres_schema_url

pytestmark = pytest.mark.services

LORAKEET = str(Path(sys.executable).with_name("lorakeet"))
APP = "scale-town"
SECRET = "scale-out-webhook-secret-0123456789"
REGISTERED = [f"bin-{i}" for i in range(4)]  # registered with the Cayenne LPP decoder
UNKNOWN = [f"new-{i}" for i in range(6)]  # never registered: auto-registered on first uplink
PER_DEVICE = 12
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


@dataclass(frozen=True)
class Up:
    """One distinct uplink and the reading it must leave in InfluxDB."""

    device_id: str
    f_cnt: int
    received_at_ns: int
    field: str
    value: float

    def body(self) -> bytes:
        """The TTS webhook body (LPP for registered devices, a decoded_payload for the others)."""
        if self.device_id in REGISTERED:
            payload = bytes([1, 0x67]) + round(self.value * 10).to_bytes(2, "big", signed=True)
            return ttn_uplink_body(
                APP, self.device_id, payload, f_cnt=self.f_cnt, received_at_ns=self.received_at_ns
            )
        return ttn_uplink_body(
            APP,
            self.device_id,
            b"\x00",
            f_cnt=self.f_cnt,
            received_at_ns=self.received_at_ns,
            decoded_payload={"temperature": f"{self.value} °C"},  # the unit stated, as TTS formatters do
        )


def uplinks() -> list[Up]:
    out: list[Up] = []
    for d, dev in enumerate(REGISTERED + UNKNOWN):
        field = "temperature_1" if dev in REGISTERED else "temperature"
        for f_cnt in range(1, PER_DEVICE + 1):
            t = T0 + (f_cnt * 60 + d) * 1_000_000_007  # distinct, not whole seconds
            out.append(Up(dev, f_cnt, t, field, round(10 + d + f_cnt / 10, 1)))
    return out


@dataclass
class ApiProcess:
    """One ``lorakeet api`` subprocess."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_api(name: str, env: dict[str, str], cwd: Path) -> ApiProcess:
    port = free_port()
    log = cwd / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [LORAKEET, "api", "--host", "127.0.0.1", "--port", str(port)],
            env={**env, "LORAKEET_PIPELINE__SPOOL_PATH": str(cwd / f"spool-{name}.db")},
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return ApiProcess(name, port, proc, log)


def wait_ready(api: ApiProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if api.proc.poll() is not None:
            pytest.fail(f"{api.name} exited with {api.proc.returncode}:\n{api.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{api.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{api.name} not ready after {timeout} s:\n{api.log.read_text()[-3000:]}")
        time.sleep(0.1)


def stop(api: ApiProcess) -> None:
    if api.proc.poll() is None:
        api.proc.send_signal(signal.SIGTERM)
        try:
            api.proc.wait(15)
        except subprocess.TimeoutExpired:
            api.proc.kill()
            api.proc.wait()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """An empty schema of the local PostgreSQL ``test`` database (no tables yet)."""
    url, schema = postgres_schema_url()
    yield url
    drop_postgres_schema(schema)


@pytest.fixture
def two_apis(
    tmp_path: Path, pg_url: str, influx_server: InfluxServer
) -> Iterator[tuple[ApiProcess, ApiProcess, str]]:
    """Two API processes with the same settings, started at the same time; yields (a, b, database)."""
    database = influx_server.new_database()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LORAKEET_")}
    env.update(
        LORAKEET_REGISTRY_URL=pg_url,
        LORAKEET_STORE__KIND="influxdb",
        LORAKEET_STORE__INFLUX_URL=influx_server.url,
        LORAKEET_STORE__INFLUX_DATABASE=database,
        LORAKEET_PIPELINE__FLUSH_INTERVAL_S="0.02",
        LORAKEET_API__RATE_LIMIT_BURST="100000",  # all webhooks come from one address here
        LORAKEET_LOG_LEVEL="WARNING",
    )
    apis = [start_api(name, env, tmp_path) for name in ("a", "b")]
    try:
        for api in apis:
            wait_ready(api)
        yield apis[0], apis[1], database
    finally:
        for api in apis:
            stop(api)


def test_two_api_processes_store_each_uplink_once_and_register_each_device_once(
    two_apis: tuple[ApiProcess, ApiProcess, str], pg_url: str, influx_server: InfluxServer
) -> None:
    a, b, database = two_apis
    registry = Registry(pg_url)  # the processes migrated the schema already
    try:
        registry.set_application_secret(APP, hashlib.sha256(SECRET.encode()).hexdigest(), None)
        for dev in REGISTERED:
            registry.upsert_device(DeviceKey(APP, dev), kind="bin", decoder="cayenne_lpp")
    finally:
        registry.close()

    statuses: Counter[int] = Counter()
    retried_503 = 0
    lock = threading.Lock()
    headers = {"X-Lorakeet-Secret": SECRET, "Content-Type": "application/json"}

    with httpx.Client(timeout=30, headers=headers) as client:

        def deliver(up: Up, first: ApiProcess) -> None:
            """POST until a 200; a 503 is retried on the other process (any other answer fails)."""
            nonlocal retried_503
            target = first
            for _ in range(10):
                r = client.post(f"{target.url}/v1/ingest/ttn", content=up.body())
                with lock:
                    statuses[r.status_code] += 1
                if r.status_code == 200:
                    return
                assert r.status_code == 503, f"{target.name}: {r.status_code} {r.text}"
                with lock:
                    retried_503 += 1
                time.sleep(0.2)
                target = b if target is a else a
            pytest.fail(f"uplink {up} never stored")

        def other(api: ApiProcess) -> ApiProcess:
            return b if api is a else a

        all_ups = uplinks()
        by_device = {dev: [u for u in all_ups if u.device_id == dev] for dev in REGISTERED + UNKNOWN}

        # Devices nobody registered: their first two uplinks hit both processes at the same moment.
        racing = [(u, proc) for dev in UNKNOWN for u, proc in zip(by_device[dev][:2], (a, b), strict=True)]
        barrier = threading.Barrier(len(racing))

        def race(item: tuple[Up, ApiProcess]) -> None:
            barrier.wait(10)
            deliver(*item)

        started = time.monotonic()
        with ThreadPoolExecutor(len(racing)) as pool:
            list(pool.map(race, racing))

        # The rest round robin from four clients; every fourth delivered again to the other process.
        rest = [u for dev in REGISTERED + UNKNOWN for u in by_device[dev][0 if dev in REGISTERED else 2 :]]
        rest.sort(key=lambda u: u.received_at_ns)
        jobs: list[tuple[Up, ApiProcess]] = []
        for i, u in enumerate(rest):
            target = a if i % 2 == 0 else b
            jobs.append((u, target))

        def send(i_job: tuple[int, tuple[Up, ApiProcess]]) -> None:
            i, (u, target) = i_job
            deliver(u, target)
            if i % 4 == 0:
                deliver(u, other(target))  # a TTS retry landing on the other process

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(send, enumerate(jobs)))
        elapsed = time.monotonic() - started

    # Nothing but 200 and the documented 503-and-retry.
    assert set(statuses) <= {200, 503}, statuses
    redelivered = sum(1 for i in range(len(jobs)) if i % 4 == 0)
    assert statuses[200] == len(all_ups) + redelivered

    # InfluxDB: every distinct uplink exactly once, at its network time, with its value.
    store = InfluxStore(influx_server.url, database)
    try:
        [uplink_result] = store.query(f"SELECT f_cnt, device_id FROM uplink WHERE application_id = '{APP}'")
        uplink_rows = [
            dict(zip(s["columns"], v, strict=True)) for s in uplink_result["series"] for v in s["values"]
        ]
        [reading_result] = store.query(
            f"SELECT temperature, temperature_1, device_id, kind FROM reading WHERE application_id = '{APP}'"
        )
        reading_rows = [
            dict(zip(s["columns"], v, strict=True)) for s in reading_result["series"] for v in s["values"]
        ]
    finally:
        store.close()
    stored = Counter((r["device_id"], int(r["f_cnt"]), int(r["time"])) for r in uplink_rows)
    expected = {(u.device_id, u.f_cnt, u.received_at_ns) for u in all_ups}
    assert set(stored) == expected
    assert [k for k, n in stored.items() if n > 1] == []
    assert len(uplink_rows) == len(all_ups)
    values = {(r["device_id"], int(r["time"])): r for r in reading_rows}
    assert len(reading_rows) == len(all_ups)
    for u in all_ups:
        row = values[(u.device_id, u.received_at_ns)]
        assert row[u.field] == pytest.approx(u.value), (u, row)
        assert row["kind"] == ("bin" if u.device_id in REGISTERED else "other")

    # PostgreSQL: each device once; auto-registered ones unowned, registered ones unchanged.
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT device_id, source, decoder, owner_id FROM devices WHERE application_id = :a"),
                {"a": APP},
            ).all()
    finally:
        engine.dispose()
    assert sorted(r.device_id for r in rows) == sorted(REGISTERED + UNKNOWN)
    for r in rows:
        if r.device_id in REGISTERED:
            assert (r.source, r.decoder) == ("registered", "cayenne_lpp")
        else:
            assert (r.source, r.decoder, r.owner_id) == ("auto", None, None)

    # Both processes are still serving and logged no error (no IntegrityError, no traceback).
    for api in (a, b):
        assert api.proc.poll() is None, f"{api.name} died:\n{api.log.read_text()[-3000:]}"
        log = api.log.read_text()
        assert "Traceback" not in log and "ERROR" not in log, f"{api.name}:\n{log[-3000:]}"
    print(
        f"\nscale-out: {len(all_ups)} uplinks + {redelivered} redeliveries to 2 processes "
        f"in {elapsed:.1f} s; 503 retried: {retried_503}"
    )
