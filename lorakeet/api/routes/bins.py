"""Bin routes for council crews: fill levels, what needs collecting, and today's route.

The collection list comes as JSON, CSV (for a spreadsheet or a printer) or RFC 7946
GeoJSON (for a phone map app): bins ordered as a nearest-neighbour route from the depot.
"""

from __future__ import annotations

import io
import time
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel

from lorakeet.storage.registry import DeviceFilter
from lorakeet.views.bins import DEFAULT_THRESHOLD_PCT, nearest_neighbour_route, route_length_m
from lorakeet.views.fleet import BinView, bin_views

from ..auth import Viewer, ViewerDep
from ..csvout import SafeWriter
from ..deps import Services, ServicesDep
from ..errors import problem_responses
from ..timeparse import parse_duration
from .readings import dt

router = APIRouter(prefix="/v1/bins", tags=["bins"])

GEOJSON = "application/geo+json"


class BinPublic(BaseModel):
    """One bin as a crew sees it."""

    device: str
    name: str | None
    latitude: float | None
    longitude: float | None
    fill_pct: float | None
    time: datetime | None
    threshold_pct: float
    rate_pct_per_h: float | None
    predicted_full_at: datetime | None
    predicted_threshold_at: datetime | None
    last_emptied_at: datetime | None
    needs_collection: bool
    reason: str
    battery: float | None


class BinList(BaseModel):
    """Bins, fullest first."""

    deadline: datetime
    count: int
    bins: list[BinPublic]


class CollectionList(BaseModel):
    """Bins to collect, in route order (unlocated ones last, unordered)."""

    deadline: datetime
    depot: tuple[float, float] | None
    route_length_m: float
    count: int
    stops: list[BinPublic]


def _dt(ns: int | None) -> datetime | None:
    return None if ns is None else dt(ns)


def bin_public(b: BinView) -> BinPublic:
    """Shape a bin view for the API."""
    s = b.state
    return BinPublic(
        device=b.device.uid,
        name=b.device.name,
        latitude=b.device.latitude,
        longitude=b.device.longitude,
        fill_pct=None if s.fill_pct is None else round(s.fill_pct, 1),
        time=_dt(s.time_ns),
        threshold_pct=s.threshold_pct,
        rate_pct_per_h=None if s.rate_pct_per_h is None else round(s.rate_pct_per_h, 3),
        predicted_full_at=_dt(s.full_at_ns),
        predicted_threshold_at=_dt(s.threshold_at_ns),
        last_emptied_at=_dt(s.last_emptied_ns),
        needs_collection=s.needs_collection,
        reason=s.reason,
        battery=b.battery,
    )


def viewer_filter(viewer: Viewer) -> DeviceFilter:
    """Devices the viewer may see."""
    return DeviceFilter(viewer_id=viewer.account_id, viewer_admin=viewer.is_admin)


def deadline_ns(now_ns: int, horizon: str | None, tz: str) -> int:
    """``now + horizon``, or the end of today in ``tz``; 422 on bad input."""
    if horizon:
        try:
            return now_ns + parse_duration(horizon)
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        raise HTTPException(
            status_code=422, detail=f"unknown time zone {tz!r} (use e.g. Europe/Amsterdam)"
        ) from None
    local = datetime.fromtimestamp(now_ns / 1e9, zone)
    end = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), zone)
    return int(end.timestamp()) * 1_000_000_000


Threshold = Annotated[
    float, Query(gt=0, le=100, description="fleet default for bins without their own threshold")
]
Horizon = Annotated[str | None, Query(description="collect what fills within this duration (e.g. 12h)")]
Tz = Annotated[str, Query(max_length=64, description="time zone whose 'end of today' is the deadline")]


def _bins(services: Services, viewer: Viewer, threshold: float, deadline: int) -> list[BinView]:
    return bin_views(
        services.registry,
        services.store,
        viewer_filter(viewer),
        time.time_ns(),
        deadline,
        default_threshold=threshold,
    )


@router.get("", summary="Every bin, fullest first", responses=problem_responses(422))
def list_bins(
    services: ServicesDep,
    viewer: ViewerDep,
    threshold: Threshold = DEFAULT_THRESHOLD_PCT,
    horizon: Horizon = None,
    tz: Tz = "UTC",
) -> BinList:
    """Fill level, fill rate, predicted full time and collection need of every visible bin."""
    deadline = deadline_ns(time.time_ns(), horizon, tz)
    bins = [bin_public(b) for b in _bins(services, viewer, threshold, deadline)]
    return BinList(deadline=dt(deadline), count=len(bins), bins=bins)


@router.get("/needs-collection", summary="Bins that need collecting", responses=problem_responses(422))
def needs_collection(
    services: ServicesDep,
    viewer: ViewerDep,
    threshold: Threshold = DEFAULT_THRESHOLD_PCT,
    horizon: Horizon = None,
    tz: Tz = "UTC",
) -> BinList:
    """Bins at or above their threshold, or predicted to reach it before the deadline (end of today)."""
    deadline = deadline_ns(time.time_ns(), horizon, tz)
    bins = [bin_public(b) for b in _bins(services, viewer, threshold, deadline) if b.state.needs_collection]
    return BinList(deadline=dt(deadline), count=len(bins), bins=bins)


def collection_route(
    bins: list[BinView], depot: tuple[float, float] | None
) -> tuple[list[BinView], list[BinView], tuple[float, float] | None]:
    """(located bins in route order, unlocated bins, depot used); the depot defaults to the centroid."""
    located = [b for b in bins if b.device.latitude is not None and b.device.longitude is not None]
    unlocated = [b for b in bins if b not in located]
    if depot is None and located:
        depot = (
            sum(b.device.latitude or 0.0 for b in located) / len(located),
            sum(b.device.longitude or 0.0 for b in located) / len(located),
        )
    if depot is None:
        return [], unlocated, None
    ordered = nearest_neighbour_route(
        depot, located, lambda b: (b.device.latitude or 0.0, b.device.longitude or 0.0)
    )
    return ordered, unlocated, depot


def _iso(d: datetime | None) -> str:
    return "" if d is None else d.isoformat().replace("+00:00", "Z")


def collection_geojson(stops: list[BinPublic], depot: tuple[float, float] | None, length: float) -> bytes:
    """RFC 7946 FeatureCollection: one Point per stop, [lon, lat], in route order."""
    features: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "id": s.device,
            "geometry": {
                "type": "Point",
                "coordinates": [round(s.longitude or 0, 7), round(s.latitude or 0, 7)],
            },
            "properties": {
                "order": i,
                "device": s.device,
                "name": s.name,
                "fill_pct": s.fill_pct,
                "threshold_pct": s.threshold_pct,
                "predicted_full_at": _iso(s.predicted_full_at) or None,
                "reason": s.reason,
            },
        }
        for i, s in enumerate(stops, start=1)
        if s.latitude is not None and s.longitude is not None
    ]
    body: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": features,
        "route_length_m": round(length),
    }
    if depot is not None:
        body["depot"] = {"type": "Point", "coordinates": [depot[1], depot[0]]}
    return orjson.dumps(body)


def collection_csv(stops: list[BinPublic]) -> str:
    """One row per stop in route order, with a map link for the crew's phone."""
    buf = io.StringIO()
    w = SafeWriter(buf)
    w.writerow(
        [
            "order",
            "device",
            "name",
            "latitude",
            "longitude",
            "fill_pct",
            "threshold_pct",
            "predicted_full_at",
            "reason",
            "map",
        ]
    )
    for i, s in enumerate(stops, start=1):
        located = s.latitude is not None and s.longitude is not None
        link = f"https://www.openstreetmap.org/?mlat={s.latitude}&mlon={s.longitude}#map=19/{s.latitude}/{s.longitude}"
        w.writerow(
            [
                i if located else "",
                s.device,
                s.name or "",
                "" if s.latitude is None else s.latitude,
                "" if s.longitude is None else s.longitude,
                "" if s.fill_pct is None else s.fill_pct,
                s.threshold_pct,
                _iso(s.predicted_full_at),
                s.reason,
                link if located else "",
            ]
        )
    return buf.getvalue()


@router.get(
    "/collection-list",
    response_model=CollectionList,
    summary="Today's collection list in route order (JSON, CSV or GeoJSON)",
    responses={
        **problem_responses(422),
        200: {"content": {"application/json": {}, "text/csv": {}, GEOJSON: {}}},
    },
)
def collection_list(
    services: ServicesDep,
    viewer: ViewerDep,
    format: Annotated[Literal["json", "csv", "geojson"], Query()] = "json",
    depot_lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    depot_lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    threshold: Threshold = DEFAULT_THRESHOLD_PCT,
    horizon: Horizon = None,
    tz: Tz = "UTC",
) -> CollectionList | Response:
    """Bins needing collection before the deadline, as a nearest-neighbour route from the depot
    (``depot_lat``/``depot_lon``; the bins' centroid when not given). Bins with no location come last."""
    if (depot_lat is None) != (depot_lon is None):
        raise HTTPException(status_code=422, detail="give both depot_lat and depot_lon, or neither")
    depot = (depot_lat, depot_lon) if depot_lat is not None and depot_lon is not None else None
    deadline = deadline_ns(time.time_ns(), horizon, tz)
    due = [b for b in _bins(services, viewer, threshold, deadline) if b.state.needs_collection]
    ordered, unlocated, used = collection_route(due, depot)
    length = (
        route_length_m(used, [(b.device.latitude or 0.0, b.device.longitude or 0.0) for b in ordered])
        if used
        else 0.0
    )
    stops = [bin_public(b) for b in ordered + unlocated]
    if format == "geojson":
        return Response(
            collection_geojson(stops, used, length),
            media_type=GEOJSON,
            headers={"Content-Disposition": 'inline; filename="collection-list.geojson"'},
        )
    if format == "csv":
        return Response(
            collection_csv(stops),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="collection-list.csv"'},
        )
    return CollectionList(
        deadline=dt(deadline), depot=used, route_length_m=round(length), count=len(stops), stops=stops
    )
