"""The crews' web page in Chromium: overview sorted by fullness, a chart with a path, CSV link,
private devices hidden without a key and shown with it; strict security headers; screenshots."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import ARTIFACTS, LiveApp

pytestmark = pytest.mark.browser


def test_overview_fullest_bin_first(live_app: LiveApp, page: Any) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    resp = page.goto(live_app.url + "/")
    assert resp.status == 200
    assert page.title() == "Lorakeet"
    first = page.locator("li.bin").first
    assert first.get_attribute("data-device") == live_app.fullest_bin
    pcts = [
        float(t.replace("%", "").strip())
        for t in page.locator("li.bin .pct").all_inner_texts()
        if t.strip() != "—"
    ]
    assert pcts == sorted(pcts, reverse=True)
    assert page.locator("li.bin svg.bar rect.fill").count() == page.locator("li.bin").count()
    assert page.locator("#lights tr.fault").count() == 1
    assert page.locator("#boats tr[data-device='lorakeet-demo.boat-01']").count() == 1
    page.screenshot(path=str(ARTIFACTS / "overview-phone.png"), full_page=True)
    assert errors == []  # no CSP violations or script errors


def test_device_chart_and_csv(live_app: LiveApp, page: Any) -> None:
    page.goto(live_app.url + "/")
    page.locator(f"li.bin[data-device='{live_app.fullest_bin}'] a.name").click()
    page.wait_for_url("**/web/devices/**")
    path = page.locator("svg.chart path.line")
    assert path.count() == 1
    assert path.get_attribute("d").count("L") >= 10
    page.screenshot(path=str(ARTIFACTS / "device-chart.png"), full_page=True)
    page.select_option("select[name=q]", "battery")  # JS submits the form on change
    page.wait_for_url("**q=battery**")
    assert page.locator("svg.chart path.line").count() == 1
    href = page.locator("a#csv").get_attribute("href")
    r = httpx.get(live_app.url + href)
    assert r.status_code == 200 and r.text.startswith("time,battery [%]")


def test_private_device_needs_key(live_app: LiveApp, page: Any) -> None:
    page.goto(live_app.url + "/")
    assert page.locator(f"li.bin[data-device='{live_app.private_bin}']").count() == 0
    assert page.goto(live_app.url + f"/web/devices/{live_app.private_bin}").status == 404
    page.goto(live_app.url + "/")
    page.fill("input[name=key]", live_app.owner_key)
    page.click("form.key button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(f"li.bin[data-device='{live_app.private_bin}']").count() == 1
    page.screenshot(path=str(ARTIFACTS / "overview-with-key.png"), full_page=True)
    assert page.goto(live_app.url + f"/web/devices/{live_app.private_bin}").status == 200
    # the key never sits in the URL, and is not readable by scripts
    assert live_app.owner_key not in page.url
    assert page.evaluate("document.cookie") == ""
    page.click("form.key button[type=submit]")  # sign out
    page.wait_for_load_state()
    assert page.locator(f"li.bin[data-device='{live_app.private_bin}']").count() == 0


def test_key_in_query_once_and_bad_key(live_app: LiveApp, page: Any) -> None:
    page.goto(live_app.url + f"/?key={live_app.owner_key}")
    assert "key=" not in page.url
    assert page.locator(f"li.bin[data-device='{live_app.private_bin}']").count() == 1
    page.context.clear_cookies()
    page.goto(live_app.url + "/?key=lk_wrong")
    assert page.locator("p.warn").count() == 1


def test_security_headers(live_app: LiveApp) -> None:
    for path in ("/", "/web/static/app.css", "/web/devices/lorakeet-demo.bin-001"):
        r = httpx.get(live_app.url + path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
