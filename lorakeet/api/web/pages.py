"""The crews' web page: fleet overview and device pages, rendered on the server.

Public devices are shown to anyone. An API key (entered once in the form, or passed once as
``?key=``, then kept in an HttpOnly, SameSite=Strict cookie) also shows the account's private
devices. Every page carries a strict CSP (no inline scripts or styles), ``nosniff``,
``no-referrer`` and ``frame-ancestors 'none'``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from lorakeet.decoders import split_key
from lorakeet.decoders.fields import is_vendor_key
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import DeviceFilter
from lorakeet.views.fleet import bin_views, boat_views, light_views

from ..auth import Viewer, can_read_data
from ..csvout import points_csv
from ..deps import Services, ServicesDep, deadline_ns, parse_device_id
from ..presentation import bin_public, collection_csv, collection_geojson, unit_of, units_of
from . import crew_maps, maps, svg
from .common import COOKIE, HERE, SECURITY_HEADERS, _viewer, env, web_viewer
from .crew_maps import todays_collection

RANGES = {"6h": 6 * 3600, "1d": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}
MAX_CHART_POINTS = 2000


router = APIRouter(include_in_schema=False)


class SecureStatic(StaticFiles):
    """Static files with the same security headers (and a day of caching)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file, with headers."""
        r = await super().get_response(path, scope)
        r.headers.update({k: v for k, v in SECURITY_HEADERS.items() if k != "Cache-Control"})
        r.headers["Cache-Control"] = "public, max-age=86400"
        return r


def static_app() -> StaticFiles:
    """The CSS and JS committed next to the templates."""
    return SecureStatic(directory=HERE / "static")


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(
        env.get_template(template).render(**context), status_code=status, headers=SECURITY_HEADERS
    )


def _when(ns: int | None) -> str:
    if ns is None:
        return "—"
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M UTC")


env.filters["when"] = _when


def _filter(viewer: Viewer) -> DeviceFilter:
    return DeviceFilter(viewer_id=viewer.account_id, viewer_admin=viewer.is_admin)


def _set_key_redirect(request: Request, services: Services, key: str, to: str) -> Response:
    viewer = web_viewer(services, key)
    r = RedirectResponse(to, status_code=303, headers=SECURITY_HEADERS)
    if viewer.anonymous:
        r = RedirectResponse(
            to + ("&" if "?" in to else "?") + "bad_key=1", status_code=303, headers=SECURITY_HEADERS
        )
        r.delete_cookie(COOKIE, path="/")
        return r
    r.set_cookie(
        COOKIE,
        key,
        max_age=30 * 86_400,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return r


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request,
    services: ServicesDep,
    key: str | None = None,
    bad_key: int = 0,
    tz: str = "UTC",
) -> Response:
    """Bins by fullness, lights with faults, boats with last positions."""
    if key is not None:  # ?key=... once: keep it in a cookie, drop it from the URL
        return _set_key_redirect(request, services, key, "/")
    viewer = _viewer(request, services)
    f = _filter(viewer)
    now = time.time_ns()
    try:
        deadline = deadline_ns(now, None, tz)
    except HTTPException:
        deadline = deadline_ns(now, None, "UTC")
    bins = bin_views(services.registry, services.store, f, now, deadline)
    lights = light_views(services.registry, services.store, f, now)
    boats = boat_views(services.registry, services.store, f)
    route = todays_collection(services, viewer, tz if deadline_ok(tz) else "UTC")
    bin_m, lines = crew_maps.bin_markers(bins, route)
    boat_m, tracks = crew_maps.boat_markers(boats, crew_maps.boat_tracks(services.store, boats, now))
    view = maps.MapView(
        "Map of the fleet: bins by fill with today's route, street lights by state, boats with tracks",
        [*bin_m, *crew_maps.light_markers(lights), *boat_m],
        [*lines, *tracks],
    )
    return HTMLResponse(
        env.get_template("overview.html").render(
            map=crew_maps.draw(services.settings, view),
            route=route,
            boats=boats,
            now=_when(now),
            viewer=viewer,
            bad_key=bool(bad_key),
            bins=bins,
            due=sum(b.state.needs_collection for b in bins),
            faulty=[v for v in lights if v.state.faults],
            lights_ok=sum(not v.state.faults for v in lights),
            lights_total=len(lights),
        ),
        headers=crew_maps.page_headers(services.settings),
    )


def deadline_ok(tz: str) -> bool:
    """Whether ``tz`` names a time zone."""
    try:
        deadline_ns(0, None, tz)
    except HTTPException:
        return False
    return True


@router.post("/web/key")
async def set_key(request: Request, services: ServicesDep) -> Response:
    """Keep an API key (form field ``key``) in a cookie; then private devices show."""
    body = await request.body()
    if len(body) > 1000:
        raise HTTPException(status_code=413, detail="form too large")
    key = parse_qs(body.decode("utf-8", "replace")).get("key", [""])[0]
    return _set_key_redirect(request, services, key.strip(), "/")


@router.post("/web/logout")
def logout() -> Response:
    """Forget the key."""
    r = RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
    r.delete_cookie(COOKIE, path="/")
    return r


def _device_row(request: Request, services: Services, device: str) -> tuple[Viewer, DeviceKey, Any]:
    viewer = _viewer(request, services)
    key = parse_device_id(device)
    row = services.registry.lookup_device(key)
    if row is None or not can_read_data(viewer, row):  # a pending device's data is not shown
        raise HTTPException(status_code=404, detail=f"no device {device!r}")
    return viewer, key, row


def _range_ns(range_: str) -> tuple[int, int]:
    seconds = RANGES.get(range_)
    if seconds is None:
        raise HTTPException(status_code=422, detail=f"range must be one of {', '.join(RANGES)}")
    now = time.time_ns()
    return now - seconds * 1_000_000_000, now + 1


@router.get("/web/devices/{device}", response_class=HTMLResponse)
def device_page(
    request: Request,
    services: ServicesDep,
    device: str,
    q: Annotated[str | None, Query(max_length=64)] = None,
    range: Annotated[str, Query()] = "1d",
) -> Response:
    """Latest values, a chart of one quantity and a CSV link."""
    viewer, key, row = _device_row(request, services, device)
    latest = services.store.latest(key)
    stored_units = services.store.units(key)
    numeric = [v.key for v in latest if isinstance(v.value, int | float)]
    quantity = q if q in numeric else (q if q and _valid(q) else None) or _default_quantity(row.kind, numeric)
    start, end = _range_ns(range)
    points: list[tuple[int, float]] = []
    if quantity:
        for p in services.store.points(key, [quantity], start, end, MAX_CHART_POINTS):
            v = p.values.get(quantity)
            if isinstance(v, int | float):
                points.append((p.time_ns, float(v)))
    unit = unit_of(quantity, stored_units) if quantity else ""
    return _page(
        "device.html",
        viewer=viewer,
        row=row,
        uid=key.uid,
        latest=latest,
        units={v.key: unit_of(v.key, stored_units) for v in latest},
        quantities=numeric,
        quantity=quantity,
        range=range,
        ranges=list(RANGES),
        chart=svg.line_chart(points, unit=unit, title=f"{quantity or ''} of {row.name or key.uid}"),
        count=len(points),
    )


def _valid(q: str) -> bool:
    if is_vendor_key(q):
        return True
    try:
        split_key(q)
    except KeyError:
        return False
    return True


def _default_quantity(kind: str, numeric: list[str]) -> str | None:
    preferred = {"bin": "fill_pct", "streetlight": "power", "boat": "speed"}.get(kind)
    if preferred in numeric:
        return preferred
    return numeric[0] if numeric else None


@router.get("/web/devices/{device}/readings.csv")
def device_csv(
    request: Request,
    services: ServicesDep,
    device: str,
    q: Annotated[str | None, Query(max_length=64)] = None,
    range: Annotated[str, Query()] = "1d",
) -> Response:
    """The device's readings (one quantity, or all) as CSV, with the page's cookie."""
    _, key, _ = _device_row(request, services, device)
    start, end = _range_ns(range)
    keys = [q] if q and _valid(q) else None
    pts = services.store.points(key, keys, start, end, 10_000)
    columns = keys if keys is not None else sorted({k for p in pts for k in p.values})
    return Response(
        points_csv(pts, columns, units_of(services.store, key, columns)),
        media_type="text/csv; charset=utf-8",
        headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{key.uid}.csv"'},
    )


@router.get("/web/bins/collection.{ext}")
def collection(request: Request, services: ServicesDep, ext: str, tz: str = "UTC") -> Response:
    """Today's collection list as CSV or GeoJSON, for what this browser may see."""
    if ext not in ("csv", "geojson"):
        raise HTTPException(status_code=404, detail="use collection.csv or collection.geojson")
    viewer = _viewer(request, services)
    c = todays_collection(services, viewer, tz)
    stops = [bin_public(b) for b in c.ordered + c.unlocated]
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="collection-list.{ext}"'}
    if ext == "csv":
        return Response(collection_csv(stops), media_type="text/csv; charset=utf-8", headers=headers)
    body = collection_geojson(stops, c.depot, c.length_m)
    return Response(body, media_type="application/geo+json", headers=headers)
