"""Run sheets: a planned shift's tours as API models, CSV rows and RFC 7946 GeoJSON.

Vehicles are numbered from 1 as a crew would; stop ``order`` starts at 1 on each tour.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel

from lorakeet.settings import RouteSettings
from lorakeet.views.fleet import BinView
from lorakeet.views.routing import Fleet, Plan

from .csvout import csv_text
from .presentation import dt

NS = 1_000_000_000


class RouteStop(BaseModel):
    """One bin on a tour."""

    order: int
    device: str
    name: str | None
    latitude: float
    longitude: float
    arrival: datetime
    fill_pct_now: float
    predicted_fill_at_arrival_pct: float
    load_l: int


class VehicleRoute(BaseModel):
    """One vehicle's closed tour from the depot and back."""

    vehicle: int
    stops: list[RouteStop]
    length_m: float
    duration_s: int
    back_at: datetime
    load_l: int
    capacity_l: int


class RoutePlan(BaseModel):
    """Tours for a shift starting now; bins no vehicle could take, and bins with no place."""

    start: datetime
    depot: tuple[float, float] | None
    vehicles: int
    capacity_l: int
    shift_h: float
    service_s: int
    length_m: float
    routes: list[VehicleRoute]
    unassigned: list[str]
    unlocated: list[str]


def fleet_of(r: RouteSettings, vehicles: int | None, capacity_l: int | None, shift_h: float | None) -> Fleet:
    """The fleet from settings, with a request's overrides."""
    return Fleet(
        (r.depot_lat or 0.0, r.depot_lon or 0.0),
        vehicles=vehicles or r.vehicles,
        capacity_l=capacity_l or r.capacity_l,
        shift_s=round((shift_h or r.shift_h) * 3600),
        service_s=r.service_s,
        speed_kmh=r.speed_kmh,
        detour=r.detour,
    )


def route_plan(
    plan: Plan | None, fleet: Fleet, bins: list[BinView], unlocated: list[BinView], start_ns: int
) -> RoutePlan:
    """The API model of a plan (``bins``: the due bins it was made from)."""
    names = {b.device.uid: b.device.name for b in bins}
    routes = []
    for t in plan.tours if plan else []:
        stops = [
            RouteStop(
                order=i,
                device=v.stop.id,
                name=names.get(v.stop.id),
                latitude=v.stop.position[0],
                longitude=v.stop.position[1],
                arrival=dt(start_ns + v.arrival_s * NS),
                fill_pct_now=round(v.stop.fill_pct, 1),
                predicted_fill_at_arrival_pct=round(
                    min(100.0, v.stop.fill_pct + v.stop.rate_pct_per_h * v.arrival_s / 3600), 1
                ),
                load_l=v.load_l,
            )
            for i, v in enumerate(t.visits, start=1)
        ]
        routes.append(
            VehicleRoute(
                vehicle=t.vehicle + 1,
                stops=stops,
                length_m=round(t.length_m),
                duration_s=t.duration_s,
                back_at=dt(start_ns + t.duration_s * NS),
                load_l=t.load_l,
                capacity_l=fleet.capacity_l,
            )
        )
    return RoutePlan(
        start=dt(start_ns),
        depot=plan.fleet.depot if plan else None,
        vehicles=fleet.vehicles,
        capacity_l=fleet.capacity_l,
        shift_h=round(fleet.shift_s / 3600, 2),
        service_s=fleet.service_s,
        length_m=round(plan.length_m) if plan else 0,
        routes=routes,
        unassigned=[s.id for s in plan.unassigned] if plan else [],
        unlocated=[b.device.uid for b in unlocated],
    )


def only_vehicle(p: RoutePlan, vehicle: int | None) -> list[VehicleRoute]:
    """Every tour, or the one of ``vehicle``."""
    return [r for r in p.routes if vehicle is None or r.vehicle == vehicle]


def _iso(d: datetime) -> str:
    return d.isoformat().replace("+00:00", "Z")


def routes_csv(p: RoutePlan, vehicle: int | None = None) -> str:
    """A run sheet: one row per stop, tour by tour, with a map link for the crew's phone."""
    header = [
        "vehicle",
        "order",
        "device",
        "name",
        "latitude",
        "longitude",
        "arrival",
        "fill_pct_now",
        "predicted_fill_at_arrival_pct",
        "load_l",
        "map",
    ]
    rows = [
        [
            r.vehicle,
            s.order,
            s.device,
            s.name,
            s.latitude,
            s.longitude,
            _iso(s.arrival),
            s.fill_pct_now,
            s.predicted_fill_at_arrival_pct,
            s.load_l,
            f"https://www.openstreetmap.org/?mlat={s.latitude}&mlon={s.longitude}#map=19/{s.latitude}/{s.longitude}",
        ]
        for r in only_vehicle(p, vehicle)
        for s in r.stops
    ]
    return csv_text(header, rows)


def routes_geojson(p: RoutePlan, vehicle: int | None = None) -> bytes:
    """RFC 7946: per tour a LineString (depot, stops, depot) and a Point per stop, [lon, lat]."""
    features: list[dict[str, Any]] = []
    for r in only_vehicle(p, vehicle):
        line = [[s.longitude, s.latitude] for s in r.stops]
        if p.depot is not None:
            d = [p.depot[1], p.depot[0]]
            line = [d, *line, d]
        features.append(
            {
                "type": "Feature",
                "id": f"vehicle-{r.vehicle}",
                "geometry": {"type": "LineString", "coordinates": line},
                "properties": {
                    "vehicle": r.vehicle,
                    "length_m": r.length_m,
                    "duration_s": r.duration_s,
                    "load_l": r.load_l,
                },
            }
        )
        features += [
            {
                "type": "Feature",
                "id": f"vehicle-{r.vehicle}-{s.order}",
                "geometry": {"type": "Point", "coordinates": [s.longitude, s.latitude]},
                "properties": {
                    "vehicle": r.vehicle,
                    "order": s.order,
                    "device": s.device,
                    "name": s.name,
                    "arrival": _iso(s.arrival),
                    "load_l": s.load_l,
                },
            }
            for s in r.stops
        ]
    return orjson.dumps({"type": "FeatureCollection", "features": features, "length_m": p.length_m})
