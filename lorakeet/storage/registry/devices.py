"""Devices: registration, auto-registration of devices the network sees first, listings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from ..records import DeviceKey
from .database import Database
from .model import ConflictError, DeviceFilter, DeviceInfo
from .tables import DeviceRow


def _device_where(key: DeviceKey) -> Any:
    return (DeviceRow.application_id == key.application_id) & (DeviceRow.device_id == key.device_id)


class DeviceRepository(Database):
    """Registered and auto-registered devices."""

    def get_row(self, key: DeviceKey) -> DeviceRow | None:
        """The device's registry row (detached), or None."""
        with self.session() as s:
            return s.scalar(select(DeviceRow).where(_device_where(key)))

    def lookup_device(self, key: DeviceKey) -> DeviceRow | None:
        """``get_row`` through the lookup cache (see the package docstring); do not modify the row."""
        c = self.cache
        return c.read_through(
            lambda: c.device(key), lambda: self.get_row(key), lambda g, row: c.put_device(g, key, row)
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
        with self.session() as s:
            row = s.scalar(select(DeviceRow).where(_device_where(key)))
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
            self.cache.clear()
            return DeviceInfo.from_row(row)

    def create_device(self, key: DeviceKey, **fields: Any) -> DeviceRow:
        """Register a new device; ConflictError if the id is taken (auto-registered ones: claim)."""
        with self.session() as s:
            row = DeviceRow(application_id=key.application_id, device_id=key.device_id)
            row.meta, row.tags = {}, []
            for name, value in fields.items():
                setattr(row, name, value)
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                raise ConflictError(f"device {key.uid!r} exists already") from None
            self.cache.clear()
            return row

    def update_device(self, key: DeviceKey, changes: Mapping[str, Any]) -> DeviceRow | None:
        """Apply column changes to a device; None when it does not exist."""
        with self.session() as s:
            row = s.scalar(select(DeviceRow).where(_device_where(key)))
            if row is None:
                return None
            for name, value in changes.items():
                setattr(row, name, value)
            s.commit()
            self.cache.clear()
            return row

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
        if not f.viewer_admin:
            visible = DeviceRow.visibility == "public"
            if f.viewer_id is not None:
                visible = or_(visible, DeviceRow.owner_id == f.viewer_id)
            q = q.where(visible)
        return q

    def find_devices(
        self, f: DeviceFilter, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[DeviceRow], int]:
        """A page of devices matching a filter, ordered by id, and the total count."""
        q = self._device_query(f).order_by(DeviceRow.application_id, DeviceRow.device_id)
        with self.session() as s:
            if f.tag is None:
                total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
                return list(s.scalars(q.limit(limit).offset(offset))), int(total)
            # Tags are a JSON list: filter portably in Python.
            rows = [r for r in s.scalars(q) if f.tag in (r.tags or [])]
            return rows[offset : offset + limit], len(rows)

    def lookup_devices(
        self, f: DeviceFilter, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[DeviceRow], int]:
        """``find_devices`` through the lookup cache (see the package docstring); do not modify."""
        c, key = self.cache, (f, limit, offset)
        page = c.read_through(
            lambda: c.devices_page(key),
            lambda: self.find_devices(f, limit=limit, offset=offset),
            lambda g, found: c.put_devices_page(g, key, found),
        )
        assert page is not None  # find_devices always answers a page
        return page

    def list_devices(
        self, *, kind: str | None = None, limit: int = 100, offset: int = 0
    ) -> Sequence[DeviceRow]:
        """Devices ordered by application and device id."""
        return self.find_devices(DeviceFilter(kind=kind), limit=limit, offset=offset)[0]
