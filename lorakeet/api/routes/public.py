"""Open data without a key: public devices as JSON, CSV and GeoJSON, and their readings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from lorakeet.decoders import Value
from lorakeet.storage.registry import Device, DeviceFilter

from ..auth import ANONYMOUS
from ..csvout import csv_text
from ..deps import Services, ServicesDep, time_range, visible_device
from ..errors import problem_responses
from ..presentation import device_public, readings_csv, units_of
from ..schemas import PointPublic, ReadingsPublic
from ..schemas_registry import DeviceList, DevicePublic, Kind

router = APIRouter(prefix="/v1/public", tags=["open data"])

MAX_POINTS = 10_000
KindQuery = Annotated[Kind | None, Query()]
TagQuery = Annotated[str | None, Query(max_length=40, examples=["centre"])]
LimitQuery = Annotated[int, Query(ge=1, le=1000)]
OffsetQuery = Annotated[int, Query(ge=0, le=2**31 - 1)]
StartQuery = Annotated[str, Query(max_length=64, description="RFC 3339 or relative (-7d)")]
EndQuery = Annotated[str, Query(max_length=64, description="RFC 3339 or relative; default now")]


class GeoJSONResponse(JSONResponse):
    """``application/geo+json``."""

    media_type = "application/geo+json"


class PointGeometry(BaseModel):
    """A GeoJSON Point: [longitude, latitude]."""

    type: Literal["Point"] = "Point"
    coordinates: list[float] = Field(examples=[[5.1214, 52.0907]])


class FeatureProperties(BaseModel):
    """What a public device's feature says about it."""

    id: str = Field(examples=["bins-town.bin-001"])
    name: str | None = None
    kind: str = Field(examples=["bin"])
    licence: str | None = Field(None, examples=["CC-BY-4.0"])
    tags: list[str] = Field(default_factory=list)
    latest: dict[str, Value] = Field(default_factory=dict, examples=[{"fill_pct": 42.0}])
    latest_time: datetime | None = None


class Feature(BaseModel):
    """One public device with a location."""

    type: Literal["Feature"] = "Feature"
    id: str
    geometry: PointGeometry
    properties: FeatureProperties


class FeatureCollection(BaseModel):
    """Public devices as GeoJSON (RFC 7946)."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]


def _public(
    services: Services, kind: str | None, tag: str | None, limit: int, offset: int
) -> tuple[list[Device], int]:
    f = DeviceFilter(kind=kind, tag=tag, visibility="public")
    return services.registry.find_devices(f, limit=limit, offset=offset)


@router.get("/devices", summary="Public devices")
def public_devices(
    services: ServicesDep,
    kind: KindQuery = None,
    tag: TagQuery = None,
    limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> DeviceList:
    """Devices whose owners publish their data, ordered by id."""
    rows, total = _public(services, kind, tag, limit, offset)
    return DeviceList(data=[device_public(r, ANONYMOUS) for r in rows], count=len(rows), total=total)


@router.get(
    "/devices.csv",
    summary="Public devices as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV, one row per device"}},
)
def public_devices_csv(
    services: ServicesDep,
    kind: KindQuery = None,
    tag: TagQuery = None,
    limit: LimitQuery = 1000,
    offset: OffsetQuery = 0,
) -> Response:
    """id, name, kind, latitude, longitude, licence, tags (``;``-separated)."""
    rows, _ = _public(services, kind, tag, limit, offset)
    text = csv_text(
        ["id", "name", "kind", "latitude", "longitude", "licence", "tags"],
        (
            [r.key.uid, r.name, r.kind, r.latitude, r.longitude, r.licence, ";".join(r.tags or [])]
            for r in rows
        ),
    )
    return Response(text, media_type="text/csv; charset=utf-8")


@router.get(
    "/devices.geojson",
    summary="Public devices as GeoJSON",
    response_class=GeoJSONResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def public_devices_geojson(
    services: ServicesDep, kind: KindQuery = None, tag: TagQuery = None, limit: LimitQuery = 1000
) -> FeatureCollection:
    """A FeatureCollection of located public devices with their latest values and licence."""
    rows, _ = _public(services, kind, tag, limit, 0)
    features = []
    for r in rows:
        if r.latitude is None or r.longitude is None:
            continue
        latest = services.store.latest(r.key)
        newest = max((v.time_ns for v in latest), default=None)
        features.append(
            Feature(
                id=r.key.uid,
                geometry=PointGeometry(coordinates=[r.longitude, r.latitude]),
                properties=FeatureProperties(
                    id=r.key.uid,
                    name=r.name,
                    kind=r.kind,
                    licence=r.licence,
                    tags=list(r.tags or []),
                    latest={v.key: v.value for v in latest},
                    latest_time=datetime.fromtimestamp(newest / 1e9, UTC) if newest is not None else None,
                ),
            )
        )
    return FeatureCollection(features=features)


@router.get("/devices/{device}", summary="A public device", responses=problem_responses(404, 422))
def public_device(services: ServicesDep, device: str) -> DevicePublic:
    """One public device."""
    return device_public(visible_device(services, ANONYMOUS, device), ANONYMOUS)


@router.get(
    "/devices/{device}/readings", summary="Readings of a public device", responses=problem_responses(404, 422)
)
def public_readings(
    services: ServicesDep,
    device: str,
    start: StartQuery = "-1d",
    end: EndQuery = "now",
    limit: Annotated[int, Query(ge=1, le=MAX_POINTS)] = 1000,
) -> ReadingsPublic:
    """Raw points of a public device in [start, end), oldest first."""
    row = visible_device(services, ANONYMOUS, device)
    start_ns, end_ns = time_range(start, end)
    points = services.store.points(row.key, None, start_ns, end_ns, limit)
    units = units_of(services.store, row.key, dict.fromkeys(k for p in points for k in p.values))
    return ReadingsPublic(
        device=row.key.uid,
        start=datetime.fromtimestamp(start_ns / 1e9, UTC),
        end=datetime.fromtimestamp(end_ns / 1e9, UTC),
        units=units,
        points=[
            PointPublic(time=datetime.fromtimestamp(p.time_ns / 1e9, UTC), values=p.values) for p in points
        ],
    )


@router.get(
    "/devices/{device}/readings.csv",
    summary="Readings of a public device as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV"}, **problem_responses(404, 422)},
)
def public_readings_csv(
    services: ServicesDep,
    device: str,
    start: StartQuery = "-1d",
    end: EndQuery = "now",
    limit: Annotated[int, Query(ge=1, le=MAX_POINTS)] = 1000,
) -> Response:
    """time plus one column per reading key."""
    row = visible_device(services, ANONYMOUS, device)
    start_ns, end_ns = time_range(start, end)
    return Response(
        readings_csv(services, row.key, start_ns, end_ns, limit), media_type="text/csv; charset=utf-8"
    )
