"""The bins' fill-history cache: re-read only when a bin's newest reading changed, and then only
from the last hour on; the same states as a cold computation; exact emptying times; answers
computed once for concurrent askers."""

from __future__ import annotations

import threading
import time

from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import DeviceFilter, Registry
from lorakeet.storage.sqlite_store import SqliteStore
from lorakeet.views.bin_history import FillHistory
from lorakeet.views.collection import Answers
from lorakeet.views.fleet import bin_views

from .conftest import stored

H = 3_600 * 1_000_000_000


def seed(store: SqliteStore, registry: Registry, now: int, bins: int = 5) -> None:
    batch = []
    for b in range(bins):
        registry.upsert_device(DeviceKey("town", f"bin-{b}"), kind="bin", visibility="public")
        level = 10.0 * b
        for h in range(72, 0, -1):
            level += 0.5 + 0.1 * b
            if level > 85:
                level = 2.0
            batch.append(
                stored(f"town.bin-{b}", "bin", now - h * H + 17 * 60 * 10**9, 200 - h, fill_pct=level)
            )
    store.write(batch)


def test_reads_only_what_changed(sqlite_store: SqliteStore, sqlite_registry: Registry) -> None:
    now = time.time_ns()
    seed(sqlite_store, sqlite_registry, now)
    history = FillHistory(sqlite_store)
    first = bin_views(sqlite_registry, sqlite_store, DeviceFilter(), now, now + 12 * H, history=history)
    assert history.reads == 5
    again = bin_views(sqlite_registry, sqlite_store, DeviceFilter(), now, now + 12 * H, history=history)
    assert history.reads == 5 and again == first  # nothing new: no reads
    sqlite_store.write([stored("town.bin-1", "bin", now + 60 * 10**9, 500, fill_pct=99.0)])
    later = bin_views(
        sqlite_registry, sqlite_store, DeviceFilter(), now + 2 * 60 * 10**9, now + 12 * H, history=history
    )
    assert history.reads == 6  # one bin changed: one (incremental) read
    cold = bin_views(
        sqlite_registry,
        sqlite_store,
        DeviceFilter(),
        now + 2 * 60 * 10**9,
        now + 12 * H,
        history=FillHistory(sqlite_store),
    )
    assert later == cold
    b1 = next(v for v in later if v.device.uid == "town.bin-1")
    assert b1.state.fill_pct == 99.0 and b1.state.needs_collection


def test_emptying_time_is_exact_not_the_hour(sqlite_store: SqliteStore, sqlite_registry: Registry) -> None:
    now = time.time_ns()
    seed(sqlite_store, sqlite_registry, now, bins=4)
    views = bin_views(
        sqlite_registry, sqlite_store, DeviceFilter(), now, now + 12 * H, history=FillHistory(sqlite_store)
    )
    emptied = [v.state.last_emptied_ns for v in views if v.state.last_emptied_ns is not None]
    assert emptied
    seeded = {now - h * H + 17 * 60 * 10**9 for h in range(72, 0, -1)}
    assert all(t in seeded for t in emptied)  # a reading's own time, not its hour's start


def test_answers_computed_once_for_concurrent_askers() -> None:
    answers = Answers(ttl_s=60)
    calls = []

    def compute() -> int:
        calls.append(1)
        time.sleep(0.2)
        return 42

    got: list[int] = []
    threads = [threading.Thread(target=lambda: got.append(answers.get("q", compute))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [42] * 8 and len(calls) == 1
    assert answers.get("other", lambda: 7) == 7 and len(calls) == 1


def test_a_bin_view_is_made_again_only_when_what_it_shows_changed(
    sqlite_store: SqliteStore, sqlite_registry: Registry
) -> None:
    now = time.time_ns()
    seed(sqlite_store, sqlite_registry, now)
    history = FillHistory(sqlite_store)

    def views(threshold: float = 80.0, deadline: int = now + 12 * H) -> dict[str, object]:
        got = bin_views(
            sqlite_registry,
            sqlite_store,
            DeviceFilter(),
            now,
            deadline,
            default_threshold=threshold,
            history=history,
        )
        return {v.device.uid: v for v in got}

    first = views()
    again = views()
    assert all(again[uid] is first[uid] for uid in first)  # nothing changed: the same views
    stricter = views(threshold=20.0)
    assert stricter["town.bin-1"].state.threshold_pct == 20.0  # type: ignore[attr-defined]
    assert views(deadline=now + 48 * H) != first
    sqlite_registry.upsert_device(
        DeviceKey("town", "bin-2"),
        kind="bin",
        visibility="public",
        metadata={"collect_at_pct": 30},
        name="Market",
    )
    moved = views()
    assert moved["town.bin-2"].device.name == "Market"  # type: ignore[attr-defined]
    assert moved["town.bin-2"].state.threshold_pct == 30.0  # type: ignore[attr-defined]
    assert moved["town.bin-3"] == first["town.bin-3"]  # (made again: the registry moved)
    cold = bin_views(
        sqlite_registry, sqlite_store, DeviceFilter(), now, now + 12 * H, history=FillHistory(sqlite_store)
    )
    assert list(moved.values()) == cold
