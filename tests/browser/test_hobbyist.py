"""A hobbyist's way in Chromium, at phone width: sign up, register a device, connect TTN, see it arrive."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from lorakeet.api.app import create_app
from lorakeet.api.deps import Services
from lorakeet.gateway_bridge.broker import free_port, wait_for_port
from lorakeet.gateway_bridge.devices import DeviceDirectory
from lorakeet.gateway_bridge.pipeline import Decoding, Pipeline
from lorakeet.gateway_bridge.simulator import ttn_uplink_body
from lorakeet.settings import ApiSettings, Settings
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore

from .conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

# Cayenne LPP: channel 1 temperature 21.5 °C, channel 2 relative humidity 40 %
LPP = bytes([0x01, 0x67, 0x00, 0xD7, 0x02, 0x68, 0x50])


@pytest.fixture
def ingest_app(tmp_path: Path) -> Iterator[str]:
    """An empty Lorakeet (SQLite) with webhook ingest, served by uvicorn on loopback."""
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    store = SqliteStore(tmp_path / "readings.db")
    pipeline = Pipeline(store, Decoding(DeviceDirectory(registry)), batch_size=100, flush_interval=0.01)
    pipeline.start()
    settings = Settings(api=ApiSettings(rate_limit_per_minute=100_000, rate_limit_burst=100_000))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(Services(settings, registry, store, pipeline=pipeline)),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port, 15)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    pipeline.stop()
    store.close()
    registry.close()


@pytest.fixture
def phone(ingest_app: str) -> Iterator[Any]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium"
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844})
        yield context.new_page()
        context.close()
        browser.close()


def test_from_sign_up_to_a_first_reading(ingest_app: str, phone: Any) -> None:
    page = phone
    page.goto(f"{ingest_app}/")
    page.click("text=Sign up")
    page.fill("#name", "Garden Makers")
    page.fill("#email", "garden@example.org")
    page.click('form[action="/web/signup"] button[type=submit]')
    key = page.text_content("#api-key") or ""
    assert re.fullmatch(r"lk_[A-Za-z0-9_-]{20,}", key.strip())
    page.screenshot(path=str(ARTIFACTS / "hobbyist-1-key.png"), full_page=True)

    page.click("text=Register your first device")
    page.fill("#application_id", "garden-sensors")
    page.fill("#device_id", "soil-1")
    page.fill("#dname", "Soil by the pond")
    page.select_option("#decoder", "cayenne_lpp")
    page.fill("#latitude", "52.0907")
    page.fill("#longitude", "5.1214")
    page.check("input[name=visibility][value=public]")
    page.click("#register button[type=submit]")
    page.wait_for_url(re.compile(r"/web/devices/garden-sensors\.soil-1/connect$"))
    assert page.text_content("#webhook-url") == f"{ingest_app}/v1/ingest/ttn"
    # the page is usable at phone width: nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.click("text=Create the webhook secret")
    secret = (page.text_content("#secret") or "").strip()
    assert len(secret) >= 32
    page.screenshot(path=str(ARTIFACTS / "hobbyist-2-connect.png"), full_page=True)

    # The Things Stack's webhook delivers an uplink with the header the page showed
    uplink = ttn_uplink_body(
        "garden-sensors", "soil-1", LPP, f_port=1, f_cnt=7, received_at_ns=time.time_ns()
    )
    r = httpx.post(
        f"{ingest_app}/v1/ingest/ttn",
        content=uplink,
        headers={"Content-Type": "application/json", "X-Lorakeet-Secret": secret},
    )
    assert r.status_code == 200, r.text
    # the live list picks it up without a reload
    page.wait_for_selector("#uplinks tbody tr td:nth-child(2):text-is('7')", timeout=15_000)
    page.screenshot(path=str(ARTIFACTS / "hobbyist-3-first-uplink.png"), full_page=True)

    page.click("h1 a")
    body = page.text_content("main") or ""
    assert "21.5" in body and "temperature" in body


def test_forms_refuse_cross_site_posts_and_explain_mistakes(ingest_app: str) -> None:
    with httpx.Client(base_url=ingest_app, follow_redirects=False) as client:
        page = client.get("/web/signup")
        token = re.search(r'name="form_token" value="([^"]+)"', page.text)
        assert token is not None
        form = {"form_token": token.group(1), "name": "Eve", "email": "eve@example.org"}
        # without the browser's token cookie
        assert httpx.post(f"{ingest_app}/web/signup", data=form).status_code == 403
        # from another site
        r = client.post("/web/signup", data=form, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
        # a mistake is answered on the form with the API's reason
        r = client.post("/web/signup", data={**form, "email": "not-an-email"})
        assert r.status_code == 422 and "email" in r.text and 'value="Eve"' in r.text
        r = client.post("/web/signup", data=form)
        assert r.status_code == 201 and "lk_" in r.text
        # registering needs a key that may write: anonymous visitors are sent to sign up
        anon = httpx.get(f"{ingest_app}/web/devices/new", follow_redirects=False)
        assert anon.status_code == 303 and anon.headers["location"].startswith("/web/signup")
        new = client.get("/web/devices/new")
        assert new.status_code == 200
        bad = client.post(
            "/web/devices/new",
            data={
                "form_token": token.group(1),
                "application_id": "Bad App!",
                "device_id": "x1",
                "latitude": "north",
            },
        )
        assert bad.status_code == 422 and "application_id" in bad.text and "latitude" in bad.text
