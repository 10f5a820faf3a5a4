"""Store errors told apart: refused points dead-lettered, configuration blocks, a dead thread restarts."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from lorakeet.decoders import DecodeResult, DeviceContext, Reading
from lorakeet.gateway_bridge.devices import DeviceDirectory
from lorakeet.gateway_bridge.durability import MemoryDeadLetters, replay_dead_letters
from lorakeet.gateway_bridge.pipeline import Decoding, Inbound, Outcome, Pipeline
from lorakeet.gateway_bridge.simulator import ttn_uplink_body
from lorakeet.storage.dead_letters import DeadLetters
from lorakeet.storage.protocols import PointsRefused, StoreConfigError
from lorakeet.storage.records import DeviceKey, StoredUplink
from lorakeet.storage.registry import DeviceInfo, Registry
from lorakeet.storage.spool import Spool
from lorakeet.storage.sqlite_store import SqliteStore

from .fakes import MemoryWriter, StaticDevices

pytestmark = [
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

NOW = time.time_ns()
LPP = bytes.fromhex("0182000002ee")


class PickyWriter(MemoryWriter):
    """Refuses uplinks whose f_cnt is in ``poison`` like InfluxDB: the rest of the write lands.

    Unlike the real stores it is not idempotent: an uplink written again shows up twice
    in ``stored``, so tests compare sets."""

    def __init__(self, poison: set[int]) -> None:
        super().__init__()
        self.poison = poison
        self.calls = 0
        self.config_error = ""
        self.crash_on: set[int] = set()
        self.crashes = 0

    def write(self, batch: Sequence[StoredUplink]) -> None:
        self.calls += 1
        if self.config_error:
            raise StoreConfigError(self.config_error)
        if any(s.uplink.f_cnt in self.crash_on for s in batch):
            self.crashes += 1
            raise RuntimeError("a bug in the store client")
        good = [s for s in batch if s.uplink.f_cnt not in self.poison]
        super().write(good)
        if len(good) < len(batch):
            raise PointsRefused(
                f"partial write: points beyond retention policy dropped={len(batch) - len(good)}"
            )


def up(i: int, acks: list[BaseException | None] | None = None) -> Inbound:
    body = ttn_uplink_body("town-bins", f"bin-{i % 5}", LPP, f_cnt=i, received_at_ns=NOW + i)
    return Inbound(body, "ttn", arrived_ns=NOW, done=acks.append if acks is not None else None)


def pipeline(
    writer: MemoryWriter, dead: MemoryDeadLetters | DeadLetters | None = None, **kw: object
) -> Pipeline:
    return Pipeline(
        writer,
        Decoding(DeviceDirectory(StaticDevices())),
        batch_size=1000,
        flush_interval=0.01,
        retry_initial=0.01,
        dead_letters=dead,
        **kw,  # type: ignore[arg-type]
    )


def test_refused_points_are_dead_lettered_and_the_rest_stored() -> None:
    w, dead = PickyWriter({17, 60}), MemoryDeadLetters()
    p = pipeline(w, dead)
    acks: list[BaseException | None] = []
    assert p.process([up(i, acks) for i in range(100)]) is Outcome.STORED
    assert sorted({s.uplink.f_cnt for s in w.stored}) == [i for i in range(100) if i not in (17, 60)]
    assert sorted(d.item.uplink.f_cnt for d in dead.items) == [17, 60]  # type: ignore[union-attr]
    assert all("beyond retention" in d.reason for d in dead.items)
    assert acks == [None] * 100
    assert (p.stats.stored, p.stats.dead_lettered) == (98, 2)


def test_a_batch_the_store_takes_costs_one_write() -> None:
    w = PickyWriter(set())
    pipeline(w).process([up(i) for i in range(500)])
    assert w.calls == 1


def test_configuration_error_blocks_loudly_spools_then_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w = PickyWriter(set())
    w.config_error = "InfluxDB write failed (401): authorization failed"
    p = pipeline(w, spool=Spool(tmp_path / "spool.db"))
    acks: list[BaseException | None] = []
    with caplog.at_level(logging.CRITICAL):
        assert p.process([up(1, acks)]) is Outcome.SPOOLED
    assert acks == [None]  # durable in the spool
    assert any("BLOCKED" in r.message and r.levelno == logging.CRITICAL for r in caplog.records)
    assert p.health() == ["store blocked: InfluxDB write failed (401): authorization failed"]
    assert p.stats.blocked
    w.config_error = ""
    p.durability._next_replay = 0
    assert p.process([up(2, acks)]) is Outcome.STORED
    assert [s.uplink.f_cnt for s in w.stored] == [1, 2] and p.health() == []


def test_a_dead_pipeline_thread_is_restarted_with_its_batch() -> None:
    w = PickyWriter(set())
    w.crash_on = {3}
    p = pipeline(w)
    acks: list[BaseException | None] = []
    seen_down: list[list[str]] = []
    p.start()
    try:
        for i in range(10):
            p.submit(up(i, acks))
        deadline = time.monotonic() + 5
        while not p.stats.restarts and time.monotonic() < deadline:
            time.sleep(0.005)
        seen_down.append(p.health())
        w.crash_on = set()  # the fault is gone: the same batch goes through
        assert p.wait_idle(10)
    finally:
        p.stop()
    assert p.stats.restarts >= 1 and "pipeline thread died (RuntimeError" in seen_down[0][0]
    assert sorted(s.uplink.f_cnt for s in w.stored) == list(range(10))
    assert acks == [None] * 10 and p.health() == []


def test_a_batch_that_keeps_killing_the_thread_dead_letters_its_poison(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("lorakeet.gateway_bridge.pipeline.RESTART_INITIAL_S", 0.01)
    w, dead = PickyWriter(set()), MemoryDeadLetters()
    w.crash_on = {4}
    p = pipeline(w, dead)
    p.start()
    try:
        for i in range(10):
            p.submit(up(i))
        assert p.wait_idle(10)
    finally:
        p.stop()
    assert sorted({s.uplink.f_cnt for s in w.stored}) == [i for i in range(10) if i != 4]
    (d,) = dead.items
    assert "RuntimeError" in d.reason and p.stats.restarts >= 2


class UnansweringRegistry(StaticDevices):
    """A device source that raises for its first ``failures`` lookups, like a registry that is down."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def ensure_device(
        self, key: DeviceKey, dev_eui: str | None = None, model: object = None, decoded: bool = False
    ) -> DeviceInfo:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("registry does not answer")
        return super().ensure_device(key, dev_eui, model, decoded)


def test_a_registry_outage_of_thousands_of_restarts_ends_with_everything_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batch waits through the outage, however many restarts it takes (the backoff stays
    bounded), and goes through once the registry answers."""
    monkeypatch.setattr("lorakeet.gateway_bridge.pipeline.RESTART_INITIAL_S", 0.0001)
    monkeypatch.setattr("lorakeet.gateway_bridge.pipeline.RESTART_MAX_S", 0.0001)
    monkeypatch.setattr(threading, "excepthook", lambda args: None)
    w = PickyWriter(set())
    p = Pipeline(w, Decoding(DeviceDirectory(UnansweringRegistry(1500))), batch_size=100, flush_interval=0.01)
    acks: list[BaseException | None] = []
    p.start()
    try:
        for i in range(20):
            p.submit(up(i, acks))
        assert p.wait_idle(60)
    finally:
        p.stop()
    assert p.stats.restarts >= 1500 and acks == [None] * 20
    assert sorted(s.uplink.f_cnt for s in w.stored) == list(range(20)) and p.health() == []


def big_number(payload: bytes, f_port: int, ctx: DeviceContext) -> DecodeResult:
    value = 10**400 if payload == b"\xff" else 1.5
    return DecodeResult((Reading("temperature", value, "Cel"),))  # type: ignore[arg-type]


def test_sqlite_overflow_is_dead_lettered_and_replayable(tmp_path: Path, sqlite_registry: Registry) -> None:
    store = SqliteStore(tmp_path / "r.db")
    dead = DeadLetters(sqlite_registry)
    infos = [DeviceInfo(DeviceKey("town", f"t-{i}"), decoder="big") for i in range(4)]
    devices = DeviceDirectory(StaticDevices(*infos))
    p = Pipeline(store, Decoding(devices, lambda name: big_number), dead_letters=dead)
    msgs = []
    for i in range(200):
        payload = b"\xff" if i == 50 else b"\x01"
        body = ttn_uplink_body("town", f"t-{i % 4}", payload, f_cnt=i, received_at_ns=NOW + i)
        msgs.append(Inbound(body, "ttn", arrived_ns=NOW))
    p.process(msgs)
    assert store.count_uplinks() == 199
    (letter,) = dead.page()
    assert letter.f_cnt == 50 and "OverflowError" in letter.reason and letter.kind == "uplink"
    assert replay_dead_letters(store, dead) == (0, 1)  # still refused: kept, attempt counted
    assert dead.page()[0].attempts == 2
    assert dead.remove_all() == 1


def test_rejected_bodies_refused_by_the_store_are_dead_lettered() -> None:
    class NoRejected(MemoryWriter):
        def write_rejected(self, batch: Sequence[object]) -> None:  # type: ignore[override]
            raise PointsRefused("field type conflict on rejected")

    w, dead = NoRejected(), MemoryDeadLetters()
    p = pipeline(w, dead)
    p.process([up(1), Inbound(b"{not json", "ttn", arrived_ns=NOW)])
    assert len(w.stored) == 1 and len(dead.items) == 1 and p.stats.dead_lettered == 1


def test_dead_letters_round_trip_through_the_registry(sqlite_registry: Registry) -> None:
    w, dead = PickyWriter({2}), DeadLetters(sqlite_registry)
    p = pipeline(w, dead)
    p.process([up(i) for i in range(5)])
    (letter,) = dead.page()
    assert (letter.application_id, letter.device_id, letter.f_cnt) == ("town-bins", "bin-2", 2)
    w.poison = set()  # the cause is fixed
    assert replay_dead_letters(w, dead) == (1, 0)
    assert dead.count() == 0
    assert sorted({s.uplink.f_cnt for s in w.stored}) == [0, 1, 2, 3, 4]
    assert replay_dead_letters(w, dead) == (0, 0)


def test_webhook_threads_are_not_blocked_by_a_crash() -> None:
    """A crash while other producers submit: every message is still acknowledged once."""
    w = PickyWriter(set())
    w.crash_on = {25}
    p = pipeline(w)
    acks: list[BaseException | None] = []
    lock = threading.Lock()

    def ack(e: BaseException | None) -> None:
        with lock:
            acks.append(e)

    p.start()
    try:

        def produce(base: int) -> None:
            for i in range(base, base + 20):
                m = up(i)
                m.done = ack
                p.submit(m)

        threads = [threading.Thread(target=produce, args=(b,)) for b in (0, 20, 40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(0.2)
        w.crash_on = set()
        assert p.wait_idle(15)
    finally:
        p.stop()
    assert len(acks) == 60 and all(a is None for a in acks)
    assert sorted({s.uplink.f_cnt for s in w.stored}) == list(range(60))


def test_a_store_outage_without_spool_shows_in_health(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lorakeet.gateway_bridge.pipeline.STALL_S", 0.1)
    w = PickyWriter(set())
    w.fail_next = 1_000_000  # down
    p = pipeline(w)
    acks: list[BaseException | None] = []
    p.start()
    try:
        p.submit(up(1, acks))
        deadline = time.monotonic() + 5
        while not p.health() and time.monotonic() < deadline:
            time.sleep(0.02)
        (problem,) = p.health()
        assert "1 messages have waited" in problem and acks == []  # nothing acknowledged early
        w.fail_next = 0
        assert p.wait_idle(5)
        assert p.health() == [] and acks == [None]
    finally:
        p.stop()


class Faults:
    """Raises RuntimeError at the pipeline steps it wraps: on every ``period``-th call of a step,
    alternately before the step and after it took effect (an ack sent, a batch taken, a write
    done). Real exceptions, raised where our code can meet them, unlike an exception injected
    into a thread, which can land inside the standard library's own locks."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.injected: dict[str, int] = {}
        self._lock = threading.Lock()

    def wrap(self, name: str, step: Callable[..., Any], period: int) -> Callable[..., Any]:
        offset = len(self.calls) % period  # the sites fault at different moments

        def faulty(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                n = self.calls[name] = self.calls.get(name, 0) + 1
                fault = n % period == offset
                if fault:
                    self.injected[name] = self.injected.get(name, 0) + 1
                    after = self.injected[name] % 2 == 0
            if fault and not after:
                raise RuntimeError(f"fault before {name}")
            result = step(*args, **kwargs)
            if fault:
                raise RuntimeError(f"fault after {name}")
            return result

        self.calls[name] = 0
        return faulty


def test_faults_at_every_step_of_the_consumer_lose_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every step of the consumer and the writer fails now and then, before or after it took
    effect: every message is still stored (or kept raw) and acknowledged, and ingest goes on."""
    from lorakeet.gateway_bridge import admission
    from lorakeet.gateway_bridge import pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, "RESTART_INITIAL_S", 0.001)
    monkeypatch.setattr(pipeline_module, "RESTART_MAX_S", 0.01)
    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # a dying thread's report is not ours
    w = PickyWriter(set())
    p = Pipeline(w, Decoding(DeviceDirectory(StaticDevices())), batch_size=50, flush_interval=0.002)
    faults = Faults()
    # inside the parser: the message is kept raw as an internal error; everywhere else: the
    # consumer (or the writer, for _commit) dies and is restarted with what it had not finished.
    # Steps taken once per message fail rarely (a batch must be able to get through), steps taken
    # once per batch often.
    monkeypatch.setattr(
        admission, "parse_envelope", faults.wrap("parse_envelope", admission.parse_envelope, 401)
    )
    monkeypatch.setattr(
        pipeline_module, "parse_message", faults.wrap("parse_message", pipeline_module.parse_message, 401)
    )
    p.decoding.decode = faults.wrap("decode", p.decoding.decode, 401)  # type: ignore[method-assign]
    p.queue.get_batch = faults.wrap("get_batch", p.queue.get_batch, 7)  # type: ignore[method-assign]
    for step in ("_prepare", "_commit", "_settle", "_conclude", "_finish", "_retire", "_notify"):
        setattr(p, step, faults.wrap(step, getattr(p, step), 7))
    acked: list[int] = []
    n = 2000

    def ack_of(i: int) -> Callable[[BaseException | None], None]:
        def done(error: BaseException | None) -> None:
            if error is None:
                acked.append(i)

        return done

    p.start()
    try:
        for i in range(n):
            m = up(i)
            m.done = ack_of(i)
            p.submit(m)
            if i % 100 == 0:
                time.sleep(0.002)  # batches of every size, not only full ones
        assert p.wait_idle(60)
    finally:
        p.stop()
    assert set(faults.injected) == set(faults.calls)  # every step failed at least once
    kept_raw = {orjson.loads(r.body)["uplink_message"]["f_cnt"] for r in w.rejected}
    assert kept_raw and all(r.reason == "internal" for r in w.rejected)
    assert {s.uplink.f_cnt for s in w.stored} | kept_raw == set(range(n))
    assert set(acked) == set(range(n))  # a message acknowledged twice is fine (MQTT redelivery is, too)
    assert p.stats.restarts >= faults.injected["_prepare"]  # each of those ended a consumer
