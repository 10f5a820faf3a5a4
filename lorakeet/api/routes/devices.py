"""Device registry routes: register, list, get, change, delete (with readings), claim.

Private devices are invisible (404) to everyone but their owner and admins; only they may
change one. Auto-registered (unowned) devices are claimed by an admin or by an account that
has proved the device's TTN application.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from lorakeet.storage.alerts_store import AlertStore
from lorakeet.storage.registry import KINDS, DeviceChanges, DeviceFilter

from .. import actions
from ..actions import check_decoder, device_changes
from ..auth import ViewerDep, WriterDep, can_view_device
from ..deps import ServicesDep, editable_device, parse_device_id, visible_device
from ..errors import problem_responses
from ..presentation import device_public
from ..schemas_registry import (
    DeviceCreate,
    DeviceList,
    DevicePublic,
    DeviceUpdate,
    Kind,
    Visibility,
)

router = APIRouter(prefix="/v1/devices", tags=["devices"])

NOT_NULL = ("kind", "visibility", "metadata", "tags", "field_map")


@router.get("", summary="List devices")
def list_devices(
    services: ServicesDep,
    viewer: ViewerDep,
    kind: Annotated[Kind | None, Query(description=f"one of {', '.join(KINDS)}")] = None,
    tag: Annotated[str | None, Query(max_length=40, examples=["centre"])] = None,
    visibility: Annotated[Visibility | None, Query()] = None,
    owner: Annotated[
        str | None, Query(pattern=r"^(me|[0-9]{1,9})$", description="'me' or an account id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> DeviceList:
    """Devices you may see (public ones, yours, or all for admins), ordered by id."""
    owner_id: int | None = None
    if owner == "me":
        if viewer.account_id is None:
            raise HTTPException(
                status_code=401, detail="owner=me needs an API key", headers={"WWW-Authenticate": "Bearer"}
            )
        owner_id = viewer.account_id
    elif owner is not None:
        owner_id = int(owner)
    f = DeviceFilter(
        kind=kind,
        tag=tag,
        visibility=visibility,
        owner_id=owner_id,
        viewer_id=viewer.account_id,
        viewer_admin=viewer.is_admin,
        include_pending=not viewer.anonymous,  # registrations of one's own pending devices
    )
    rows, total = services.registry.find_devices(f, limit=limit, offset=offset)
    return DeviceList(data=[device_public(r, viewer) for r in rows], count=len(rows), total=total)


@router.post("", status_code=201, summary="Register a device", responses=problem_responses(401, 403, 409))
def create_device(services: ServicesDep, viewer: WriterDep, body: DeviceCreate) -> DevicePublic:
    """Register a device you own; an auto-registered one must be claimed instead."""
    return actions.register_device(services, viewer, body)


@router.get("/{device}", summary="Get a device", responses=problem_responses(404, 422))
def get_device(services: ServicesDep, viewer: ViewerDep, device: str) -> DevicePublic:
    """One device by ``application_id.device_id``."""
    return device_public(visible_device(services, viewer, device, data=False), viewer)


@router.patch("/{device}", summary="Change a device", responses=problem_responses(401, 403, 404, 422))
def update_device(services: ServicesDep, viewer: WriterDep, device: str, body: DeviceUpdate) -> DevicePublic:
    """Change fields of a device you own (admins: any, and may assign ``owner_id``)."""
    row = editable_device(services, viewer, device, data=False)
    changes = body.model_dump(exclude_unset=True)
    for name in NOT_NULL:
        if name in changes and changes[name] is None:
            raise HTTPException(status_code=422, detail=f"{name} cannot be null")
    if "owner_id" in changes:
        if not viewer.is_admin:
            raise HTTPException(status_code=403, detail="only admins assign owners; use /claim")
        if changes["owner_id"] is not None and services.registry.get_account(changes["owner_id"]) is None:
            raise HTTPException(status_code=422, detail=f"no account {changes['owner_id']}")
    if "decoder" in changes:
        check_decoder(services, viewer, changes["decoder"])
    if "owner_id" in changes:  # an admin's assignment settles a pending registration
        changes["pending"] = False
    updated = services.registry.update_device(row.key, device_changes(changes))
    if updated is None:
        raise HTTPException(status_code=404, detail=f"no device {device!r}")
    if updated.visibility != "public":  # others may no longer watch it
        AlertStore(services.registry).drop_foreign_rules(row.key.uid, updated.owner_id)
    services.registry.audit(
        viewer.account_id, "device.update", f"device:{row.key.uid}", {"fields": sorted(changes)}
    )
    return device_public(updated, viewer)


@router.delete(
    "/{device}",
    status_code=204,
    summary="Delete a device and its readings",
    responses=problem_responses(401, 403, 404),
)
def delete_device(services: ServicesDep, viewer: WriterDep, device: str) -> Response:
    """Remove the device from the registry and purge its stored readings and uplinks."""
    row = editable_device(services, viewer, device, data=False)
    services.purge_devices([row.key])
    services.registry.delete_device(row.key)
    services.registry.audit(viewer.account_id, "device.delete", f"device:{row.key.uid}")
    return Response(status_code=204)


@router.post(
    "/{device}/claim", summary="Claim an unowned device", responses=problem_responses(401, 403, 404, 409)
)
def claim_device(services: ServicesDep, viewer: WriterDep, device: str) -> DevicePublic:
    """Become the owner of an unowned device of a TTN application your account has proved."""
    key = parse_device_id(device)
    row = services.registry.get_row(key)
    assert viewer.account_id is not None
    proved = services.registry.may_register(key.application_id, viewer.account_id) is True
    if row is None or not (viewer.is_admin or proved or can_view_device(viewer, row)):
        raise HTTPException(status_code=404, detail=f"no device {device!r}")
    if row.owner_id is not None:
        if row.owner_id == viewer.account_id:
            return device_public(row, viewer)
        raise HTTPException(status_code=409, detail="the device has an owner already")
    if not (viewer.is_admin or proved):
        raise HTTPException(
            status_code=403,
            detail=f"your account has not proved application {key.application_id!r} "
            f"(POST /v1/applications/{key.application_id}/claim)",
        )
    updated = services.registry.update_device(
        key, DeviceChanges(owner_id=viewer.account_id, source="registered")
    )
    assert updated is not None
    services.registry.audit(viewer.account_id, "device.claim", f"device:{key.uid}")
    return device_public(updated, viewer)
