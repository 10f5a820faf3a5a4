"""The leader lock: one holder at a time; a standby takes over when the holder goes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lorakeet.storage.leader import PostgresLeaderLock, SqliteLeaderLock, lock_key, open_leader_lock

from .services import drop_postgres_schema, postgres_schema_url


def test_sqlite_lease_is_exclusive_and_expires(tmp_path: Path) -> None:
    db = str(tmp_path / "registry.db")
    a = SqliteLeaderLock(db, "app", "a", lease_s=0.5)
    b = SqliteLeaderLock(db, "app", "b", lease_s=0.5)
    assert a.acquire() and not b.acquire()
    assert a.acquire()  # renewal
    time.sleep(0.6)  # a "died": its lease runs out
    assert b.acquire() and not a.acquire()
    b.release()
    assert a.acquire()  # released: no need to wait for the expiry
    a.release()


def test_postgres_advisory_lock_is_released_when_the_holder_dies() -> None:
    url, schema = postgres_schema_url()
    try:
        a = PostgresLeaderLock(url, "app-x")
        b = PostgresLeaderLock(url, "app-x")
        other = PostgresLeaderLock(url, "app-y")
        assert a.acquire() and not b.acquire() and other.acquire()
        assert a.acquire()  # still held (connection alive)
        a._conn.invalidate()  # the connection dies with its process
        a._conn = None
        # the server ends the dead connection's backend (and its locks) a moment later; a
        # standby polls, as the bridge's does
        deadline = time.monotonic() + 10
        while not b.acquire() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert b.acquire()
        b.release()
        other.release()
        a.release()
    finally:
        drop_postgres_schema(schema)


def test_open_leader_lock_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_leader_lock(f"sqlite:///{tmp_path / 'r.db'}", "n"), SqliteLeaderLock)
    with pytest.raises(ValueError):
        open_leader_lock("sqlite://", "n")
    assert lock_key("a") != lock_key("b") and -(2**63) <= lock_key("a") < 2**63
