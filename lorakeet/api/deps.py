"""Named dependencies of the API routes: the services, the registry, the store, a device the
viewer may see (or change), and a time range read from the query.

Each is a plain function (for a route that needs it inside its body) and, where FastAPI can
inject it, an ``Annotated`` alias (``RegistryDep``, ``StoreDep``, ``VisibleDeviceDep``,
``TimeRangeDep``). Route modules import these from here, never from one another.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, HTTPException, Query
from starlette.concurrency import run_in_threadpool

from lorakeet.storage.factory import Store
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import Device, Registry
from lorakeet.timeparse import parse_duration, parse_range

from .auth import Viewer, ViewerDep, can_edit_device, can_read_data, can_view_device
from .services import BULK_READERS as BULK_READERS
from .services import Services as Services
from .services import ServicesDep as ServicesDep
from .services import bulk_read as bulk_read
from .services import get_services as get_services
from .services import services_of as services_of


async def get_registry(services: ServicesDep) -> Registry:
    """The registry of the app."""
    return services.registry


async def get_store(services: ServicesDep) -> Store:
    """The readings store of the app."""
    return services.store


RegistryDep = Annotated[Registry, Depends(get_registry)]
StoreDep = Annotated[Store, Depends(get_store)]


def parse_device_id(device: str) -> DeviceKey:
    """``application_id.device_id`` from a path, or a 422 saying what is wrong."""
    try:
        return DeviceKey.from_uid(device)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None


def _visible(viewer: Viewer, device: str, row: Device | None, data: bool = True) -> Device:
    if row is None or not can_view_device(viewer, row):
        raise HTTPException(status_code=404, detail=f"no device {device!r}")
    if data and not can_read_data(viewer, row):
        raise HTTPException(
            status_code=403,
            detail=f"device {device!r} is pending: its data shows once you prove application "
            f"{row.application_id!r} (POST /v1/applications/{row.application_id}/claim)",
        )
    return row


def visible_device(services: Services, viewer: Viewer, device: str, *, data: bool = True) -> Device:
    """The device if the viewer may see it, else 404 (private devices do not leak); with ``data``
    (the default) also its data, which a pending device shows to admins only (403).

    Read through the registry's lookup cache: fine for reads, not for deciding a write.
    """
    return _visible(viewer, device, services.registry.lookup_device(parse_device_id(device)), data)


async def visible_device_async(services: Services, viewer: Viewer, device: str) -> Device:
    """``visible_device`` (with its data) for async routes: a cache hit needs no thread, a miss one."""
    key = parse_device_id(device)
    registry = services.registry
    row = registry.cache.device(key)
    if row is None:
        row = await run_in_threadpool(registry.lookup_device, key)
    return _visible(viewer, device, row)


def editable_device(services: Services, viewer: Viewer, device: str, *, data: bool = True) -> Device:
    """The device if the viewer may change it: 404 if unseen, 403 if only seen (read uncached);
    with ``data`` (the default) the change touches its data, which a pending device keeps closed."""
    row = _visible(viewer, device, services.registry.get_row(parse_device_id(device)), data)
    if not can_edit_device(viewer, row):
        raise HTTPException(status_code=403, detail="only the owner or an admin may change this device")
    return row


async def get_visible_device(services: ServicesDep, viewer: ViewerDep, device: str) -> Device:
    """The ``{device}`` of the path, if the viewer may see it (see ``visible_device``)."""
    return await visible_device_async(services, viewer, device)


VisibleDeviceDep = Annotated[Device, Depends(get_visible_device)]


DAY_NS = 86_400 * 1_000_000_000
MAX_RAW_DAYS = 31  # a raw (unaggregated) read spans at most this many days


def time_range(start: str, end: str) -> tuple[int, int]:
    """[start, end) in ns from query text; 422 when unreadable or empty."""
    try:
        return parse_range(start, end, time.time_ns())
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None


async def get_time_range(
    start: Annotated[str, Query(description="RFC 3339 or relative (-7d)")] = "-1d",
    end: Annotated[str, Query(description="RFC 3339 or relative; default now")] = "now",
) -> tuple[int, int]:
    """The ``start``/``end`` query parameters as [start, end) in ns (see ``time_range``)."""
    return time_range(start, end)


TimeRangeDep = Annotated[tuple[int, int], Depends(get_time_range)]


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
