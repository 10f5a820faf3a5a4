"""Devices: registration, auto-registration of devices the network sees first, listings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lorakeet.decoders.models import NETWORK, Model, catalog

from ..records import DeviceKey, DeviceModel
from .changes import DeviceChanges
from .database import Database
from .entities import Device
from .model import ConflictError, DeviceFilter, DeviceInfo
from .model_maps import model_in_session
from .tables import ApplicationRow, DeviceRow


def model_of(s: Session, owner_id: int | None, seen: DeviceModel) -> Model | None:
    """The model an uplink names: by Device Repository ids, else by ChirpStack profile name."""
    if seen.brand_id and seen.model_id:
        return model_in_session(s, seen.brand_id, seen.model_id, owner_id)
    by_profile = catalog().match_profile(seen.profile_name)
    if by_profile is None:
        return None
    return model_in_session(s, by_profile.brand_id, by_profile.model_id, owner_id)


def _record_model(
    row: DeviceRow, seen: DeviceModel | None, known: Model | None, fresh: bool, decoded: bool
) -> None:
    if seen is None:
        return
    if row.brand_id is None:
        row.brand_id = (known.brand_id if known else seen.brand_id) or None
        row.model_id = (known.model_id if known else seen.model_id) or None
        row.hardware_version = seen.hardware_version
        row.firmware_version = seen.firmware_version
        row.band_id = seen.band_id
    if fresh and known is not None:
        row.kind = known.kind
        if decoded:
            row.decoder = NETWORK
        elif known.decoder != NETWORK:
            row.decoder = known.decoder


def application_owner(s: Session, application_id: str) -> int | None:
    """The account that proved control of the application, or None."""
    owner: int | None = s.scalar(
        select(ApplicationRow.owner_id).where(ApplicationRow.application_id == application_id)
    )
    return owner


def _device_where(key: DeviceKey) -> Any:
    return (DeviceRow.application_id == key.application_id) & (DeviceRow.device_id == key.device_id)


class DeviceRepository(Database):
    """Registered and auto-registered devices."""

    def get_row(self, key: DeviceKey) -> Device | None:
        """The device's registration, or None."""
        with self.session() as s:
            row = s.scalar(select(DeviceRow).where(_device_where(key)))
            return Device.from_row(row) if row is not None else None

    def lookup_device(self, key: DeviceKey) -> Device | None:
        """``get_row`` through the lookup cache (see the package docstring)."""
        c = self.cache
        return c.read_through(
            lambda: c.device(key), lambda: self.get_row(key), lambda g, row: c.put_device(g, key, row)
        )

    def get_device(self, key: DeviceKey) -> DeviceInfo | None:
        """What the bridge needs to know about the device, or None."""
        found = self.get_row(key)
        return DeviceInfo.from_device(found) if found else None

    def devices_changed_since(self, since: datetime | None) -> list[DeviceInfo]:
        """Devices whose registration changed at or after ``since`` (None: every device)."""
        q = select(DeviceRow)
        if since is not None:
            q = q.where(DeviceRow.updated_at >= since)
        with self.session() as s:
            return [DeviceInfo.from_device(Device.from_row(r)) for r in s.scalars(q)]

    def device_stamps_since(self, since: datetime | None) -> dict[tuple[str, str], datetime]:
        """When each device changed last, for those changed at or after ``since`` (keys only: cheap)."""
        q = select(DeviceRow.application_id, DeviceRow.device_id, DeviceRow.updated_at)
        if since is not None:
            q = q.where(DeviceRow.updated_at >= since)
        with self.session() as s:
            return {(a, d): t for a, d, t in s.execute(q)}

    def device_count(self) -> int:
        """How many devices are registered."""
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(DeviceRow)) or 0)

    def ensure_device(
        self,
        key: DeviceKey,
        dev_eui: str | None = None,
        model: DeviceModel | None = None,
        decoded: bool = False,
    ) -> DeviceInfo:
        """The device, auto-registering it when the network is first to see it: it belongs to the
        owner of its application (unowned while no one has proved the application).

        ``model`` is what the uplink says the device is (TTS ``version_ids``, a ChirpStack
        profile): a new device gets its model's kind and decoder (``network`` when the uplink
        carries a decoded object, ``decoded``). A known device without model ids gets them
        recorded, and an auto-registered one still at the defaults takes its model's kind
        and decoder.
        """
        found = self.get_device(key)
        if found is not None and (
            model is None
            or found.brand_id
            or (not model.brand_id and catalog().match_profile(model.profile_name) is None)
        ):
            return found
        with self.session() as s:
            row = s.scalar(select(DeviceRow).where(_device_where(key)))
            # a device the network delivers first belongs to its application's owner (if proved)
            owner = row.owner_id if row else application_owner(s, key.application_id)
            known = model_of(s, owner, model) if model is not None else None
            if row is None:
                row = DeviceRow(
                    application_id=key.application_id,
                    device_id=key.device_id,
                    dev_eui=dev_eui,
                    owner_id=owner,
                    source="auto",
                    meta={},
                    tags=[],
                    field_map={},
                )
                s.add(row)
                fresh = True
            else:
                fresh = row.source == "auto" and row.kind == "other" and row.decoder is None
            _record_model(row, model, known, fresh, decoded)
            try:
                s.commit()
            except IntegrityError:  # another process registered it in the meantime
                s.rollback()
        self.cache.clear()
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
        changes = DeviceChanges(
            kind=kind,
            decoder=decoder,
            metadata=dict(metadata or {}),
            name=name,
            visibility=visibility,
            latitude=latitude,
            longitude=longitude,
            owner_id=owner_id,
            source="registered",
        )
        with self.session() as s:
            row = s.scalar(select(DeviceRow).where(_device_where(key)))
            if row is None:
                row = DeviceRow(application_id=key.application_id, device_id=key.device_id, tags=[])
                s.add(row)
            changes.apply(row)
            s.commit()
            self.cache.clear()
            return DeviceInfo.from_device(Device.from_row(row))

    def create_device(self, key: DeviceKey, fields: DeviceChanges) -> Device:
        """Register a new device; ConflictError if the id is taken (auto-registered ones: claim)."""
        with self.session() as s:
            row = DeviceRow(application_id=key.application_id, device_id=key.device_id, meta={}, tags=[])
            fields.apply(row)
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                raise ConflictError(f"device {key.uid!r} exists already") from None
            self.cache.clear()
            return Device.from_row(row)

    def update_device(self, key: DeviceKey, changes: DeviceChanges) -> Device | None:
        """Apply changes to a device; None when it does not exist."""
        with self.session() as s:
            row = s.scalar(select(DeviceRow).where(_device_where(key)))
            if row is None:
                return None
            changes.apply(row)
            s.commit()
            self.cache.clear()
            return Device.from_row(row)

    def delete_device(self, key: DeviceKey) -> bool:
        """Remove a device's registration (its readings are the store's business)."""
        with self.session() as s:
            n = s.execute(delete(DeviceRow).where(_device_where(key))).rowcount  # type: ignore[attr-defined]
            s.commit()
            self.cache.clear()
            return bool(n)

    def _device_query(self, f: DeviceFilter) -> Any:
        q = select(DeviceRow)
        if f.kind:
            q = q.where(DeviceRow.kind == f.kind)
        if f.visibility:
            q = q.where(DeviceRow.visibility == f.visibility)
        if f.owner_id is not None:
            q = q.where(DeviceRow.owner_id == f.owner_id)
        if f.application_ids is not None:
            q = q.where(DeviceRow.application_id.in_(f.application_ids))
        if not f.include_pending:
            q = q.where(DeviceRow.pending.is_(False))
        if not f.viewer_admin:
            visible = DeviceRow.visibility == "public"
            if f.viewer_id is not None:
                visible = or_(visible, DeviceRow.owner_id == f.viewer_id)
            q = q.where(visible)
        return q

    def find_devices(self, f: DeviceFilter, *, limit: int = 100, offset: int = 0) -> tuple[list[Device], int]:
        """A page of devices matching a filter, ordered by id, and the total count."""
        q = self._device_query(f).order_by(DeviceRow.application_id, DeviceRow.device_id)
        with self.session() as s:
            if f.tag is None:
                total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
                return [Device.from_row(r) for r in s.scalars(q.limit(limit).offset(offset))], int(total)
            # Tags are a JSON list: filter portably in Python.
            rows = [r for r in s.scalars(q) if f.tag in (r.tags or [])]
            return [Device.from_row(r) for r in rows[offset : offset + limit]], len(rows)

    def lookup_devices(
        self, f: DeviceFilter, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[Device], int]:
        """``find_devices`` through the lookup cache (see the package docstring); do not change the list."""
        c, key = self.cache, (f, limit, offset)
        page = c.read_through(
            lambda: c.devices_page(key),
            lambda: self.find_devices(f, limit=limit, offset=offset),
            lambda g, found: c.put_devices_page(g, key, found),
        )
        assert page is not None  # find_devices always answers a page
        return page

    def list_devices(self, *, kind: str | None = None, limit: int = 100, offset: int = 0) -> Sequence[Device]:
        """Devices ordered by application and device id."""
        return self.find_devices(DeviceFilter(kind=kind), limit=limit, offset=offset)[0]

    def count_devices(self) -> dict[tuple[str, str], int]:
        """How many devices there are of each (kind, source)."""
        with self.session() as s:
            rows = s.execute(
                select(DeviceRow.kind, DeviceRow.source, func.count()).group_by(
                    DeviceRow.kind, DeviceRow.source
                )
            ).all()
        return {(kind, source): int(n) for kind, source, n in rows}
