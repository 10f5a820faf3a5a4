"""The consumer decodes the next batch while the writer thread writes the one before."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from lorakeet.gateway_bridge.devices import DeviceDirectory
from lorakeet.gateway_bridge.pipeline import Decoding, Pipeline
from lorakeet.storage.records import StoredUplink, Uplink
from lorakeet.storage.registry import DeviceInfo

from .fakes import MemoryWriter, StaticDevices
from .test_pipeline import BIN, msg


class HeldWriter(MemoryWriter):
    """Holds each write until released; counts how many writes are in progress at once."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Semaphore(0)
        self.release = threading.Semaphore(0)
        self.busy = 0
        self.most_busy = 0

    def write(self, batch: Sequence[StoredUplink]) -> None:
        with self.lock:
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
        self.entered.release()
        self.release.acquire()
        super().write(batch)
        with self.lock:
            self.busy -= 1


class CountingDecoding(Decoding):
    """Records which f_cnt it decodes, in order, and when."""

    def __init__(self, devices: DeviceDirectory) -> None:
        super().__init__(devices)
        self.decoded: list[int] = []
        self.changed = threading.Condition()

    def decode(self, u: Uplink) -> StoredUplink:
        s = super().decode(u)
        with self.changed:
            self.decoded.append(u.f_cnt)
            self.changed.notify_all()
        return s


def make(writer: MemoryWriter) -> tuple[Pipeline, CountingDecoding]:
    decoding = CountingDecoding(DeviceDirectory(StaticDevices(DeviceInfo(BIN, decoder="cayenne_lpp"))))
    # a batch waits up to a second for its second message: batches are [1, 2], [3, 4]... on a busy host too
    return Pipeline(writer, decoding, batch_size=2, flush_interval=1.0), decoding


def test_next_batch_is_decoded_while_the_previous_one_is_written_and_acks_keep_order() -> None:
    w = HeldWriter()
    p, decoding = make(w)
    acked: list[int] = []

    def done(f_cnt: int) -> object:
        return lambda error: acked.append(f_cnt) if error is None else None

    for f in (1, 2):
        p.submit(_with_done(msg(f), done(f)))
    p.start()
    assert w.entered.acquire(timeout=5)  # batch [1, 2] is being written
    for f in (3, 4):
        p.submit(_with_done(msg(f), done(f)))
    with decoding.changed:  # ... and [3, 4] gets decoded meanwhile
        assert decoding.changed.wait_for(lambda: decoding.decoded == [1, 2, 3, 4], timeout=5)
    assert acked == []  # nothing is acknowledged before its write returns
    w.release.release()
    assert w.entered.acquire(timeout=5)
    w.release.release()
    assert p.wait_idle(5)
    p.stop()
    assert acked == [1, 2, 3, 4]
    assert w.most_busy == 1  # one write at a time, in order
    assert [[s.uplink.f_cnt for s in b] for b in w.batches] == [[1, 2], [3, 4]]


def test_a_redelivery_of_an_uplink_still_being_written_is_stored_once() -> None:
    w = HeldWriter()
    p, _ = make(w)
    p.submit(msg(7))
    p.start()
    assert w.entered.acquire(timeout=5)
    p.submit(msg(7))  # the same uplink again while its first copy is in the writer
    p.submit(msg(8))
    w.release.release()
    assert w.entered.acquire(timeout=5)
    w.release.release()
    assert p.wait_idle(5)
    p.stop()
    assert sorted(s.uplink.f_cnt for s in w.stored) == [7, 8]
    assert p.stats.dedup_hits == 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_write_that_crashes_the_consumer_is_retried_with_the_batch_decoded_meanwhile() -> None:
    class CrashOnce(MemoryWriter):
        def __init__(self) -> None:
            super().__init__()
            self.crashed = False

        def write(self, batch: Sequence[StoredUplink]) -> None:
            if not self.crashed:
                self.crashed = True
                raise RuntimeError("a bug in the store")
            super().write(batch)

    w = CrashOnce()
    p, _ = make(w)
    for f in range(1, 7):
        p.submit(msg(f))
    p.start()
    assert p.wait_idle(10)
    p.stop()
    assert sorted(s.uplink.f_cnt for s in w.stored) == [1, 2, 3, 4, 5, 6]
    assert p.stats.restarts == 1


def _with_done(m: object, done: object) -> object:
    m.done = done  # type: ignore[attr-defined]
    return m
