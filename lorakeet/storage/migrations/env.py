"""Alembic environment: uses the connection handed over by ``migrations.upgrade``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from lorakeet.storage.registry.tables import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    """Run migrations online, on a given connection or one made from ``sqlalchemy.url``."""
    conn = config.attributes.get("connection")
    if conn is not None:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///data/registry.db")
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
run()
