"""The registry's tables (SQLAlchemy 2 declarative). Alembic migrations import this module only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ..records import DeviceKey


class Base(DeclarativeBase):
    """Declarative base of every registry table."""


def now_utc() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


def as_utc(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes: they are UTC."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


class AccountRow(Base):
    """A person or group using the API."""

    __tablename__ = "accounts"
    __table_args__ = ({"sqlite_autoincrement": True},)  # an erased account's id is never given again

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    ttn_application_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now_utc)


class ApiKeyRow(Base):
    """An API key: only its SHA-256 is stored."""

    __tablename__ = "api_keys"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(8))
    key_hash: Mapped[str] = mapped_column("hash", String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now_utc)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class DeviceRow(Base):
    """A registered (or auto-registered) device."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("application_id", "device_id", name="uq_devices_app_dev"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    dev_eui: Mapped[str | None] = mapped_column(String(16), default=None)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    kind: Mapped[str] = mapped_column(String(16), default="other")
    decoder: Mapped[str | None] = mapped_column(String(100), default=None)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    # ON DELETE CASCADE is done in code (delete_account) so stored readings are purged too.
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), default=None, index=True
    )
    visibility: Mapped[str] = mapped_column(String(16), default="private", index=True)
    licence: Mapped[str | None] = mapped_column(String(100), default=None)
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(16), default="registered")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now_utc, onupdate=now_utc)
    # The device model (Device Repository ids, from TTS version_ids or set by hand) and the
    # device's own field-map rules, which win over its model's ({path: rule or null}).
    brand_id: Mapped[str | None] = mapped_column(String(64), default=None)
    model_id: Mapped[str | None] = mapped_column(String(64), default=None)
    hardware_version: Mapped[str | None] = mapped_column(String(100), default=None)
    firmware_version: Mapped[str | None] = mapped_column(String(100), default=None)
    band_id: Mapped[str | None] = mapped_column(String(64), default=None)
    field_map: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Registered in an application its owner has not proved: no one but admins sees its data.
    pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    @property
    def key(self) -> DeviceKey:
        """The device's network key."""
        return DeviceKey(self.application_id, self.device_id)


class CodecRow(Base):
    """A user-supplied JavaScript payload codec (``js:<id>`` as a device's decoder)."""

    __tablename__ = "codecs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), default=None, index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text)
    examples: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now_utc)


class ApplicationSecretRow(Base):
    """The webhook secret (SHA-256) of one network application."""

    __tablename__ = "application_secrets"

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_hash: Mapped[str] = mapped_column("secret", String(64))
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), default=None, index=True
    )


class AuditRow(Base):
    """One change to the registry: who, what, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now_utc, index=True)
    account_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ModelMapRow(Base):
    """A user's map of one device model (kind, decoder, field rules) over the shipped one.

    ``owner_id`` None: shared, for every device of the model (set by admins); otherwise it
    applies to that account's devices and wins over the shared one.
    """

    __tablename__ = "model_maps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), default=None, index=True
    )
    brand_id: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    kind: Mapped[str | None] = mapped_column(String(16), default=None)
    decoder: Mapped[str | None] = mapped_column(String(100), default=None)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now_utc, onupdate=now_utc)


class ApplicationRow(Base):
    """A network application and the account that proved control of it (``proof``: how)."""

    __tablename__ = "applications"

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    proof: Mapped[str] = mapped_column(String(16))
    proved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now_utc)


class ApplicationGrantRow(Base):
    """An account the application's owner lets register devices in it."""

    __tablename__ = "application_grants"

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    granted_by: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now_utc)


class ApplicationClaimRow(Base):
    """An account's unproven claim on an application, with the ingest secret that may prove it."""

    __tablename__ = "application_claims"

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    secret_hash: Mapped[str | None] = mapped_column(String(64), default=None, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now_utc)
