"""The lookup cache of found API keys, devices and device pages, shared per database in a process."""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from sqlalchemy import text
from sqlalchemy.engine import Engine

from lorakeet.ttlcache import TtlCache

from ..records import DeviceKey
from .entities import Device
from .model import DeviceFilter, KeyLookup

V = TypeVar("V")
CACHE_TTL_S = 1.0  # how long another process's revocation or device change may go unseen
CACHE_MAX_ENTRIES = 20_000
PAGE_CACHE_ENTRIES = 64  # device listings (fleet pages) kept, per filter and page


class LookupCache:
    """Found API keys (by hash) and devices (by key), valid while the database is unchanged.

    Only found rows are kept, so a new key or device is never hidden. Writes through any
    ``Registry`` of this database in this process call ``clear`` at once. Writes by other
    processes are noticed by ``revalidate``, which reads a cheap database version (SQLite
    ``PRAGMA data_version``, PostgreSQL ``pg_current_wal_lsn()``) at most every ``ttl`` seconds
    and forgets everything when it moved; without a version, everything is forgotten every
    ``ttl``. Between two checks, entries are served without I/O (``key``, ``device``), so a
    change made elsewhere is seen within ``ttl``. ``clear`` bumps a generation: a lookup that
    started before a write cannot store its (stale) answer after it.
    """

    def __init__(
        self,
        version: Callable[[], object] | None = None,
        *,
        ttl: float = CACHE_TTL_S,
        maxsize: int = CACHE_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.version = version
        self.ttl = ttl
        self.maxsize = maxsize
        self.clock = clock
        self.generation = 0
        self._checked_at = -math.inf
        self._seen: object = None
        # Entries do not expire on their own: ``revalidate`` drops them all when the database moved.
        self._keys: TtlCache[str, KeyLookup] = TtlCache(maxsize=maxsize, clock=clock)
        self._devices: TtlCache[DeviceKey, Device] = TtlCache(maxsize=maxsize, clock=clock)
        self._pages: TtlCache[tuple[DeviceFilter, int, int], tuple[list[Device], int]] = TtlCache(
            maxsize=PAGE_CACHE_ENTRIES, clock=clock
        )
        self._lock = threading.Lock()
        self._check_lock = threading.Lock()

    @property
    def fresh(self) -> bool:
        """True while entries may be served without asking the database."""
        return self.clock() - self._checked_at < self.ttl

    def key(self, key_hash: str) -> KeyLookup | None:
        """The cached key while fresh, else None (no I/O)."""
        return self._keys.get(key_hash) if self.fresh else None

    def device(self, key: DeviceKey) -> Device | None:
        """The cached device while fresh, else None (no I/O)."""
        return self._devices.get(key) if self.fresh else None

    def devices_page(self, key: tuple[DeviceFilter, int, int]) -> tuple[list[Device], int] | None:
        """A cached ``find_devices`` answer while fresh, else None (no I/O); do not modify it."""
        return self._pages.get(key) if self.fresh else None

    def revalidate(self) -> None:
        """Unless checked within ``ttl``: read the database version, forget all if it moved."""
        if self.fresh:
            return
        with self._check_lock:
            if self.fresh:
                return
            now = self.clock()
            seen = None
            if self.version is not None:
                try:
                    seen = self.version()
                except Exception:  # unknown: treat as changed
                    seen = None
            if seen is None or seen != self._seen:
                self.clear()
            self._seen, self._checked_at = seen, now

    def read_through(
        self, cached: Callable[[], V | None], load: Callable[[], V | None], put: Callable[[int, V], None]
    ) -> V | None:
        """``cached()`` while fresh, else ``load()``; a found value is kept with ``put`` (unless a
        write came between the load and the put: see ``clear``)."""
        self.revalidate()
        found = cached()
        if found is not None:
            return found
        generation = self.generation
        found = load()
        if found is not None:
            put(generation, found)
        return found

    def put_key(self, generation: int, key_hash: str, found: KeyLookup) -> None:
        """Remember a key looked up while the cache was at ``generation``."""
        self._put(self._keys, generation, key_hash, found)

    def put_device(self, generation: int, key: DeviceKey, row: Device) -> None:
        """Remember a device looked up while the cache was at ``generation``."""
        self._put(self._devices, generation, key, row)

    def put_devices_page(
        self, generation: int, key: tuple[DeviceFilter, int, int], page: tuple[list[Device], int]
    ) -> None:
        """Remember a ``find_devices`` answer got while the cache was at ``generation``."""
        self._put(self._pages, generation, key, page)

    def _put(self, table: TtlCache[Any, Any], generation: int, k: Any, v: Any) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if generation != self.generation:
                return
            table.put(k, v)

    def clear(self) -> None:
        """Forget everything (after any write to keys, accounts or devices)."""
        with self._lock:
            self.generation += 1
            self._keys.clear()
            self._devices.clear()
            self._pages.clear()


class _SqliteVersion:
    """``PRAGMA data_version`` on a private read-only connection (opened on first use)."""

    def __init__(self, path: str) -> None:
        self.uri = f"file:{quote(path)}?mode=ro"
        self.conn: sqlite3.Connection | None = None
        self.lock = threading.Lock()

    def __call__(self) -> object:
        with self.lock:
            if self.conn is None:
                self.conn = sqlite3.connect(self.uri, uri=True, check_same_thread=False, timeout=30)
            # fetchall: no statement (and so no read lock) stays open between checks
            return self.conn.execute("PRAGMA data_version").fetchall()[0][0]

    def close(self) -> None:
        with self.lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None


def database_version(engine: Engine) -> Callable[[], object] | None:
    """A cheap reader of a value that changes whenever any connection commits, or None."""
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        return _SqliteVersion(path)
    if engine.dialect.name == "postgresql":

        def wal_position() -> object:
            with engine.connect() as c:
                return c.execute(text("SELECT pg_current_wal_lsn()")).scalar()

        return wal_position
    return None


_CACHES: dict[str, tuple[LookupCache, int]] = {}
_CACHES_LOCK = threading.Lock()


def _cache_name(engine: Engine) -> str | None:
    if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
        return None  # every in-memory database is a different one
    return engine.url.render_as_string(hide_password=False)


def acquire_cache(engine: Engine) -> LookupCache:
    """The process-wide lookup cache of one registry database; ``release_cache`` when done."""
    name = _cache_name(engine)
    if name is None:
        return LookupCache()
    with _CACHES_LOCK:
        cache, users = _CACHES.get(name) or (LookupCache(database_version(engine)), 0)
        _CACHES[name] = (cache, users + 1)
        return cache


def release_cache(engine: Engine) -> None:
    """One user fewer of a shared cache; the last one closes its version reader."""
    name = _cache_name(engine)
    with _CACHES_LOCK:
        if name is None or name not in _CACHES:
            return
        cache, users = _CACHES[name]
        if users > 1:
            _CACHES[name] = (cache, users - 1)
            return
        del _CACHES[name]
    if isinstance(cache.version, _SqliteVersion):
        cache.version.close()
