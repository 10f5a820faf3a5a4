"""The registry as the per-uplink path sees it: devices held in memory.

Two modes:

- **fleet** (``refresh_s`` set, the source can list changes; the bridge): every device is held
  in memory. Every ``refresh_s`` seconds the directory asks the registry for the devices
  changed since its last look (``updated_at``, with an overlap for clocks and commits in
  flight) and for the number of devices; when the count differs from what it holds (a device
  was deleted, or added unseen), it reloads the fleet and tells ``on_removed`` which devices
  went away. A device it does not know is looked up (and auto-registered) at once. When the
  registry does not answer, decoding goes on with the devices held, and the refresh is
  retried at the next interval.
- **cache** (otherwise): lookups cached for ``ttl`` seconds each.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from lorakeet.storage.records import DeviceKey, DeviceModel
from lorakeet.storage.registry import DeviceInfo
from lorakeet.ttlcache import TtlCache

log = logging.getLogger(__name__)

CACHE_MAX_DEVICES = 1_000_000
"""Cache mode: devices held at most (the directory of a whole large fleet)."""

REFRESH_OVERLAP = timedelta(seconds=60)
"""Changes are asked for since the last look minus this (clock skew, slow commits)."""


class DeviceSource(Protocol):
    """Where device registrations come from (the registry, or a fake in unit tests)."""

    def ensure_device(
        self,
        key: DeviceKey,
        dev_eui: str | None = None,
        model: DeviceModel | None = None,
        decoded: bool = False,
    ) -> DeviceInfo:
        """The device, auto-registered when unknown (with its model's kind and decoder)."""
        ...


@runtime_checkable
class FleetSource(DeviceSource, Protocol):
    """A device source that can tell what changed (the registry)."""

    def devices_changed_since(self, since: datetime | None) -> list[DeviceInfo]:
        """Devices whose registration changed at or after ``since`` (None: every device)."""
        ...

    def device_stamps_since(self, since: datetime | None) -> dict[tuple[str, str], datetime]:
        """When each device changed last, for those changed at or after ``since``."""
        ...

    def device_count(self) -> int:
        """How many devices are registered."""
        ...


class DeviceDirectory:
    """Device registrations for the per-uplink path; see the module docstring."""

    def __init__(
        self,
        source: DeviceSource,
        ttl: float = 30.0,
        *,
        refresh_s: float | None = None,
        on_removed: Callable[[list[DeviceKey]], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.source = source
        self.ttl = ttl
        self.fleet: FleetSource | None = (
            source if refresh_s is not None and isinstance(source, FleetSource) else None
        )
        self.refresh_s = refresh_s or 0.0
        self.on_removed = on_removed
        self.clock = clock or time.monotonic
        self.refreshes = 0  # registry looks done (fleet mode), for tests and metrics
        self._all: dict[tuple[str, str], DeviceInfo] = {}  # plain tuples hash in C
        self._stamps: dict[tuple[str, str], datetime] = {}  # when each held device last changed
        self._asked: set[DeviceKey] = set()
        self._since: datetime | None = None
        self._next_refresh = -1.0
        self._cache: TtlCache[DeviceKey, DeviceInfo] = TtlCache(ttl, CACHE_MAX_DEVICES, clock=self.clock)
        self._lock = threading.Lock()

    def device(
        self,
        key: DeviceKey,
        dev_eui: str | None = None,
        model: DeviceModel | None = None,
        decoded: bool = False,
    ) -> DeviceInfo:
        """The registration of ``key`` (auto-registering it when new)."""
        return self.lookup(key.application_id, key.device_id, dev_eui, model, decoded, key)

    def lookup(
        self,
        application_id: str,
        device_id: str,
        dev_eui: str | None = None,
        model: DeviceModel | None = None,
        decoded: bool = False,
        key: DeviceKey | None = None,
    ) -> DeviceInfo:
        """:meth:`device` by ids (per uplink: a held device is found without building its key)."""
        if self.fleet is not None:
            if self.clock() >= self._next_refresh:
                self.refresh()
            held = (application_id, device_id)
            info = self._all.get(held)
            if info is not None and model is None:
                return info
            if key is None:
                key = DeviceKey(application_id, device_id)
            if info is not None and (info.brand_id or key in self._asked):
                return info
            # unknown, or the uplink names a model the registration lacks (recorded by the
            # registry): asked once per refresh interval
            self._asked.add(key)
            info = self.source.ensure_device(key, dev_eui, model, decoded)
            self._all[held] = info
            return info
        if key is None:
            key = DeviceKey(application_id, device_id)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        info = self.source.ensure_device(key, dev_eui, model, decoded)
        self._cache.put(key, info)
        return info

    def refresh(self) -> None:
        """Fleet mode: take in the registry's changes (a full reload when the count differs)."""
        fleet = self.fleet
        if fleet is None:
            return
        self._next_refresh = self.clock() + self.refresh_s
        started = datetime.now(UTC)
        try:
            since = None if self._since is None else self._since - REFRESH_OVERLAP
            # stamps first: a change made while the devices are read shows as a new stamp next time
            stamps = fleet.device_stamps_since(since)
            held = self._stamps
            news = since is None or any(held.get(k) != t for k, t in stamps.items())
            changed = fleet.devices_changed_since(since) if news else []
            count = fleet.device_count()
            full = since is None
            if not full and count != len(self._all) + sum(1 for k in stamps if k not in self._all):
                stamps, full = fleet.device_stamps_since(None), True
                changed = fleet.devices_changed_since(None)
        except Exception as exc:  # the registry is away: keep decoding with what we hold
            log.warning("device registry did not answer (%s); using the %d devices held", exc, len(self._all))
            return
        self.refreshes += 1
        with self._lock:
            if full:
                fresh = {_held(i.key): i for i in changed}
                removed = [DeviceKey(*k) for k in self._all if k not in fresh]
                self._all = fresh
                self._stamps = stamps
            else:
                removed = []
                for info in changed:
                    self._all[_held(info.key)] = info
                self._stamps.update(stamps)
            self._since = started
            self._asked = set()
        if removed and self.on_removed is not None:
            self.on_removed(removed)

    def preload(self, infos: Iterable[DeviceInfo]) -> int:
        """Fill the cache in bulk (at start: one query instead of one per device).

        Cache mode: expiry times are spread over the second half of the TTL, so that a fleet
        loaded at once is not looked up again all at once (a thousand queries in one batch).
        """
        spread = random.Random(0)
        with self._lock:
            if self.fleet is not None:
                for info in infos:
                    self._all[_held(info.key)] = info
                return len(self._all)
            for info in infos:
                self._cache.put(info.key, info, self.ttl * (0.5 + spread.random() / 2))
            return len(self._cache)

    def invalidate(self, key: DeviceKey | None = None) -> None:
        """Forget one device (or all), e.g. after its decoder changed."""
        with self._lock:
            if key is None:
                self._cache.clear()
                self._all.clear()
                self._stamps.clear()
                self._since = None
                self._next_refresh = -1.0
            else:
                self._cache.pop(key)
                self._all.pop(_held(key), None)
                self._stamps.pop(_held(key), None)


def _held(key: DeviceKey) -> tuple[str, str]:
    return (key.application_id, key.device_id)
