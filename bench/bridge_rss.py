"""Peak RSS of the production bridge: ``lorakeet bridge`` (the README's command) ingesting a QoS 0 blast.

    .venv/bin/python bench/bridge_rss.py [--n 50000] [--rounds 3] [--devices 1000] [--env K=V ...]

A private Mosquitto and InfluxDB 1.x are started; the fleet is registered with the Cayenne
LPP decoder; then ``lorakeet bridge`` runs as its own process, configured by LORAKEET_*
variables only (``--env`` adds or overrides some, e.g. ``--env LORAKEET_PIPELINE__QUEUE_SIZE=50000``).
Once it is subscribed, N uplinks shaped like The Things Stack's (bench/ingest.py's) are
published at QoS 0 as fast as the socket takes them. Reported per round: VmRSS when
subscribed, peak RSS (VmHWM) once all N are in InfluxDB, uplinks/s from the blast's start
to the last stored point, the bridge's CPU time per uplink, and the stored count (exactly N:
nothing lost, nothing twice).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def one_round(n: int, devices: int, extra_env: dict[str, str], influx_url: str, db: str) -> dict[str, float]:
    """Start a broker and a ``lorakeet bridge``, blast N uplinks, and measure."""
    from bench._mqtt_blast import blast
    from bench.ingest import _influx_count, fleet, make_messages
    from lorakeet.gateway_bridge.broker import LocalBroker
    from lorakeet.storage.records import DeviceKey
    from lorakeet.storage.registry import Registry

    messages = make_messages(n, devices)
    with LocalBroker(kind="mosquitto", persistence=False) as broker, tempfile.TemporaryDirectory() as tmp:
        registry_url = f"sqlite:///{tmp}/registry.db"
        registry = Registry(registry_url)
        for app, dev, _ in fleet(devices):
            registry.upsert_device(DeviceKey(app, dev), kind="other", decoder="cayenne_lpp")
        registry.close()
        env = {
            **os.environ,
            "LORAKEET_MQTT__URL": f"mqtt://127.0.0.1:{broker.port}",
            "LORAKEET_MQTT__QOS": "0",
            "LORAKEET_MQTT__CLEAN_SESSION": "true",
            "LORAKEET_STORE__KIND": "influxdb",
            "LORAKEET_STORE__INFLUX_URL": influx_url,
            "LORAKEET_STORE__INFLUX_DATABASE": db,
            "LORAKEET_REGISTRY_URL": registry_url,
            "LORAKEET_PIPELINE__SPOOL_PATH": f"{tmp}/spool.db",
            **extra_env,
        }
        exe = Path(sys.executable).parent / "lorakeet"
        proc = subprocess.Popen(
            [str(exe), "bridge"],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            subscribed = threading.Event()

            def watch() -> None:
                assert proc.stderr is not None
                for line in proc.stderr:
                    if "subscribed to" in line:
                        subscribed.set()

            threading.Thread(target=watch, daemon=True).start()
            if not subscribed.wait(60):
                raise RuntimeError("the bridge did not subscribe within 60 s")
            ready_kb = _status_kb(proc.pid, "VmRSS")
            cpu0 = _cpu_s(proc.pid)
            t0 = time.time_ns()
            threading.Thread(target=blast, args=(broker.port, messages), daemon=True).start()
            stored = 0
            deadline = time.monotonic() + 600
            while stored < n and time.monotonic() < deadline:
                time.sleep(0.1)
                stored = _influx_count(influx_url, db)
            t1 = time.time_ns()
            hwm_kb = _status_kb(proc.pid, "VmHWM")
            cpu = _cpu_s(proc.pid) - cpu0
            time.sleep(1.0)  # a duplicate written late would show in the count
            stored = _influx_count(influx_url, db)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {
        "ready_mb": ready_kb / 1024,
        "peak_mb": hwm_kb / 1024,
        "rate": n / ((t1 - t0) / 1e9),
        "stored": stored,
        "cpu_us": cpu * 1e6 / n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--env", action="append", default=[], help="K=V added to the bridge's environment")
    opts = ap.parse_args()
    extra = dict(kv.split("=", 1) for kv in opts.env)

    from tests.services import InfluxServer

    influx = InfluxServer().start()
    rounds = []
    try:
        for r in range(opts.rounds):
            res = one_round(opts.n, opts.devices, extra, influx.url, f"rss_{r}")
            rounds.append(res)
            stored = int(res["stored"])
            print(
                f"round {r + 1}: ready {res['ready_mb']:5.1f} MB  peak {res['peak_mb']:5.1f} MB  "
                f"{res['rate']:7,.0f} uplinks/s  cpu {res['cpu_us']:5.1f} µs/uplink  "
                f"stored {stored:,} (lost {opts.n - stored})",
                flush=True,
            )
    finally:
        influx.close()
    med = {k: statistics.median(r[k] for r in rounds) for k in ("ready_mb", "peak_mb", "rate", "cpu_us")}
    print(
        f"median of {opts.rounds}: ready {med['ready_mb']:.1f} MB, peak {med['peak_mb']:.1f} MB "
        f"(max {max(r['peak_mb'] for r in rounds):.1f}), {med['rate']:,.0f} uplinks/s, "
        f"cpu {med['cpu_us']:.1f} µs/uplink; "
        f"lost {max(opts.n - int(r['stored']) for r in rounds)}"
    )


if __name__ == "__main__":
    main()
