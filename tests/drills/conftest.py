"""Fault drills: real process kills and restarts, each ending in exactly N stored, 0 duplicates.

Every drill records one line ``drill <name>: sent=N stored=N duplicates=0`` (with
``rejected=`` and ``dead-lettered=`` where messages are refused on purpose); the lines are
printed as they happen and again as a table at the end of the run (terminal summary).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from lorakeet.gateway_bridge.broker import LocalBroker
from lorakeet.gateway_bridge.simulator import ttn_uplink_body

pytestmark = pytest.mark.services

DRILL_LINES: list[str] = []
APP = "drill-bins"
LORAKEET = str(Path(sys.executable).with_name("lorakeet"))


def report(
    name: str,
    sent: int,
    stored: int,
    duplicates: int,
    extra: str = "",
    *,
    rejected: int | None = None,
    dead_lettered: int | None = None,
) -> str:
    """Record (and print) a drill's outcome line."""
    outcome = f"sent={sent} stored={stored}"
    if rejected is not None:
        outcome += f" rejected={rejected}"
    if dead_lettered is not None:
        outcome += f" dead-lettered={dead_lettered}"
    line = f"drill {name}: {outcome} duplicates={duplicates}" + (f" ({extra})" if extra else "")
    DRILL_LINES.append(line)
    print("\n" + line, flush=True)
    return line


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if DRILL_LINES:
        terminalreporter.section("fault drills")
        for line in DRILL_LINES:
            terminalreporter.write_line(line)


# -- messages ----------------------------------------------------------------------------


def lpp(i: int) -> bytes:
    return (
        bytes([1, 130]) + (100 + i).to_bytes(4, "big") + bytes([2, 116]) + (300 + i % 60).to_bytes(2, "big")
    )


def uplink(i: int, t_ns: int | None = None, devices: int = 10) -> tuple[str, bytes]:
    """Uplink number i (f_cnt i+1) of device bin-(i % devices), at ``t_ns`` (default: now)."""
    dev = f"bin-{i % devices:02d}"
    t = t_ns if t_ns is not None else time.time_ns()
    return f"v3/{APP}@ttn/devices/{dev}/up", ttn_uplink_body(APP, dev, lpp(i), f_cnt=i + 1, received_at_ns=t)


class Streamer:
    """Publishes uplinks at a steady rate from a thread, surviving broker restarts."""

    def __init__(self, port: int, qos: int = 1, rate: float = 200.0) -> None:
        self.qos = qos
        self.rate = rate
        self.sent = 0
        self.bodies: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"drill-pub-{uuid.uuid4().hex[:8]}", clean_session=False
        )
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(1, 2)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self._infos: list[mqtt.MQTTMessageInfo] = []
        self._thread: threading.Thread | None = None

    def stream(self, start: int, n: int, hook: object = None) -> None:
        """Publish uplinks start..start+n-1 in the background."""

        def run() -> None:
            for i in range(start, start + n):
                topic, body = uplink(i)
                self.bodies.append((topic, body))
                if callable(hook):
                    hook(body)
                info = self.client.publish(topic, body, qos=self.qos)
                while self.qos > 0 and info.rc == mqtt.MQTT_ERR_NO_CONN:
                    time.sleep(0.2)  # broker restarting: publish again once reconnected
                    info = self.client.publish(topic, body, qos=self.qos)
                self._infos.append(info)
                self.sent += 1
                time.sleep(1 / self.rate)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def wait_sent(self, timeout: float = 60) -> None:
        """Wait until the stream is over and the broker has every message (QoS 1)."""
        assert self._thread is not None
        self._thread.join(timeout)
        deadline = time.monotonic() + timeout
        for info in self._infos:
            if self.qos > 0:
                info.wait_for_publish(max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_until(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    assert callable(cond)
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# -- stores ------------------------------------------------------------------------------


def sqlite_counts(path: Path) -> tuple[int, int]:
    """(distinct uplinks by device and f_cnt, duplicate rows) in a SQLite readings store."""
    if not path.exists():
        return 0, 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        rows, distinct = db.execute(
            "SELECT count(*), count(DISTINCT device || ':' || f_cnt) FROM uplink"
        ).fetchone()
    except sqlite3.OperationalError:
        return 0, 0
    finally:
        db.close()
    return int(distinct), int(rows) - int(distinct)


# -- bridge processes --------------------------------------------------------------------


class BridgeProcess:
    """``lorakeet bridge`` as a child process in its own process group, configured by env."""

    def __init__(self, workdir: Path, env: dict[str, str], name: str = "bridge") -> None:
        self.workdir = workdir
        self.env = {**os.environ, **env}
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self) -> BridgeProcess:
        self.starts += 1
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [LORAKEET, "bridge"],
            cwd=self.workdir,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, text: str, count: int = 1, timeout: float = 30) -> None:
        wait_until(lambda: self.log().count(text) >= count, timeout, f"{text!r} in {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the whole process group (the bridge and its worker), like a container kill."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None


def bridge_env(workdir: Path, broker: LocalBroker, **extra: str) -> dict[str, str]:
    env = {
        "LORAKEET_MQTT__URL": broker.url,
        "LORAKEET_MQTT__APPLICATION": f"{APP}@ttn",
        "LORAKEET_MQTT__QOS": "1",
        "LORAKEET_MQTT__CLIENT_ID": "drill-bridge",
        "LORAKEET_MQTT__CLEAN_SESSION": "false",
        "LORAKEET_MQTT__RECONNECT_MIN_S": "1",
        "LORAKEET_MQTT__RECONNECT_MAX_S": "2",
        "LORAKEET_STORE__KIND": "sqlite",
        "LORAKEET_STORE__SQLITE_PATH": str(workdir / "readings.db"),
        "LORAKEET_REGISTRY_URL": f"sqlite:///{workdir / 'registry.db'}",
        "LORAKEET_PIPELINE__SPOOL_PATH": str(workdir / "spool.db"),
        "LORAKEET_PIPELINE__BATCH_SIZE": "200",
        "LORAKEET_PIPELINE__FLUSH_INTERVAL_S": "0.05",
        "LORAKEET_LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return env


@pytest.fixture
def drill_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A private Mosquitto with persistence (its state survives restarts)."""
    b = LocalBroker(kind="mosquitto", data_dir=tmp_path / "broker", persistence=True)
    b.start()
    yield b
    b.close()


@pytest.fixture
def bridges() -> Iterator[list[BridgeProcess]]:
    """Bridge processes a drill started: killed at the end whatever happened."""
    started: list[BridgeProcess] = []
    yield started
    for b in started:
        b.kill()
