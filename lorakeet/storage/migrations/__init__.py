"""Alembic migrations of the registry, run programmatically (no alembic.ini needed).

``upgrade(engine)`` brings a registry database to head; ``Registry`` calls it on open
unless :func:`at_head`, which compares the database's ``alembic_version``
with :func:`head_revision` (read from ``versions/`` without loading Alembic), so a
process opening an up-to-date registry (every bridge start but the first) never imports
Alembic and its template engine (about 12 MB of a bridge's memory). New revisions go in
``versions/`` (``alembic -c <(...)`` is not needed: write them by hand or use
``alembic_config(url)`` with ``alembic.command.revision``).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

HERE = Path(__file__).resolve().parent
_REVISION = re.compile(r"""^(down_revision|revision)\s*(?::[^=]*)?=\s*(?:["']([^"']*)["']|None)""", re.M)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at this package's scripts."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the registry database behind ``engine`` to ``revision``."""
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current(engine: Engine) -> str | None:
    """The revision the database is at (None when unversioned)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@cache
def head_revision() -> str:
    """The newest revision in ``versions/``: the one no other revision names as its predecessor.

    Read from the scripts' ``revision = "..."`` / ``down_revision = "..."`` lines; raises
    when they do not form one line of history (Alembic's ``upgrade`` then decides).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (HERE / "versions").glob("*.py"):
        found = {m.group(1): m.group(2) for m in _REVISION.finditer(script.read_text())}
        if "revision" not in found:
            continue
        revisions.add(str(found["revision"]))
        if found.get("down_revision"):
            parents.add(str(found["down_revision"]))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def at_head(engine: Engine) -> bool:
    """True when the database's ``alembic_version`` holds exactly the head revision."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError:  # no alembic_version table yet: a new (or pre-Alembic) database
        return False
    try:
        return rows == [head_revision()]
    except RuntimeError:
        return False
