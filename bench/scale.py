"""Scale benchmark: SQLite ingest and query cost as the store grows from 1M to 10M readings.

    .venv/bin/python bench/scale.py [--devices 1000] [--steps 1,2,5,10] [--data-dir DIR]

Grows one SQLite readings store (:class:`lorakeet.storage.sqlite_store.SqliteStore`, through
its public write path ``store.write(batch)``) with ``--devices`` devices sending 3 readings
per uplink, time-ordered as uplinks arrive, at the rate that puts the largest step
(``--steps``, millions of readings) at ~35 days of history: 10M readings over 35 days is one
uplink per device every ~15 minutes, ~10k readings per device per 30 days. So the store
grows in time, like a real one: at 1M it holds the first 3.5 days, at 10M all 35.

At each step, medians of ``--reps`` calls (a random device per call):

* ingest: the store's own time (``store.write`` only, batches built beforehand) for the
  standard 5,000-uplink batch (15,000 readings) written at that size, µs per reading and
  readings/s; also the fill rate since the previous step (building the batches included);
* latest values of one device (``latest``), fleet latest of 70 % of the devices
  (``latest_many``, 700 of 1,000), the 30-day hourly mean of one key of one device
  (``aggregate``; at 1M the store only holds 3.5 days, hence the "rows" column), and a raw
  1-day range of one device (``points``, all keys): the same work at every step;
* naive baselines on the same file, same process: latest as ``max(time)`` over each key's
  history (``GROUP BY series``), fleet latest the same way for the 700 devices, and the
  30-day hourly mean with the ``reading`` table's primary-key index disabled
  (unary ``+`` on the columns, a full scan): what the ``series`` table and the (series, time)
  clustering buy;
* the database file size and the WAL size.

Each figure is a median of wall time; the store's figures also as the median of this
process's CPU time, which other jobs on a shared machine disturb less.

The end prints the ratios of the last step to the first one (10M / 1M with the default
steps): store-level cost growth within one run. Targets (issue "Fast ingest and fast
queries", 1k devices / 10M readings on SQLite): store-level cost well below the API's
latest p50 <= 5 ms and 30-day hourly p50 <= 30 ms (those include HTTP).

``--data-dir`` keeps ``readings.db`` there (it must not exist yet); otherwise a temp
directory is removed at the end. The machine is shared: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lorakeet.decoders import Reading  # noqa: E402
from lorakeet.storage.records import DeviceKey, StoredUplink, Uplink  # noqa: E402
from lorakeet.storage.sqlite_store import SqliteStore  # noqa: E402

APP = "scale-town"
S = 1_000_000_000
HOUR = 3600 * S
DAY = 24 * HOUR
SPAN = 35 * DAY
T_START = 1_767_225_600 * S  # 2026-01-01T00:00:00Z
BATCH = 5000  # uplinks per store.write: the pipeline's default batch size
PER_UPLINK = 3  # readings per uplink
MEASURED = 7  # batches timed at each step (part of the fill)


def devices(n: int) -> list[DeviceKey]:
    return [DeviceKey(APP, f"dev-{i:05d}") for i in range(n)]


class Feed:
    """The fleet's uplinks in arrival order, ``BATCH`` at a time."""

    def __init__(self, devs: list[DeviceKey], total_readings: int) -> None:
        self.devs = devs
        self.per_device = max(1, total_readings // PER_UPLINK // len(devs))
        self.interval = SPAN // self.per_device
        self.written = 0  # uplinks handed out so far
        self.last_time = T_START

    def _uplink(self, k: int) -> StoredUplink:
        j, i = divmod(k, len(self.devs))  # round j of every device: time-major
        d = self.devs[i]
        t = T_START + j * self.interval + (i * 7919 * S) % self.interval
        self.last_time = max(self.last_time, t)
        u = Uplink("ttn", d.application_id, d.device_id, t, 1, j + 1, b"\x01\x02\x03", rssi=-90.0, snr=7.0)
        rs = (
            Reading("fill_pct", float((j * 3 + i) % 100), "%"),
            Reading("battery", 100.0 - (j % 1000) * 0.05, "%"),
            Reading("temperature", 10.0 + (i + j) % 15, "°C"),
        )
        return StoredUplink(u, "bin", "cayenne_lpp", rs)

    def batch(self) -> list[StoredUplink]:
        k0 = self.written
        self.written += BATCH
        return [self._uplink(k) for k in range(k0, k0 + BATCH)]

    @property
    def readings(self) -> int:
        return self.written * PER_UPLINK


def timed(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (this process) of ``n`` calls."""
    wall, cpu = [], []
    for _ in range(n):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def grow(store: SqliteStore, feed: Feed, target: int) -> Iterator[tuple[float, float]]:
    """Write batches until ``target`` readings; yields wall and CPU time of the last ``MEASURED``."""
    while feed.readings + BATCH * PER_UPLINK * MEASURED < target:
        store.write(feed.batch())
    while feed.readings < target:
        batch = feed.batch()
        c0, t0 = time.process_time(), time.perf_counter()
        store.write(batch)
        yield time.perf_counter() - t0, time.process_time() - c0


def file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def measure(store: SqliteStore, feed: Feed, db: Path, reps: int, naive_reps: int) -> dict[str, float]:
    """Query costs (ms), sizes (MB) and row counts at the store's current size."""
    devs = feed.devs
    fleet = [d for i, d in enumerate(devs) if i % 10 < 7]
    now = feed.last_time + 1
    rng = random.Random(len(devs) + feed.written)
    conn = store._conn()  # the naive baselines read the same file
    sids: dict[DeviceKey, list[int]] = {}
    for app, dev, sid in conn.execute(
        "SELECT d.application_id, d.device_id, s.id FROM device d JOIN series s ON s.device = d.id"
    ):
        sids.setdefault(DeviceKey(app, dev), []).append(sid)

    def agg() -> object:
        return store.aggregate(rng.choice(devs), ["fill_pct"], now - 30 * DAY, now, HOUR, "mean")

    def raw_day() -> object:
        return store.points(rng.choice(devs), None, now - DAY, now, 10_000)

    def naive_latest_of(ids: list[int]) -> object:
        marks = ",".join("?" * len(ids))
        return conn.execute(
            f"SELECT series, max(time), value, text FROM reading WHERE series IN ({marks}) GROUP BY series",
            ids,
        ).fetchall()

    def naive_agg() -> object:
        sid = min(sids[rng.choice(devs)])
        return conn.execute(
            "SELECT time - (time % ?) AS w, avg(value) FROM reading "
            "WHERE +series = ? AND +time >= ? AND +time < ? AND text IS NULL GROUP BY w",
            (HOUR, sid, now - 30 * DAY, now),
        ).fetchall()

    d0 = devs[0]
    timings = {
        "latest": timed(lambda: store.latest(rng.choice(devs)), reps * 20),
        "latest_many": timed(lambda: store.latest_many(fleet), reps),
        "agg": timed(agg, reps * 10),
        "raw_day": timed(raw_day, reps * 10),
        "naive_latest": timed(lambda: naive_latest_of(sids[rng.choice(devs)]), reps),
        "naive_fleet": timed(lambda: naive_latest_of([s for d in fleet for s in sids[d]]), naive_reps),
        "naive_agg": timed(naive_agg, naive_reps),
    }
    out = {k: v[0] * 1e3 for k, v in timings.items()}
    out |= {f"{k}_cpu": v[1] * 1e3 for k, v in timings.items()}
    out["agg_rows"] = len(store.points(d0, ["fill_pct"], now - 30 * DAY, now, 1_000_000))
    out["agg_windows"] = len(store.aggregate(d0, ["fill_pct"], now - 30 * DAY, now, HOUR, "mean"))
    out["raw_points"] = len(store.points(d0, None, now - DAY, now, 10_000))
    pages = conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
    out["size_mb"] = pages / 1e6  # the database as readers see it, WAL frames included
    out["db_mb"] = file_size(db) / 1e6
    out["wal_mb"] = file_size(db.with_name(db.name + "-wal")) / 1e6
    return out


QUERIES = [
    ("latest (one device)", "latest", "naive_latest", "max(time) over history"),
    ("fleet latest (70 % of them)", "latest_many", "naive_fleet", "max(time) over history"),
    ("30-day hourly mean (1 key)", "agg", "naive_agg", "no index: full scan"),
    ("raw 1-day range (all keys)", "raw_day", "", ""),
]


def report(n: int, ingest: dict[str, float], q: dict[str, float]) -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n== {n:,} readings ({n // PER_UPLINK:,} uplinks) ==  load average {load}")
    print(
        f"  ingest, {BATCH:,}-uplink batch ({BATCH * PER_UPLINK:,} readings), store.write only: "
        f"{ingest['us']:.2f} µs/reading ({ingest['cpu_us']:.2f} CPU), {ingest['rate']:,.0f} readings/s "
        f"(fill since previous step incl. building batches: {ingest['fill_rate']:,.0f} readings/s)"
    )
    print(
        f"  {'query':<28} {'store ms':>10} {'(CPU ms)':>10} {'naive ms':>10}  {'naive':<24} "
        f"{'naive/store':>11}"
    )
    for name, key, nkey, nlabel in QUERIES:
        naive = f"{q[nkey]:10.3f}" if nkey else f"{'':>10}"
        ratio = f"{q[nkey] / q[key]:10.0f}x" if nkey else ""
        print(f"  {name:<28} {q[key]:10.3f} {q[key + '_cpu']:10.3f} {naive}  {nlabel:<24} {ratio:>11}")
    print(
        f"  30-day window of one key: {q['agg_rows']:.0f} readings in {q['agg_windows']:.0f} hourly windows; "
        f"1-day range: {q['raw_points']:.0f} points"
    )
    print(
        f"  database {q['size_mb']:,.1f} MB ({q['size_mb'] * 1e6 / n:.0f} bytes/reading); "
        f"files: readings.db {q['db_mb']:,.1f} MB, WAL {q['wal_mb']:,.1f} MB",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--steps", default="1,2,5,10", help="store sizes, millions of readings")
    ap.add_argument("--data-dir", type=Path, default=None, help="keep readings.db here")
    ap.add_argument("--reps", type=int, default=10, help="calls per query (x20 for latest, x10 for ranges)")
    ap.add_argument("--naive-reps", type=int, default=3, help="calls per full-scan baseline")
    ap.add_argument("--synchronous", default="NORMAL", choices=["OFF", "NORMAL", "FULL"])
    args = ap.parse_args()
    steps = sorted(int(float(s) * 1_000_000) for s in args.steps.split(","))

    tmp = None
    if args.data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="lorakeet-bench-scale-")
        data_dir = Path(tmp.name)
    else:
        data_dir = args.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
    db = data_dir / "readings.db"
    if db.exists():
        sys.exit(f"{db} exists: the benchmark grows a new store")
    print(
        f"SQLite scale: {args.devices:,} devices, {PER_UPLINK} readings per uplink, steps "
        f"{', '.join(f'{s:,}' for s in steps)} readings; {steps[-1]:,} readings span 35 days; "
        f"synchronous={args.synchronous}; {os.cpu_count()} cores; {db}",
        flush=True,
    )
    store = SqliteStore(db, synchronous=args.synchronous)
    feed = Feed(devices(args.devices), steps[-1])
    results: list[tuple[int, dict[str, float], dict[str, float]]] = []
    t_fill = time.perf_counter()
    try:
        for n in steps:
            t0, r0 = time.perf_counter(), feed.readings
            writes = list(grow(store, feed, n))
            fill_rate = (feed.readings - r0) / (time.perf_counter() - t0)
            w = statistics.median(x[0] for x in writes)
            ingest = {
                "us": w / (BATCH * PER_UPLINK) * 1e6,
                "cpu_us": statistics.median(x[1] for x in writes) / (BATCH * PER_UPLINK) * 1e6,
                "rate": BATCH * PER_UPLINK / w,
                "fill_rate": fill_rate,
            }
            q = measure(store, feed, db, args.reps, args.naive_reps)
            report(feed.readings, ingest, q)
            results.append((feed.readings, ingest, q))
        total = time.perf_counter() - t_fill
        print(f"\nfilled {feed.readings:,} readings in {total:.0f} s (queries included)")
        (n0, i0, q0), (n1, i1, q1) = results[0], results[-1]
        if len(results) > 1:
            print(f"\nratios {n1 / 1e6:g}M / {n0 / 1e6:g}M (cost growth; 1.0 = flat):")
            print(f"  {'':<28} {'wall':>6} {'CPU':>6}")
            print(
                f"  {'ingest µs/reading':<28} {i1['us'] / i0['us']:6.2f} {i1['cpu_us'] / i0['cpu_us']:6.2f}"
            )
            for name, key, nkey, _ in QUERIES:
                naive = f"   naive {q1[nkey] / q0[nkey]:7.2f}" if nkey else ""
                cpu = q1[key + "_cpu"] / q0[key + "_cpu"]
                print(f"  {name:<28} {q1[key] / q0[key]:6.2f} {cpu:6.2f}{naive}")
            per_row = (q1["agg"] / q1["agg_rows"]) / (q0["agg"] / q0["agg_rows"])
            print(f"  30-day hourly mean per reading in the window {per_row:6.2f}")
            print(f"  database size                {q1['size_mb'] / q0['size_mb']:6.2f}")
    finally:
        store.close()
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
