"""Registry migrations: a database made at revision 0001 keeps its rows when upgraded to head,
on SQLite and PostgreSQL; a pre-Alembic database (``create_all`` devices table) is adopted; opening
a registry twice is harmless.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from lorakeet.storage.migrations import alembic_config, at_head, current, head_revision, upgrade
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import Registry, make_engine

from ..services import drop_postgres_schema, postgres_schema_url

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on SQLite or in a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    url, schema = postgres_schema_url()
    yield url
    drop_postgres_schema(schema)


def test_rows_made_at_revision_1_survive_upgrade_to_head(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, "0001")
    assert current(engine) == "0001"
    assert not inspect(engine).has_table("audit_log")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO accounts (id, name, email, ttn_application_ids, is_admin, created_at) "
                "VALUES (1, 'Maker', 'maker@example.org', '[\"bins-town\"]', false, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO devices (application_id, device_id, kind, metadata, owner_id, visibility, tags, "
                "source, created_at, updated_at) "
                "VALUES ('bins-town', 'bin-001', 'bin', '{\"bin_depth_m\": 1.2}', "
                "1, 'public', '[\"centre\"]', 'registered', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()

    reg = Registry(db_url)  # upgrades to head
    try:
        assert current(reg.engine) == HEAD
        row = reg.get_row(DeviceKey("bins-town", "bin-001"))
        assert row is not None
        assert row.owner_id == 1 and row.metadata == {"bin_depth_m": 1.2} and row.tags == ("centre",)
        acc = reg.get_account(1)
        assert acc is not None and acc.ttn_application_ids == ("bins-town",)
        reg.audit(1, "device.update", "device:bins-town.bin-001", {"fields": ["name"]})
        assert [e.action for e in reg.audit_entries()] == ["device.update"]
        index_names = {ix["name"] for ix in inspect(reg.engine).get_indexes("devices")}
        assert "ix_devices_visibility" in index_names
    finally:
        reg.close()


def test_opening_twice_is_harmless(db_url: str) -> None:
    Registry(db_url).close()
    reg = Registry(db_url)
    try:
        assert current(reg.engine) == HEAD
    finally:
        reg.close()


def test_pre_alembic_devices_table_is_adopted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:  # the shape the pre-Alembic create_all made
        conn.execute(
            text(
                "CREATE TABLE devices (id INTEGER PRIMARY KEY, "
                "application_id VARCHAR(64) NOT NULL, device_id VARCHAR(64) NOT NULL, "
                "dev_eui VARCHAR(16), name VARCHAR(200), kind VARCHAR(16) NOT NULL, "
                "decoder VARCHAR(100), metadata JSON NOT NULL, owner_id INTEGER, "
                "visibility VARCHAR(16) NOT NULL, licence VARCHAR(100), latitude FLOAT, "
                "longitude FLOAT, tags JSON NOT NULL, source VARCHAR(16) NOT NULL, "
                "created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, "
                "CONSTRAINT uq_devices_app_dev UNIQUE (application_id, device_id))"
            )
        )
        conn.execute(
            text(
                "INSERT INTO devices (application_id, device_id, kind, metadata, visibility, tags, source, "
                "created_at, updated_at) VALUES ('app', 'dev', 'other', '{}', 'private', '[]', 'auto', "
                "'2024-01-01 00:00:00', '2024-01-01 00:00:00')"
            )
        )
    engine.dispose()
    reg = Registry(url)
    try:
        assert reg.get_device(DeviceKey("app", "dev")) is not None
        assert reg.count_accounts() == 0
    finally:
        reg.close()


def test_works_from_the_installed_package_without_alembic_ini(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no alembic.ini anywhere near
    reg = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        assert current(reg.engine) == HEAD
    finally:
        reg.close()


def test_head_read_from_the_scripts_is_alembics_head() -> None:
    """Registry skips Alembic when the database is at ``head_revision()``: it must be Alembic's head."""
    assert head_revision() == HEAD


def test_a_database_behind_head_is_not_at_head(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    assert not at_head(engine)  # no alembic_version table yet
    upgrade(engine, "0001")
    assert not at_head(engine)
    upgrade(engine)
    assert at_head(engine)
    engine.dispose()
