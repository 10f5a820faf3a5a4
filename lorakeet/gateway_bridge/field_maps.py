"""A device's field map, resolved for the per-uplink path.

Per source path: the device's own rules > its owner's map of the model > the shared map >
the shipped model file (:mod:`lorakeet.decoders.models`). Users' maps are re-read from the
registry at most every ``ttl`` seconds (one query for all of them); merged maps are cached
per (owner, brand, model) and per device, so an uplink costs a dictionary lookup.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from lorakeet.decoders.models import ModelFileError, UserMap, effective_model, merge_maps, rules_from_json
from lorakeet.decoders.types import FieldMap
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import DeviceInfo

log = logging.getLogger(__name__)

_Layer = tuple[int | None, str, str]


class _MapRow(Protocol):
    @property
    def owner_id(self) -> int | None: ...
    @property
    def brand_id(self) -> str: ...
    @property
    def model_id(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def kind(self) -> str | None: ...
    @property
    def decoder(self) -> str | None: ...
    @property
    def fields(self) -> Mapping[str, Any]: ...


class ModelMapSource(Protocol):
    """Where users' model maps come from (the registry)."""

    def list_model_maps(self, owner_id: int | None = None, *, everyone: bool = False) -> Sequence[_MapRow]:
        """Every stored map when ``everyone``."""
        ...


class FieldMaps:
    """Field maps of devices; without a ``source``, the shipped files and devices' own rules."""

    def __init__(self, source: ModelMapSource | None = None, ttl: float = 30.0) -> None:
        self.source = source
        self.ttl = ttl
        self._lock = threading.Lock()
        self._loaded_at = -float("inf")
        self._user: dict[_Layer, UserMap] = {}
        self._models: dict[_Layer, FieldMap | None] = {}
        self._devices: dict[DeviceKey, tuple[DeviceInfo, FieldMap | None]] = {}

    def invalidate(self) -> None:
        """Re-read users' maps on next use (after a change made in this process)."""
        with self._lock:
            self._loaded_at = -float("inf")

    def for_device(self, info: DeviceInfo) -> FieldMap | None:
        """The merged field map of a device, or None when it has none."""
        if not info.brand_id and not info.field_map:
            return None
        self._refresh()
        hit = self._devices.get(info.key)
        if hit is not None and hit[0] is info:
            return hit[1]
        merged = self._merge(info)
        with self._lock:
            if len(self._devices) > 100_000:
                self._devices.clear()
            self._devices[info.key] = (info, merged)
        return merged

    def _refresh(self) -> None:
        if self.source is None or time.monotonic() - self._loaded_at < self.ttl:
            return
        try:
            rows = self.source.list_model_maps(everyone=True)
        except Exception as exc:  # the registry may be down: keep the maps we have
            log.warning("cannot read model maps (%s); using the ones loaded before", exc)
            self._loaded_at = time.monotonic()
            return
        user = {
            (r.owner_id, r.brand_id, r.model_id): UserMap(r.name, r.kind, r.decoder, dict(r.fields or {}))
            for r in rows
        }
        with self._lock:
            if user != self._user:
                self._user = user
                self._models.clear()
                self._devices.clear()
            self._loaded_at = time.monotonic()

    def _model_map(self, owner_id: int | None, brand_id: str, model_id: str) -> FieldMap | None:
        layer = (owner_id, brand_id, model_id)
        if layer in self._models:
            return self._models[layer]
        shared = self._user.get((None, brand_id, model_id))
        own = self._user.get(layer) if owner_id is not None else None
        try:
            model = effective_model(brand_id, model_id, shared, own)
        except ModelFileError as exc:
            log.warning("ignoring a stored model map: %s", exc)
            model = effective_model(brand_id, model_id)
        fmap = dict(model.field_map) if model is not None else None
        with self._lock:
            self._models[layer] = fmap
        return fmap

    def _merge(self, info: DeviceInfo) -> FieldMap | None:
        base = None
        if info.brand_id and info.model_id:
            base = self._model_map(info.owner_id, info.brand_id.lower(), info.model_id.lower())
        if not info.field_map:
            return base
        try:
            own = rules_from_json(info.field_map, f"device {info.key.uid}")
        except ModelFileError as exc:
            log.warning("ignoring the device's own field rules: %s", exc)
            return base
        return merge_maps(base, own) or None
