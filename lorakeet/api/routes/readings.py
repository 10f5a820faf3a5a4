"""Readings routes: a device's latest values and its time series (JSON or CSV).

Every request is bounded: a raw range longer than ``MAX_RAW_DAYS`` needs ``every``; an
aggregated range may span at most ``MAX_AGG_DAYS`` and ``MAX_POINTS`` windows; no answer
holds more than ``MAX_POINTS`` points. The stores stop reading at ``limit``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import Response
from starlette.routing import Route

from lorakeet.decoders import split_key
from lorakeet.decoders.fields import is_vendor_key
from lorakeet.storage.records import DeviceKey, LatestValue, Point
from lorakeet.timeparse import parse_duration

from ..auth import ViewerDep, get_viewer
from ..csvout import points_csv
from ..deps import DAY_NS, MAX_RAW_DAYS, ServicesDep, bulk_read, services_of, time_range, visible_device_async
from ..errors import problem_responses
from ..presentation import dt, json_bytes, latest_values_plain, units_of
from ..ratelimit import rate_limit
from ..schemas import LatestPublic, ReadingsPublic

router = APIRouter(prefix="/v1/devices", tags=["readings"])

MAX_POINTS = 10_000
MAX_AGG_DAYS = 400


@router.get(
    "/{device}/latest",
    response_model=LatestPublic,
    summary="Latest values of a device",
    responses=problem_responses(404, 422),
)
async def latest(request: Request, device: str) -> Response:
    """The most recent value of every quantity the device reported."""
    # services and viewer taken from the request, not as dependencies: the busiest route
    # skips two dependency solves (the app-wide rate limit has already found the viewer)
    services = services_of(request)
    row = await visible_device_async(services, await get_viewer(request), device)
    key = DeviceKey(row.application_id, row.device_id)
    held = services.latest_held(key)  # InfluxDB: this process's view, when fresh (no I/O)
    if held is not None and not any(is_vendor_key(v.key) for v in held):
        return _latest_response(key, held, None)
    store = services.store

    def read() -> tuple[list[LatestValue], dict[str, str]]:
        values = store.latest(key)
        return values, units_of(store, key, [v.key for v in values])

    values, units = await services.quick_read(read)
    return _latest_response(key, values, units)


async def latest_direct(request: Request) -> Response:
    """``latest`` as a plain Starlette endpoint, installed ahead of the router by
    :func:`install_direct`: the busiest read route skips FastAPI's dependency solving and the
    router's search through every route. It applies the app-wide rate limit itself (the only
    app-wide dependency; ``create_app`` checks that) and answers exactly as ``latest`` does,
    errors included (raised as HTTPException, rendered by the app's handlers)."""
    await rate_limit(request, await get_viewer(request))
    return await latest(request, request.path_params["device"])


def install_direct(app: FastAPI) -> None:
    """Put :func:`latest_direct` first among ``app``'s routes (GET only, as the FastAPI route;
    that route stays: it documents the answer in the OpenAPI schema)."""
    route = Route(f"{router.prefix}/{{device}}/latest", latest_direct, methods=["GET"])
    route.methods = {"GET"}  # Starlette adds HEAD; the FastAPI route answers GET alone
    app.router.routes.insert(0, route)


def _latest_response(key: DeviceKey, values: list[LatestValue], units: dict[str, str] | None) -> Response:
    """``LatestPublic`` serialised once (the shape the contract test pins)."""
    body = {"device": key.uid, "values": latest_values_plain(values, units)}
    return Response(json_bytes(body), media_type="application/json")


def _keys(quantities: str | None) -> list[str] | None:
    if not quantities:
        return None
    keys = list(dict.fromkeys(k.strip() for k in quantities.split(",") if k.strip()))
    if len(keys) > 50:
        raise HTTPException(status_code=422, detail="at most 50 quantities per request")
    for k in keys:
        if is_vendor_key(k):
            continue
        try:
            split_key(k)
        except KeyError:
            raise HTTPException(
                status_code=422,
                detail=f"unknown quantity {k!r}: use a quantity of the vocabulary or a vendor field key "
                "(v.<path>, n.<path>) as /latest lists them",
            ) from None
    return keys


@router.get(
    "/{device}/readings",
    response_model=ReadingsPublic,
    summary="Readings of a device over a time range",
    responses={
        **problem_responses(404, 422),
        200: {"content": {"application/json": {}, "text/csv": {}}},
    },
)
async def readings(
    services: ServicesDep,
    viewer: ViewerDep,
    device: str,
    quantities: Annotated[
        str | None, Query(description="comma-separated keys, e.g. fill_pct,battery")
    ] = None,
    start: Annotated[str, Query(description="RFC 3339 or relative (-7d)")] = "-1d",
    end: Annotated[str, Query(description="RFC 3339 or relative; default now")] = "now",
    every: Annotated[str | None, Query(description="aggregate window, e.g. 1h")] = None,
    agg: Annotated[Literal["mean", "min", "max", "last", "count"], Query()] = "mean",
    limit: Annotated[int, Query(ge=1, le=MAX_POINTS)] = 1000,
    format: Annotated[
        Literal["json", "csv"], Query(description="json, or csv (one column per key)")
    ] = "json",
) -> ReadingsPublic | Response:
    """Raw points (oldest first), or one aggregated point per ``every`` window (epoch-aligned;
    empty windows are left out; only numeric quantities are aggregated)."""
    start_ns, end_ns = time_range(start, end)
    keys = _keys(quantities)
    try:
        every_ns = parse_duration(every) if every else None
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    span_days = (end_ns - start_ns) / DAY_NS
    if every_ns is None and span_days > MAX_RAW_DAYS:
        raise HTTPException(
            status_code=422,
            detail=f"a raw query may span at most {MAX_RAW_DAYS} days; add 'every' (e.g. every=1h) "
            "to aggregate, or narrow the range",
        )
    if every_ns is not None:
        if span_days > MAX_AGG_DAYS:
            raise HTTPException(status_code=422, detail=f"an aggregate may span at most {MAX_AGG_DAYS} days")
        if (end_ns - start_ns) // every_ns > MAX_POINTS:
            raise HTTPException(
                status_code=422,
                detail=f"range/every gives more than {MAX_POINTS} windows; widen 'every' or narrow the range",
            )
    row = await visible_device_async(services, viewer, device)
    key = DeviceKey(row.application_id, row.device_id)
    store = services.store

    def fetch() -> tuple[list[Point], dict[str, str]]:
        if every_ns is None:
            pts = store.points(key, keys, start_ns, end_ns, limit)
        else:
            agg_keys = keys if keys is not None else store.keys(key)
            pts = store.aggregate(key, agg_keys, start_ns, end_ns, every_ns, agg)[:limit]
        present = dict.fromkeys(k for p in pts for k in p.values)
        return pts, units_of(store, key, dict.fromkeys([*(keys or []), *present]))

    # A range read can take tens of milliseconds: in a thread (the event loop keeps serving
    # short requests), and only a few at a time (see bulk_read).
    points, units = await bulk_read(fetch)
    present = list(dict.fromkeys(k for p in points for k in p.values))
    columns = keys if keys is not None else sorted(present)
    if format == "csv":
        return Response(
            points_csv(points, columns, units),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{key.uid}.csv"'},
        )
    body = {
        "device": key.uid,
        "start": dt(start_ns),
        "end": dt(end_ns),
        "every": every,
        "agg": agg if every else None,
        "units": {k: units[k] for k in present},
        "points": [{"time": dt(p.time_ns), "values": p.values} for p in points],
    }
    if all(type(v) in _PLAIN for p in points for v in p.values.values()):
        # Serialised once, without validating every point (an aggregate holds hundreds): the
        # JSON ReadingsPublic renders, as a test pins; other value types go through the model.
        return Response(json_bytes(body), media_type="application/json")
    return ReadingsPublic.model_validate(body)


_PLAIN = (float, bool, str)  # value types whose JSON is the model's as they are
