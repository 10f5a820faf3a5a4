"""``lorakeet bridge`` starts without loading what ingest does not use.

Each of these packages costs a running bridge megabytes of memory it never uses while it
ingests: Alembic and Mako (the registry is already at head), rich, pygments and click
(httpx's command-line client; rich is made on first use by the other commands), the API's
web stack. The bridge is started the way the README says, in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lorakeet.storage.registry import Registry

NOT_ON_THE_BRIDGE = ("alembic", "mako", "rich", "pygments", "httpx._main", "fastapi", "starlette", "uvicorn")

PROBE = """
import os, signal, sys, threading, time

def watch() -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(t.name == "lorakeet-pipeline" for t in threading.enumerate()):
            time.sleep(0.5)  # past start(): the MQTT client is connecting
            loaded = sorted(
                m for m, mod in sys.modules.items() if mod and (m.split(".")[0] in {names} or m in {names})
            )
            print("LOADED " + " ".join(loaded), flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        time.sleep(0.05)
    print("NOT STARTED", flush=True)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=watch, daemon=True).start()
from lorakeet.cli import app
app(["bridge"])
"""


def _bridge_env(tmp_path: Path, registry_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LORAKEET_")}
    env.update(
        LORAKEET_REGISTRY_URL=registry_url,
        LORAKEET_STORE__KIND="sqlite",
        LORAKEET_STORE__SQLITE_PATH=str(tmp_path / "readings.db"),
        LORAKEET_PIPELINE__SPOOL_PATH=str(tmp_path / "spool.db"),
        LORAKEET_MQTT__URL="mqtt://127.0.0.1:9",  # nothing listens: the client keeps retrying
    )
    return env


def _loaded_by_bridge(tmp_path: Path, registry_url: str) -> list[str]:
    names = repr(set(NOT_ON_THE_BRIDGE))
    out = subprocess.run(
        [sys.executable, "-c", PROBE.replace("{names}", names)],
        env=_bridge_env(tmp_path, registry_url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith(("LOADED", "NOT STARTED"))), None)
    assert line is not None and line.startswith("LOADED"), out.stdout + out.stderr
    assert out.returncode == 0, out.stderr
    return line.split()[1:]


def test_a_bridge_on_an_up_to_date_registry_loads_none_of_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    Registry(url).close()  # created and migrated to head before the bridge starts
    assert _loaded_by_bridge(tmp_path, url) == []


def test_the_probe_sees_alembic_when_the_registry_needs_migrating(tmp_path: Path) -> None:
    """The same probe on a new registry: the bridge migrates it, so Alembic is loaded and seen."""
    loaded = _loaded_by_bridge(tmp_path, f"sqlite:///{tmp_path / 'new-registry.db'}")
    assert "alembic" in loaded
    assert "rich" not in loaded
