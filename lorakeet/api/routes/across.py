"""Makers' queries across devices: one quantity for many devices at once.

``GET /v1/readings`` selects devices by kind, tag, visibility, bounding box or an explicit
list (only devices the caller may see), aggregates one quantity per window for each of
them, and answers JSON or CSV (streamed, ``CHUNK`` devices at a time).
``GET /v1/readings/stats`` gives descriptive statistics across the selected devices per
window: how many reported, mean, min, max and percentiles of their per-window values.

Every request is bounded: at most ``MAX_DEVICES`` devices, ``MAX_DAYS`` days and
``MAX_WINDOWS`` windows; a JSON answer holds at most ``MAX_JSON_VALUES`` values (use CSV,
which streams, for more).
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response, StreamingResponse

from lorakeet.decoders import split_key
from lorakeet.storage.records import Aggregate, DeviceKey, Point
from lorakeet.storage.registry import Device, DeviceFilter
from lorakeet.timefmt import format_rfc3339_ns
from lorakeet.timeparse import parse_duration, parse_range

from ..auth import Viewer, ViewerDep
from ..csvout import SafeWriter, column_name
from ..deps import Services, ServicesDep, bulk_read
from ..errors import problem_responses
from ..schemas_across import AcrossPublic, DeviceSeries, SeriesPoint, StatsPublic, WindowStats

router = APIRouter(prefix="/v1/readings", tags=["makers"])

MAX_DEVICES = 1000
MAX_DAYS = 400
MAX_WINDOWS = 10_000
MAX_JSON_VALUES = 200_000
CHUNK = 100
DAY_NS = 86_400 * 10**9

Quantity = Annotated[str, Query(min_length=1, max_length=64, description="one reading key, e.g. temperature")]
Kind = Annotated[str | None, Query(max_length=16, description="bin, streetlight, boat or other")]
Tag = Annotated[str | None, Query(max_length=100, description="only devices with this tag")]
VisibilityQ = Annotated[
    Literal["public", "private"] | None, Query(description="public, or private (yours; admins: all)")
]
Bbox = Annotated[str | None, Query(max_length=200, description="west,south,east,north in degrees (WGS 84)")]
Devices = Annotated[
    str | None, Query(max_length=20_000, description="comma-separated application_id.device_id")
]
Start = Annotated[str, Query(max_length=64, description="RFC 3339 or relative (-7d)")]
End = Annotated[str, Query(max_length=64, description="RFC 3339 or relative; default now")]
Every = Annotated[str, Query(max_length=16, description="window, e.g. 1h")]
Agg = Annotated[Aggregate, Query(description="per device and window")]


@dataclass(frozen=True, slots=True)
class Selection:
    """What a request asked for, checked."""

    quantity: str
    unit: str
    devices: tuple[Device, ...]
    start_ns: int
    end_ns: int
    every_ns: int
    agg: Aggregate


def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def _unprocessable(detail: str) -> HTTPException:
    return HTTPException(status_code=422, detail=detail)


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``west,south,east,north`` as floats; ValueError naming what is wrong."""
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError("bbox is west,south,east,north: four numbers")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise ValueError("bbox is west,south,east,north: four numbers") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise ValueError("bbox numbers must be finite")
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        raise ValueError("bbox needs -180 <= west, east <= 180 and -90 <= south <= north <= 90")
    if west > east:
        raise ValueError("bbox west must not be east of east (split a box across the antimeridian in two)")
    return west, south, east, north


def _in_box(row: Device, box: tuple[float, float, float, float]) -> bool:
    west, south, east, north = box
    lat, lon = row.latitude, row.longitude
    return lat is not None and lon is not None and south <= lat <= north and west <= lon <= east


@dataclass(frozen=True, slots=True)
class AcrossQuery:
    """The selection and window parameters both routes share, as given."""

    quantity: str
    kind: str | None
    tag: str | None
    visibility: str | None
    bbox: str | None
    devices: str | None
    start: str
    end: str
    every: str
    agg: Aggregate


def across_query(
    quantity: Quantity,
    kind: Kind = None,
    tag: Tag = None,
    visibility: VisibilityQ = None,
    bbox: Bbox = None,
    devices: Devices = None,
    start: Start = "-1d",
    end: End = "now",
    every: Every = "1h",
    agg: Agg = "mean",
) -> AcrossQuery:
    """The shared query parameters (a dependency)."""
    return AcrossQuery(quantity, kind, tag, visibility, bbox, devices, start, end, every, agg)


QueryDep = Annotated[AcrossQuery, Depends(across_query)]


def select(services: Services, viewer: Viewer, q: AcrossQuery) -> Selection:
    """Check a request and pick its devices: the caller's view of the registry, filtered."""
    try:
        unit = split_key(q.quantity)[0].unit
    except KeyError:
        raise _unprocessable(f"unknown quantity {q.quantity!r}; see GET /v1/quantities") from None
    try:
        start_ns, end_ns = parse_range(q.start, q.end, time.time_ns())
        every_ns = parse_duration(q.every)
        box = parse_bbox(q.bbox) if q.bbox else None
    except ValueError as exc:
        raise _unprocessable(str(exc)) from None
    if end_ns - start_ns > MAX_DAYS * DAY_NS:
        raise _unprocessable(f"a query may span at most {MAX_DAYS} days")
    if (end_ns - start_ns) // every_ns > MAX_WINDOWS:
        raise _unprocessable(f"range/every gives more than {MAX_WINDOWS} windows; widen 'every'")
    wanted: list[DeviceKey] | None = None
    if q.devices:
        try:
            wanted = list(
                dict.fromkeys(DeviceKey.from_uid(d.strip()) for d in q.devices.split(",") if d.strip())
            )
        except ValueError as exc:
            raise _unprocessable(str(exc)) from None
        if len(wanted) > MAX_DEVICES:
            raise _unprocessable(f"at most {MAX_DEVICES} devices per request")
    f = DeviceFilter(
        kind=q.kind,
        tag=q.tag,
        visibility=q.visibility,
        application_ids=tuple(sorted({k.application_id for k in wanted})) if wanted else None,
        viewer_id=viewer.account_id,
        viewer_admin=viewer.is_admin,
    )
    rows, _ = services.registry.lookup_devices(f, limit=100_000)
    if box is not None:
        rows = [r for r in rows if _in_box(r, box)]
    if wanted is not None:
        by_key = {DeviceKey(r.application_id, r.device_id): r for r in rows}
        missing = [k.uid for k in wanted if k not in by_key]
        if missing:
            raise HTTPException(status_code=404, detail=f"no such device among the selection: {missing[0]!r}")
        rows = [by_key[k] for k in wanted]
    if len(rows) > MAX_DEVICES:
        raise _unprocessable(
            f"{len(rows)} devices match; at most {MAX_DEVICES} per request: "
            "narrow with kind, tag, bbox or devices"
        )
    return Selection(q.quantity, unit, tuple(rows), start_ns, end_ns, every_ns, q.agg)


def _series(services: Services, sel: Selection, rows: Sequence[Device]) -> list[tuple[Device, list[Point]]]:
    store = services.store
    out = []
    for r in rows:
        key = DeviceKey(r.application_id, r.device_id)
        out.append((r, store.aggregate(key, [sel.quantity], sel.start_ns, sel.end_ns, sel.every_ns, sel.agg)))
    return out


def _value(p: Point, key: str) -> float | None:
    v = p.values.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _csv_rows(services: Services, sel: Selection) -> Iterator[str]:
    buf = io.StringIO()
    w = SafeWriter(buf)
    w.writerow(["time", "device", column_name(sel.quantity, sel.unit)])
    yield buf.getvalue()
    for i in range(0, len(sel.devices), CHUNK):
        buf.seek(0)
        buf.truncate()
        for row, points in _series(services, sel, sel.devices[i : i + CHUNK]):
            uid = f"{row.application_id}.{row.device_id}"
            for p in points:
                v = _value(p, sel.quantity)
                if v is not None:
                    w.writerow([format_rfc3339_ns(p.time_ns), uid, repr(v)])
        yield buf.getvalue()


Format = Annotated[Literal["json", "csv"], Query(description="json, or csv (time, device, value; streamed)")]


@router.get(
    "",
    response_model=AcrossPublic,
    summary="One quantity for many devices, aggregated per window",
    responses={**problem_responses(404, 422), 200: {"content": {"application/json": {}, "text/csv": {}}}},
)
async def across(
    services: ServicesDep, viewer: ViewerDep, q: QueryDep, format: Format = "json"
) -> AcrossPublic | Response:
    """Per device, one point per ``every`` window (epoch-aligned, empty windows left out)."""
    sel = await bulk_read(lambda: select(services, viewer, q))
    if format == "csv":
        return StreamingResponse(
            _csv_rows(services, sel),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{sel.quantity}.csv"'},
        )
    windows = max(1, (sel.end_ns - sel.start_ns) // sel.every_ns)
    if windows * len(sel.devices) > MAX_JSON_VALUES:
        raise _unprocessable(
            f"up to {windows * len(sel.devices)} values: more than {MAX_JSON_VALUES} in JSON; "
            "use format=csv (streamed), widen 'every' or select fewer devices"
        )
    series = await bulk_read(lambda: _series(services, sel, sel.devices))
    return AcrossPublic(
        quantity=sel.quantity,
        unit=sel.unit,
        start=_dt(sel.start_ns),
        end=_dt(sel.end_ns),
        every=q.every,
        agg=sel.agg,
        devices=[
            DeviceSeries(
                device=f"{r.application_id}.{r.device_id}",
                name=r.name,
                kind=r.kind,
                latitude=r.latitude,
                longitude=r.longitude,
                points=[
                    SeriesPoint(time=_dt(p.time_ns), value=v)
                    for p in points
                    if (v := _value(p, sel.quantity)) is not None
                ],
            )
            for r, points in series
        ],
    )


def percentile(ordered: Sequence[float], p: float) -> float:
    """The ``p``-th percentile of sorted values, interpolated linearly between ranks."""
    pos = (len(ordered) - 1) * p / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def parse_percentiles(text: str) -> tuple[float, ...]:
    """``10,50,90`` as floats in [0, 100]; ValueError otherwise."""
    try:
        ps = tuple(float(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise ValueError("percentiles is a comma-separated list of numbers from 0 to 100") from None
    if not ps or len(ps) > 20 or not all(0 <= p <= 100 for p in ps):
        raise ValueError("percentiles is a comma-separated list of 1 to 20 numbers from 0 to 100")
    return ps


def window_stats(series: Sequence[Sequence[Point]], key: str, ps: Sequence[float]) -> list[WindowStats]:
    """Across devices, per window: count, mean, min, max and percentiles of their values."""
    by_window: dict[int, list[float]] = {}
    for points in series:
        for p in points:
            v = _value(p, key)
            if v is not None:
                by_window.setdefault(p.time_ns, []).append(v)
    out = []
    for t in sorted(by_window):
        vs = sorted(by_window[t])
        out.append(
            WindowStats(
                time=_dt(t),
                devices=len(vs),
                mean=math.fsum(vs) / len(vs),
                min=vs[0],
                max=vs[-1],
                percentiles={f"p{p:g}": percentile(vs, p) for p in ps},
            )
        )
    return out


@router.get(
    "/stats",
    summary="Descriptive statistics of one quantity across devices, per window",
    responses=problem_responses(404, 422),
)
async def stats(
    services: ServicesDep,
    viewer: ViewerDep,
    q: QueryDep,
    percentiles: Annotated[str, Query(max_length=200, description="e.g. 10,25,50,75,90")] = "10,25,50,75,90",
) -> StatsPublic:
    """Each device's ``agg`` per window first, then statistics across the devices that reported."""
    try:
        ps = parse_percentiles(percentiles)
    except ValueError as exc:
        raise _unprocessable(str(exc)) from None
    sel = await bulk_read(lambda: select(services, viewer, q))
    series = await bulk_read(lambda: [points for _, points in _series(services, sel, sel.devices)])
    return StatsPublic(
        quantity=sel.quantity,
        unit=sel.unit,
        start=_dt(sel.start_ns),
        end=_dt(sel.end_ns),
        every=q.every,
        agg=sel.agg,
        devices=len(sel.devices),
        windows=window_stats(series, sel.quantity, ps),
    )
