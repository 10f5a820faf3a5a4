"""What the registry hands out: frozen records, detached from the database, in the API's words.

Every repository method returns these, never ORM rows: a caller cannot change a row by accident
(cached ones are shared between threads), and column names stay inside ``tables``
(``DeviceRow.meta`` is ``Device.metadata``). Datetimes are timezone-aware (UTC).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..records import DeviceKey
from .tables import (
    AccountRow,
    ApiKeyRow,
    ApplicationSecretRow,
    AuditRow,
    CodecRow,
    DeviceRow,
    ModelMapRow,
    as_utc,
)


def _utc(dt: datetime | None) -> datetime | None:
    return as_utc(dt) if dt is not None else None


@dataclass(frozen=True, slots=True)
class Device:
    """A registered (or auto-registered) device."""

    application_id: str
    device_id: str
    dev_eui: str | None = None
    name: str | None = None
    kind: str = "other"
    decoder: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    owner_id: int | None = None
    visibility: str = "private"
    licence: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    tags: tuple[str, ...] = ()
    source: str = "registered"
    created_at: datetime | None = None
    updated_at: datetime | None = None
    brand_id: str | None = None
    model_id: str | None = None
    hardware_version: str | None = None
    firmware_version: str | None = None
    band_id: str | None = None
    field_map: Mapping[str, Any] = field(default_factory=dict)
    pending: bool = False

    @property
    def key(self) -> DeviceKey:
        """The device's network key."""
        return DeviceKey(self.application_id, self.device_id)

    @classmethod
    def from_row(cls, row: DeviceRow) -> Device:
        """Freeze an ORM row."""
        return cls(
            application_id=row.application_id,
            device_id=row.device_id,
            dev_eui=row.dev_eui,
            name=row.name,
            kind=row.kind,
            decoder=row.decoder,
            metadata=dict(row.meta or {}),
            owner_id=row.owner_id,
            visibility=row.visibility,
            licence=row.licence,
            latitude=row.latitude,
            longitude=row.longitude,
            tags=tuple(row.tags or ()),
            source=row.source,
            created_at=_utc(row.created_at),
            updated_at=_utc(row.updated_at),
            brand_id=row.brand_id,
            model_id=row.model_id,
            hardware_version=row.hardware_version,
            firmware_version=row.firmware_version,
            band_id=row.band_id,
            field_map=dict(row.field_map or {}),
            pending=bool(row.pending),
        )


@dataclass(frozen=True, slots=True)
class Account:
    """A person or group using the API."""

    id: int
    name: str
    email: str
    ttn_application_ids: tuple[str, ...] = ()
    is_admin: bool = False
    created_at: datetime | None = None

    @classmethod
    def from_row(cls, row: AccountRow) -> Account:
        """Freeze an ORM row."""
        return cls(
            id=row.id,
            name=row.name,
            email=row.email,
            ttn_application_ids=tuple(row.ttn_application_ids or ()),
            is_admin=bool(row.is_admin),
            created_at=_utc(row.created_at),
        )


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key: its SHA-256 (hex), never the key itself."""

    id: int
    account_id: int
    name: str
    prefix: str
    key_hash: str
    scopes: tuple[str, ...] = ()
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> ApiKey:
        """Freeze an ORM row."""
        return cls(
            id=row.id,
            account_id=row.account_id,
            name=row.name,
            prefix=row.prefix,
            key_hash=row.key_hash,
            scopes=tuple(row.scopes or ()),
            created_at=_utc(row.created_at),
            last_used_at=_utc(row.last_used_at),
            revoked_at=_utc(row.revoked_at),
        )


@dataclass(frozen=True, slots=True)
class Codec:
    """A user-supplied JavaScript payload codec (``js:<id>`` as a device's decoder)."""

    id: int
    owner_id: int | None
    name: str
    source: str
    examples: tuple[Any, ...] = ()
    created_at: datetime | None = None

    @classmethod
    def from_row(cls, row: CodecRow) -> Codec:
        """Freeze an ORM row."""
        return cls(
            id=row.id,
            owner_id=row.owner_id,
            name=row.name,
            source=row.source,
            examples=tuple(row.examples or ()),
            created_at=_utc(row.created_at),
        )


@dataclass(frozen=True, slots=True)
class ApplicationSecret:
    """The webhook secret (SHA-256, hex) of one network application."""

    application_id: str
    secret_hash: str
    owner_id: int | None = None

    @classmethod
    def from_row(cls, row: ApplicationSecretRow) -> ApplicationSecret:
        """Freeze an ORM row."""
        return cls(row.application_id, row.secret_hash, row.owner_id)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One change to the registry: who, what, when."""

    id: int
    time: datetime
    account_id: int | None
    action: str
    target: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: AuditRow) -> AuditRecord:
        """Freeze an ORM row."""
        return cls(row.id, as_utc(row.time), row.account_id, row.action, row.target, dict(row.detail or {}))


@dataclass(frozen=True, slots=True)
class ModelMap:
    """A user's map of one device model over the shipped one (``owner_id`` None: shared)."""

    id: int
    owner_id: int | None
    brand_id: str
    model_id: str
    name: str | None = None
    kind: str | None = None
    decoder: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row: ModelMapRow) -> ModelMap:
        """Freeze an ORM row."""
        return cls(
            id=row.id,
            owner_id=row.owner_id,
            brand_id=row.brand_id,
            model_id=row.model_id,
            name=row.name,
            kind=row.kind,
            decoder=row.decoder,
            fields=dict(row.fields or {}),
            updated_at=_utc(row.updated_at),
        )


@dataclass(frozen=True, slots=True)
class Application:
    """A network application, who proved control of it and how, and whom its owner let in.

    ``proof``: ``ingest`` (a first uplink came with the owner's ingest secret), ``tts_key``
    (The Things Stack confirmed an API key of the application), ``admin`` (an admin assigned
    it), ``migrated`` (proved before applications were recorded).
    """

    application_id: str
    owner_id: int | None
    proof: str
    proved_at: datetime | None = None
    grants: tuple[int, ...] = ()
    claims: tuple[int, ...] = ()
