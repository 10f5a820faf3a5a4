"""Alert routes: rule CRUD and alert history (each account sees its own; admins see all).

A rule watches one device (``device``) or a fleet (every device of ``kind`` the owner owns;
every device for an admin). Deliveries go to ``webhook_url`` (signed with the rule's
``webhook_secret``, shown once at creation) and/or an MQTT topic under ``lorakeet/alerts/``.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, Field, StrictBool, field_validator, model_validator

from lorakeet.alerts.rules import ring_from_json
from lorakeet.alerts.targets import private_literal
from lorakeet.decoders import is_valid_key
from lorakeet.storage.alerts_store import AlertEventRow, AlertRuleRow, AlertStore, EventQuery
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import as_utc

from ..auth import ReaderDep, Viewer, WriterDep
from ..deps import Services, ServicesDep, visible_device
from ..errors import problem_responses

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

MQTT_PREFIX = "lorakeet/alerts/"
RuleType = Literal["threshold", "silence", "geofence", "low_battery"]
KindIn = Literal["bin", "boat", "streetlight", "other"]


def _check_url(v: str | None) -> str | None:
    if v is not None and not (v.startswith(("http://", "https://")) and len(v) <= 2000):
        raise ValueError("webhook_url must be an http:// or https:// URL")
    return v


def _check_target(services: Services, url: str | None) -> None:
    """422 for a webhook at an address literal or host name that is not public (names that
    resolve to one are refused at delivery), unless private targets are allowed."""
    if url is None or services.settings.alerts.allow_private_targets:
        return
    refused = private_literal(url)
    if refused is not None:
        raise HTTPException(status_code=422, detail=refused)


def _check_topic(v: str | None) -> str | None:
    if v is None:
        return v
    if not v.startswith(MQTT_PREFIX) or any(c in v for c in "+#\x00") or len(v) > 500:
        raise ValueError(f"mqtt_topic must start with {MQTT_PREFIX!r} and contain no wildcards")
    return v


def _check_geofence(v: Any) -> Any:
    if v is not None and ring_from_json(v) is None:
        raise ValueError("geofence must be a GeoJSON Polygon or a ring of at least 3 [lon, lat] pairs")
    return v


class RuleFields(BaseModel):
    """Fields a rule may change."""

    name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    quantity: str | None = None
    op: Literal["above", "below"] | None = None
    threshold: float | None = None
    hysteresis: Annotated[float | None, Field(ge=0)] = None
    silence_s: Annotated[float | None, Field(ge=60, le=30 * 86_400)] = None
    geofence: Any = None
    webhook_url: str | None = None
    mqtt_topic: str | None = None
    enabled: StrictBool | None = None

    _url = field_validator("webhook_url")(_check_url)
    _topic = field_validator("mqtt_topic")(_check_topic)
    _fence = field_validator("geofence")(_check_geofence)

    @field_validator("quantity")
    @classmethod
    def _quantity(cls, v: str | None) -> str | None:
        if v is not None and not is_valid_key(v):
            raise ValueError(f"unknown quantity {v!r}")
        return v


class RuleCreate(RuleFields):
    """A new rule."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    rule_type: RuleType
    device: str | None = Field(None, description="application_id.device_id; absent: a fleet rule")
    kind: KindIn | None = Field(None, description="fleet rules: only this kind of device")
    webhook_secret: Annotated[str | None, Field(min_length=16, max_length=200)] = None

    @model_validator(mode="after")
    def _complete(self) -> RuleCreate:
        if self.rule_type == "threshold" and (self.quantity is None or self.threshold is None):
            raise ValueError("a threshold rule needs 'quantity' and 'threshold'")
        if self.rule_type == "silence" and self.silence_s is None:
            raise ValueError("a silence rule needs 'silence_s'")
        return self


class RulePublic(BaseModel):
    """A rule (its webhook secret is never shown again after creation)."""

    id: int
    owner_id: int
    name: str
    rule_type: str
    device: str | None
    kind: str | None
    quantity: str | None
    op: str | None
    threshold: float | None
    hysteresis: float
    silence_s: float | None
    geofence: Any
    webhook_url: str | None
    mqtt_topic: str | None
    enabled: bool
    created_at: datetime


class RuleCreated(RulePublic):
    """A new rule with its webhook secret: keep it to verify ``X-Lorakeet-Signature``."""

    webhook_secret: str | None


class RuleList(BaseModel):
    """Rules by id."""

    count: int
    rules: list[RulePublic]


class EventPublic(BaseModel):
    """One alert firing or clearing."""

    id: int
    rule_id: int
    device: str
    time: datetime
    state: str
    value: float | None
    message: str
    delivery: dict[str, Any]


class EventList(BaseModel):
    """Events newest first."""

    count: int
    events: list[EventPublic]


def rule_public(row: AlertRuleRow) -> RulePublic:
    """Shape a rule row (without its secret)."""
    return RulePublic(
        id=row.id,
        owner_id=row.owner_id,
        name=row.name,
        rule_type=row.rule_type,
        device=row.device,
        kind=row.kind,
        quantity=row.quantity,
        op=row.op,
        threshold=row.threshold,
        hysteresis=row.hysteresis,
        silence_s=row.silence_s,
        geofence=row.geofence,
        webhook_url=row.webhook_url,
        mqtt_topic=row.mqtt_topic,
        enabled=row.enabled,
        created_at=as_utc(row.created_at),
    )


def _event(row: AlertEventRow) -> EventPublic:
    return EventPublic(
        id=row.id,
        rule_id=row.rule_id,
        device=row.device,
        time=as_utc(row.time),
        state=row.state,
        value=row.value,
        message=row.message,
        delivery=dict(row.delivery or {}),
    )


def own_rule(services: Services, viewer: Viewer, rule_id: int) -> AlertRuleRow:
    """The rule if the viewer owns it (or is an admin), else 404."""
    row = AlertStore(services.registry).get_rule(rule_id)
    if row is None or not (viewer.is_admin or row.owner_id == viewer.account_id):
        raise HTTPException(status_code=404, detail=f"no alert rule {rule_id}")
    return row


@router.post(
    "/rules",
    status_code=status.HTTP_201_CREATED,
    summary="Create an alert rule",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def create_rule(services: ServicesDep, viewer: WriterDep, body: RuleCreate) -> RuleCreated:
    """A rule on one device you can see, or on your fleet (all devices for admins)."""
    _check_target(services, body.webhook_url)
    device = None
    if body.device is not None:
        row = visible_device(services, viewer, body.device)
        device = DeviceKey(row.application_id, row.device_id).uid
    secret = body.webhook_secret or (secrets.token_urlsafe(32) if body.webhook_url else None)
    assert viewer.account_id is not None
    limit = services.settings.api.max_alert_rules_per_account
    if (
        not viewer.is_admin
        and len(AlertStore(services.registry).list_rules(viewer.account_id, limit=limit)) >= limit
    ):
        raise HTTPException(
            status_code=409, detail=f"your account has {limit} alert rules, the most it may keep"
        )
    fields = body.model_dump(exclude={"webhook_secret", "device", "enabled"}, exclude_none=True)
    fields.setdefault("op", "above")
    fields.setdefault("hysteresis", 0.0)
    created = AlertStore(services.registry).create_rule(
        viewer.account_id,
        device=device,
        webhook_secret=secret,
        enabled=body.enabled is not False,
        key_id=viewer.key_id,
        **fields,
    )
    services.registry.audit(
        viewer.account_id, "alert_rule.create", f"alert_rule:{created.id}", {"name": body.name}
    )
    return RuleCreated(**rule_public(created).model_dump(), webhook_secret=secret)


@router.get("/rules", summary="Your alert rules", responses=problem_responses(401, 403))
def list_rules(
    services: ServicesDep,
    viewer: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RuleList:
    """Your rules by id (every rule, for admins)."""
    owner = None if viewer.is_admin else viewer.account_id
    rows = AlertStore(services.registry).list_rules(owner, limit=limit, offset=offset)
    return RuleList(count=len(rows), rules=[rule_public(r) for r in rows])


@router.get("/rules/{rule_id}", summary="One alert rule", responses=problem_responses(401, 403, 404))
def get_rule(services: ServicesDep, viewer: ReaderDep, rule_id: int) -> RulePublic:
    """A rule you own."""
    return rule_public(own_rule(services, viewer, rule_id))


@router.patch(
    "/rules/{rule_id}", summary="Change an alert rule", responses=problem_responses(401, 403, 404, 422)
)
def update_rule(services: ServicesDep, viewer: WriterDep, rule_id: int, body: RuleFields) -> RulePublic:
    """Change the given fields (an explicit null clears webhook_url, mqtt_topic or geofence)."""
    own_rule(services, viewer, rule_id)
    _check_target(services, body.webhook_url)
    changes = body.model_dump(exclude_unset=True)
    for k in ("name", "enabled", "hysteresis", "op"):
        if k in changes and changes[k] is None:
            raise HTTPException(status_code=422, detail=f"{k} cannot be null")
    row = AlertStore(services.registry).update_rule(rule_id, changes)
    assert row is not None
    services.registry.audit(viewer.account_id, "alert_rule.update", f"alert_rule:{rule_id}", changes)
    return rule_public(row)


@router.delete(
    "/rules/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an alert rule",
    responses=problem_responses(401, 403, 404),
)
def delete_rule(services: ServicesDep, viewer: WriterDep, rule_id: int) -> Response:
    """Remove a rule; its history stays."""
    own_rule(services, viewer, rule_id)
    AlertStore(services.registry).delete_rule(rule_id)
    services.registry.audit(viewer.account_id, "alert_rule.delete", f"alert_rule:{rule_id}")
    return Response(status_code=204)


@router.get("/events", summary="Alert history", responses=problem_responses(401, 403, 422))
def list_events(
    services: ServicesDep,
    viewer: ReaderDep,
    rule_id: int | None = None,
    device: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> EventList:
    """Firings and clearings of your rules, newest first, with their delivery outcomes."""
    owner = None if viewer.is_admin else viewer.account_id
    rows = AlertStore(services.registry).list_events(
        EventQuery(owner_id=owner, rule_id=rule_id, device=device), limit=limit, offset=offset
    )
    return EventList(count=len(rows), events=[_event(r) for r in rows])
