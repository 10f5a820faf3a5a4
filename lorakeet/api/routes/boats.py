"""Boat routes: last positions, a track as a GeoJSON LineString, geofence leave/enter events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel

from lorakeet.storage.records import DeviceKey
from lorakeet.views.boats import (
    GeofenceEvent,
    geofence_events,
    inside,
    linestring_feature,
    polygon_from_metadata,
    track,
)
from lorakeet.views.fleet import BoatView, boat_views

from ..auth import ViewerDep, viewer_filter
from ..deps import ServicesDep, StoreDep, TimeRangeDep, VisibleDeviceDep
from ..errors import problem_responses
from ..presentation import GEOJSON, dt

router = APIRouter(prefix="/v1/boats", tags=["boats"])

TRACK_KEYS = ["latitude", "longitude", "speed", "gps_fix"]
MAX_FIXES = 10_000


class BoatPublic(BaseModel):
    """A boat's last known position."""

    device: str
    name: str | None
    latitude: float | None
    longitude: float | None
    speed: float | None
    time: datetime | None
    has_geofence: bool
    inside_geofence: bool | None


class BoatList(BaseModel):
    """Boats."""

    count: int
    boats: list[BoatPublic]


class GeofenceEventPublic(BaseModel):
    """A crossing of the boat's geofence."""

    time: datetime
    event: Literal["leave", "enter"]
    latitude: float
    longitude: float


class GeofenceEvents(BaseModel):
    """Crossings over a time range."""

    device: str
    start: datetime
    end: datetime
    inside_at_end: bool | None
    events: list[GeofenceEventPublic]


def boat_public(b: BoatView) -> BoatPublic:
    """Shape a boat view for the API."""
    p = b.position
    return BoatPublic(
        device=b.device.uid,
        name=b.device.name,
        latitude=None if p is None else p.latitude,
        longitude=None if p is None else p.longitude,
        speed=None if p is None else p.speed_kmh,
        time=None if p is None else dt(p.time_ns),
        has_geofence=b.geofence is not None,
        inside_geofence=b.inside_geofence,
    )


def _event(e: GeofenceEvent) -> GeofenceEventPublic:
    return GeofenceEventPublic(time=dt(e.time_ns), event=e.event, latitude=e.latitude, longitude=e.longitude)


@router.get(
    "",
    response_model=BoatList,
    summary="Every boat's last position (JSON or GeoJSON)",
    responses={**problem_responses(422), 200: {"content": {"application/json": {}, GEOJSON: {}}}},
)
def list_boats(
    services: ServicesDep,
    viewer: ViewerDep,
    format: Annotated[Literal["json", "geojson"], Query()] = "json",
) -> BoatList | Response:
    """Last position, speed and geofence status of every visible boat."""
    boats = [boat_public(b) for b in boat_views(services.registry, services.store, viewer_filter(viewer))]
    if format == "geojson":
        features: list[dict[str, Any]] = [
            {
                "type": "Feature",
                "id": b.device,
                "geometry": {"type": "Point", "coordinates": [b.longitude, b.latitude]},
                "properties": b.model_dump(mode="json", exclude={"latitude", "longitude"}),
            }
            for b in boats
            if b.latitude is not None and b.longitude is not None
        ]
        return Response(orjson.dumps({"type": "FeatureCollection", "features": features}), media_type=GEOJSON)
    return BoatList(count=len(boats), boats=boats)


@router.get(
    "/{device}/track",
    summary="A boat's track as a GeoJSON LineString",
    responses={**problem_responses(404, 422), 200: {"content": {GEOJSON: {}}}},
)
def boat_track(span: TimeRangeDep, row: VisibleDeviceDep, store: StoreDep) -> Response:
    """An RFC 7946 Feature whose geometry is the track (a Point with one fix, null with none);
    properties list the fix times (Unix seconds) and any geofence events."""
    start_ns, end_ns = span
    key = DeviceKey(row.application_id, row.device_id)
    fixes = track(store.points(key, None, start_ns, end_ns, MAX_FIXES))
    feature = linestring_feature(key.uid, fixes)
    ring = polygon_from_metadata(row.metadata)
    if ring is not None:
        feature["properties"]["geofence_events"] = [
            _event(e).model_dump(mode="json") for e in geofence_events(fixes, ring)
        ]
    return Response(orjson.dumps(feature), media_type=GEOJSON)


@router.get(
    "/{device}/geofence-events",
    summary="When a boat left or entered its geofence",
    responses=problem_responses(404, 409, 422),
)
def boat_geofence_events(span: TimeRangeDep, row: VisibleDeviceDep, store: StoreDep) -> GeofenceEvents:
    """Crossings computed from the track; 409 when the boat has no geofence in its metadata."""
    start_ns, end_ns = span
    ring = polygon_from_metadata(row.metadata)
    if ring is None:
        raise HTTPException(
            status_code=409,
            detail="this boat has no geofence: set metadata.geofence to a GeoJSON Polygon ([lon, lat] pairs)",
        )
    key = DeviceKey(row.application_id, row.device_id)
    fixes = track(store.points(key, None, start_ns, end_ns, MAX_FIXES))
    last = fixes[-1] if fixes else None
    return GeofenceEvents(
        device=key.uid,
        start=dt(start_ns),
        end=dt(end_ns),
        inside_at_end=None if last is None else inside(ring, last.latitude, last.longitude),
        events=[_event(e) for e in geofence_events(fixes, ring)],
    )
