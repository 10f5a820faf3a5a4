"""Bin routes for council crews: fill levels, what needs collecting, and today's route.

The collection list comes as JSON, CSV (for a spreadsheet or a printer) or RFC 7946
GeoJSON (for a phone map app): bins ordered as a closed tour from the depot.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel

from lorakeet.views.bins import DEFAULT_THRESHOLD_PCT
from lorakeet.views.collection import Collection, answers_of, collection_route, plan_collection
from lorakeet.views.fleet import BinView, bin_views

from ..auth import Viewer, ViewerDep, viewer_filter
from ..deps import Services, ServicesDep, deadline_ns
from ..errors import problem_responses
from ..presentation import GEOJSON, bin_public, collection_csv, collection_geojson, dt
from ..runsheets import RoutePlan, fleet_of, only_vehicle, route_plan, routes_csv, routes_geojson
from ..schemas import BinPublic

router = APIRouter(prefix="/v1/bins", tags=["bins"])


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
    """Bins needing collection before the deadline, as a closed tour from the depot and back
    (``depot_lat``/``depot_lon``; the bins' centroid when not given), planned by a routing
    solver and never longer than a 2-opt tour. Bins with no location come last. Anonymous
    answers are kept for a few seconds."""
    if (depot_lat is None) != (depot_lon is None):
        raise HTTPException(status_code=422, detail="give both depot_lat and depot_lon, or neither")
    depot = (depot_lat, depot_lon) if depot_lat is not None and depot_lon is not None else None
    deadline = deadline_ns(time.time_ns(), horizon, tz)

    def compute() -> tuple[int, Collection]:
        due = [b for b in _bins(services, viewer, threshold, deadline) if b.state.needs_collection]
        return deadline, collection_route(due, depot)

    if viewer.anonymous:  # the same public answer for everyone: kept a few seconds
        deadline, c = answers_of(services.store).get(("collection", threshold, horizon, tz, depot), compute)
    else:
        deadline, c = compute()
    used, length = c.depot, c.length_m
    stops = [bin_public(b) for b in c.ordered + c.unlocated]
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


@router.get(
    "/routes",
    response_model=RoutePlan,
    summary="Today's collection routes for the fleet, with run sheets per vehicle (JSON, CSV or GeoJSON)",
    responses={
        **problem_responses(422),
        200: {"content": {"application/json": {}, "text/csv": {}, GEOJSON: {}}},
    },
)
def routes(
    services: ServicesDep,
    viewer: ViewerDep,
    format: Annotated[Literal["json", "csv", "geojson"], Query()] = "json",
    vehicle: Annotated[int | None, Query(ge=1, le=50, description="only this vehicle's run sheet")] = None,
    vehicles: Annotated[int | None, Query(ge=1, le=50, description="default: settings")] = None,
    capacity_l: Annotated[int | None, Query(ge=1, le=1_000_000, description="litres per vehicle")] = None,
    shift_h: Annotated[float | None, Query(gt=0, le=24, description="shift length in hours")] = None,
    depot_lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    depot_lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    threshold: Threshold = DEFAULT_THRESHOLD_PCT,
    horizon: Horizon = None,
    tz: Tz = "UTC",
) -> RoutePlan | Response:
    """The due bins as closed tours from the depot for a shift starting now: each vehicle within
    its capacity (litres: a bin's volume times its predicted fill at arrival) and the shift
    length, with a service time at each stop. Depot, vehicles, capacity, shift, service time and
    speed come from the ``routes`` settings; the query may override some. Stops no vehicle can
    take within the shift are listed as ``unassigned``."""
    if (depot_lat is None) != (depot_lon is None):
        raise HTTPException(status_code=422, detail="give both depot_lat and depot_lon, or neither")
    cfg = services.settings.routes
    depot = (depot_lat, depot_lon) if depot_lat is not None and depot_lon is not None else None
    if depot is None and cfg.depot_lat is not None and cfg.depot_lon is not None:
        depot = (cfg.depot_lat, cfg.depot_lon)
    fleet = fleet_of(cfg, vehicles, capacity_l, shift_h)

    def compute() -> RoutePlan:
        now = time.time_ns()
        deadline = deadline_ns(now, horizon, tz)
        due = [b for b in _bins(services, viewer, threshold, deadline) if b.state.needs_collection]
        plan, unlocated = plan_collection(
            due, fleet, depot=depot, default_volume_l=cfg.bin_volume_l, timeout_s=cfg.solver_timeout_s
        )
        return route_plan(plan, fleet, due, unlocated, now)

    question = ("routes", threshold, horizon, tz, depot, fleet)
    p = answers_of(services.store).get(question, compute) if viewer.anonymous else compute()
    if vehicle is not None and vehicle > fleet.vehicles:
        raise HTTPException(status_code=422, detail=f"vehicle must be 1-{fleet.vehicles}")
    if format == "csv":
        name = f"run-sheet-{vehicle}.csv" if vehicle else "run-sheets.csv"
        return Response(
            routes_csv(p, vehicle),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    if format == "geojson":
        return Response(
            routes_geojson(p, vehicle),
            media_type=GEOJSON,
            headers={"Content-Disposition": 'inline; filename="routes.geojson"'},
        )
    if vehicle is not None:
        return p.model_copy(update={"routes": only_vehicle(p, vehicle)})
    return p
