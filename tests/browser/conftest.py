"""A live app (uvicorn in a thread) over a SQLite store with simulated fleet data, and Chromium.

Chromium is the Debian package at /usr/bin/chromium (``apt-get install chromium``); Playwright
drives it through ``executable_path``. A missing browser FAILS the tests, it never skips them.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from lorakeet.api.app import create_app
from lorakeet.api.auth import hash_key, new_key
from lorakeet.api.deps import Services
from lorakeet.gateway_bridge.broker import free_port, wait_for_port
from lorakeet.settings import ApiSettings, Settings
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore
from tests.views.conftest import stored

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
H = 3_600 * 1_000_000_000


@dataclass(frozen=True)
class LiveApp:
    """The running app and what was seeded into it."""

    url: str
    owner_key: str
    fullest_bin: str
    private_bin: str


def seed(registry: Registry, store: SqliteStore) -> tuple[str, str]:
    """Simulated bins (steady filling, one emptied), lights (one faulty), boats; returns a key and the fullest bin."""
    rng = random.Random(5)
    now = time.time_ns()
    acc = registry.create_account("Crew", "crew@example.org")
    key = new_key()
    registry.create_key(acc.id, name="web", key_hash=hash_key(key), prefix=key[:8], scopes=["read"])
    batch = []
    for i in range(8):
        dev = f"bin-{i + 1:03d}"
        rate = rng.uniform(0.5, 3.0)
        registry.upsert_device(
            DeviceKey("lorakeet-demo", dev),
            kind="bin",
            visibility="public",
            name=f"Bin {i + 1}",
            latitude=51.92 + rng.uniform(-0.01, 0.01),
            longitude=4.48 + rng.uniform(-0.01, 0.01),
        )
        for j in range(24):
            fill = min(100.0, 5 + rate * j + (40 if i == 3 else 0))
            batch.append(
                stored(f"lorakeet-demo.{dev}", "bin", now - (24 - j) * H, j + 1, fill_pct=fill, battery=80.0)
            )
    registry.upsert_device(
        DeviceKey("lorakeet-demo", "bin-secret"),
        kind="bin",
        visibility="private",
        name="Secret bin",
        owner_id=acc.id,
    )
    batch += [
        stored("lorakeet-demo.bin-secret", "bin", now - (3 - j) * H, j + 1, fill_pct=50.0 + j)
        for j in range(3)
    ]
    for i in range(3):
        dev = f"light-{i + 1:03d}"
        registry.upsert_device(
            DeviceKey("lorakeet-demo", dev),
            kind="streetlight",
            visibility="public",
            name=f"Light {i + 1}",
            latitude=51.925 + 0.002 * i,
            longitude=4.47 + 0.003 * i,
        )
        for j in range(6):
            batch.append(
                stored(
                    f"lorakeet-demo.{dev}",
                    "streetlight",
                    now - (6 - j) * H // 6,
                    j + 1,
                    lamp_on=True,
                    dim_level=70.0,
                    power=0.0 if i == 1 else 42.0,
                    energy=10.0 + j,
                    lamp_fault=i == 1,
                )
            )
    registry.upsert_device(
        DeviceKey("lorakeet-demo", "boat-01"), kind="boat", visibility="public", name="Boat 1"
    )
    for j in range(10):
        batch.append(
            stored(
                "lorakeet-demo.boat-01",
                "boat",
                now - (10 - j) * H // 10,
                j + 1,
                latitude=51.9036 + 0.001 * j,
                longitude=4.484 + 0.0015 * j,
                speed=6.5,
            )
        )
    store.write(batch)
    return key, "lorakeet-demo.bin-004"


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[LiveApp]:
    """The app served by uvicorn on a free loopback port."""
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    store = SqliteStore(tmp_path / "readings.db")
    key, fullest = seed(registry, store)
    settings = Settings(api=ApiSettings(rate_limit_per_minute=100_000, rate_limit_burst=100_000))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(Services(settings, registry, store)), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port, 15)
    yield LiveApp(f"http://127.0.0.1:{port}", key, fullest, "lorakeet-demo.bin-secret")
    server.should_exit = True
    thread.join(10)
    store.close()
    registry.close()


@pytest.fixture
def page(live_app: LiveApp) -> Iterator[object]:
    """A fresh Chromium page (phone-sized)."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium"
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
        p = context.new_page()
        yield p
        context.close()
        browser.close()
