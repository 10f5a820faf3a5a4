"""Server-drawn maps: Web Mercator projection, fitting, tile background aligned to the tile grid,
escaped labels, and a CSP that lets images come from the configured tile origin only."""

from __future__ import annotations

import math
import re

import pytest
from fastapi.testclient import TestClient

from lorakeet.api.app import create_app
from lorakeet.api.deps import Services
from lorakeet.api.web import maps
from lorakeet.settings import ApiSettings, MapSettings, Settings
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore


def test_projection() -> None:
    assert maps.project(0, 0, 0) == pytest.approx((128, 128))
    for lat, lon, z in ((51.92, 4.48, 13), (-33.86, 151.21, 11), (64.14, -21.94, 16)):
        x, y = maps.project(lat, lon, z)
        n = 2**z  # the slippy-map tile numbers, by their own formula
        tx = int((lon + 180) / 360 * n)
        ty = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        assert (int(x // 256), int(y // 256)) == (tx, ty)
    assert maps.project(89.9, 180, 1)[1] == pytest.approx(0, abs=1e-3)  # clamped to the Mercator limit


def test_fit_and_tiles_line_up() -> None:
    view = maps.MapView(
        "t", [maps.Marker((51.92, 4.47), "a", "bin", "low"), maps.Marker((51.93, 4.49), "b", "bin", "full")]
    )
    svg = str(maps.render(view, "https://tiles.example.org/{z}/{x}/{y}.png", "© Example"))
    z = int(re.search(r'data-zoom="(\d+)"', svg).group(1))
    assert z == maps.fit_zoom(view.points())
    images = re.findall(
        r'<image href="https://tiles.example.org/(\d+)/(\d+)/(\d+).png" x="(\d+)" y="(\d+)"', svg
    )
    assert images
    for zz, tx, ty, x, y in images:  # each tile drawn at its own pixel position
        assert int(zz) == z and int(x) == int(tx) * 256 and int(y) == int(ty) * 256
    assert "© Example" in svg


def test_labels_are_escaped() -> None:
    view = maps.MapView(
        "<b>", [maps.Marker((1.0, 2.0), '<script>alert("x")</script>', "bin", "low", "/web/devices/a.b")]
    )
    svg = str(maps.render(view))
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_csp_allows_the_tile_origin_only(tmp_path) -> None:
    registry = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    store = SqliteStore(tmp_path / "s.db")
    registry.upsert_device(
        DeviceKey("t", "bin-1"), kind="bin", visibility="public", latitude=51.92, longitude=4.48
    )
    for tiles, expect in (
        (None, "img-src 'self' data:;"),
        ("https://tiles.example.org/{z}/{x}/{y}.png", "img-src 'self' data: https://tiles.example.org;"),
    ):
        settings = Settings(
            api=ApiSettings(rate_limit_per_minute=10**5, rate_limit_burst=10**5),
            map=MapSettings(tile_url=tiles),
        )
        with TestClient(create_app(Services(settings, registry, store))) as c:
            for path in ("/", "/web/bins", "/web/lights", "/web/boats", "/web/bins/routes"):
                r = c.get(path)
                assert r.status_code == 200, (path, r.text)
                assert expect in r.headers["content-security-policy"], path
                assert '<svg class="map' in r.text or path == "/web/bins/routes"  # no bin due: no sheet
    assert maps.tile_origin("https://evil.example;script-src *") is None
    with pytest.raises(ValueError):
        MapSettings(tile_url="http://plain.example/{z}/{x}/{y}.png")
    store.close()
    registry.close()
