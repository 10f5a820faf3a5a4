"""Device registry routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import KINDS, DeviceRow

from ..deps import ServicesDep
from ..schemas import DeviceList, DevicePublic

router = APIRouter(prefix="/v1/devices", tags=["devices"])


def device_public(row: DeviceRow) -> DevicePublic:
    """Shape a registry row for the API."""
    return DevicePublic(
        id=DeviceKey(row.application_id, row.device_id).uid,
        application_id=row.application_id,
        device_id=row.device_id,
        name=row.name,
        kind=row.kind,
        decoder=row.decoder,
        visibility=row.visibility,
    )


def parse_device_id(device: str) -> DeviceKey:
    """``application_id.device_id`` from a path, or a 422 saying what is wrong."""
    try:
        return DeviceKey.from_uid(device)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None


@router.get("", summary="List devices")
def list_devices(
    services: ServicesDep,
    kind: Annotated[str | None, Query(description=f"one of {', '.join(KINDS)}")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DeviceList:
    """Devices in the registry, ordered by id."""
    if kind is not None and kind not in KINDS:
        raise HTTPException(status_code=422, detail=f"kind must be one of {', '.join(KINDS)}")
    rows = services.registry.list_devices(kind=kind, limit=limit, offset=offset)
    return DeviceList(data=[device_public(r) for r in rows], count=len(rows))


@router.get("/{device}", summary="Get a device")
def get_device(services: ServicesDep, device: str) -> DevicePublic:
    """One device by ``application_id.device_id``."""
    key = parse_device_id(device)
    row = services.registry.get_row(key)
    if row is None:
        raise HTTPException(status_code=404, detail=f"no device {device!r}")
    return device_public(row)
