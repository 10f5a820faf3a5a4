"""API read benchmark: latest per device, fleet latest and a 30-day hourly aggregate.

    .venv/bin/python bench/api.py [--devices 1000] [--readings 1000000] [--rounds 3] [--skip-influx]

Fills a SQLite store (and a private InfluxDB 1.x from tests.services) with ``--devices``
devices and ``--readings`` reading values (3 per uplink, spread over 35 days up to now)
through the stores' batched write path, registers the devices (70 % bins), then serves the
API with uvicorn in a thread of this process and drives it with 50 concurrent
httpx.AsyncClient workers. Each scenario runs ``--seconds`` per round; the table shows the
median over ``--rounds`` of p50 / p99 latency and requests/s. For scale, the same reads are
also timed directly on the store (no HTTP), and against a naive SQLite baseline that
computes "latest" from the history (``max(time)`` per key) instead of the ``series`` table.

Targets (SQLite, 1k devices / 10M readings): latest p50 <= 5 ms, >= 800 req/s with
p99 <= 50 ms; 30-day hourly aggregate p50 <= 30 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvicorn  # noqa: E402

from lorakeet.api.app import create_app  # noqa: E402
from lorakeet.api.deps import Services  # noqa: E402
from lorakeet.decoders import Reading  # noqa: E402
from lorakeet.gateway_bridge.broker import free_port  # noqa: E402
from lorakeet.settings import ApiSettings, Settings  # noqa: E402
from lorakeet.storage.factory import Store  # noqa: E402
from lorakeet.storage.records import DeviceKey, StoredUplink, Uplink  # noqa: E402
from lorakeet.storage.registry import DeviceRow, Registry  # noqa: E402
from lorakeet.storage.sqlite_store import SqliteStore  # noqa: E402
from lorakeet.timefmt import format_rfc3339_ns  # noqa: E402

APP = "bench-town"
S = 1_000_000_000
DAY = 86_400 * S
SPAN = 35 * DAY
CONCURRENCY = 50


def kind_of(i: int) -> str:
    return "bin" if i % 10 < 7 else ("streetlight" if i % 10 < 9 else "boat")


def devices(n: int) -> list[DeviceKey]:
    return [DeviceKey(APP, f"dev-{i:05d}") for i in range(n)]


def register(registry: Registry, devs: list[DeviceKey]) -> None:
    with registry.session() as s:
        s.add_all(
            DeviceRow(
                application_id=d.application_id,
                device_id=d.device_id,
                kind=kind_of(i),
                decoder="cayenne_lpp",
                visibility="public",
                meta={},
                tags=[],
            )
            for i, d in enumerate(devs)
        )
        s.commit()


def fill(store: Store, devs: list[DeviceKey], readings: int, now_ns: int, label: str) -> float:
    """Write ``readings`` values (3 per uplink) through ``store.write``; returns seconds."""
    per_device = max(1, readings // 3 // len(devs))
    step = SPAN // per_device
    t_start = now_ns - SPAN
    batch: list[StoredUplink] = []
    t0 = time.perf_counter()
    done = 0
    for j in range(per_device):  # time-major, as uplinks arrive
        for i, d in enumerate(devs):
            t = t_start + j * step + (i * 7919 * S) % step
            u = Uplink("ttn", d.application_id, d.device_id, t, 1, j + 1, b"\x01\x02", rssi=-90.0, snr=7.0)
            rs = (
                Reading("fill_pct", float((j * 3 + i) % 100), "%"),
                Reading("battery", 100.0 - j * 50 / per_device, "%"),
                Reading("temperature", 10.0 + (i + j) % 15, "°C"),
            )
            batch.append(StoredUplink(u, kind_of(i), "cayenne_lpp", rs))
            if len(batch) >= 5000:
                store.write(batch)
                done += len(batch)
                batch = []
        if j % max(1, per_device // 10) == 0:
            rate = done * 3 / max(1e-9, time.perf_counter() - t0)
            print(f"  {label}: {done * 3:,} readings written ({rate:,.0f}/s)", flush=True)
    store.write(batch)
    return time.perf_counter() - t0


class Server:
    """uvicorn in a thread of this process, or (``serve_args``) in a child process."""

    def __init__(self, services: Services, serve_args: list[str] | None = None) -> None:
        self.port = free_port()
        self.serve_args = serve_args
        self.proc: subprocess.Popen[bytes] | None = None
        config = uvicorn.Config(
            create_app(services), host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        if self.serve_args is not None:
            cmd = [sys.executable, __file__, "--serve", "--port", str(self.port), *self.serve_args]
            self.proc = subprocess.Popen(cmd)
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("API server process did not start")
                time.sleep(0.05)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            return
        self.server.should_exit = True
        self.thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def serve(args: argparse.Namespace, settings: Settings) -> None:
    """The child-process server of ``--server process``."""
    registry = Registry(args.registry)
    if args.influx_url:
        from lorakeet.storage.influx_store import InfluxStore

        store: Store = InfluxStore(args.influx_url, args.influx_db)
    else:
        store = SqliteStore(args.sqlite)
    app = create_app(Services(settings, registry, store))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


async def drive(
    url: str, make_path: Callable[[random.Random], str], seconds: float
) -> tuple[list[float], float]:
    """50 workers for ``seconds``: latencies (s) of successful requests and the wall time."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        await client.get(make_path(random.Random(0)))  # warm up
        deadline = time.perf_counter() + seconds

        async def worker(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                path = make_path(rng)
                t0 = time.perf_counter()
                r = await client.get(path)
                dt = time.perf_counter() - t0
                if r.status_code == 200:
                    latencies.append(dt)
                else:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
        wall = time.perf_counter() - t0
    if errors:
        print(f"  !! {errors} non-200 answers", flush=True)
    return latencies, wall


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))] if s else float("nan")


def scenarios(devs: list[DeviceKey], now_ns: int) -> dict[str, Callable[[random.Random], str]]:
    start = format_rfc3339_ns(now_ns - 30 * DAY)
    end = format_rfc3339_ns(now_ns)
    return {
        "latest (one device)": lambda rng: f"/v1/devices/{rng.choice(devs).uid}/latest",
        "fleet latest (kind=bin)": lambda _rng: "/v1/readings/latest?kind=bin&limit=1000",
        "30-day hourly mean": lambda rng: (
            f"/v1/devices/{rng.choice(devs).uid}/readings?quantities=fill_pct,battery&every=1h"
            f"&agg=mean&start={start}&end={end}&limit=1000"
        ),
    }


def run_http(
    label: str,
    services: Services,
    devs: list[DeviceKey],
    now_ns: int,
    args: argparse.Namespace,
    serve_args: list[str] | None = None,
) -> None:
    where = "in a child process" if serve_args is not None else "in a thread of the client's process"
    print(
        f"\n{label}: HTTP (server {where}), {CONCURRENCY} concurrent clients, "
        f"{args.seconds:.0f} s x {args.rounds} rounds"
    )
    print(f"  {'scenario':<26} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    with Server(services, serve_args) as server:
        for name, make_path in scenarios(devs, now_ns).items():
            rounds = []
            for _ in range(args.rounds):
                lat, wall = asyncio.run(drive(server.url, make_path, args.seconds))
                rounds.append((pct(lat, 50) * 1e3, pct(lat, 99) * 1e3, len(lat) / wall))
            p50, p99, rps = (statistics.median(r[k] for r in rounds) for k in range(3))
            print(f"  {name:<26} {p50:8.2f} {p99:8.2f} {rps:8.0f}", flush=True)


def timed(fn: Callable[[], object], n: int) -> float:
    """Median ms of ``n`` calls."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def run_direct(label: str, store: Store, devs: list[DeviceKey], now_ns: int) -> None:
    rng = random.Random(1)
    bins = [d for i, d in enumerate(devs) if kind_of(i) == "bin"]
    print(f"  {label} store, no HTTP (median of calls):")
    print(f"    latest one device     {timed(lambda: store.latest(rng.choice(devs)), 200):8.3f} ms")
    print(f"    latest_many (bins)    {timed(lambda: store.latest_many(bins), 10):8.3f} ms")
    agg = timed(
        lambda: store.aggregate(
            rng.choice(devs), ["fill_pct", "battery"], now_ns - 30 * DAY, now_ns, 3600 * S, "mean"
        ),
        50,
    )
    print(f"    30-day hourly mean    {agg:8.3f} ms")
    if isinstance(store, SqliteStore):
        conn = store._conn()

        def naive_latest() -> None:
            d = rng.choice(devs)
            conn.execute(
                "SELECT s.key, r.time, r.value FROM series s JOIN device d ON d.id = s.device "
                "JOIN reading r ON r.series = s.id WHERE d.application_id=? AND d.device_id=? "
                "AND r.time = (SELECT max(time) FROM reading WHERE series = s.id)",
                (d.application_id, d.device_id),
            ).fetchall()

        def naive_fleet() -> None:
            for d in bins:  # one query per device: the N+1 pattern latest_many replaces
                store.latest(d)

        naive = timed(naive_latest, 200)
        print(f"    naive latest (max(time) over history)  {naive:8.3f} ms")
        print(f"    naive fleet (latest() per device)      {timed(naive_fleet, 5):8.3f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--readings", type=int, default=300_000, help="reading values (3 per uplink)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0, help="per scenario per round")
    ap.add_argument("--skip-influx", action="store_true")
    ap.add_argument(
        "--server",
        choices=["thread", "process", "both"],
        default="both",
        help="uvicorn in a thread of the client's process (shares its GIL) and/or in a child process",
    )
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--registry", default="", help=argparse.SUPPRESS)
    ap.add_argument("--sqlite", default="", help=argparse.SUPPRESS)
    ap.add_argument("--influx-url", default="", help=argparse.SUPPRESS)
    ap.add_argument("--influx-db", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    settings = Settings(api=ApiSettings(rate_limit_per_minute=1e9, rate_limit_burst=1_000_000_000))
    if args.serve:
        serve(args, settings)
        return

    now_ns = time.time_ns()
    devs = devices(args.devices)
    modes = ["thread", "process"] if args.server == "both" else [args.server]
    with tempfile.TemporaryDirectory(prefix="lorakeet-bench-api-") as tmp:
        registry = Registry(f"sqlite:///{tmp}/registry.db")
        register(registry, devs)
        store = SqliteStore(Path(tmp) / "readings.db", synchronous="NORMAL")
        secs = fill(store, devs, args.readings, now_ns, "sqlite")
        print(f"SQLite: {args.readings:,} readings of {args.devices} devices in {secs:.1f} s")
        reg_url = f"sqlite:///{tmp}/registry.db"
        for mode in modes:
            child = ["--registry", reg_url, "--sqlite", str(Path(tmp) / "readings.db")]
            run_http(
                "SQLite",
                Services(settings, registry, store),
                devs,
                now_ns,
                args,
                child if mode == "process" else None,
            )
        run_direct("SQLite", store, devs, now_ns)
        store.close()

        if not args.skip_influx:
            from lorakeet.storage.influx_store import InfluxStore
            from tests.services import InfluxServer

            server = InfluxServer().start()
            try:
                influx = InfluxStore(server.url, "bench")
                influx.create_database()
                secs = fill(influx, devs, args.readings, now_ns, "influxdb")
                print(f"InfluxDB: {args.readings:,} readings of {args.devices} devices in {secs:.1f} s")
                for mode in modes:
                    child = ["--registry", reg_url, "--influx-url", server.url, "--influx-db", "bench"]
                    run_http(
                        "InfluxDB 1.x",
                        Services(settings, registry, influx),
                        devs,
                        now_ns,
                        args,
                        child if mode == "process" else None,
                    )
                run_direct("InfluxDB", influx, devs, now_ns)
                influx.close()
            finally:
                server.close()
        registry.close()


if __name__ == "__main__":
    main()
