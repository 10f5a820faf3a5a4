"""Drills on the bridge process and the broker: SIGKILL mid-stream, Mosquitto restart, leader kill."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lorakeet.gateway_bridge.broker import LocalBroker

from .conftest import BridgeProcess, Streamer, bridge_env, report, sqlite_counts, wait_until

pytestmark = pytest.mark.services


def finish(name: str, db: Path, s: Streamer, n: int, extra: str = "") -> None:
    s.wait_sent()
    assert s.sent == n
    wait_until(lambda: sqlite_counts(db)[0] >= n, 60, f"{n} uplinks stored")
    time.sleep(1.0)  # late redeliveries would land now
    stored, dups = sqlite_counts(db)
    report(name, n, stored, dups, extra)
    assert (stored, dups) == (n, 0)


def test_bridge_sigkilled_mid_stream(
    tmp_path: Path, drill_broker: LocalBroker, bridges: list[BridgeProcess]
) -> None:
    db = tmp_path / "readings.db"
    b = BridgeProcess(tmp_path, bridge_env(tmp_path, drill_broker)).start()
    bridges.append(b)
    b.wait_log("connected to MQTT")
    s = Streamer(drill_broker.port, qos=1, rate=400)
    n = 2000
    try:
        s.stream(0, n)
        wait_until(lambda: sqlite_counts(db)[0] >= 500, 30, "500 stored before the kill")
        b.kill()
        at_kill = sqlite_counts(db)[0]
        time.sleep(1.0)  # the stream goes on into the persistent session
        b.start()
        finish("bridge-sigkill", db, s, n, f"killed at {at_kill} stored")
    finally:
        s.close()
        b.stop()


def test_mosquitto_restarted_mid_stream(
    tmp_path: Path, drill_broker: LocalBroker, bridges: list[BridgeProcess]
) -> None:
    db = tmp_path / "readings.db"
    b = BridgeProcess(tmp_path, bridge_env(tmp_path, drill_broker)).start()
    bridges.append(b)
    b.wait_log("connected to MQTT")
    s = Streamer(drill_broker.port, qos=1, rate=400)
    n = 2000
    try:
        s.stream(0, n)
        wait_until(lambda: sqlite_counts(db)[0] >= 500, 30, "500 stored before the restart")
        drill_broker.restart()
        b.wait_log("connected to MQTT", count=2, timeout=30)
        finish("mosquitto-restart", db, s, n)
    finally:
        s.close()
        b.stop()


def test_leader_killed_standby_takes_over(
    tmp_path: Path, drill_broker: LocalBroker, bridges: list[BridgeProcess]
) -> None:
    db = tmp_path / "readings.db"
    lease = {
        "LORAKEET_LEADER__ENABLED": "true",
        "LORAKEET_LEADER__LEASE_S": "2",
        "LORAKEET_LEADER__POLL_S": "0.3",
    }
    a = BridgeProcess(
        tmp_path,
        bridge_env(tmp_path, drill_broker, LORAKEET_PIPELINE__SPOOL_PATH=str(tmp_path / "a.spool"), **lease),
        "a",
    ).start()
    bridges.append(a)
    a.wait_log("leader lock taken")
    a.wait_log("connected to MQTT")
    standby = BridgeProcess(
        tmp_path,
        bridge_env(tmp_path, drill_broker, LORAKEET_PIPELINE__SPOOL_PATH=str(tmp_path / "b.spool"), **lease),
        "b",
    ).start()
    bridges.append(standby)
    standby.wait_log("bridge running")
    s = Streamer(drill_broker.port, qos=1, rate=400)
    n = 2000
    try:
        s.stream(0, n)
        wait_until(lambda: sqlite_counts(db)[0] >= 500, 30, "500 stored before the kill")
        assert "connected to MQTT" not in standby.log(), "the standby connected while the leader lived"
        a.kill()
        t_kill = time.monotonic()
        standby.wait_log("leader lock taken", timeout=15)
        takeover = time.monotonic() - t_kill
        assert takeover < 5
        finish("leader-kill", db, s, n, f"standby took over in {takeover:.1f}s")
    finally:
        s.close()
        standby.stop()
