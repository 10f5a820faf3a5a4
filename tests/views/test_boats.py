"""Boat views on real stores: last position, track LineString, geofence leave/enter events."""

from __future__ import annotations

import time

from lorakeet.storage.factory import Store
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import DeviceFilter, Registry
from lorakeet.views.boats import (
    geofence_events,
    inside,
    linestring_feature,
    parse_ring,
    polygon_from_metadata,
    track,
)
from lorakeet.views.fleet import boat_views

from .conftest import stored

MIN = 60 * 1_000_000_000
FENCE = {
    "type": "Polygon",
    "coordinates": [[[4.47, 51.90], [4.49, 51.90], [4.49, 51.91], [4.47, 51.91], [4.47, 51.90]]],
}
# lat, lon: inside, inside, outside (east), outside, inside again
PATH = [(51.905, 4.475), (51.905, 4.485), (51.905, 4.495), (51.906, 4.500), (51.906, 4.480)]


def test_polygon_parsing_and_inside() -> None:
    ring = polygon_from_metadata({"geofence": FENCE})
    assert ring is not None and len(ring) == 4
    assert inside(ring, 51.905, 4.48) and not inside(ring, 51.905, 4.50)
    assert parse_ring([[1, 2], [3, 4]]) is None  # too short
    assert parse_ring([[200, 0], [0, 0], [0, 1]]) is None  # longitude out of range
    assert polygon_from_metadata({"geofence": {"type": "Point", "coordinates": [1, 2]}}) is None


def test_track_and_geofence_on_real_store(store: Store, sqlite_registry: Registry) -> None:
    now = time.time_ns()
    batch = [
        stored(
            "harbour.boat-1",
            "boat",
            now - (50 - 10 * i) * MIN,
            i + 1,
            latitude=lat,
            longitude=lon,
            speed=5.0 + i,
        )
        for i, (lat, lon) in enumerate(PATH)
    ]
    store.write(batch)
    sqlite_registry.upsert_device(
        DeviceKey("harbour", "boat-1"), kind="boat", visibility="public", metadata={"geofence": FENCE}
    )
    pts = store.points(DeviceKey("harbour", "boat-1"), None, now - 60 * MIN, now, 100)
    fixes = track(pts)
    assert [(p.latitude, p.longitude) for p in fixes] == PATH
    feature = linestring_feature("harbour.boat-1", fixes)
    assert feature["geometry"]["type"] == "LineString"
    assert feature["geometry"]["coordinates"][0] == [4.475, 51.905]  # [lon, lat]
    ring = polygon_from_metadata({"geofence": FENCE})
    assert ring is not None
    events = geofence_events(fixes, ring)
    assert [(e.event, e.time_ns) for e in events] == [
        ("leave", fixes[2].time_ns),
        ("enter", fixes[4].time_ns),
    ]

    (view,) = boat_views(sqlite_registry, store, DeviceFilter())
    assert view.position is not None
    assert (view.position.latitude, view.position.longitude, view.position.speed_kmh) == (51.906, 4.48, 9.0)
    assert view.inside_geofence is True
