"""What the registry hands out and takes in: frozen records, filters, errors, fixed vocabularies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..records import DeviceKey
from .entities import Device

KINDS = ("bin", "boat", "streetlight", "other")
VISIBILITIES = ("public", "private")


class RegistryError(Exception):
    """Base of the registry's own errors."""


class ConflictError(RegistryError):
    """A row with the same unique key exists already (email, device id, ...)."""


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
    brand_id: str | None = None
    model_id: str | None = None
    field_map: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def from_device(cls, device: Device) -> DeviceInfo:
        """The bridge's part of a device's registration."""
        return cls(
            key=device.key,
            kind=device.kind,
            decoder=device.decoder,
            metadata=dict(device.metadata),
            owner_id=device.owner_id,
            visibility=device.visibility,
            name=device.name,
            brand_id=device.brand_id,
            model_id=device.model_id,
            field_map=dict(device.field_map),
        )


@dataclass(frozen=True, slots=True)
class KeyLookup:
    """A live API key found by its hash, with what its account may do."""

    key_id: int
    account_id: int
    key_hash: str
    scopes: tuple[str, ...]
    is_admin: bool


@dataclass(frozen=True, slots=True)
class DeviceFilter:
    """Which devices a listing returns; ``viewer_id``/``viewer_admin`` hide others' private ones.

    Pending devices (registered in an application their owner has not proved) are left out
    unless ``include_pending``: only listings of registrations ask for them, never views of data.
    """

    kind: str | None = None
    tag: str | None = None
    visibility: str | None = None
    owner_id: int | None = None
    application_ids: tuple[str, ...] | None = None
    viewer_id: int | None = None
    viewer_admin: bool = True
    include_pending: bool = False  # devices of unproved claims: registrations only, never their data
