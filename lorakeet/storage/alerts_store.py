"""Registry tables for alerts and downlinks: rules, per-device rule state, history, downlink log.

They share the registry's declarative ``Base`` and database; migration 0003 creates them.
:class:`AlertStore` and :class:`DownlinkLog` work through a :class:`Registry`'s sessions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from .records import DeviceKey
from .registry import AccountRow, Base, Registry, as_utc

RULE_TYPES = ("threshold", "silence", "geofence", "low_battery")


def _now() -> datetime:
    return datetime.now(UTC)


class AlertRuleRow(Base):
    """An alert rule on one device (``device``) or on a fleet (``kind``, or every kind)."""

    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    device: Mapped[str | None] = mapped_column(String(130), default=None, index=True)
    kind: Mapped[str | None] = mapped_column(String(16), default=None)
    rule_type: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[str | None] = mapped_column(String(64), default=None)
    op: Mapped[str | None] = mapped_column(String(8), default=None)
    threshold: Mapped[float | None] = mapped_column(Float, default=None)
    hysteresis: Mapped[float] = mapped_column(Float, default=0.0)
    silence_s: Mapped[float | None] = mapped_column(Float, default=None)
    geofence: Mapped[Any] = mapped_column(JSON, default=None, nullable=True)
    webhook_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    webhook_secret: Mapped[str | None] = mapped_column(String(200), default=None)
    mqtt_topic: Mapped[str | None] = mapped_column(String(500), default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    # The API key that created the rule: its scopes, at each evaluation, bound what the rule
    # may watch (None: a rule from before keys were recorded; the owner's own devices only).
    key_id: Mapped[int | None] = mapped_column(Integer, default=None, nullable=True)


class AlertStateRow(Base):
    """Whether a rule is firing for a device (so a restart neither repeats nor forgets alerts)."""

    __tablename__ = "alert_state"

    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"), primary_key=True)
    device: Mapped[str] = mapped_column(String(130), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class AlertEventRow(Base):
    """One alert firing or clearing, with how its delivery went."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(Integer, index=True)
    owner_id: Mapped[int] = mapped_column(Integer, index=True)
    device: Mapped[str] = mapped_column(String(130), index=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    state: Mapped[str] = mapped_column(String(8))  # "fired" | "cleared"
    value: Mapped[float | None] = mapped_column(Float, default=None)
    message: Mapped[str] = mapped_column(String(500))
    delivery: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DownlinkRow(Base):
    """A downlink queued through the network server (counted against TTN's fair-use limit)."""

    __tablename__ = "downlinks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    account_id: Mapped[int | None] = mapped_column(Integer, default=None)
    f_port: Mapped[int] = mapped_column(Integer)
    payload_hex: Mapped[str] = mapped_column(String(512))
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    correlation_id: Mapped[str] = mapped_column(String(100))


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Which alert events a listing returns."""

    owner_id: int | None = None
    rule_id: int | None = None
    device: str | None = None


class AlertStore:
    """Alert rules, state and history in the registry database; thread-safe like the registry."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    # -- rules ---------------------------------------------------------------------------------

    def create_rule(self, owner_id: int, **fields: Any) -> AlertRuleRow:
        """Store a new rule."""
        with self.registry.session() as s:
            row = AlertRuleRow(owner_id=owner_id, **fields)
            s.add(row)
            s.commit()
            return row

    def get_rule(self, rule_id: int) -> AlertRuleRow | None:
        """A rule by id."""
        with self.registry.session() as s:
            return s.get(AlertRuleRow, rule_id)

    def list_rules(
        self, owner_id: int | None = None, *, enabled_only: bool = False, limit: int = 1000, offset: int = 0
    ) -> list[AlertRuleRow]:
        """Rules by id; of one owner when given."""
        q = select(AlertRuleRow).order_by(AlertRuleRow.id)
        if owner_id is not None:
            q = q.where(AlertRuleRow.owner_id == owner_id)
        if enabled_only:
            q = q.where(AlertRuleRow.enabled.is_(True))
        with self.registry.session() as s:
            return list(s.scalars(q.limit(limit).offset(offset)))

    def update_rule(self, rule_id: int, changes: Mapping[str, Any]) -> AlertRuleRow | None:
        """Apply column changes; None when the rule does not exist."""
        with self.registry.session() as s:
            row = s.get(AlertRuleRow, rule_id)
            if row is None:
                return None
            for k, v in changes.items():
                setattr(row, k, v)
            s.commit()
            return row

    def delete_rule(self, rule_id: int) -> bool:
        """Remove a rule and its state (its history stays)."""
        with self.registry.session() as s:
            s.execute(delete(AlertStateRow).where(AlertStateRow.rule_id == rule_id))
            n = s.execute(delete(AlertRuleRow).where(AlertRuleRow.id == rule_id)).rowcount  # type: ignore[attr-defined]
            s.commit()
            return bool(n)

    def forget_device(self, device: str) -> int:
        """Remove every rule on one device and their state (the device was erased or deleted).

        A device registered later under the same id starts without rules. Returns how many
        rules were removed; their history stays with their owners.
        """
        with self.registry.session() as s:
            ids = list(s.scalars(select(AlertRuleRow.id).where(AlertRuleRow.device == device)))
            s.execute(delete(AlertStateRow).where(AlertStateRow.device == device))
            if ids:
                s.execute(delete(AlertRuleRow).where(AlertRuleRow.id.in_(ids)))
            s.commit()
            return len(ids)

    def drop_foreign_rules(self, device: str, owner_id: int | None) -> int:
        """Remove other accounts' rules on a device that has become private.

        Rules of the device's owner and of admin accounts stay. Returns how many were removed.
        """
        with self.registry.session() as s:
            admins = select(AccountRow.id).where(AccountRow.is_admin.is_(True))
            q = select(AlertRuleRow.id).where(
                AlertRuleRow.device == device, AlertRuleRow.owner_id.not_in(admins)
            )
            if owner_id is not None:
                q = q.where(AlertRuleRow.owner_id != owner_id)
            ids = list(s.scalars(q))
            if ids:
                s.execute(delete(AlertStateRow).where(AlertStateRow.rule_id.in_(ids)))
                s.execute(delete(AlertRuleRow).where(AlertRuleRow.id.in_(ids)))
            s.commit()
            return len(ids)

    # -- state ---------------------------------------------------------------------------------

    def active_states(self) -> set[tuple[int, str]]:
        """(rule id, device) pairs currently firing."""
        with self.registry.session() as s:
            rows = s.execute(select(AlertStateRow.rule_id, AlertStateRow.device).where(AlertStateRow.active))
            return {(r, d) for r, d in rows}

    def set_state(self, rule_id: int, device: str, active: bool) -> None:
        """Record whether a rule fires for a device."""
        with self.registry.session() as s:
            row = s.get(AlertStateRow, (rule_id, device))
            if row is None:
                s.add(AlertStateRow(rule_id=rule_id, device=device, active=active))
            else:
                row.active, row.changed_at = active, _now()
            s.commit()

    # -- history -------------------------------------------------------------------------------

    def add_event(
        self, rule: AlertRuleRow, device: str, state: str, value: float | None, message: str, time_ns: int
    ) -> AlertEventRow:
        """Record a firing or clearing."""
        with self.registry.session() as s:
            row = AlertEventRow(
                rule_id=rule.id,
                owner_id=rule.owner_id,
                device=device,
                time=datetime.fromtimestamp(time_ns / 1e9, UTC),
                state=state,
                value=value,
                message=message[:500],
                delivery={},
            )
            s.add(row)
            s.commit()
            return row

    def set_delivery(self, event_id: int, channel: str, outcome: Mapping[str, Any]) -> None:
        """Record how delivering an event over ``channel`` ("webhook", "mqtt") went."""
        with self.registry.session() as s:
            row = s.get(AlertEventRow, event_id)
            if row is None:
                return
            row.delivery = {**(row.delivery or {}), channel: dict(outcome)}
            s.commit()

    def list_events(self, q: EventQuery, *, limit: int = 100, offset: int = 0) -> list[AlertEventRow]:
        """Events newest first."""
        sel = select(AlertEventRow).order_by(AlertEventRow.id.desc())
        if q.owner_id is not None:
            sel = sel.where(AlertEventRow.owner_id == q.owner_id)
        if q.rule_id is not None:
            sel = sel.where(AlertEventRow.rule_id == q.rule_id)
        if q.device is not None:
            sel = sel.where(AlertEventRow.device == q.device)
        with self.registry.session() as s:
            return list(s.scalars(sel.limit(limit).offset(offset)))


class DownlinkLog:
    """Downlinks sent per device, for the fair-use limit and the history."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def record(
        self,
        key: DeviceKey,
        *,
        account_id: int | None,
        f_port: int,
        payload: bytes,
        confirmed: bool,
        correlation_id: str,
        at: datetime | None = None,
    ) -> DownlinkRow:
        """Count a downlink."""
        with self.registry.session() as s:
            row = DownlinkRow(
                application_id=key.application_id,
                device_id=key.device_id,
                time=at or _now(),
                account_id=account_id,
                f_port=f_port,
                payload_hex=payload.hex(),
                confirmed=confirmed,
                correlation_id=correlation_id,
            )
            s.add(row)
            s.commit()
            return row

    def since(self, key: DeviceKey, since: datetime) -> list[datetime]:
        """Times of the device's downlinks after ``since``, oldest first."""
        with self.registry.session() as s:
            q = (
                select(DownlinkRow.time)
                .where(
                    DownlinkRow.application_id == key.application_id,
                    DownlinkRow.device_id == key.device_id,
                    DownlinkRow.time > since,
                )
                .order_by(DownlinkRow.time)
            )
            return [as_utc(t) for t in s.scalars(q)]

    def recent(self, key: DeviceKey, limit: int = 50) -> list[DownlinkRow]:
        """The device's downlinks, newest first."""
        with self.registry.session() as s:
            q = (
                select(DownlinkRow)
                .where(
                    DownlinkRow.application_id == key.application_id, DownlinkRow.device_id == key.device_id
                )
                .order_by(DownlinkRow.id.desc())
                .limit(limit)
            )
            return list(s.scalars(q))

    def count(self) -> int:
        """Every downlink recorded."""
        with self.registry.session() as s:
            return int(s.scalar(select(func.count()).select_from(DownlinkRow)) or 0)
