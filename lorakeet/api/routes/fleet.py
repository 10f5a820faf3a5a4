"""Fleet routes: the latest values of every device of a kind, in one store request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import KINDS, Device, DeviceFilter

from ..auth import ViewerDep
from ..deps import Services, ServicesDep, bulk_read
from ..errors import problem_responses
from ..presentation import json_bytes, latest_values_plain
from ..schemas import FleetLatestPublic

router = APIRouter(prefix="/v1/readings", tags=["readings"])

MAX_FLEET = 5000


@router.get(
    "/latest",
    response_model=FleetLatestPublic,
    summary="Latest values of a fleet",
    responses=problem_responses(422),
)
async def fleet_latest(
    services: ServicesDep,
    viewer: ViewerDep,
    kind: Annotated[
        str | None, Query(description=f"one of {', '.join(KINDS)}; all kinds when absent")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_FLEET)] = 1000,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    """Every registered device of ``kind`` the caller may see (public ones, own ones; all for
    admins), each with its latest values; devices that never reported have none."""
    if kind is not None and kind not in KINDS:
        raise HTTPException(status_code=422, detail=f"kind must be one of {', '.join(KINDS)}")
    f = DeviceFilter(kind=kind, viewer_id=viewer.account_id, viewer_admin=viewer.is_admin)
    body = await bulk_read(lambda: _fleet_json(services, f, kind, limit, offset))
    return Response(body, media_type="application/json")


def _fleet_json(services: Services, f: DeviceFilter, kind: str | None, limit: int, offset: int) -> bytes:
    """The page, built once for as long as what it is built from stays: the registry's answer
    (the same page object from its lookup cache: no device added, changed or deleted, see
    ``Registry.lookup_devices``) and the store's latest values (the same ``latest_version``,
    read before the values: a change while the page is built makes the next request build it
    again). Either one moves: built again. A store without a version: built every time."""
    version = services.latest_version()
    page = services.registry.lookup_devices(f, limit=limit, offset=offset)
    key = (f, limit, offset)
    if version is not None:
        held = services.fleet_pages.get(key)
        if held is not None and held[0] is page and held[1] == version:
            body: bytes = held[2]
            return body
    body = _build(services, page, kind)
    if version is not None:
        services.fleet_pages.put(
            key, (page, version, body), len(body)
        )  # the page object held: its id stays its own
    return body


def _build(services: Services, page: tuple[list[Device], int], kind: str | None) -> bytes:
    rows, total = page
    keys = [DeviceKey(r.application_id, r.device_id) for r in rows]
    latest = services.store.latest_many(keys)
    # Built as plain data and serialised once: a fleet page holds thousands of values, and
    # per-value model validation would cost more than the store query (FleetLatestPublic
    # documents the shape; the contract test pins it).
    devices = [
        {
            "device": key.uid,
            "name": r.name,
            "kind": r.kind,
            "latitude": r.latitude,
            "longitude": r.longitude,
            "values": latest_values_plain(latest.get(key, ())),
        }
        for r, key in zip(rows, keys, strict=True)
    ]
    return json_bytes({"kind": kind, "count": len(devices), "total": total, "devices": devices})
