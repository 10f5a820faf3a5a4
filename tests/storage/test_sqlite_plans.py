"""SQLite reads search the tables that grow with history; they never scan them.

Every statement the store runs for a read is captured and put through EXPLAIN QUERY PLAN:
``reading`` and ``uplink`` grow with every uplink and ``series`` with every device, so a
``SCAN`` of any of them would make a read's cost grow with the store (bench/scale.py
measures that growth).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from lorakeet.decoders import Reading
from lorakeet.storage.records import DeviceKey, StoredUplink, Uplink
from lorakeet.storage.sqlite_store import SqliteStore

T0 = 1_767_225_600_000_000_000
H = 3600 * 1_000_000_000
DEVS = [DeviceKey("town", f"bin-{i}") for i in range(20)]
GROWING = re.compile(r"\bSCAN (reading|uplink|series)\b")


def filled(store: SqliteStore) -> SqliteStore:
    store.write(
        [
            StoredUplink(
                Uplink("ttn", d.application_id, d.device_id, T0 + j * H + i, 1, j + 1, b"\x01"),
                "bin",
                "cayenne_lpp",
                (Reading("fill_pct", float(j), "%"), Reading("battery", 90.0, "%")),
            )
            for j in range(24)
            for i, d in enumerate(DEVS)
        ]
    )
    return store


READS: dict[str, Callable[[SqliteStore], object]] = {
    "latest": lambda s: s.latest(DEVS[3]),
    "latest_many": lambda s: s.latest_many(DEVS[::2]),
    "points": lambda s: s.points(DEVS[3], ["fill_pct"], T0, T0 + 6 * H, 100),
    "aggregate": lambda s: s.aggregate(DEVS[3], ["fill_pct", "battery"], T0, T0 + 24 * H, H, "mean"),
    "aggregate last": lambda s: s.aggregate(DEVS[3], ["fill_pct"], T0, T0 + 24 * H, 4 * H, "last"),
    "uplinks": lambda s: s.uplinks(DEVS[3], T0, T0 + 24 * H, 10),
}


@pytest.mark.parametrize("name", list(READS))
def test_reads_search_never_scan(sqlite_store: SqliteStore, name: str) -> None:
    store = filled(sqlite_store)
    store._devices.clear()  # a fresh process: ids are looked up too
    conn = store._conn()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        assert READS[name](store)
    finally:
        conn.set_trace_callback(None)
    plans = {sql: [str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")] for sql in statements}
    assert plans
    scans = {sql: plan for sql, plan in plans.items() if any(GROWING.search(step) for step in plan)}
    assert not scans, scans
