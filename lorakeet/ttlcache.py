"""One small cache type for the whole code base: a thread-safe map whose entries expire.

Used by the registry's lookup cache (entries that never expire on their own: the cache
revalidates them all against the database), by the bridge's device directory and by the
codec resolver (entries valid for a time each). Reads take no lock; writes do.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Up to ``maxsize`` entries, each valid for ``ttl`` seconds after it was put (``math.inf``:
    until removed). When full, the entry put longest ago goes first."""

    def __init__(
        self, ttl: float = math.inf, maxsize: int = 1024, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.ttl = ttl
        self.maxsize = maxsize
        self.clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value while it is valid, else None."""
        hit = self._entries.get(key)
        if hit is None or hit[0] <= self.clock():
            return None
        return hit[1]

    def get_stale(self, key: K) -> V | None:
        """The value even when it has expired (e.g. to reuse it when the source is unchanged)."""
        hit = self._entries.get(key)
        return None if hit is None else hit[1]

    def put(self, key: K, value: V, ttl: float | None = None) -> None:
        """Keep ``value`` for ``ttl`` seconds (default: the cache's)."""
        expires = self.clock() + (self.ttl if ttl is None else ttl)
        with self._lock:
            self._entries[key] = (expires, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        """Forget one entry."""
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
