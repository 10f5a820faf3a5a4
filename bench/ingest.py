"""Ingest benchmark: uplinks/s end to end, Lorakeet against a naive baseline and the raw
paho receive ceiling, in one run on one machine.

    .venv/bin/python bench/ingest.py [--n 50000] [--rounds 3] [--devices 1000] [--bridges 1,2]
            [--only ceiling,naive,nodered,influxdb,sqlite]

A private Mosquitto and a private InfluxDB 1.x are started on free loopback ports. Each
consumer runs in its own process (so CPU time and peak RSS are its own) and is fed by a
fast QoS 0 publisher (pre-encoded packets on a raw socket), as The Things Stack delivers.
Rates are measured from the first message received to the last one durably stored, and
every run counts the store afterwards: exactly N uplinks (0 lost, 0 duplicated). Messages
are shaped like The Things Stack's: 1,000 devices in three applications, two gateways in
``rx_metadata``, Cayenne LPP with 3-4 values, the frequency as a string. Medians of the
rounds; ratios against Node-RED and the naive baseline from the same run.

Consumers:
- ceiling:  a paho subscriber that only counts messages (the receive ceiling);
- nodered:  Node-RED running bench/nodered/flow.json (mqtt in -> json -> function building a
            point -> join 5,000 -> node-red-contrib-influxdb batch node); node-red and the
            contrib node are installed from npm into bench/.nodered (or $BENCH_NODERED_DIR)
            when missing;
- naive:    paho -> json -> base64 -> Cayenne LPP loop -> line protocol -> 5k-batch
            POST /write, all inside on_message (the baseline from measurements.md);
- influxdb: the Lorakeet bridge (QoS 0, Cayenne LPP decoder from the registry) into InfluxDB;
- sqlite:   the same bridge into the embedded SQLite store;
- "x2":     with ``--bridges 1,2``, the same with two bridge processes sharing the
            subscription (``mqtt.share_group``), the way to use a second core.

Environment: BENCH_PROFILE=<file> records the bridge with py-spy (collapsed stacks);
BENCH_VERBOSE=1 prints each consumer's report. The bridge is configured as `lorakeet bridge`
is (LORAKEET_* variables over the defaults: only the broker, the store, the files and QoS 0
are set); BENCH_WORKERS=1, BENCH_QUEUE=<n> and BENCH_BATCH=<n> set pipeline.workers,
queue_size and batch_size to explore.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

T0 = 1_795_132_800_000_000_000  # 2026-11-20T00:00:00Z
APPS = (("city-bins", "bin", 0.5), ("street-lights", "light", 0.3), ("harbour-boats", "boat", 0.2))
FILTER = "v3/+/devices/+/up"
GATEWAYS = [f"gw-{i:02d}" for i in range(24)]
FREQUENCIES = ["868100000", "868300000", "868500000", "867100000", "867300000", "867500000"]


def fleet(devices: int) -> list[tuple[str, str, str]]:
    """(application, device, DevEUI) of every benchmark device: three applications."""
    out = []
    for app, prefix, share in APPS:
        count = round(devices * share) if app != APPS[-1][0] else devices - len(out)
        out += [(app, f"{prefix}-{i:04d}", f"70B3D57ED{len(out) + i:07X}") for i in range(count)]
    return out


def _payload(prefix: str, i: int) -> bytes:
    """Cayenne LPP with 3 values (bins) or 4 (lights, boats)."""
    temp = (150 + i % 90).to_bytes(2, "big", signed=True)  # 0x67, 0.1 °C
    volt = (330 + i % 40).to_bytes(2, "big")  # 0x74, 0.01 V
    if prefix == "bin":  # 0x82 distance in mm, as in the sample
        return (
            bytes([1, 0x82])
            + (200 + i % 1800).to_bytes(4, "big")
            + bytes([2, 0x74])
            + volt
            + bytes([3, 0x67])
            + temp
        )
    if prefix == "light":  # illuminance, voltage, temperature, humidity
        lux = (i * 37 % 20000).to_bytes(2, "big")
        return (
            bytes([1, 0x65])
            + lux
            + bytes([2, 0x74])
            + volt
            + bytes([3, 0x67])
            + temp
            + bytes([4, 0x68, 60 + i % 80])
        )
    analog = (i % 1200).to_bytes(2, "big", signed=True)  # boats: bilge level as analog input
    return (
        bytes([1, 0x67])
        + temp
        + bytes([2, 0x68, 90 + i % 60])
        + bytes([3, 0x74])
        + volt
        + bytes([4, 0x02])
        + analog
    )


def _rfc3339(ns: int) -> str:
    from lorakeet.timefmt import format_rfc3339_ns

    return format_rfc3339_ns(ns)


def make_messages(n: int, devices: int) -> list[tuple[str, bytes]]:
    """N TTS v3 uplinks shaped like The Things Stack's (the issue's sample): 1,000 devices in
    three applications, two gateways in ``rx_metadata``, the frequency as a string."""
    import random

    import orjson

    rnd = random.Random(16)
    devs = fleet(devices)
    out = []
    for i in range(n):
        app, dev, eui = devs[i % len(devs)]
        t = T0 + i * 1_000_000 + rnd.randrange(1_000_000)
        gws = rnd.sample(GATEWAYS, 2)
        body = {
            "end_device_ids": {"device_id": dev, "application_ids": {"application_id": app}, "dev_eui": eui},
            "received_at": _rfc3339(t + 20_000_000),
            "uplink_message": {
                "f_port": 1,
                "f_cnt": i // len(devs) + 1,
                "frm_payload": base64.b64encode(_payload(dev.split("-")[0], i)).decode(),
                "rx_metadata": [
                    {
                        "gateway_ids": {"gateway_id": g},
                        "rssi": -rnd.randrange(60, 121),
                        "snr": round(rnd.uniform(-15, 10), 1),
                        "timestamp": rnd.randrange(1 << 32),
                    }
                    for g in gws
                ],
                "settings": {
                    "data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 7 + i % 6}},
                    "frequency": FREQUENCIES[i % len(FREQUENCIES)],
                },
                "received_at": _rfc3339(t),
            },
        }
        out.append((f"v3/{app}@ttn/devices/{dev}/up", orjson.dumps(body)))
    return out


# --- consumers (each in its own process) ------------------------------------------------


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the ingest worker)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


_CPU_AT_READY = [0.0]


def _ready() -> None:
    """Tell the driver to start publishing; CPU time counts from here (not imports or set-up)."""
    _CPU_AT_READY[0] = _cpu()
    if os.environ.get("BENCH_VERBOSE"):
        rss = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS"))
        print(f"  consumer ready: {rss}", file=sys.stderr, flush=True)
    print("READY", flush=True)


def _report(first_ns: int, last_ns: int, stored: int, extra: dict[str, object] | None = None) -> None:
    # VmHWM is this process's own peak RSS (ru_maxrss can carry the parent's over exec)
    hwm = next(
        int(x.split()[1]) for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM")
    )
    out = {
        "first_ns": first_ns,
        "last_ns": last_ns,
        "stored": stored,
        "cpu_s": _cpu() - _CPU_AT_READY[0],
        "maxrss_kb": hwm,
        **(extra or {}),
    }
    print("RESULT " + json.dumps(out), flush=True)


def _subscribe_and_wait(
    client_id: str, port: int, on_message: Callable[[Any, object, Any], None], done: threading.Event
) -> None:
    """A plain paho QoS 0 subscriber on the benchmark's topics; returns when ``done`` is set."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    c.on_message = on_message
    c.on_connect = lambda c, u, f, r, p: (c.subscribe(FILTER, 0), _ready())
    c.connect("127.0.0.1", port)
    c.loop_start()
    done.wait(600)
    c.loop_stop()


def consume_ceiling(port: int, n: int) -> None:
    import paho.mqtt.client as mqtt

    count = 0
    first = 0
    done = threading.Event()

    def on_message(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        nonlocal count, first
        if not first:
            first = time.time_ns()
        count += 1
        if count == n:
            done.set()

    _subscribe_and_wait("ceiling", port, on_message, done)
    _report(first, time.time_ns(), count)


def consume_naive(port: int, n: int, influx_url: str, db: str) -> None:
    """The baseline of measurements.md, section 4."""
    import paho.mqtt.client as mqtt

    from lorakeet.timefmt import parse_rfc3339_ns

    urllib.request.urlopen(
        urllib.request.Request(f"{influx_url}/query?q=CREATE+DATABASE+{db}", method="POST")
    ).read()
    lines: list[str] = []
    stored = 0
    first = 0
    count = 0
    done = threading.Event()

    def flush() -> None:
        nonlocal stored
        body = "\n".join(lines).encode()
        req = urllib.request.Request(f"{influx_url}/write?db={db}&precision=ns", data=body, method="POST")
        urllib.request.urlopen(req).read()
        stored += len(lines)
        lines.clear()

    def on_message(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        nonlocal first, count
        if not first:
            first = time.time_ns()
        d = json.loads(m.payload)
        up = d["uplink_message"]
        p = base64.b64decode(up["frm_payload"])
        t = parse_rfc3339_ns(d["received_at"])
        fields = []
        i = 0
        while i + 2 <= len(p):  # Cayenne LPP: channel, type, value
            ch, typ = p[i], p[i + 1]
            i += 2
            if typ == 0x67:
                fields.append(f"temperature_{ch}={int.from_bytes(p[i : i + 2], 'big', signed=True) / 10}")
                i += 2
            elif typ == 0x68:
                fields.append(f"humidity_{ch}={p[i] / 2}")
                i += 1
            elif typ == 0x74:
                fields.append(f"voltage_{ch}={int.from_bytes(p[i : i + 2], 'big') / 100}")
                i += 2
            elif typ == 0x82:
                fields.append(f"distance_{ch}={int.from_bytes(p[i : i + 4], 'big') / 1000}")
                i += 4
            elif typ == 0x65:
                fields.append(f"illuminance_{ch}={int.from_bytes(p[i : i + 2], 'big')}")
                i += 2
            elif typ == 0x02:
                fields.append(f"analog_{ch}={int.from_bytes(p[i : i + 2], 'big', signed=True) / 100}")
                i += 2
            else:
                break
        rx = up["rx_metadata"][0]
        ids = d["end_device_ids"]
        lines.append(
            f"uplink,dev_eui={ids['dev_eui']},application_id={ids['application_ids']['application_id']},"
            f"device_id={ids['device_id']} {','.join(fields)},rssi={rx['rssi']},snr={rx['snr']},"
            f"f_cnt={up.get('f_cnt', 0)}i,f_port={up.get('f_port', 0)}i,"
            f"frequency={int(up['settings']['frequency'])}i {t}"
        )
        count += 1
        if len(lines) >= 5000 or count == n:
            flush()
            if count == n:
                done.set()

    _subscribe_and_wait("naive", port, on_message, done)
    _report(first, time.time_ns(), stored)


NODERED_VERSIONS = ("node-red@4.1", "node-red-contrib-influxdb@0.7")
NODERED_DIR = Path(os.environ.get("BENCH_NODERED_DIR", ROOT / "bench" / ".nodered"))
NODERED_FLOW = ROOT / "bench" / "nodered" / "flow.json"


def ensure_nodered() -> Path:
    """Node-RED's red.js, installed from npm into ``NODERED_DIR`` when missing."""
    red = NODERED_DIR / "node_modules" / "node-red" / "red.js"
    contrib = NODERED_DIR / "node_modules" / "node-red-contrib-influxdb" / "package.json"
    if not (red.exists() and contrib.exists()):
        NODERED_DIR.mkdir(parents=True, exist_ok=True)
        print(f"installing {' and '.join(NODERED_VERSIONS)} into {NODERED_DIR} ...", flush=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--omit=dev",
                "--prefix",
                str(NODERED_DIR),
                *NODERED_VERSIONS,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return red


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _proc_hwm_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(int(x.split()[1]) for x in status if x.startswith("VmHWM"))


def _influx_count(influx_url: str, db: str, measurement: str = "uplink") -> int:
    q = urllib.parse.urlencode({"db": db, "q": f"SELECT count(f_cnt) FROM {measurement}"})
    with urllib.request.urlopen(f"{influx_url}/query?{q}") as r:
        series = json.loads(r.read())["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def consume_nodered(port: int, n: int, influx_url: str, db: str, tmp: str) -> None:
    """Node-RED running bench/nodered/flow.json; CPU and peak RSS are the node process's.

    The flow records when its first uplink arrived (``GET /bench/stats``); the run ends when
    the store holds N points (polled every 100 ms).
    """
    import socket

    from bench._mqtt_blast import blast

    red = ensure_nodered()
    urllib.request.urlopen(
        urllib.request.Request(f"{influx_url}/query?q=CREATE+DATABASE+{db}", method="POST")
    ).read()
    user_dir = Path(tmp) / "nodered"
    user_dir.mkdir()
    (user_dir / "node_modules").symlink_to(NODERED_DIR / "node_modules")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        http_port = s.getsockname()[1]
    (user_dir / "settings.js").write_text(
        "module.exports = {"
        f"uiPort: {http_port}, uiHost: '127.0.0.1', flowFile: {json.dumps(str(NODERED_FLOW))},"
        "credentialSecret: false, httpAdminRoot: false, logging: {console: {level: 'warn'}}};\n"
    )
    env = {
        **os.environ,
        "BENCH_MQTT_PORT": str(port),
        "BENCH_INFLUX_PORT": str(urllib.parse.urlsplit(influx_url).port),
        "BENCH_DB": db,
    }
    node = subprocess.Popen(
        ["node", str(red), "--userDir", str(user_dir), "--settings", str(user_dir / "settings.js")],
        env=env,
        stdout=subprocess.DEVNULL,
    )

    def stats() -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/bench/stats", timeout=2) as r:
            return dict(json.loads(r.read()))

    deadline = time.monotonic() + 60
    while True:  # subscribed once a probe published to the broker comes through
        try:
            blast(port, [("bench/probe", b"1")])
            if stats()["ready"]:
                break
        except OSError:
            pass
        if time.monotonic() > deadline or node.poll() is not None:
            raise RuntimeError("Node-RED did not start (or subscribe) within 60 s")
        time.sleep(0.2)
    cpu0 = _proc_cpu_s(node.pid)
    print("READY", flush=True)
    stored = 0
    deadline = time.monotonic() + 600
    while stored < n and time.monotonic() < deadline:
        time.sleep(0.1)  # counting is a query over everything stored: not too often
        stored = _influx_count(influx_url, db)
    last = time.time_ns()
    first = int(stats()["first_ms"]) * 1_000_000
    out = {
        "first_ns": first,
        "last_ns": last,
        "stored": stored,
        "cpu_s": _proc_cpu_s(node.pid) - cpu0,
        "maxrss_kb": _proc_hwm_kb(node.pid),
    }
    node.terminate()
    node.wait(30)
    print("RESULT " + json.dumps(out), flush=True)


def consume_lorakeet(
    port: int, n: int, devices: int, store_kind: str, influx_url: str, db: str, tmp: str, share: str
) -> None:
    """The bridge; with ``share`` set, one of several in a shared subscription group.

    Prints ``STORED <count> <ns>`` whenever its stored count moves (the driver adds them
    up over the group and decides when all N are in) and reports when told ``STOP``.
    """
    from lorakeet.cli.common import setup_logging
    from lorakeet.gateway_bridge.bridge import Bridge
    from lorakeet.settings import Settings

    # configured the way `lorakeet bridge` is (README): LORAKEET_* variables over the defaults;
    # only what points at this run's broker, store and files is set, plus QoS 0 as TTS delivers
    env = {
        "LORAKEET_MQTT__URL": f"mqtt://127.0.0.1:{port}",
        "LORAKEET_MQTT__QOS": "0",
        "LORAKEET_MQTT__CLIENT_ID": f"lorakeet-bench-{os.getpid()}",
        "LORAKEET_MQTT__SHARE_GROUP": share,
        "LORAKEET_STORE__KIND": store_kind,
        "LORAKEET_STORE__INFLUX_URL": influx_url,
        "LORAKEET_STORE__INFLUX_DATABASE": db,
        "LORAKEET_STORE__SQLITE_PATH": str(Path(tmp) / "bench.db"),
        "LORAKEET_REGISTRY_URL": f"sqlite:///{tmp}/registry.db",
        "LORAKEET_PIPELINE__SPOOL_PATH": str(Path(tmp) / f"spool-{os.getpid()}.db"),
    }
    for name in ("BENCH_WORKERS", "BENCH_QUEUE", "BENCH_BATCH"):  # knobs to explore, unset by default
        if os.environ.get(name):
            field = {"BENCH_WORKERS": "WORKERS", "BENCH_QUEUE": "QUEUE_SIZE", "BENCH_BATCH": "BATCH_SIZE"}[
                name
            ]
            env[f"LORAKEET_PIPELINE__{field}"] = os.environ[name]
    os.environ.update(env)
    settings = Settings()
    setup_logging(settings)
    bridge = Bridge(settings)
    first = 0
    submit = bridge.pipeline.submit

    def timed_submit(msg: object, timeout: float | None = None) -> bool:
        nonlocal first
        if not first:
            first = time.time_ns()
        return submit(msg, timeout)  # type: ignore[arg-type]

    bridge.mqtt.submit = timed_submit
    bridge.start()
    bridge.mqtt.wait_connected(10)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    profile = os.environ.get("BENCH_PROFILE")  # py-spy's collapsed stacks of this bridge, to a file
    spy = (
        subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(os.getpid()),
                "--native",
                "-r",
                "250",
                "-f",
                "raw",
                "-o",
                profile,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if profile
        else None
    )
    if spy is not None:
        time.sleep(1)
    _ready()
    stats = bridge.pipeline.stats
    shown = 0
    while not stop.is_set():
        done = stats.stored + stats.dedup_hits
        if done != shown:
            shown = done
            print(f"STORED {done} {time.time_ns()}", flush=True)
        time.sleep(0.01)  # the bench's own polling: 100 wake-ups a second against the bridge's threads
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
    bridge.stop()  # the worker process (if any) exits, so its CPU time is counted with ours
    _report(
        first,
        0,
        shown,
        {"batches": stats.batches, "decode_s": stats.decode_ns / 1e9, "write_s": stats.write_ns / 1e9},
    )


# --- driver -----------------------------------------------------------------------------


def run_consumers(
    args: list[str], port: int, messages: list[tuple[str, bytes]], processes: int = 1
) -> dict[str, float]:
    """Start the consumer process(es), publish, and return the run's figures.

    Single consumers report their own first and last times; a group of bridges prints
    progress lines, and the run ends at the line that brings the group's total to N.
    """
    from bench._mqtt_blast import blast

    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "consumer", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(processes)
    ]
    for p in procs:
        assert p.stdout is not None
        for line in p.stdout:
            if line.startswith("READY"):
                break
    time.sleep(0.2)
    n = len(messages)
    counts = [0] * len(procs)
    last = [0]
    complete = threading.Event()
    results: list[dict[str, float]] = [{} for _ in procs]
    lock = threading.Lock()

    def read(i: int, p: subprocess.Popen[str]) -> None:
        assert p.stdout is not None
        for line in p.stdout:
            if line.startswith("STORED "):
                _, count, ns = line.split()
                with lock:
                    counts[i] = int(count)
                    if sum(counts) >= n and not complete.is_set():
                        last[0] = int(ns)
                        complete.set()
            elif line.startswith("RESULT "):
                results[i] = json.loads(line[7:])
                if os.environ.get("BENCH_VERBOSE"):
                    print("  consumer:", line[7:].strip(), flush=True)
                if not results[i]["last_ns"]:
                    continue
                last[0] = int(results[i]["last_ns"])
                complete.set()

    readers = [threading.Thread(target=read, args=(i, p), daemon=True) for i, p in enumerate(procs)]
    for t in readers:
        t.start()
    blast(port, messages)
    complete.wait(600)
    for p in procs:
        if p.stdin is not None:
            try:
                p.stdin.write("STOP\n")
                p.stdin.flush()
            except BrokenPipeError:
                pass
    for p in procs:
        p.wait(60)
    for t in readers:
        t.join(10)
    return {
        "first_ns": min(r["first_ns"] for r in results if r.get("first_ns")),
        "last_ns": last[0],
        "stored": sum(r["stored"] for r in results),
        "cpu_s": sum(r["cpu_s"] for r in results),
        "maxrss_kb": max(r["maxrss_kb"] for r in results),
    }


def register_fleet(tmp: str, devices: int) -> None:
    """Register the fleet with the Cayenne LPP decoder before any bridge starts (as a user
    would, e.g. with `lorakeet devices import`): the bridges find the registry ready."""
    from lorakeet.storage.records import DeviceKey
    from lorakeet.storage.registry import Registry

    registry = Registry(f"sqlite:///{tmp}/registry.db")
    for app, dev, _ in fleet(devices):
        registry.upsert_device(DeviceKey(app, dev), kind="other", decoder="cayenne_lpp")
    registry.close()


def _busy_cores(res: dict[str, float]) -> float:
    """Cores kept busy by the consumer(s), InfluxDB and Mosquitto together over the run."""
    wall = (res["last_ns"] - res["first_ns"]) / 1e9
    return (res["cpu_s"] + res["influxd_cpu_s"] + res["mosquitto_cpu_s"]) / wall


def count_stored(kind: str, tmp: str, influx_url: str, db: str) -> int:
    """Uplinks in the store after a bridge run (the 0-loss check reads the store itself)."""
    from lorakeet.settings import StoreSettings
    from lorakeet.storage.factory import open_store

    store = open_store(
        StoreSettings(
            kind=kind,  # type: ignore[arg-type]
            influx_url=influx_url,
            influx_database=db,
            sqlite_path=Path(tmp) / "bench.db",
        )
    )
    try:
        return store.count_uplinks()
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--only", default="ceiling,naive,nodered,influxdb,sqlite")
    ap.add_argument(
        "--bridges",
        default="1",
        help="bridge processes per Lorakeet run, comma-separated (e.g. 1,2: one alone, then two "
        "sharing the subscription as $share/bench/...)",
    )
    opts = ap.parse_args()

    from lorakeet.gateway_bridge.broker import LocalBroker
    from tests.services import InfluxServer

    runs: list[tuple[str, str, int]] = []  # (label, consumer kind, processes)
    for kind in opts.only.split(","):
        if kind in ("influxdb", "sqlite"):
            runs += [(kind if b == 1 else f"{kind} x{b}", kind, b) for b in map(int, opts.bridges.split(","))]
        else:
            runs.append((kind, kind, 1))
    if any(kind == "nodered" for _, kind, _ in runs):
        ensure_nodered()
    messages = make_messages(opts.n, opts.devices)
    influx = InfluxServer().start()
    results: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in runs}
    try:
        for r in range(opts.rounds):
            for label, kind, processes in runs:
                with (
                    LocalBroker(kind="mosquitto", persistence=False) as broker,
                    tempfile.TemporaryDirectory() as tmp,
                ):
                    db = f"bench_{kind}_{processes}_{r}"
                    port, n = str(broker.port), str(opts.n)
                    if kind == "ceiling":
                        args = ["ceiling", port, n]
                    elif kind in ("naive", "nodered"):
                        args = [kind, port, n, influx.url, db, tmp]
                    else:
                        register_fleet(tmp, opts.devices)
                        share = "bench" if processes > 1 else ""
                        args = ["lorakeet", port, n, str(opts.devices), kind, influx.url, db, tmp, share]
                    assert influx.proc is not None
                    influx_cpu = _proc_cpu_s(influx.proc.pid)
                    mosquitto = broker._proc.pid if broker._proc is not None else 0
                    mosquitto_cpu = _proc_cpu_s(mosquitto) if mosquitto else 0.0
                    res = run_consumers(args, broker.port, messages, processes)
                    res["influxd_cpu_s"] = _proc_cpu_s(influx.proc.pid) - influx_cpu
                    res["mosquitto_cpu_s"] = (_proc_cpu_s(mosquitto) - mosquitto_cpu) if mosquitto else 0.0
                    if kind in ("influxdb", "sqlite"):
                        res["stored"] = count_stored(kind, tmp, influx.url, db)
                    elif kind in ("naive", "nodered"):  # 0 lost, 0 duplicated: the store counts
                        res["stored"] = _influx_count(influx.url, db)
                    rate = opts.n / ((res["last_ns"] - res["first_ns"]) / 1e9)
                    res["rate"] = rate
                    results[label].append(res)
                    lost = opts.n - int(res["stored"])
                    print(
                        f"round {r + 1} {label:12s} {rate:9,.0f} uplinks/s  stored {int(res['stored']):,} "
                        f"(lost {lost})  cpu {res['cpu_s'] * 1e6 / opts.n:6.1f} µs/uplink  "
                        f"rss {res['maxrss_kb'] / 1024:5.1f} MB  "
                        f"influxd cpu {res['influxd_cpu_s'] * 1e6 / opts.n:6.1f} µs/uplink  "
                        f"mosquitto cpu {res['mosquitto_cpu_s'] * 1e6 / opts.n:5.1f} µs/uplink  "
                        f"all {_busy_cores(res):4.2f} cores",
                        flush=True,
                    )
    finally:
        influx.close()

    med = {k: statistics.median(x["rate"] for x in v) for k, v in results.items() if v}
    print(f"\nmedians over {opts.rounds} rounds, N={opts.n:,} TTN uplinks, {opts.devices} devices, QoS 0")
    print(
        f"{'consumer':12s} {'uplinks/s':>10s} {'cpu µs/up':>10s} {'peak RSS':>9s} {'lost':>5s} "
        f"{'influxd µs/up':>14s} {'mosq µs/up':>11s} {'cores':>6s}"
    )
    for k, v in results.items():
        cpu = statistics.median(x["cpu_s"] for x in v) * 1e6 / opts.n
        icpu = statistics.median(x["influxd_cpu_s"] for x in v) * 1e6 / opts.n
        rss = max(x["maxrss_kb"] for x in v) / 1024
        lost = max((opts.n - int(x["stored"]) for x in v), key=abs)  # negative: duplicates
        mcpu = statistics.median(x["mosquitto_cpu_s"] for x in v) * 1e6 / opts.n
        cores = statistics.median(_busy_cores(x) for x in v)
        print(
            f"{k:12s} {med[k]:10,.0f} {cpu:10.1f} {rss:7.1f}MB {lost:5d} {icpu:14.1f} "
            f"{mcpu:11.1f} {cores:6.2f}"
        )
    cpu_med = {k: statistics.median(x["cpu_s"] for x in v) for k, v in results.items() if v}
    for base in ("nodered", "naive", "ceiling"):
        if base in med:
            print(f"\nagainst {base} (same run): uplinks/s ratio, CPU per uplink ratio")
            for k in med:
                if k != base and k != "ceiling":
                    print(f"  {k:12s} {med[k] / med[base]:5.2f}x  cpu {cpu_med[k] / cpu_med[base]:5.2f}x")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "consumer":
        role, a = sys.argv[2], sys.argv[3:]
        if role == "ceiling":
            consume_ceiling(int(a[0]), int(a[1]))
        elif role == "naive":
            consume_naive(int(a[0]), int(a[1]), a[2], a[3])
        elif role == "nodered":
            consume_nodered(int(a[0]), int(a[1]), a[2], a[3], a[4])
        else:
            consume_lorakeet(int(a[0]), int(a[1]), int(a[2]), a[3], a[4], a[5], a[6], a[7])
        os._exit(0)
    main()
