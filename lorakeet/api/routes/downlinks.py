"""Downlink routes: queue a command for a device through The Things Stack (owner only).

The TTN Fair Access Policy allows at most 10 downlinks per device per 24 h (ACKs included);
the 11th within any 24 h window is refused with 429 and a ``Retry-After``. Every downlink
is counted in the registry. A street light's command (dim level, on/off, reporting
interval) is encoded with :func:`lorakeet.firmware_payloads.formats.encode_light_command`
on fPort 31; other devices take raw hex on a port of the owner's choosing.
"""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field, model_validator

from lorakeet.firmware_payloads.formats import LIGHT_COMMAND_PORT, LightCommand, encode_light_command
from lorakeet.gateway_bridge.downlink import Downlink, DownlinkError, new_correlation_id, publish_downlink
from lorakeet.storage.alerts_store import DownlinkLog, DownlinkRow
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import Device, as_utc

from ..auth import Viewer, WriterDep, can_edit_device
from ..deps import Services, ServicesDep, visible_device
from ..errors import problem_responses

router = APIRouter(prefix="/v1/devices", tags=["downlinks"])

FAIR_USE_PER_DAY = 10
WINDOW = timedelta(hours=24)
_SEND_LOCK = threading.Lock()  # count, publish and record as one step within this process


class LightCommandIn(BaseModel):
    """A street-light command; give at least one field."""

    dim_level: Annotated[int | None, Field(ge=0, le=100, description="percent")] = None
    lamp_on: bool | None = None
    interval_min: Annotated[int | None, Field(ge=1, le=10_080, description="reporting interval")] = None


class DownlinkCreate(BaseModel):
    """A downlink: a street-light command, or raw bytes on a port."""

    light: LightCommandIn | None = None
    f_port: Annotated[int | None, Field(ge=1, le=223)] = None
    payload_hex: Annotated[str | None, Field(pattern=r"^([0-9a-fA-F]{2}){1,51}$")] = None
    confirmed: bool = False
    priority: Literal["LOWEST", "LOW", "BELOW_NORMAL", "NORMAL", "ABOVE_NORMAL", "HIGH", "HIGHEST"] = "NORMAL"

    @model_validator(mode="after")
    def _one_kind(self) -> DownlinkCreate:
        if (self.light is None) == (self.payload_hex is None):
            raise ValueError("give either 'light' or 'payload_hex' (with 'f_port')")
        if self.payload_hex is not None and self.f_port is None:
            raise ValueError("'payload_hex' needs 'f_port'")
        return self


class DownlinkPublic(BaseModel):
    """A queued downlink."""

    id: int
    device: str
    time: datetime
    f_port: int
    payload_hex: str
    confirmed: bool
    correlation_id: str


class Quota(BaseModel):
    """TTN fair use for one device."""

    limit_24h: int = FAIR_USE_PER_DAY
    used_24h: int
    remaining_24h: int
    next_slot_at: datetime | None = Field(
        None, description="when one more becomes available, if none is left"
    )


class DownlinkQueued(BaseModel):
    """What was published, and the device's fair-use quota after it."""

    downlink: DownlinkPublic
    topic: str
    quota: Quota


class DownlinkHistory(BaseModel):
    """A device's recent downlinks and quota."""

    quota: Quota
    downlinks: list[DownlinkPublic]


def _public(row: DownlinkRow) -> DownlinkPublic:
    return DownlinkPublic(
        id=row.id,
        device=DeviceKey(row.application_id, row.device_id).uid,
        time=as_utc(row.time),
        f_port=row.f_port,
        payload_hex=row.payload_hex,
        confirmed=row.confirmed,
        correlation_id=row.correlation_id,
    )


def quota(log: DownlinkLog, key: DeviceKey, now: datetime) -> Quota:
    """How many downlinks the device had in the last 24 h, and when the next is allowed."""
    times = log.since(key, now - WINDOW)
    left = max(0, FAIR_USE_PER_DAY - len(times))
    next_at = times[len(times) - FAIR_USE_PER_DAY] + WINDOW if left == 0 else None
    return Quota(used_24h=len(times), remaining_24h=left, next_slot_at=next_at)


def owned_device(services: Services, viewer: Viewer, device: str) -> Device:
    """The device if the viewer owns it (or is an admin): 404 when invisible, 403 when only visible."""
    row = visible_device(services, viewer, device)
    if not can_edit_device(viewer, row):
        raise HTTPException(status_code=403, detail="only the device's owner may send it downlinks")
    return row


@router.post(
    "/{device}/downlinks",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue a downlink (TTN fair use: 10 per device per 24 h)",
    responses=problem_responses(401, 403, 404, 409, 422, 429, 502, 501),
)
def send_downlink(
    services: ServicesDep, viewer: WriterDep, device: str, body: DownlinkCreate
) -> DownlinkQueued:
    """Publish the downlink on the device's TTS ``down/push`` topic; 202 once the broker has it
    (the network sends it after the device's next uplink)."""
    row = owned_device(services, viewer, device)
    mqtt = services.settings.mqtt
    if mqtt.network != "ttn":
        raise HTTPException(status_code=501, detail="downlinks are implemented for The Things Stack only")
    if body.light is not None:
        if row.kind != "streetlight":
            raise HTTPException(status_code=409, detail="'light' commands are for street lights only")
        cmd = LightCommand(body.light.dim_level, body.light.lamp_on, body.light.interval_min)
        try:
            payload, f_port = encode_light_command(cmd), LIGHT_COMMAND_PORT
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
    else:
        assert body.payload_hex is not None and body.f_port is not None
        payload, f_port = bytes.fromhex(body.payload_hex), body.f_port
    key = DeviceKey(row.application_id, row.device_id)
    log = DownlinkLog(services.registry)
    with _SEND_LOCK:
        now = datetime.now(UTC)
        q = quota(log, key, now)
        if q.remaining_24h == 0:
            assert q.next_slot_at is not None
            wait = max(1, math.ceil((q.next_slot_at - now).total_seconds()))
            raise HTTPException(
                status_code=429,
                detail=(
                    f"TTN fair use allows at most {FAIR_USE_PER_DAY} downlinks per device per 24 h; "
                    f"{key.uid} has had {q.used_24h}. The next one is possible at "
                    f"{q.next_slot_at.isoformat(timespec='seconds')}."
                ),
                headers={"Retry-After": str(wait)},
            )
        d = Downlink(
            key.application_id,
            key.device_id,
            f_port,
            payload,
            confirmed=body.confirmed,
            priority=body.priority,
            correlation_id=new_correlation_id(),
        )
        try:
            topic = publish_downlink(mqtt, d)
        except DownlinkError as exc:
            raise HTTPException(status_code=502, detail=str(exc)) from None
        rec = log.record(
            key,
            account_id=viewer.account_id,
            f_port=f_port,
            payload=payload,
            confirmed=body.confirmed,
            correlation_id=d.correlation_id,
            at=now,
        )
        after = quota(log, key, now)
    services.registry.audit(
        viewer.account_id, "device.downlink", key.uid, {"f_port": f_port, "payload_hex": payload.hex()}
    )
    return DownlinkQueued(downlink=_public(rec), topic=topic, quota=after)


@router.get(
    "/{device}/downlinks",
    summary="A device's recent downlinks and fair-use quota",
    responses=problem_responses(401, 403, 404, 422),
)
def list_downlinks(services: ServicesDep, viewer: WriterDep, device: str) -> DownlinkHistory:
    """Newest first, at most 50, with how many more are allowed in the current 24 h window."""
    row = owned_device(services, viewer, device)
    key = DeviceKey(row.application_id, row.device_id)
    log = DownlinkLog(services.registry)
    return DownlinkHistory(
        quota=quota(log, key, datetime.now(UTC)), downlinks=[_public(r) for r in log.recent(key)]
    )
