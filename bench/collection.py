"""Collection-list benchmark: 1,000 public bins with 14 days of hourly fill readings.

    .venv/bin/python bench/collection.py [--bins 1000] [--rounds 30]

Fills a SQLite store and registry (each bin: 336 hourly readings, filling 3-15 %/day with
emptyings at 80 %), then times in one run:

- **uncached**: what every request did before the caches: each bin's history read from the
  store, its state computed, and the tour planned, with no cache of any kind;
- **history cached**: a signed-in crew's request (fresh answer, warm fill-history and tour
  caches: one ``latest_many`` query, the registry listing, the states and the order);
- **GET /v1/bins/collection-list**: the endpoint through the ASGI app, anonymous (answers
  kept a few seconds, as in production) and signed in with a crew's API key (a fresh answer
  every time); the garbage collector tuned as the API process tunes it.

Prints p50 / p90 in milliseconds and the ratios against the uncached path. Target: p50 of the
collection list at 1,000 bins under 50 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from lorakeet import gctune
from lorakeet.api.app import create_app
from lorakeet.api.auth import hash_key, new_key
from lorakeet.api.deps import Services
from lorakeet.decoders import Reading
from lorakeet.settings import ApiSettings, Settings
from lorakeet.storage.records import DeviceKey, StoredUplink, Uplink
from lorakeet.storage.registry import DeviceFilter, Registry
from lorakeet.storage.sqlite_store import SqliteStore
from lorakeet.views import collection as collection_mod
from lorakeet.views.bin_history import FillHistory
from lorakeet.views.collection import collection_route
from lorakeet.views.fleet import bin_views

H = 3_600 * 1_000_000_000
APP = "bench-bins"


def fill(registry: Registry, store: SqliteStore, bins: int, now: int) -> None:
    rng = random.Random(1)
    batch: list[StoredUplink] = []
    for i in range(bins):
        key = DeviceKey(APP, f"bin-{i:04d}")
        registry.upsert_device(
            key,
            kind="bin",
            visibility="public",
            latitude=51.92 + rng.uniform(-0.03, 0.03),
            longitude=4.48 + rng.uniform(-0.05, 0.05),
        )
        rate = rng.uniform(3, 15) / 24
        level = rng.uniform(0, 80)
        for h in range(14 * 24, 0, -1):
            level += rate * rng.uniform(0.5, 1.5)
            if level >= 80 and rng.random() < 0.5:
                level = rng.uniform(0, 4)
            t = now - h * H + rng.randrange(H // 2)
            up = Uplink("bench", APP, key.device_id, t, 1, 14 * 24 - h + 1, b"\x00")
            batch.append(StoredUplink(up, "bin", "bench", (Reading("fill_pct", min(100.0, level), "%"),)))
        if len(batch) >= 50_000:
            store.write(batch)
            batch = []
    store.write(batch)


def timed(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bins", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(f"sqlite:///{Path(tmp) / 'registry.db'}")
        store = SqliteStore(Path(tmp) / "readings.db")
        now = time.time_ns()
        t0 = time.perf_counter()
        fill(registry, store, args.bins, now)
        print(f"filled {args.bins} bins x {14 * 24} readings in {time.perf_counter() - t0:.1f} s")
        deadline = now + 12 * H

        def uncached() -> object:
            collection_mod._tours.clear()
            history = FillHistory(store)
            rows = bin_views(registry, store, DeviceFilter(), time.time_ns(), deadline, history=history)
            return collection_route([b for b in rows if b.state.needs_collection], None)

        def warm() -> object:
            rows = bin_views(registry, store, DeviceFilter(), time.time_ns(), deadline)
            return collection_route([b for b in rows if b.state.needs_collection], None)

        warm()
        due = len(warm().ordered)  # type: ignore[attr-defined]
        client = TestClient(
            create_app(
                Services(
                    Settings(api=ApiSettings(rate_limit_per_minute=10**6, rate_limit_burst=10**6)),
                    registry,
                    store,
                )
            )
        )

        crew = registry.create_account("Crew", "crew@example.org")
        key = new_key()
        registry.create_key(crew.id, name="crew", key_hash=hash_key(key), prefix=key[:8], scopes=["read"])
        signed_in = {"Authorization": f"Bearer {key}"}
        gctune.tune()

        def endpoint() -> object:
            r = client.get("/v1/bins/collection-list")
            assert r.status_code == 200, r.text
            return r

        def endpoint_signed_in() -> object:
            r = client.get("/v1/bins/collection-list", headers=signed_in)
            assert r.status_code == 200, r.text
            return r

        endpoint()
        endpoint_signed_in()
        rows = [
            ("uncached", *timed(uncached, max(3, args.rounds // 10))),
            ("history cached (signed-in)", *timed(warm, args.rounds)),
            ("GET /v1/bins/collection-list (anonymous)", *timed(endpoint, args.rounds)),
            ("GET /v1/bins/collection-list (signed in)", *timed(endpoint_signed_in, args.rounds)),
        ]
        base = rows[0][1]
        print(f"{args.bins} bins, {due} due; p50 / p90 in ms, ratio = uncached p50 / p50")
        print(f"{'path':45} {'p50':>9} {'p90':>9} {'ratio':>8}")
        for name, p50, p90 in rows:
            print(f"{name:45} {p50:9.1f} {p90:9.1f} {base / p50:7.1f}x")
        client.close()
        store.close()
        registry.close()


if __name__ == "__main__":
    main()
