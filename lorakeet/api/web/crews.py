"""The crews' maps and run sheets: a page per kind (bins, lights, boats) and printable tours.

Maps are drawn by :mod:`.maps`; with ``map.tile_url`` set, the page's Content-Security-Policy
lets images come from that one tile origin too.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from lorakeet.settings import Settings
from lorakeet.storage.registry import DeviceFilter
from lorakeet.views.collection import answers_of, plan_collection
from lorakeet.views.fleet import bin_views, boat_views, light_views

from ..deps import Services, ServicesDep, deadline_ns
from ..runsheets import fleet_of, route_plan
from . import maps
from .common import _viewer, env
from .crew_maps import (
    bin_markers,
    boat_markers,
    boat_tracks,
    draw,
    light_markers,
    page_headers,
    todays_collection,
)

router = APIRouter(include_in_schema=False)


def _page(settings: Settings, template: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(env.get_template(template).render(**context), headers=page_headers(settings))


def _filter(request: Request, services: Services) -> tuple[Any, DeviceFilter]:
    viewer = _viewer(request, services)
    return viewer, DeviceFilter(viewer_id=viewer.account_id, viewer_admin=viewer.is_admin)


@router.get("/web/bins", response_class=HTMLResponse)
def bins_page(
    request: Request, services: ServicesDep, tz: Annotated[str, Query(max_length=64)] = "UTC"
) -> HTMLResponse:
    """Bins on a map, coloured by fill, with today's route."""
    viewer, f = _filter(request, services)
    now = time.time_ns()
    try:
        deadline = deadline_ns(now, None, tz)
    except HTTPException:
        tz, deadline = "UTC", deadline_ns(now, None, "UTC")
    bins = bin_views(services.registry, services.store, f, now, deadline)
    c = todays_collection(services, viewer, tz)
    markers, lines = bin_markers(bins, c)
    m = draw(
        services.settings,
        maps.MapView("Map of the bins, coloured by fill, with today's route", markers, lines),
    )
    return _page(services.settings, "kind.html", viewer=viewer, kind="bins", map=m, bins=bins, route=c)


@router.get("/web/lights", response_class=HTMLResponse)
def lights_page(request: Request, services: ServicesDep) -> HTMLResponse:
    """Street lights on a map by state."""
    viewer, f = _filter(request, services)
    lights = light_views(services.registry, services.store, f, time.time_ns())
    m = draw(services.settings, maps.MapView("Map of the street lights by state", light_markers(lights)))
    return _page(services.settings, "kind.html", viewer=viewer, kind="lights", map=m, lights=lights)


@router.get("/web/boats", response_class=HTMLResponse)
def boats_page(request: Request, services: ServicesDep) -> HTMLResponse:
    """Boats on a map with their tracks."""
    viewer, f = _filter(request, services)
    boats = boat_views(services.registry, services.store, f)
    markers, lines = boat_markers(boats, boat_tracks(services.store, boats, time.time_ns()))
    m = draw(services.settings, maps.MapView("Map of the boats with their tracks", markers, lines))
    return _page(services.settings, "kind.html", viewer=viewer, kind="boats", map=m, boats=boats)


@router.get("/web/bins/routes", response_class=HTMLResponse)
def run_sheets(
    request: Request,
    services: ServicesDep,
    vehicle: Annotated[int | None, Query(ge=1, le=50)] = None,
    tz: Annotated[str, Query(max_length=64)] = "UTC",
) -> HTMLResponse:
    """Printable run sheets: one page per vehicle, with its tour on a map."""
    viewer, f = _filter(request, services)
    cfg = services.settings.routes
    fleet = fleet_of(cfg, None, None, None)
    depot = (
        (cfg.depot_lat, cfg.depot_lon) if cfg.depot_lat is not None and cfg.depot_lon is not None else None
    )

    def compute() -> Any:
        now = time.time_ns()
        try:
            deadline = deadline_ns(now, None, tz)
        except HTTPException:
            deadline = deadline_ns(now, None, "UTC")
        due = [
            b
            for b in bin_views(services.registry, services.store, f, now, deadline)
            if b.state.needs_collection
        ]
        plan, unlocated = plan_collection(
            due, fleet, depot=depot, default_volume_l=cfg.bin_volume_l, timeout_s=cfg.solver_timeout_s
        )
        return route_plan(plan, fleet, due, unlocated, now)

    p = answers_of(services.store).get(("web-routes", tz), compute) if viewer.anonymous else compute()
    sheets = []
    for r in p.routes:
        if vehicle is not None and r.vehicle != vehicle:
            continue
        stops = [
            maps.Marker(
                (s.latitude, s.longitude),
                f"Stop {s.order}: {s.name or s.device}",
                "bin",
                "due",
                None,
                s.order,
            )
            for s in r.stops
        ]
        line = [(s.latitude, s.longitude) for s in r.stops]
        if p.depot:
            stops.insert(0, maps.Marker(p.depot, "Depot", "depot", "depot"))
            line = [p.depot, *line, p.depot]
        view = maps.MapView(
            f"Route of vehicle {r.vehicle}", stops, [maps.Line(line, f"Vehicle {r.vehicle}", "route")]
        )
        sheets.append((r, draw(services.settings, view)))
    return _page(services.settings, "runsheet.html", viewer=viewer, plan=p, sheets=sheets)
