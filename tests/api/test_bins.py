"""Bin routes: fullest first, needs-collection, and the collection list as JSON, CSV and RFC 7946 GeoJSON
ordered as a nearest-neighbour route from the depot."""

from __future__ import annotations

import csv
import io
import itertools
import math
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lorakeet.api.deps import Services
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import DeviceChanges
from tests.views.conftest import stored

H = 3_600 * 1_000_000_000
DEPOT = (51.900, 4.470)
# name: (lat, lon, fill now); all but bin-low need collecting
BINS = {
    "bin-a": (51.930, 4.470, 95.0),
    "bin-b": (51.905, 4.470, 85.0),
    "bin-c": (51.915, 4.471, 90.0),
    "bin-d": (51.902, 4.490, 99.0),
    "bin-low": (51.901, 4.470, 10.0),
}


def seed(services: Services) -> None:
    now = time.time_ns()
    batch = []
    for name, (lat, lon, fill) in BINS.items():
        services.registry.upsert_device(
            DeviceKey("town", name),
            kind="bin",
            visibility="public",
            latitude=lat,
            longitude=lon,
            name=name.upper(),
        )
        batch += [
            stored(f"town.{name}", "bin", now - (3 - i) * H, i + 1, fill_pct=fill - 0.1 * (3 - i))
            for i in range(4)
        ]
    services.store.write(batch)


def haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def check_rfc7946_feature_collection(fc: Any) -> None:
    """The parts of RFC 7946 a collection list can get wrong."""
    assert isinstance(fc, dict) and fc["type"] == "FeatureCollection"
    assert isinstance(fc["features"], list)
    for f in fc["features"]:
        assert f["type"] == "Feature"
        assert set(f) >= {"type", "geometry", "properties"}
        assert isinstance(f["properties"], dict)
        g = f["geometry"]
        assert g["type"] == "Point"
        lon, lat = g["coordinates"]
        assert isinstance(lon, float | int) and isinstance(lat, float | int)
        assert -180 <= lon <= 180 and -90 <= lat <= 90
        if "id" in f:
            assert isinstance(f["id"], str | int)
    assert "crs" not in fc  # RFC 7946 §4: always WGS 84, no crs member


def nn_order(depot: tuple[float, float], pts: dict[str, tuple[float, float]]) -> list[str]:
    left, here, out = dict(pts), depot, []
    while left:
        name = min(left, key=lambda n: haversine(here, left[n]))
        out.append(name)
        here = left.pop(name)
    return out


def test_bins_fullest_first(api_client: TestClient, api_services: Services) -> None:
    seed(api_services)
    r = api_client.get("/v1/bins")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [b["device"] for b in body["bins"]] == [
        "town.bin-d",
        "town.bin-a",
        "town.bin-c",
        "town.bin-b",
        "town.bin-low",
    ]
    assert body["bins"][0]["fill_pct"] == 99.0 and body["bins"][0]["needs_collection"] is True
    r = api_client.get("/v1/bins/needs-collection", params={"threshold": 88})
    assert [b["device"] for b in r.json()["bins"]] == ["town.bin-d", "town.bin-a", "town.bin-c"]


def closed(depot: tuple[float, float], pts: list[tuple[float, float]]) -> float:
    path = [depot, *pts, depot]
    return sum(haversine(a, b) for a, b in itertools.pairwise(path))


def test_collection_list_geojson_is_rfc7946_and_the_shortest_closed_tour(
    api_client: TestClient, api_services: Services
) -> None:
    seed(api_services)
    r = api_client.get(
        "/v1/bins/collection-list", params={"format": "geojson", "depot_lat": DEPOT[0], "depot_lon": DEPOT[1]}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    check_rfc7946_feature_collection(fc)
    names = [f["properties"]["device"].split(".")[1] for f in fc["features"]]
    due = {n: (lat, lon) for n, (lat, lon, fill) in BINS.items() if fill >= 80}
    assert sorted(names) == sorted(due)
    shortest = min(closed(DEPOT, [due[n] for n in perm]) for perm in itertools.permutations(due))
    assert closed(DEPOT, [due[n] for n in names]) == pytest.approx(shortest)
    assert fc["route_length_m"] == pytest.approx(shortest, abs=2)
    assert [f["properties"]["order"] for f in fc["features"]] == [1, 2, 3, 4]
    first = fc["features"][0]
    name = first["properties"]["device"].split(".")[1]
    assert first["geometry"]["coordinates"] == [BINS[name][1], BINS[name][0]]  # [lon, lat]
    assert first["properties"]["fill_pct"] == BINS[name][2]
    assert fc["depot"]["coordinates"] == [DEPOT[1], DEPOT[0]]


def test_collection_list_csv_and_json(api_client: TestClient, api_services: Services) -> None:
    seed(api_services)
    params = {"depot_lat": DEPOT[0], "depot_lon": DEPOT[1]}
    r = api_client.get("/v1/bins/collection-list", params={**params, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    geo = api_client.get("/v1/bins/collection-list", params={**params, "format": "geojson"}).json()
    assert [row["device"] for row in rows] == [f["properties"]["device"] for f in geo["features"]]
    assert rows[0]["order"] == "1" and rows[0]["map"].startswith("https://www.openstreetmap.org/")
    j = api_client.get("/v1/bins/collection-list", params=params).json()
    assert j["count"] == 4 and j["route_length_m"] > 0
    assert api_client.get("/v1/bins/collection-list", params={"depot_lat": 1}).status_code == 422
    assert api_client.get("/v1/bins", params={"tz": "Mars/Olympus"}).status_code == 422


def test_private_bins_hidden(api_client: TestClient, api_services: Services) -> None:
    seed(api_services)
    api_services.registry.upsert_device(DeviceKey("town", "bin-a"), kind="bin", visibility="private")
    r = api_client.get("/v1/bins")
    assert "town.bin-a" not in [b["device"] for b in r.json()["bins"]]


def test_routes_for_a_fleet_with_run_sheets(api_client: TestClient, api_services: Services) -> None:
    seed(api_services)
    for name in ("bin-a", "bin-d"):
        api_services.registry.update_device(
            DeviceKey("town", name), DeviceChanges(metadata={"volume_l": 1100})
        )
    params = {"depot_lat": DEPOT[0], "depot_lon": DEPOT[1], "vehicles": 2, "capacity_l": 1500}
    r = api_client.get("/v1/bins/routes", params=params)
    assert r.status_code == 200, r.text
    plan = r.json()
    visited = [s["device"] for t in plan["routes"] for s in t["stops"]]
    assert sorted(visited + plan["unassigned"]) == ["town.bin-a", "town.bin-b", "town.bin-c", "town.bin-d"]
    assert len(plan["routes"]) == 2  # two 1,100 L bins (~1,000 L each) do not fit one 1,500 L vehicle
    for t in plan["routes"]:
        assert t["load_l"] <= 1500
        assert t["load_l"] == sum(s["load_l"] for s in t["stops"])
        assert [s["order"] for s in t["stops"]] == list(range(1, len(t["stops"]) + 1))
        for s in t["stops"]:
            volume = 1100 if s["device"] in ("town.bin-a", "town.bin-d") else 240
            assert (
                s["load_l"] == math.ceil(volume * s["predicted_fill_at_arrival_pct"] / 100)
                or abs(s["load_l"] - volume * s["predicted_fill_at_arrival_pct"] / 100) <= 1
            )
    one = api_client.get("/v1/bins/routes", params={**params, "vehicle": 2}).json()
    assert [t["vehicle"] for t in one["routes"]] == [2]
    sheet = api_client.get("/v1/bins/routes", params={**params, "format": "csv", "vehicle": 1})
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    assert rows and {row["vehicle"] for row in rows} == {"1"}
    geo = api_client.get("/v1/bins/routes", params={**params, "format": "geojson"})
    fc = geo.json()
    lines = [f for f in fc["features"] if f["geometry"]["type"] == "LineString"]
    assert len(lines) == 2
    for f in lines:  # closed tours: from the depot and back
        assert f["geometry"]["coordinates"][0] == f["geometry"]["coordinates"][-1] == [DEPOT[1], DEPOT[0]]
    points = [f for f in fc["features"] if f["geometry"]["type"] == "Point"]
    check_rfc7946_feature_collection({"type": "FeatureCollection", "features": points})
    assert api_client.get("/v1/bins/routes", params={**params, "vehicle": 3}).status_code == 422
    assert api_client.get("/v1/bins/routes", params={"depot_lat": 1}).status_code == 422
    assert api_client.get("/v1/bins/routes", params={"shift_h": 0}).status_code == 422
