"""Readings routes: latest values and time series."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from lorakeet.decoders import split_key

from ..deps import ServicesDep
from ..schemas import LatestPublic, LatestValuePublic, PointPublic, ReadingsPublic
from ..timeparse import parse_duration, parse_time
from .devices import parse_device_id

router = APIRouter(prefix="/v1/devices", tags=["readings"])

MAX_POINTS = 10_000


def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def _unit(key: str) -> str:
    return split_key(key)[0].unit


@router.get("/{device}/latest", summary="Latest values of a device")
def latest(services: ServicesDep, device: str) -> LatestPublic:
    """The most recent value of every quantity the device reported."""
    key = parse_device_id(device)
    values = services.store.latest(key)
    return LatestPublic(
        device=key.uid,
        values=[
            LatestValuePublic(key=v.key, value=v.value, unit=_unit(v.key), time=_dt(v.time_ns))
            for v in values
        ],
    )


@router.get("/{device}/readings", summary="Readings of a device over a time range")
def readings(
    services: ServicesDep,
    device: str,
    quantities: Annotated[
        str | None, Query(description="comma-separated keys, e.g. fill_pct,battery")
    ] = None,
    start: Annotated[str, Query(description="RFC 3339 or relative (-7d)")] = "-1d",
    end: Annotated[str, Query(description="RFC 3339 or relative; default now")] = "now",
    every: Annotated[str | None, Query(description="aggregate window, e.g. 1h")] = None,
    agg: Annotated[Literal["mean", "min", "max", "last", "count"], Query()] = "mean",
    limit: Annotated[int, Query(ge=1, le=MAX_POINTS)] = 1000,
) -> ReadingsPublic:
    """Raw points, or one aggregated point per window when ``every`` is given."""
    key = parse_device_id(device)
    now = time.time_ns()
    try:
        start_ns, end_ns = parse_time(start, now), parse_time(end, now)
        every_ns = parse_duration(every) if every else None
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    if end_ns <= start_ns:
        raise HTTPException(status_code=422, detail="end must be after start")
    keys = [k.strip() for k in quantities.split(",") if k.strip()] if quantities else None
    for k in keys or []:
        try:
            split_key(k)
        except KeyError:
            raise HTTPException(status_code=422, detail=f"unknown quantity {k!r}") from None
    if every_ns is not None:
        if (end_ns - start_ns) // every_ns > MAX_POINTS:
            raise HTTPException(
                status_code=422,
                detail=f"range/every gives more than {MAX_POINTS} windows; widen 'every' or narrow the range",
            )
        agg_keys = keys if keys is not None else services.store.keys(key)
        agg_keys = [k for k in agg_keys if split_key(k)[0].type == "float" or agg in ("count", "last")]
        points = services.store.aggregate(key, agg_keys, start_ns, end_ns, every_ns, agg)[:limit]
    else:
        points = services.store.points(key, keys, start_ns, end_ns, limit)
    units = {k: _unit(k) for p in points for k in p.values}
    return ReadingsPublic(
        device=key.uid,
        start=_dt(start_ns),
        end=_dt(end_ns),
        every=every,
        agg=agg if every else None,
        units=units,
        points=[PointPublic(time=_dt(p.time_ns), values=p.values) for p in points],
    )
