"""Boat routes: last positions (JSON, GeoJSON), track as a GeoJSON LineString, geofence events."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from lorakeet.api.deps import Services
from lorakeet.storage.records import DeviceKey
from tests.views.conftest import stored

from .conftest import register_device, signup
from .test_bins import check_rfc7946_feature_collection

MIN = 60 * 1_000_000_000
FENCE = [[4.47, 51.90], [4.49, 51.90], [4.49, 51.91], [4.47, 51.91]]
PATH = [(51.905, 4.475), (51.905, 4.495), (51.906, 4.480)]


def seed(services: Services, geofence: bool = True) -> None:
    now = time.time_ns()
    services.store.write(
        [
            stored(
                "harbour.boat-1",
                "boat",
                now - (30 - 10 * i) * MIN,
                i + 1,
                latitude=lat,
                longitude=lon,
                speed=4.0,
            )
            for i, (lat, lon) in enumerate(PATH)
        ]
    )
    services.registry.upsert_device(
        DeviceKey("harbour", "boat-1"),
        kind="boat",
        visibility="public",
        metadata={"geofence": FENCE} if geofence else {},
    )


def test_boats_last_position(api_client: TestClient, api_services: Services) -> None:
    seed(api_services)
    (b,) = api_client.get("/v1/boats").json()["boats"]
    assert (b["latitude"], b["longitude"], b["speed"], b["inside_geofence"]) == (51.906, 4.48, 4.0, True)
    fc = api_client.get("/v1/boats", params={"format": "geojson"}).json()
    check_rfc7946_feature_collection(fc)
    assert fc["features"][0]["geometry"]["coordinates"] == [4.48, 51.906]


def test_track_and_geofence_events(api_client: TestClient, api_services: Services) -> None:
    seed(api_services)
    r = api_client.get("/v1/boats/harbour.boat-1/track", params={"start": "-1h"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    f = r.json()
    assert f["type"] == "Feature" and f["geometry"]["type"] == "LineString"
    assert f["geometry"]["coordinates"] == [[lon, lat] for lat, lon in PATH]
    assert [e["event"] for e in f["properties"]["geofence_events"]] == ["leave", "enter"]
    ev = api_client.get("/v1/boats/harbour.boat-1/geofence-events", params={"start": "-1h"}).json()
    assert [e["event"] for e in ev["events"]] == ["leave", "enter"] and ev["inside_at_end"] is True


def test_no_geofence_and_private(api_client: TestClient, api_services: Services) -> None:
    seed(api_services, geofence=False)
    r = api_client.get("/v1/boats/harbour.boat-1/geofence-events")
    assert r.status_code == 409 and "geofence" in r.json()["detail"]
    owner = signup(api_client)
    register_device(api_client, owner, "harbour.boat-2", kind="boat")  # private by default
    assert api_client.get("/v1/boats/harbour.boat-2/track").status_code == 404
    assert api_client.get("/v1/boats/harbour.boat-2/track", headers=owner.headers).status_code == 200
