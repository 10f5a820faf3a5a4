"""This process's view of the InfluxDB ``latest`` measurement (``storage/influx_view.py``).

Against a real InfluxDB 1.6.7 with two stores on one database standing for two processes:
a process's own writes are in its view at once, another process's within ``TTL_S`` and not
served past it, a read between ``REFRESH_S`` and ``TTL_S`` refreshes the view in the
background, deletions through the process leave the view at once, and too big a fleet sends
single-device reads to InfluxDB. The view itself, with a load held open: a write or a
deletion during a refresh is not undone by the refresh's (older) answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from lorakeet.storage.influx_store import InfluxStore
from lorakeet.storage.influx_view import REFRESH_S, TTL_S, LatestView
from lorakeet.storage.records import DeviceKey, LatestValue

from .test_reading_contract import T0, A, B, H, S, up

pytestmark = pytest.mark.services


@pytest.fixture
def other(influx_store: InfluxStore) -> Iterator[InfluxStore]:
    """Another process's store on the same database."""
    store = InfluxStore(influx_store.url, influx_store.database)
    yield store
    store.close()


def values(vs: list[LatestValue] | None) -> dict[str, object] | None:
    return None if vs is None else {v.key: v.value for v in vs}


def queries(store: InfluxStore) -> list[str]:
    """Every query the store sends from now on."""
    sent: list[str] = []
    query = store.query

    def counting(q: str, method: str = "GET") -> object:
        sent.append(q)
        return query(q, method)  # type: ignore[arg-type]

    store.query = counting  # type: ignore[assignment,method-assign]
    return sent


def test_own_writes_are_seen_at_once_without_a_query(influx_store: InfluxStore) -> None:
    influx_store.write([up(A, T0, 1, {"fill_pct_1": 10.0})])
    assert influx_store.latest_held(A) is None  # nothing loaded yet: the caller asks the store
    assert values(influx_store.latest(A)) == {"fill_pct_1": 10.0}
    sent = queries(influx_store)
    influx_store.write([up(A, T0 + H, 2, {"fill_pct_1": 20.0, "battery_2": 80.0})])
    assert values(influx_store.latest_held(A)) == {"fill_pct_1": 20.0, "battery_2": 80.0}
    assert values(influx_store.latest(A)) == {"fill_pct_1": 20.0, "battery_2": 80.0}
    assert not any("FROM latest" in q for q in sent)  # answered from memory
    influx_store.write([up(A, T0 + 30 * H, 3, {"fill_pct_1": 5.0})])  # an older value of another key stays
    assert values(influx_store.latest_held(A)) == {"fill_pct_1": 5.0, "battery_2": 80.0}


def test_another_process_write_shows_within_the_bound(influx_store: InfluxStore, other: InfluxStore) -> None:
    influx_store.write([up(A, T0, 1, {"fill_pct_1": 10.0})])
    assert values(influx_store.latest(A)) == {"fill_pct_1": 10.0}
    loaded = time.monotonic()
    other.write([up(A, T0 + H, 2, {"fill_pct_1": 30.0})])
    held = influx_store.latest_held(A)
    if time.monotonic() - loaded < REFRESH_S:  # (a slow host may already be refreshing)
        assert values(held) == {"fill_pct_1": 10.0}  # within the bound: the shared answer
    time.sleep(TTL_S)
    assert influx_store.latest_held(A) is None  # past the bound it is never served
    assert values(influx_store.latest(A)) == {"fill_pct_1": 30.0}
    assert values(influx_store.latest_held(A)) == {"fill_pct_1": 30.0}


def test_a_read_past_the_refresh_age_refreshes_in_the_background(
    influx_store: InfluxStore, other: InfluxStore
) -> None:
    influx_store.write([up(A, T0, 1, {"fill_pct_1": 10.0})])
    influx_store.latest(A)
    other.write([up(A, T0 + H, 2, {"fill_pct_1": 40.0})])
    time.sleep(REFRESH_S + 0.05)
    assert influx_store.latest_held(A) is not None  # answered at once from the view at hand
    deadline = time.monotonic() + 5
    while values(influx_store.latest_held(A)) != {"fill_pct_1": 40.0}:
        assert time.monotonic() < deadline, "the background refresh did not happen"
        time.sleep(0.02)
    assert influx_store.latest_view().age_s < TTL_S


def test_deletions_leave_the_view(influx_store: InfluxStore, other: InfluxStore) -> None:
    influx_store.write([up(A, T0, 1, {"fill_pct_1": 10.0}), up(B, T0, 1, {"fill_pct_1": 20.0})])
    assert influx_store.latest_many([A, B]).keys() == {A, B}
    assert other.latest_many([A, B]).keys() == {A, B}
    influx_store.delete_device(A)
    assert influx_store.latest(A) == [] and influx_store.latest_held(A) == []
    other.delete_device(B)  # another process
    time.sleep(TTL_S)
    assert influx_store.latest(B) == []


def test_a_device_without_data_is_answered_from_memory_once_known(influx_store: InfluxStore) -> None:
    influx_store.write([up(A, T0, 1, {"fill_pct_1": 10.0})])
    influx_store.latest(A)
    nothing = DeviceKey("bins-town", "silent")
    assert influx_store.latest_held(nothing) is None  # maybe data from before the measurement
    assert influx_store.latest(nothing) == []  # the readings were asked: none
    assert influx_store.latest_held(nothing) == []
    influx_store.write([up(nothing, T0, 1, {"fill_pct_1": 1.0})])
    assert values(influx_store.latest_held(nothing)) == {"fill_pct_1": 1.0}


def test_a_big_fleet_sends_single_device_reads_to_influxdb(
    influx_store: InfluxStore, other: InfluxStore
) -> None:
    fleet = [DeviceKey("bins-town", f"bin-{i:03d}") for i in range(5)]
    influx_store.write([up(d, T0, 1, {"fill_pct_1": float(i)}) for i, d in enumerate(fleet)])
    influx_store.latest_view().max_devices = 3
    assert len(influx_store.latest_many(fleet)) == 5  # a fleet read still uses the view
    assert influx_store.latest_held(fleet[0]) is None
    other.write([up(fleet[0], T0 + S, 2, {"fill_pct_1": 50.0})])
    assert values(influx_store.latest(fleet[0])) == {"fill_pct_1": 50.0}  # asked of InfluxDB


def test_a_refresh_does_not_undo_writes_or_deletions_made_while_it_ran() -> None:
    started, release = threading.Event(), threading.Event()
    old = {("app", "a"): {"k": (1, 1.0)}, ("app", "b"): {"k": (1, 2.0)}}

    def load() -> dict[tuple[str, str], dict[str, tuple[int, float | bool | str]]]:
        started.set()
        release.wait(5)
        return {d: dict(st) for d, st in old.items()}  # the answer InfluxDB gave before the changes

    view = LatestView(load)  # type: ignore[arg-type]
    t = threading.Thread(target=view.refresh)
    t.start()
    assert started.wait(5)
    view.apply({("app", "a"): {"k": (2, 9.0)}})  # written while the query ran
    view.drop([("app", "b")])  # deleted while the query ran
    release.set()
    t.join(5)
    assert view.get([("app", "a"), ("app", "b")]) == {("app", "a"): {"k": (2, 9.0)}}
    view.apply({("app", "a"): {"k": (1, 0.0)}})  # an older value never moves a latest value back
    assert view.held(("app", "a")) == (True, {"k": (2, 9.0)})


def test_the_version_moves_with_the_contents_and_only_with_them() -> None:
    answer = {("app", "a"): {"k": (1, 1.0)}, ("app", "b"): {"k": (1, 2.0)}}

    def load() -> dict[tuple[str, str], dict[str, tuple[int, float | bool | str]]]:
        return {d: dict(st) for d, st in answer.items()}  # new objects every time, as parsed

    view = LatestView(load)  # type: ignore[arg-type]
    view.refresh()
    first, held = view.version, view.get([("app", "a")])[("app", "a")]
    view.refresh()  # InfluxDB answers the same: same version, same state objects
    assert view.version == first
    assert view.get([("app", "a")])[("app", "a")] is held
    answer[("app", "b")] = {"k": (2, 3.0)}  # another process wrote
    view.refresh()
    assert view.version > first
    assert view.get([("app", "a")])[("app", "a")] is held  # the unchanged device keeps its state
    second = view.version
    answer[("app", "c")] = {"k": (1, 0.0)}  # a new device
    view.refresh()
    assert view.version > second
    third = view.version
    del answer[("app", "c")]  # deleted elsewhere
    view.refresh()
    assert view.version > third
    fourth = view.version
    view.apply({("app", "a"): {"k": (5, 7.0)}})  # this process's write
    assert view.version > fourth
    fifth = view.version
    view.drop([("app", "b")])  # this process's deletion
    assert view.version > fifth


def test_a_refresh_reads_the_measurement_only_when_influxdb_wrote_or_dropped_something(
    influx_store: InfluxStore, other: InfluxStore
) -> None:
    influx_store.write([up(A, T0, 1, {"fill_pct_1": 10.0}), up(B, T0, 1, {"fill_pct_1": 20.0})])
    assert influx_store._latest_mark() is not None  # this InfluxDB tells its write marks
    view = influx_store.latest_view()
    view.refresh()
    version = view.version
    sent = queries(influx_store)
    time.sleep(0.01)
    view.refresh()  # nothing written since: the marks alone
    assert sent and not any("FROM latest" in q for q in sent)
    assert view.age_s < 0.5 and view.version == version
    other.write([up(A, T0 + H, 2, {"fill_pct_1": 30.0})])  # another process writes
    view.refresh()
    assert any("FROM latest" in q for q in sent)
    assert values(influx_store.latest_held(A)) == {"fill_pct_1": 30.0}
    sent.clear()
    view.refresh()
    assert not any("FROM latest" in q for q in sent)
    other.delete_device(B)  # another process deletes (no point written)
    view.refresh()
    assert any("FROM latest" in q for q in sent)
    assert view.get([(A.application_id, A.device_id), (B.application_id, B.device_id)]).keys() == {
        (A.application_id, A.device_id)
    }


def test_without_write_marks_every_refresh_reads_the_measurement() -> None:
    loads: list[int] = []
    marks: list[object] = ["m1"]

    def load() -> dict[tuple[str, str], dict[str, tuple[int, float | bool | str]]]:
        loads.append(1)
        return {("app", "a"): {"k": (len(loads), 1.0)}}

    def mark() -> object:
        if isinstance(marks[0], Exception):
            raise marks[0]
        return marks[0]

    view = LatestView(load, mark=mark)  # type: ignore[arg-type]
    view.refresh()
    view.refresh()
    assert len(loads) == 1  # same marks: not read again
    marks[0] = "m2"
    view.refresh()
    assert len(loads) == 2
    marks[0] = RuntimeError("not allowed")  # e.g. a user without SHOW STATS
    view.refresh()
    view.refresh()
    assert len(loads) == 4  # no marks: every refresh reads
    marks[0] = "m2"
    view.refresh()
    assert len(loads) == 5  # and they stay off
