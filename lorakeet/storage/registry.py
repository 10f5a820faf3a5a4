"""The device registry (SQLAlchemy 2): which devices exist, what they are, how to decode them.

SQLite by default, PostgreSQL when several API or bridge processes share it. Devices the
network delivers before anyone registered them are auto-registered as unowned, so no
uplink is ever dropped for being unknown.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String, UniqueConstraint, create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from .records import DeviceKey

KINDS = ("bin", "boat", "streetlight", "other")


class Base(DeclarativeBase):
    """Declarative base of every registry table."""


def _now() -> datetime:
    return datetime.now(UTC)


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
    owner_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    licence: Mapped[str | None] = mapped_column(String(100), default=None)
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(16), default="registered")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the bridge needs to know about a device."""

    key: DeviceKey
    kind: str = "other"
    decoder: str | None = None
    metadata: Mapping[str, object] = field(default_factory=dict)
    owner_id: int | None = None
    visibility: str = "private"
    name: str | None = None

    @classmethod
    def from_row(cls, row: DeviceRow) -> DeviceInfo:
        """Freeze an ORM row."""
        return cls(
            key=DeviceKey(row.application_id, row.device_id),
            kind=row.kind,
            decoder=row.decoder,
            metadata=dict(row.meta or {}),
            owner_id=row.owner_id,
            visibility=row.visibility,
            name=row.name,
        )


def make_engine(url: str) -> Engine:
    """An engine for a registry URL (``sqlite:///path`` or ``postgresql+psycopg://...``)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    return create_engine(url, **kwargs)


class Registry:
    """Device registry operations; safe to share between threads."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._lock = threading.Lock()
        if create:
            Base.metadata.create_all(self.engine)

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()

    def session(self) -> Session:
        """A new ORM session."""
        return self.sessions()

    def get_row(self, key: DeviceKey) -> DeviceRow | None:
        """The device's registry row (detached), or None."""
        with self.session() as s:
            return s.scalar(
                select(DeviceRow).where(
                    DeviceRow.application_id == key.application_id, DeviceRow.device_id == key.device_id
                )
            )

    def get_device(self, key: DeviceKey) -> DeviceInfo | None:
        """The device, or None."""
        row = self.get_row(key)
        return DeviceInfo.from_row(row) if row else None

    def ensure_device(self, key: DeviceKey, dev_eui: str | None = None) -> DeviceInfo:
        """The device, auto-registering it as unowned when the network is first to see it."""
        found = self.get_device(key)
        if found is not None:
            return found
        with self.session() as s:
            s.add(
                DeviceRow(
                    application_id=key.application_id,
                    device_id=key.device_id,
                    dev_eui=dev_eui,
                    source="auto",
                    meta={},
                    tags=[],
                )
            )
            try:
                s.commit()
            except IntegrityError:  # another process registered it in the meantime
                s.rollback()
        found = self.get_device(key)
        assert found is not None
        return found

    def upsert_device(
        self,
        key: DeviceKey,
        *,
        kind: str = "other",
        decoder: str | None = None,
        metadata: Mapping[str, object] | None = None,
        name: str | None = None,
        visibility: str = "private",
        latitude: float | None = None,
        longitude: float | None = None,
        owner_id: int | None = None,
    ) -> DeviceInfo:
        """Create or replace a device's registration (used by the demo and importers)."""
        with self.session() as s:
            row = s.scalar(
                select(DeviceRow).where(
                    DeviceRow.application_id == key.application_id, DeviceRow.device_id == key.device_id
                )
            )
            if row is None:
                row = DeviceRow(application_id=key.application_id, device_id=key.device_id, tags=[])
                s.add(row)
            row.kind = kind
            row.decoder = decoder
            row.meta = dict(metadata or {})
            row.name = name
            row.visibility = visibility
            row.latitude = latitude
            row.longitude = longitude
            row.owner_id = owner_id
            row.source = "registered"
            s.commit()
            return DeviceInfo.from_row(row)

    def list_devices(
        self, *, kind: str | None = None, limit: int = 100, offset: int = 0
    ) -> Sequence[DeviceRow]:
        """Devices ordered by application and device id."""
        with self.session() as s:
            q = select(DeviceRow).order_by(DeviceRow.application_id, DeviceRow.device_id)
            if kind:
                q = q.where(DeviceRow.kind == kind)
            return list(s.scalars(q.limit(limit).offset(offset)))
