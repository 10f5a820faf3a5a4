"""Shared fixtures: real Mosquitto, InfluxDB 1.x and PostgreSQL, each private to the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lorakeet.gateway_bridge.broker import LocalBroker
from lorakeet.storage.influx_store import InfluxStore
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore

from .services import InfluxServer, drop_postgres_schema, postgres_schema_url


@pytest.fixture(scope="session")
def influx_server() -> Iterator[InfluxServer]:
    """One private influxd for the whole run (tests use fresh databases)."""
    server = InfluxServer().start()
    yield server
    server.close()


@pytest.fixture
def influx_store(influx_server: InfluxServer) -> Iterator[InfluxStore]:
    """An InfluxStore on a fresh database (v1 /write)."""
    store = InfluxStore(influx_server.url, influx_server.new_database())
    store.create_database()
    yield store
    store.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    """A SqliteStore in a temp file."""
    store = SqliteStore(tmp_path / "readings.db")
    yield store
    store.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A private Mosquitto on a free port (fails if mosquitto is not installed)."""
    b = LocalBroker(kind="mosquitto", data_dir=tmp_path / "broker")
    b.start()
    yield b
    b.close()


@pytest.fixture
def sqlite_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry in a temp SQLite file."""
    r = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    yield r
    r.close()


@pytest.fixture
def pg_registry() -> Iterator[Registry]:
    """A registry in a fresh schema of the local PostgreSQL ``test`` database."""
    url, schema = postgres_schema_url()
    r = Registry(url)
    yield r
    r.close()
    drop_postgres_schema(schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request: pytest.FixtureRequest) -> Registry:
    """The registry on SQLite and on PostgreSQL."""
    name = "sqlite_registry" if request.param == "sqlite" else "pg_registry"
    r: Registry = request.getfixturevalue(name)
    return r
