"""A leader lock in the registry database: one active MQTT consumer per TTS application.

TTS delivers every uplink to every connected client and refuses shared subscriptions, so
two bridges on one application would both ingest everything. Only the holder of this lock
connects; the others stand by and poll.

- PostgreSQL: ``pg_try_advisory_lock(key)`` on a dedicated connection (key: the first 8
  bytes of SHA-256 of the lock name). The server releases it the moment that connection
  dies, so a killed leader is replaced at the standby's next poll.
- SQLite: a lease row ``(name, holder, expires_at)`` renewed every third of the lease; a
  standby takes the row once ``expires_at`` has passed (wall-clock time, so the processes
  must share a clock: SQLite means one machine anyway).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import sqlite3
import time
import uuid
from typing import Any, Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)


class LeaderLock(Protocol):
    """A lock one process at a time holds."""

    holder: str

    def acquire(self) -> bool:
        """Take (or keep) the lock; True while held."""
        ...

    def release(self) -> None:
        """Give the lock up (standbys take it at their next poll)."""
        ...


def lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key from a lock name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def default_holder() -> str:
    """``host:pid:random``: unique per process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class PostgresLeaderLock:
    """``pg_try_advisory_lock`` on a connection of its own."""

    def __init__(self, url: str, name: str, holder: str | None = None) -> None:
        self.name = name
        self.key = lock_key(name)
        self.holder = holder or default_holder()
        self._engine = create_engine(url, poolclass=NullPool)
        self._conn: Any = None
        self._held = False

    def acquire(self) -> bool:
        """Take the lock, or check that our connection (hence the lock) is still alive."""
        try:
            if self._conn is None:
                self._conn = self._engine.connect()
                self._held = False
            if self._held:
                self._conn.execute(text("SELECT 1"))
                return True
            got = bool(self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
            self._conn.commit()
            self._held = got
            return got
        except Exception as exc:
            log.warning("leader lock %r: database connection failed (%s); not leader", self.name, exc)
            self._drop()
            return False

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                log.debug("closing a broken lock connection failed", exc_info=True)
        self._conn = None
        self._held = False

    def release(self) -> None:
        """Unlock and close the connection."""
        if self._conn is not None and self._held:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                self._conn.commit()
            except Exception:
                log.debug("unlock failed; closing the connection releases it anyway", exc_info=True)
        self._drop()
        self._engine.dispose()


class SqliteLeaderLock:
    """A lease row in the registry's SQLite file."""

    def __init__(self, path: str, name: str, holder: str | None = None, lease_s: float = 5.0) -> None:
        self.path = path
        self.name = name
        self.holder = holder or default_holder()
        self.lease_s = lease_s
        self._db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS leader_lease ("
            "name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at REAL NOT NULL)"
        )

    def acquire(self) -> bool:
        """Take an expired (or our own) lease and extend it by ``lease_s``."""
        now = time.time()
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT holder, expires_at FROM leader_lease WHERE name = ?", (self.name,)
                ).fetchone()
                if row is not None and row[0] != self.holder and row[1] > now:
                    db.execute("COMMIT")
                    return False
                db.execute(
                    "INSERT INTO leader_lease (name, holder, expires_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                    "expires_at = excluded.expires_at",
                    (self.name, self.holder, now + self.lease_s),
                )
                db.execute("COMMIT")
                return True
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            log.warning("leader lease %r: registry not writable (%s); not leader", self.name, exc)
            return False

    def release(self) -> None:
        """Drop our lease so a standby need not wait for it to expire."""
        try:
            self._db.execute(
                "DELETE FROM leader_lease WHERE name = ? AND holder = ?", (self.name, self.holder)
            )
        except sqlite3.Error as exc:
            log.warning("could not release leader lease %r: %s", self.name, exc)
        self._db.close()


def open_leader_lock(registry_url: str, name: str, lease_s: float = 5.0) -> LeaderLock:
    """The lock for ``name`` in the registry database ``registry_url``."""
    url = make_url(registry_url)
    if url.get_backend_name() == "postgresql":
        return PostgresLeaderLock(registry_url, name)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("a leader lock needs a file-backed SQLite registry")
        return SqliteLeaderLock(url.database, name, lease_s=lease_s)
    raise ValueError(f"no leader lock for {url.get_backend_name()} registries")
