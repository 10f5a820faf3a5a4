"""The registry database: engine, migrations on open, ORM sessions and the lookup cache."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from .cache import acquire_cache, release_cache


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
    """Migrate to head (nothing to do, and Alembic not even loaded, when the database is there);
    on PostgreSQL one process at a time (an advisory lock), so several processes starting
    together on an empty database do not create the same tables twice."""
    from ..migrations import at_head, upgrade

    if at_head(engine):
        return
    if engine.dialect.name != "postgresql":
        upgrade(engine)
        return
    from ..leader import lock_key

    key = lock_key("lorakeet-registry-migrations")
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        conn.commit()
        try:
            upgrade(engine)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()


class Database:
    """One registry database: its engine, ORM sessions and lookup cache; safe to share between threads."""

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

    def ping(self) -> None:
        """Run a trivial query; raises when the database does not answer."""
        with self.session() as s:
            s.execute(text("SELECT 1"))
