"""What the registry takes in: typed changes to a device or an account.

A field left at ``UNSET`` is not touched (on creation: the column's default); ``None`` clears it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .tables import AccountRow, DeviceRow


class Unset(enum.Enum):
    """The type of ``UNSET``."""

    UNSET = "unset"


UNSET: Final = Unset.UNSET


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceChanges:
    """Fields of a device to set."""

    dev_eui: str | Unset | None = UNSET
    name: str | Unset | None = UNSET
    kind: str | Unset = UNSET
    decoder: str | Unset | None = UNSET
    metadata: Mapping[str, Any] | Unset = UNSET
    owner_id: int | Unset | None = UNSET
    visibility: str | Unset = UNSET
    licence: str | Unset | None = UNSET
    latitude: float | Unset | None = UNSET
    longitude: float | Unset | None = UNSET
    tags: Sequence[str] | Unset = UNSET
    source: str | Unset = UNSET
    brand_id: str | Unset | None = UNSET
    model_id: str | Unset | None = UNSET
    field_map: Mapping[str, Any] | Unset = UNSET
    pending: bool | Unset = UNSET

    def apply(self, row: DeviceRow) -> None:
        """Set the given fields on an ORM row."""
        if not isinstance(self.dev_eui, Unset):
            row.dev_eui = self.dev_eui
        if not isinstance(self.name, Unset):
            row.name = self.name
        if not isinstance(self.kind, Unset):
            row.kind = self.kind
        if not isinstance(self.decoder, Unset):
            row.decoder = self.decoder
        if not isinstance(self.metadata, Unset):
            row.meta = dict(self.metadata)
        if not isinstance(self.owner_id, Unset):
            row.owner_id = self.owner_id
        if not isinstance(self.visibility, Unset):
            row.visibility = self.visibility
        if not isinstance(self.licence, Unset):
            row.licence = self.licence
        if not isinstance(self.latitude, Unset):
            row.latitude = self.latitude
        if not isinstance(self.longitude, Unset):
            row.longitude = self.longitude
        if not isinstance(self.tags, Unset):
            row.tags = list(self.tags)
        if not isinstance(self.source, Unset):
            row.source = self.source
        if not isinstance(self.brand_id, Unset):
            row.brand_id = self.brand_id
        if not isinstance(self.model_id, Unset):
            row.model_id = self.model_id
        if not isinstance(self.field_map, Unset):
            row.field_map = dict(self.field_map)
        if not isinstance(self.pending, Unset):
            row.pending = self.pending


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountChanges:
    """Fields of an account to set."""

    name: str | Unset = UNSET
    ttn_application_ids: Sequence[str] | Unset = UNSET
    is_admin: bool | Unset = UNSET

    def apply(self, row: AccountRow) -> None:
        """Set the given fields on an ORM row."""
        if not isinstance(self.name, Unset):
            row.name = self.name
        if not isinstance(self.ttn_application_ids, Unset):
            row.ttn_application_ids = list(self.ttn_application_ids)
        if not isinstance(self.is_admin, Unset):
            row.is_admin = self.is_admin
