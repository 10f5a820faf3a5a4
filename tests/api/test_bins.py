"""Bin routes: fullest first, needs-collection, and the collection list as JSON, CSV and RFC 7946 GeoJSON
ordered as a nearest-neighbour route from the depot."""

from __future__ import annotations

import csv
import io
import math
import time
from typing import Any

from fastapi.testclient import TestClient

from lorakeet.api.deps import Services
from lorakeet.storage.records import DeviceKey
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


def test_collection_list_geojson_is_rfc7946_and_a_nearest_neighbour_route(
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
    assert names == nn_order(DEPOT, due) == ["bin-b", "bin-c", "bin-a", "bin-d"]
    assert [f["properties"]["order"] for f in fc["features"]] == [1, 2, 3, 4]
    first = fc["features"][0]
    assert first["geometry"]["coordinates"] == [BINS["bin-b"][1], BINS["bin-b"][0]]  # [lon, lat]
    assert first["properties"]["fill_pct"] == 85.0
    assert fc["depot"]["coordinates"] == [DEPOT[1], DEPOT[0]]


def test_collection_list_csv_and_json(api_client: TestClient, api_services: Services) -> None:
    seed(api_services)
    params = {"depot_lat": DEPOT[0], "depot_lon": DEPOT[1]}
    r = api_client.get("/v1/bins/collection-list", params={**params, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["device"] for row in rows] == ["town.bin-b", "town.bin-c", "town.bin-a", "town.bin-d"]
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
