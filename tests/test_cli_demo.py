"""The command line: help for every entry point, and the demo bringing up readings over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from lorakeet.cli import app
from lorakeet.gateway_bridge.broker import free_port


@pytest.mark.parametrize("command", ["bridge", "api", "demo", "simulate"])
def test_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@pytest.mark.services
@pytest.mark.parametrize("broker", ["mosquitto", "amqtt"])
def test_demo_serves_simulated_readings_within_90_seconds(tmp_path: Path, broker: str) -> None:
    port = free_port()
    exe = Path(sys.executable).with_name("lorakeet")
    proc = subprocess.Popen(
        [
            str(exe),
            "demo",
            "--data-dir",
            str(tmp_path),
            "--port",
            str(port),
            "--broker",
            broker,
            "--interval",
            "5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90  # 14 days of history are filled in first
        seen: dict[str, int] = {}
        while time.monotonic() < deadline:
            try:
                devices = httpx.get(f"http://127.0.0.1:{port}/v1/devices?limit=1000", timeout=2).json()[
                    "data"
                ]
                for kind in ("bin", "boat", "streetlight"):
                    d = next(x for x in devices if x["kind"] == kind)
                    latest = httpx.get(
                        f"http://127.0.0.1:{port}/v1/devices/{d['id']}/latest", timeout=2
                    ).json()
                    seen[kind] = len(latest["values"])
                if all(seen.get(k) for k in ("bin", "boat", "streetlight")):
                    break
            except (httpx.HTTPError, KeyError, StopIteration):
                pass
            time.sleep(0.5)
        assert all(seen.get(k) for k in ("bin", "boat", "streetlight")), f"no readings within 90 s: {seen}"
        # 50 bins, 10 boats, 30 street lights; one light is private to the demo crew
        assert len(devices) == 89
        assert "lorakeet-demo.light-030" not in {d["id"] for d in devices}
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and "bin-001" in page.text
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    assert "http://127.0.0.1:" in out
    assert "lk_" in out  # the crew key that shows the private light
