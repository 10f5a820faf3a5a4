"""The crews' maps in Chromium: an inline SVG (class ``map``) with a labelled marker per placed
device, bins coloured by fill, today's route drawn in its order from the depot and back, boat
tracks, lights by state; no script errors or CSP violations, no request leaves the app, and the
map fits a phone's width. Screenshots go to test-artifacts/."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import ARTIFACTS, LiveApp

pytestmark = pytest.mark.browser


def watch(page: Any, app: LiveApp) -> tuple[list[str], list[str]]:
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: None if r.url.startswith((app.url, "data:")) else outside.append(r.url))
    return errors, outside


def test_overview_map_markers_route_and_phone_width(live_app: LiveApp, page: Any) -> None:
    errors, outside = watch(page, live_app)
    page.goto(live_app.url + "/")
    svg = page.locator("svg.map")
    assert svg.count() == 1
    assert svg.get_attribute("role") == "img" and "Map of the fleet" in svg.get_attribute("aria-label")
    # one labelled marker per placed public device: 8 bins, 3 lights, 1 boat, and the depot
    assert page.locator("svg.map g.marker.bin").count() == 8
    assert page.locator("svg.map g.marker.light").count() == 3
    assert page.locator("svg.map g.marker.boat").count() == 1
    for g in page.locator("svg.map g.marker").all():
        assert g.get_attribute("aria-label")
        assert g.locator("title").count() == 1
    assert page.locator("svg.map g.marker.light.fault").count() == 1
    assert page.locator("svg.map g.marker.bin.full").count() >= 1
    # today's route: the due bins in order, a closed line from the depot
    due = page.locator("svg.map g.marker.bin text.order").all_text_contents()
    assert sorted(int(t) for t in due) == list(range(1, len(due) + 1)) and due
    route = page.locator("svg.map path.line.route")
    assert route.count() == 1
    d = route.get_attribute("d")
    first, last = d.split(" ")[0][1:], d.split(" ")[-1][1:]
    assert first == last  # back at the depot
    assert d.count("L") == len(due) + 1
    assert page.locator("svg.map g.marker.depot").count() == 1
    assert page.locator("svg.map path.line.track").count() == 1
    # phone width: the map is no wider than the viewport
    box = svg.bounding_box()
    assert box["width"] <= 390 and box["height"] > 100
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "map-overview-phone.png"), full_page=True)
    assert errors == [] and outside == []


def test_route_order_follows_the_collection_list(live_app: LiveApp, page: Any) -> None:
    page.goto(live_app.url + "/web/bins")
    geo = httpx.get(live_app.url + "/web/bins/collection.geojson").json()
    order = [f["properties"]["device"] for f in geo["features"]]
    assert page.locator("svg.map g.marker.bin text.order").count() == len(order)
    items = page.locator("ol.route li").all()
    assert [li.get_attribute("data-device") for li in items] == order
    for i, dev in enumerate(order, start=1):  # each stop's marker carries its place in the route
        g = page.locator(f"svg.map a[href='/web/devices/{dev}'] g.marker.bin")
        assert g.locator("text.order").text_content() == str(i)
        assert f"stop {i} of today's route" in g.get_attribute("aria-label")
    page.screenshot(path=str(ARTIFACTS / "map-bins-phone.png"), full_page=True)


def test_kind_pages_and_run_sheets(live_app: LiveApp, page: Any) -> None:
    errors, outside = watch(page, live_app)
    for path, marker, n in (("/web/lights", "light", 3), ("/web/boats", "boat", 1)):
        page.goto(live_app.url + path)
        assert page.locator(f"svg.map g.marker.{marker}").count() == n
        page.screenshot(path=str(ARTIFACTS / f"map-{marker}s-phone.png"), full_page=True)
    page.goto(live_app.url + "/web/boats")
    assert page.locator("svg.map path.line.track").count() == 1
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(live_app.url + "/web/bins/routes")
    sheets = page.locator("section.runsheet")
    assert sheets.count() >= 1
    assert sheets.first.locator("svg.map path.line.route").count() == 1
    rows = page.locator("section.runsheet tbody tr").count()
    geo = httpx.get(live_app.url + "/web/bins/collection.geojson").json()
    assert rows == len(geo["features"])
    page.screenshot(path=str(ARTIFACTS / "run-sheets.png"), full_page=True)
    assert errors == [] and outside == []
