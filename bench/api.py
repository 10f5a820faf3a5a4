"""API read benchmark: latest per device, fleet latest and a 30-day hourly aggregate.

    .venv/bin/python bench/api.py [--devices 1000] [--readings 300000] [--workers 2]
                                  [--data-dir DIR] [--rounds 3] [--seconds 3] [--skip-influx]
                                  [--skip-sqlite] [--baseline CHECKOUT] [--write-rate UPLINKS_PER_S]

Fills a SQLite store (and a private InfluxDB 1.x from tests.services) with ``--devices``
devices and ``--readings`` reading values (3 per uplink, spread over 35 days up to now)
through the stores' batched write path, and registers the devices (70 % bins, all public).
With ``--data-dir`` the filled registry, SQLite files and InfluxDB files are kept there and
reused by the next run with the same ``--devices`` and ``--readings`` (10M readings take
minutes to fill). With ``--baseline`` (another checkout, e.g. ``git worktree add /tmp/base
main``) that version's API is started too, on the same files, and every scenario alternates
its rounds between the two; the "new" rows give the ratios to the baseline's.

The API runs as in production: ``lorakeet api --workers N`` in a child process, configured
through ``LORAKEET_*`` variables (rate limits raised). Load comes from ``wrk``
(``apt-get install wrk``), which is written in C and so measures the server, not the client;
a Lua script picks a random device per request. Each scenario runs ``--seconds`` per round at
``--connections`` connections (and at 1 for the single-client rows); the tables show the
median over ``--rounds`` of p50 / p99 latency and requests/s. ``/healthz`` is the framework's
floor (no registry, no store). For scale, the same reads are also timed directly on the store
(no HTTP), and against a naive SQLite baseline that computes "latest" from the history
(``max(time)`` per key) instead of the ``series`` table.

Targets (SQLite, 1k devices / 10M readings): latest p50 <= 5 ms for a single client,
>= 800 req/s with p99 <= 50 ms at 50 connections; 30-day hourly aggregate p50 <= 30 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from lorakeet.decoders import Reading  # noqa: E402
from lorakeet.gateway_bridge.broker import free_port  # noqa: E402
from lorakeet.storage.factory import Store  # noqa: E402
from lorakeet.storage.records import DeviceKey, StoredUplink, Uplink  # noqa: E402
from lorakeet.storage.registry import DeviceRow, Registry  # noqa: E402
from lorakeet.storage.sqlite_store import SqliteStore  # noqa: E402
from lorakeet.timefmt import format_rfc3339_ns  # noqa: E402
from tests.services import InfluxServer  # noqa: E402

APP = "bench-town"
S = 1_000_000_000
DAY = 86_400 * S
SPAN = 35 * DAY
FLEET = "/v1/readings/latest?kind=bin&limit=1000"
WRK_MISSING = (
    "bench/api.py drives the API with wrk, which is not installed.\n"
    "Install it with `apt-get install wrk` (Debian/Ubuntu) or `brew install wrk` (macOS),\n"
    "or build it from https://github.com/wg/wrk."
)


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


def prepare_sqlite(data_dir: Path, devs: list[DeviceKey], readings: int) -> int:
    """Registry and SQLite store in ``data_dir``, filled unless a previous run left the same data;
    returns the fill's "now" (ns), which the time-range scenarios are relative to."""
    marker = data_dir / "bench-api.json"
    want = {"devices": len(devs), "readings": readings}
    if marker.exists():
        done = json.loads(marker.read_text())
        if {k: done.get(k) for k in want} == want:
            print(f"SQLite: reusing {readings:,} readings of {len(devs)} devices in {data_dir}")
            return int(done["now_ns"])
    marker.unlink(missing_ok=True)
    for name in ("registry.db", "readings.db"):
        for suffix in ("", "-wal", "-shm"):
            (data_dir / (name + suffix)).unlink(missing_ok=True)
    now_ns = time.time_ns()
    registry = Registry(f"sqlite:///{data_dir / 'registry.db'}")
    register(registry, devs)
    registry.close()
    store = SqliteStore(data_dir / "readings.db", synchronous="NORMAL")
    secs = fill(store, devs, readings, now_ns, "sqlite")
    store.close()
    print(f"SQLite: {readings:,} readings of {len(devs)} devices in {secs:.1f} s")
    marker.write_text(json.dumps({**want, "now_ns": now_ns}))
    return now_ns


@contextmanager
def api_process(env: dict[str, str], workers: int, cwd: Path, code: Path | None = None) -> Iterator[str]:
    """``lorakeet api --workers N`` in a child process (of the checkout ``code`` if given, with
    this environment's packages); yields its base URL."""
    port = free_port()
    script = Path(sys.executable).parent / "lorakeet"
    cmd = (
        [str(script)]
        if script.exists() and code is None
        else [sys.executable, "-c", "from lorakeet.cli import main; main()"]
    )
    if code is not None:
        env = {**env, "PYTHONPATH": str(code)}
    cmd += ["api", "--workers", str(workers), "--host", "127.0.0.1", "--port", str(port)]
    # its own process group: stopping it stops its workers too (they would otherwise finish
    # every queued request against the store while the next measurements run)
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=cwd, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the API process did not start")
            time.sleep(0.1)
        time.sleep(0.5 * workers)  # let every worker finish starting
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # workers still draining queued requests
        except ProcessLookupError:
            pass
        proc.wait()


@contextmanager
def api_processes(env: dict[str, str], args: argparse.Namespace, cwd: Path) -> Iterator[dict[str, str]]:
    """The API of this checkout ("new"), and with ``--baseline`` also the baseline's ("base"):
    label -> base URL. Both serve the same files; the scenarios alternate between them."""
    with api_process(env, args.workers, cwd) as url:
        if args.baseline is None:
            yield {"new": url}
            return
        with api_process(env, args.workers, cwd, args.baseline.resolve()) as base:
            yield {"base": base, "new": url}


def api_env(registry_url: str, store_env: dict[str, str]) -> dict[str, str]:
    """The child's configuration: rate limits out of the way, no spool, quiet logs."""
    return {
        "LORAKEET_REGISTRY_URL": registry_url,
        "LORAKEET_API__RATE_LIMIT_PER_MINUTE": "1e12",
        "LORAKEET_API__RATE_LIMIT_BURST": "1000000000",
        "LORAKEET_PIPELINE__SPOOL_PATH": "",
        "LORAKEET_LOG_LEVEL": "WARNING",
        **store_env,
    }


LUA = """
local n = {n}
local tmpl = "{template}"
math.randomseed({seed})
request = function()
  return wrk.format("GET", string.format(tmpl, math.random(0, n - 1)))
end
done = function(summary, latency, requests)
  io.write(string.format("LK p50=%d p99=%d n=%d non2xx=%d errors=%d\\n",
    latency:percentile(50), latency:percentile(99), summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


@dataclass(frozen=True)
class Round:
    p50_ms: float
    p99_ms: float
    rps: float
    failed: int


def wrk(url: str, template: str, n_devices: int, connections: int, seconds: float, tmp: Path) -> Round:
    """One wrk run: ``template`` is a path with one ``%05d`` for a random device index."""
    script = tmp / "lorakeet-bench.lua"
    lua_template = template.replace("\\", "\\\\").replace('"', '\\"')
    script.write_text(LUA.format(n=n_devices, template=lua_template, seed=random.randrange(1 << 30)))
    threads = min(2, connections)
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"LK p50=(\d+) p99=(\d+) n=(\d+) non2xx=(\d+) errors=(\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m is None or rps is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    failed = int(m[4]) + int(m[5])
    return Round(int(m[1]) / 1e3, int(m[2]) / 1e3, float(rps[1]), failed)


def scenarios(now_ns: int, connections: int) -> list[tuple[str, str, int]]:
    """(name, path template, connections)."""
    start = format_rfc3339_ns(now_ns - 30 * DAY)
    end = format_rfc3339_ns(now_ns)
    latest = f"/v1/devices/{APP}.dev-%05d/latest"
    hourly = (
        f"/v1/devices/{APP}.dev-%05d/readings?quantities=fill_pct,battery&every=1h"
        f"&agg=mean&start={start}&end={end}&limit=1000"
    ).replace("+", "%%2B")
    return [
        ("/healthz (framework floor)", "/healthz", connections),
        ("/healthz, 1 client", "/healthz", 1),
        ("latest (one device)", latest, connections),
        ("latest, 1 client", latest, 1),
        ("30-day hourly mean", hourly, connections),
        ("30-day hourly mean, 1 client", hourly, 1),
        ("fleet latest (kind=bin), 1 client", FLEET, 1),
        ("fleet latest (kind=bin)", FLEET, connections),  # last: slow answers queue up
    ]


def settle(url: str, timeout: float = 120.0) -> None:
    """Wait until requests left over from the previous scenario are done (/healthz is quick)."""
    deadline = time.monotonic() + timeout
    quick = 0
    while quick < 3 and time.monotonic() < deadline:
        t0 = time.perf_counter()
        try:
            httpx.get(f"{url}/healthz", timeout=timeout)
        except httpx.HTTPError:
            pass
        quick = quick + 1 if time.perf_counter() - t0 < 0.1 else 0
        time.sleep(0.05)


def run_http(
    label: str, urls: dict[str, str], n_devices: int, now_ns: int, args: argparse.Namespace, tmp: Path
) -> None:
    """Every scenario against every API in ``urls``, their rounds alternating (same load on each)."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\n{label}: HTTP, lorakeet api --workers {args.workers} in a child process, wrk, "
        f"{args.seconds:g} s x {args.rounds} rounds (medians); {os.cpu_count()} CPUs, load {load}"
    )
    print(f"  {'scenario':<34} {'code':>4} {'conns':>5} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for name, template, conns in scenarios(now_ns, args.connections):
        rounds: dict[str, list[Round]] = {code: [] for code in urls}
        for url in urls.values():
            settle(url)
            wrk(url, template, n_devices, conns, 2, tmp)  # warm up (caches, connections)
        for _ in range(args.rounds):
            for code, url in urls.items():
                for other in urls.values():  # the other API may still be draining its queue
                    settle(other)
                rounds[code].append(wrk(url, template, n_devices, conns, args.seconds, tmp))
        for code, rs in rounds.items():
            p50 = statistics.median(r.p50_ms for r in rs)
            p99 = statistics.median(r.p99_ms for r in rs)
            rps = statistics.median(r.rps for r in rs)
            failed = sum(r.failed for r in rs)
            note = f"  !! {failed} non-2xx or failed" if failed else ""
            if code == "new" and "base" in rounds:
                base_rps = statistics.median(r.rps for r in rounds["base"])
                base_p50 = statistics.median(r.p50_ms for r in rounds["base"])
                note += f"  ({rps / base_rps:.2f}x req/s, {p50 / base_p50:.2f}x p50)"
            print(f"  {name:<34} {code:>4} {conns:>5} {p50:8.2f} {p99:8.2f} {rps:8.0f}{note}", flush=True)


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


def prepare_registry(data_dir: Path, devs: list[DeviceKey]) -> None:
    """The registry alone in ``data_dir`` (for ``--skip-sqlite``: no SQLite readings to fill)."""
    db = data_dir / "registry.db"
    if db.exists():
        registry = Registry(f"sqlite:///{db}")
        with registry.session() as s:
            n = s.scalar(select(func.count()).select_from(DeviceRow)) or 0
        registry.close()
        if n == len(devs):
            print(f"registry: reusing {n} devices in {db}")
            return
        (data_dir / "bench-api.json").unlink(missing_ok=True)  # the SQLite readings no longer match
        for suffix in ("", "-wal", "-shm"):
            (data_dir / ("registry.db" + suffix)).unlink(missing_ok=True)
    registry = Registry(f"sqlite:///{db}")
    register(registry, devs)
    registry.close()


def run_sqlite(args: argparse.Namespace, devs: list[DeviceKey], data_dir: Path, tmp: Path) -> int:
    now_ns = prepare_sqlite(data_dir, devs, args.readings)
    registry_url = f"sqlite:///{data_dir / 'registry.db'}"
    env = api_env(
        registry_url,
        {"LORAKEET_STORE__KIND": "sqlite", "LORAKEET_STORE__SQLITE_PATH": str(data_dir / "readings.db")},
    )
    with api_processes(env, args, tmp) as urls:
        run_http("SQLite", urls, len(devs), now_ns, args, tmp)
    store = SqliteStore(data_dir / "readings.db", synchronous="NORMAL")
    run_direct("SQLite", store, devs, now_ns)
    store.close()
    return now_ns


def start_influx(
    data_dir: Path | None, devs: list[DeviceKey], readings: int
) -> tuple[InfluxServer, int, bool]:
    """A private InfluxDB holding ``readings`` values of ``devs``; with ``data_dir`` its files are
    kept in ``data_dir/influxdb`` and reused by the next run with the same sizes.
    Returns (server, the fill's "now" in ns, whether the files are kept)."""
    from lorakeet.storage.influx_store import InfluxStore

    server = InfluxServer()
    marker = None
    if data_dir is not None:
        shutil.rmtree(server.dir, ignore_errors=True)
        server.dir = data_dir / "influxdb"
        marker = data_dir / "bench-api-influx.json"
        want = {"devices": len(devs), "readings": readings}
        done = json.loads(marker.read_text()) if marker.exists() else {}
        (server.dir / "influxd.conf").unlink(missing_ok=True)  # new ports each run
        if {k: done.get(k) for k in want} == want:
            server.dir.mkdir(parents=True, exist_ok=True)
            server.start()
            print(f"InfluxDB: reusing {readings:,} readings of {len(devs)} devices in {server.dir}")
            return server, int(done["now_ns"]), True
        marker.unlink(missing_ok=True)
        shutil.rmtree(server.dir, ignore_errors=True)
        server.dir.mkdir(parents=True)
    server.start()
    influx = InfluxStore(server.url, "bench")
    influx.create_database()
    now_ns = time.time_ns()
    secs = fill(influx, devs, readings, now_ns, "influxdb")
    influx.close()
    print(f"InfluxDB: {readings:,} readings of {len(devs)} devices in {secs:.1f} s")
    if marker is not None:
        marker.write_text(json.dumps({"devices": len(devs), "readings": readings, "now_ns": now_ns}))
    return server, now_ns, marker is not None


@contextmanager
def writing(store: Store, devs: list[DeviceKey], rate: float) -> Iterator[None]:
    """While inside: ``rate`` uplinks a second (3 readings each, now) of random devices written
    through ``store`` in a thread, as a bridge would, in batches every 0.2 s."""
    if rate <= 0:
        yield
        return
    import threading

    stop = threading.Event()
    rng = random.Random(2)

    def run() -> None:
        f_cnt = 1_000_000
        carry = 0.0
        while not stop.wait(0.2):
            carry += rate * 0.2
            n, carry = int(carry), carry - int(carry)
            batch = []
            for _ in range(n):
                i = rng.randrange(len(devs))
                d = devs[i]
                f_cnt += 1
                u = Uplink(
                    "ttn",
                    d.application_id,
                    d.device_id,
                    time.time_ns(),
                    1,
                    f_cnt,
                    b"\x01",
                    rssi=-90.0,
                    snr=7.0,
                )
                rs = (
                    Reading("fill_pct", float(rng.randrange(100)), "%"),
                    Reading("battery", 50.0, "%"),
                    Reading("temperature", 12.0, "°C"),
                )
                batch.append(StoredUplink(u, kind_of(i), "cayenne_lpp", rs))
            if batch:
                store.write(batch)

    t = threading.Thread(target=run, name="bench-writer", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(10)


def run_influx(args: argparse.Namespace, devs: list[DeviceKey], data_dir: Path, tmp: Path) -> None:
    from lorakeet.storage.influx_store import InfluxStore

    readings = args.influx_readings if args.influx_readings is not None else args.readings
    server, now_ns, kept = start_influx(data_dir if args.data_dir else None, devs, readings)
    try:
        influx = InfluxStore(server.url, "bench")
        store_env = {
            "LORAKEET_STORE__KIND": "influxdb",
            "LORAKEET_STORE__INFLUX_URL": server.url,
            "LORAKEET_STORE__INFLUX_DATABASE": "bench",
        }
        env = api_env(f"sqlite:///{data_dir / 'registry.db'}", store_env)
        label = "InfluxDB 1.x" + (
            f", {args.write_rate:g} uplinks/s written meanwhile" if args.write_rate else ""
        )
        with api_processes(env, args, tmp) as urls, writing(influx, devs, args.write_rate):
            run_http(label, urls, len(devs), now_ns, args, tmp)
        run_direct("InfluxDB", influx, devs, now_ns)
        influx.close()
    finally:
        if server.proc is not None and server.proc.poll() is not None:  # died under load: say why
            log = (server.dir / "influxd.log").read_text(errors="replace").splitlines()
            print(f"influxd exited with {server.proc.returncode}; its log ends:", *log[-30:], sep="\n  ")
        if kept:
            server.stop()
        else:
            server.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--readings", type=int, default=300_000, help="reading values (3 per uplink)")
    ap.add_argument("--influx-readings", type=int, default=None, help="for InfluxDB (default: --readings)")
    ap.add_argument("--data-dir", type=Path, default=None, help="keep and reuse the filled SQLite files here")
    ap.add_argument("--workers", type=int, default=2, help="API server processes")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="per scenario per round")
    ap.add_argument("--skip-influx", action="store_true")
    ap.add_argument(
        "--write-rate",
        type=float,
        default=0.0,
        help="InfluxDB: uplinks/s written by another process's store while the API is measured "
        "(latest values change under the readers, as with a bridge running)",
    )
    ap.add_argument("--skip-sqlite", action="store_true", help="InfluxDB only (the registry is still filled)")
    ap.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="a checkout of another version (e.g. `git worktree add /tmp/base main`): its API is measured "
        "in the same run, rounds alternating with this one's",
    )
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit(WRK_MISSING)

    devs = devices(args.devices)
    with tempfile.TemporaryDirectory(prefix="lorakeet-bench-api-") as tmp_name:
        tmp = Path(tmp_name)
        data_dir = args.data_dir or tmp
        data_dir.mkdir(parents=True, exist_ok=True)
        if args.skip_sqlite:
            prepare_registry(data_dir.resolve(), devs)
        else:
            run_sqlite(args, devs, data_dir.resolve(), tmp)
        if not args.skip_influx:
            run_influx(args, devs, data_dir.resolve(), tmp)


if __name__ == "__main__":
    main()
