"""A cached view of the registry for the per-uplink path."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable
from typing import Protocol

from lorakeet.storage.records import DeviceKey, DeviceModel
from lorakeet.storage.registry import DeviceInfo


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


class DeviceDirectory:
    """Registry lookups cached for ``ttl`` seconds, so registry edits reach the bridge."""

    def __init__(self, source: DeviceSource, ttl: float = 30.0) -> None:
        self.source = source
        self.ttl = ttl
        self._cache: dict[DeviceKey, tuple[float, DeviceInfo]] = {}
        self._lock = threading.Lock()

    def device(
        self,
        key: DeviceKey,
        dev_eui: str | None = None,
        model: DeviceModel | None = None,
        decoded: bool = False,
    ) -> DeviceInfo:
        """The registration of ``key`` (auto-registering it when new)."""
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        info = self.source.ensure_device(key, dev_eui, model, decoded)
        with self._lock:
            self._cache[key] = (now + self.ttl, info)
        return info

    def preload(self, infos: Iterable[DeviceInfo]) -> int:
        """Fill the cache in bulk (at start: one query instead of one per device).

        Expiry times are spread over the second half of the TTL, so that a fleet loaded at
        once is not looked up again all at once (a thousand queries in one batch).
        """
        now = time.monotonic()
        spread = random.Random(0)
        with self._lock:
            for info in infos:
                self._cache[info.key] = (now + self.ttl * (0.5 + spread.random() / 2), info)
            return len(self._cache)

    def invalidate(self, key: DeviceKey | None = None) -> None:
        """Forget one device (or all), e.g. after its decoder changed."""
        with self._lock:
            if key is None:
                self._cache.clear()
            else:
                self._cache.pop(key, None)
