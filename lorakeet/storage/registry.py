"""The registry (SQLAlchemy 2): accounts, API keys, devices, codecs, webhook secrets, audit log.

SQLite by default, PostgreSQL when several API or bridge processes share it. The schema is
owned by Alembic (``lorakeet/storage/migrations``); opening a registry upgrades it to head.
Devices the network delivers before anyone registered them are auto-registered as unowned,
so no uplink is ever dropped for being unknown.

The API's hot path reads API keys and devices through a small in-process cache
(``lookup_key``, ``lookup_device``; hits alone: ``cache.key``, ``cache.device``). Every write made through
any ``Registry`` of the same database in this process clears it at once; writes made by other
processes (another API worker, ``lorakeet keys revoke``) are seen within ``CACHE_TTL_S``
(``LookupCache`` says how).
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from .records import DeviceKey

KINDS = ("bin", "boat", "streetlight", "other")
VISIBILITIES = ("public", "private")
KEY_TOUCH_INTERVAL = timedelta(seconds=60)
V = TypeVar("V")
CACHE_TTL_S = 1.0  # how long another process's revocation or device change may go unseen
CACHE_MAX_ENTRIES = 20_000
PAGE_CACHE_ENTRIES = 64  # device listings (fleet pages) kept, per filter and page


class RegistryError(Exception):
    """Base of the registry's own errors."""


class ConflictError(RegistryError):
    """A row with the same unique key exists already (email, device id, ...)."""


class Base(DeclarativeBase):
    """Declarative base of every registry table."""


def _now() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes: they are UTC."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


class AccountRow(Base):
    """A person or group using the API."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    ttn_application_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ApiKeyRow(Base):
    """An API key: only its SHA-256 is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(8))
    key_hash: Mapped[str] = mapped_column("hash", String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class DeviceRow(Base):
    """A registered (or auto-registered) device."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("application_id", "device_id", name="uq_devices_app_dev"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    dev_eui: Mapped[str | None] = mapped_column(String(16), default=None)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    kind: Mapped[str] = mapped_column(String(16), default="other")
    decoder: Mapped[str | None] = mapped_column(String(100), default=None)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    # ON DELETE CASCADE is done in code (delete_account) so stored readings are purged too.
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), default=None, index=True
    )
    visibility: Mapped[str] = mapped_column(String(16), default="private", index=True)
    licence: Mapped[str | None] = mapped_column(String(100), default=None)
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(16), default="registered")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)

    @property
    def key(self) -> DeviceKey:
        """The device's network key."""
        return DeviceKey(self.application_id, self.device_id)


class CodecRow(Base):
    """A user-supplied JavaScript payload codec (``js:<id>`` as a device's decoder)."""

    __tablename__ = "codecs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), default=None, index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text)
    examples: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ApplicationSecretRow(Base):
    """The webhook secret (SHA-256) of one network application."""

    __tablename__ = "application_secrets"

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_hash: Mapped[str] = mapped_column("secret", String(64))
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), default=None, index=True
    )


class AuditRow(Base):
    """One change to the registry: who, what, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    account_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


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

    @classmethod
    def from_row(cls, row: DeviceRow) -> DeviceInfo:
        """Freeze an ORM row."""
        return cls(
            key=DeviceKey(row.application_id, row.device_id),
            kind=row.kind,
            decoder=row.decoder,
            metadata=dict(row.meta or {}),
            owner_id=row.owner_id,
            visibility=row.visibility,
            name=row.name,
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
    """Which devices a listing returns; ``viewer_id``/``viewer_admin`` hide others' private ones."""

    kind: str | None = None
    tag: str | None = None
    visibility: str | None = None
    owner_id: int | None = None
    application_ids: tuple[str, ...] | None = None
    viewer_id: int | None = None
    viewer_admin: bool = True


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
        self._keys: OrderedDict[str, KeyLookup] = OrderedDict()
        self._devices: OrderedDict[DeviceKey, DeviceRow] = OrderedDict()
        self._pages: OrderedDict[tuple[DeviceFilter, int, int], tuple[list[DeviceRow], int]] = OrderedDict()
        self._lock = threading.Lock()
        self._check_lock = threading.Lock()

    @property
    def fresh(self) -> bool:
        """True while entries may be served without asking the database."""
        return self.clock() - self._checked_at < self.ttl

    def key(self, key_hash: str) -> KeyLookup | None:
        """The cached key while fresh, else None (no I/O)."""
        return self._keys.get(key_hash) if self.fresh else None

    def device(self, key: DeviceKey) -> DeviceRow | None:
        """The cached device row while fresh, else None (no I/O); do not modify it."""
        return self._devices.get(key) if self.fresh else None

    def devices_page(self, key: tuple[DeviceFilter, int, int]) -> tuple[list[DeviceRow], int] | None:
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

    def put_device(self, generation: int, key: DeviceKey, row: DeviceRow) -> None:
        """Remember a device looked up while the cache was at ``generation``."""
        self._put(self._devices, generation, key, row)

    def put_devices_page(
        self, generation: int, key: tuple[DeviceFilter, int, int], page: tuple[list[DeviceRow], int]
    ) -> None:
        """Remember a ``find_devices`` answer got while the cache was at ``generation``."""
        self._put(self._pages, generation, key, page, PAGE_CACHE_ENTRIES)

    def _put(
        self, table: OrderedDict[Any, Any], generation: int, k: Any, v: Any, maxsize: int | None = None
    ) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if generation != self.generation:
                return
            table[k] = v
            table.move_to_end(k)
            while len(table) > (maxsize or self.maxsize):
                table.popitem(last=False)

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


def make_engine(url: str) -> Engine:
    """An engine for a registry URL (``sqlite:///path`` or ``postgresql+psycopg://...``)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    return create_engine(url, **kwargs)


def _upgrade(engine: Engine) -> None:
    """Migrate to head; on PostgreSQL one process at a time (an advisory lock), so several
    processes starting together on an empty database do not create the same tables twice."""
    from .migrations import upgrade

    if engine.dialect.name != "postgresql":
        upgrade(engine)
        return
    from .leader import lock_key

    key = lock_key("lorakeet-registry-migrations")
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        conn.commit()
        try:
            upgrade(engine)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()


def _device_where(key: DeviceKey) -> Any:
    return (DeviceRow.application_id == key.application_id) & (DeviceRow.device_id == key.device_id)


class Registry:
    """Registry operations; safe to share between threads. Returned rows are detached."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._lock = threading.Lock()
        self.cache = acquire_cache(self.engine)
        self._closed = False
        if create:
            _upgrade(self.engine)

    def close(self) -> None:
        """Dispose of the connection pool."""
        if not self._closed:
            self._closed = True
            release_cache(self.engine)
        self.engine.dispose()

    def session(self) -> Session:
        """A new ORM session."""
        return self.sessions()

    # -- devices -------------------------------------------------------------------------------

    def get_row(self, key: DeviceKey) -> DeviceRow | None:
        """The device's registry row (detached), or None."""
        with self.session() as s:
            return s.scalar(select(DeviceRow).where(_device_where(key)))

    def lookup_device(self, key: DeviceKey) -> DeviceRow | None:
        """``get_row`` through the lookup cache (see the module docstring); do not modify the row."""
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
        """``find_devices`` through the lookup cache (see the module docstring); do not modify."""
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

    # -- accounts ------------------------------------------------------------------------------

    def create_account(
        self, name: str, email: str, *, is_admin: bool = False, ttn_application_ids: Iterable[str] = ()
    ) -> AccountRow:
        """A new account; ConflictError when the email is taken."""
        with self.session() as s:
            row = AccountRow(
                name=name,
                email=email.lower(),
                is_admin=is_admin,
                ttn_application_ids=list(ttn_application_ids),
            )
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                raise ConflictError("an account with this email exists already") from None
            return row

    def get_account(self, account_id: int) -> AccountRow | None:
        """An account by id."""
        with self.session() as s:
            return s.get(AccountRow, account_id)

    def list_accounts(self, *, limit: int = 100, offset: int = 0) -> list[AccountRow]:
        """Accounts by id."""
        with self.session() as s:
            return list(s.scalars(select(AccountRow).order_by(AccountRow.id).limit(limit).offset(offset)))

    def count_accounts(self) -> int:
        """How many accounts exist."""
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(AccountRow)) or 0)

    def update_account(self, account_id: int, changes: Mapping[str, Any]) -> AccountRow | None:
        """Apply column changes to an account; None when it does not exist."""
        with self.session() as s:
            row = s.get(AccountRow, account_id)
            if row is None:
                return None
            for name, value in changes.items():
                setattr(row, name, value)
            s.commit()
            self.cache.clear()
            return row

    def delete_account(self, account_id: int) -> list[DeviceKey]:
        """Erase an account, its keys, devices, codecs and secrets; returns the erased devices."""
        with self.session() as s:
            keys = [
                DeviceKey(a, d)
                for a, d in s.execute(
                    select(DeviceRow.application_id, DeviceRow.device_id).where(
                        DeviceRow.owner_id == account_id
                    )
                )
            ]
            # Everything with an owner_id (devices, codecs, secrets, alert rules and events,
            # downlinks, ...), children first; SQLite does not enforce ON DELETE CASCADE.
            owned = [t for t in Base.metadata.sorted_tables if "owner_id" in t.c]
            for table in reversed(Base.metadata.sorted_tables):
                for fk in table.foreign_keys:
                    parent = fk.column.table
                    if parent in owned and parent is not table:
                        ids = select(parent.c.id).where(parent.c.owner_id == account_id)
                        s.execute(delete(table).where(fk.parent.in_(ids)))
            for table in reversed(owned):
                s.execute(delete(table).where(table.c.owner_id == account_id))
            s.execute(delete(ApiKeyRow).where(ApiKeyRow.account_id == account_id))
            s.execute(delete(AccountRow).where(AccountRow.id == account_id))
            s.commit()
            self.cache.clear()
            return keys

    # -- API keys ------------------------------------------------------------------------------

    def create_key(
        self, account_id: int, *, name: str, key_hash: str, prefix: str, scopes: Sequence[str]
    ) -> ApiKeyRow:
        """Store a new key's hash."""
        with self.session() as s:
            row = ApiKeyRow(
                account_id=account_id, name=name, key_hash=key_hash, prefix=prefix[:8], scopes=list(scopes)
            )
            s.add(row)
            s.commit()
            return row

    def list_keys(self, account_id: int | None = None) -> list[ApiKeyRow]:
        """Keys of one account (or all), by id, revoked ones included."""
        with self.session() as s:
            q = select(ApiKeyRow).order_by(ApiKeyRow.id)
            if account_id is not None:
                q = q.where(ApiKeyRow.account_id == account_id)
            return list(s.scalars(q))

    def get_key(self, key_id: int) -> ApiKeyRow | None:
        """A key row by id."""
        with self.session() as s:
            return s.get(ApiKeyRow, key_id)

    def revoke_key(self, key_id: int) -> ApiKeyRow | None:
        """Mark a key revoked (idempotent); None when it does not exist."""
        with self.session() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None:
                return None
            if row.revoked_at is None:
                row.revoked_at = _now()
                s.commit()
            self.cache.clear()
            return row

    def find_key(self, key_hash: str) -> KeyLookup | None:
        """The live key with this hash, touching its ``last_used_at`` at most once a minute."""
        with self.session() as s:
            found = s.execute(
                select(ApiKeyRow, AccountRow.is_admin)
                .join(AccountRow, AccountRow.id == ApiKeyRow.account_id)
                .where(ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked_at.is_(None))
            ).first()
            if found is None:
                return None
            row, is_admin = found
            now = _now()
            if row.last_used_at is None or as_utc(row.last_used_at) < now - KEY_TOUCH_INTERVAL:
                s.execute(update(ApiKeyRow).where(ApiKeyRow.id == row.id).values(last_used_at=now))
                s.commit()
            return KeyLookup(row.id, row.account_id, row.key_hash, tuple(row.scopes or ()), bool(is_admin))

    def lookup_key(self, key_hash: str) -> KeyLookup | None:
        """``find_key`` through the lookup cache (see the module docstring)."""
        c = self.cache
        return c.read_through(
            lambda: c.key(key_hash), lambda: self.find_key(key_hash), lambda g, k: c.put_key(g, key_hash, k)
        )

    # -- codecs and webhook secrets --------------------------------------------------------------

    def create_codec(
        self, owner_id: int | None, name: str, source: str, examples: Sequence[Any] = ()
    ) -> CodecRow:
        """Store a JavaScript codec."""
        with self.session() as s:
            row = CodecRow(owner_id=owner_id, name=name, source=source, examples=list(examples))
            s.add(row)
            s.commit()
            return row

    def get_codec(self, codec_id: int) -> CodecRow | None:
        """A codec by id."""
        with self.session() as s:
            return s.get(CodecRow, codec_id)

    def set_application_secret(self, application_id: str, secret_hash: str, owner_id: int | None) -> None:
        """Create or replace an application's webhook secret hash."""
        with self.session() as s:
            row = s.get(ApplicationSecretRow, application_id)
            if row is None:
                s.add(
                    ApplicationSecretRow(
                        application_id=application_id, secret_hash=secret_hash, owner_id=owner_id
                    )
                )
            else:
                row.secret_hash, row.owner_id = secret_hash, owner_id
            s.commit()

    def get_application_secret(self, application_id: str) -> ApplicationSecretRow | None:
        """An application's webhook secret row."""
        with self.session() as s:
            return s.get(ApplicationSecretRow, application_id)

    def application_for_secret(self, secret_hash: str) -> ApplicationSecretRow | None:
        """The application whose webhook secret has this SHA-256 (hex), or None."""
        with self.session() as s:
            return s.scalar(
                select(ApplicationSecretRow).where(ApplicationSecretRow.secret_hash == secret_hash)
            )

    def list_codecs(
        self, owner_id: int | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[CodecRow]:
        """Codecs by id; with ``owner_id``, that account's and the shared (unowned) ones."""
        with self.session() as s:
            q = select(CodecRow).order_by(CodecRow.id)
            if owner_id is not None:
                q = q.where(or_(CodecRow.owner_id == owner_id, CodecRow.owner_id.is_(None)))
            return list(s.scalars(q.limit(limit).offset(offset)))

    # -- audit log -------------------------------------------------------------------------------

    def audit(
        self, account_id: int | None, action: str, target: str, detail: Mapping[str, Any] | None = None
    ) -> None:
        """Record a registry change."""
        with self.session() as s:
            s.add(AuditRow(account_id=account_id, action=action, target=target, detail=dict(detail or {})))
            s.commit()

    def audit_entries(
        self,
        *,
        account_id: int | None = None,
        targets: Sequence[str] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditRow]:
        """Newest first; with ``account_id``, only its own actions and those on ``targets``."""
        with self.session() as s:
            q = select(AuditRow).order_by(AuditRow.id.desc())
            if account_id is not None:
                q = q.where(or_(AuditRow.account_id == account_id, AuditRow.target.in_(list(targets or ()))))
            return list(s.scalars(q.limit(limit).offset(offset)))
