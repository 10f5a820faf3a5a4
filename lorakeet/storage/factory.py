"""Build the configured readings store."""

from __future__ import annotations

from typing import Protocol

from lorakeet.settings import StoreSettings

from .influx_store import InfluxStore
from .protocols import ReadingReader, ReadingWriter
from .sqlite_store import SqliteStore


class Store(ReadingWriter, ReadingReader, Protocol):
    """A store that both writes and reads (both built-in stores are)."""

    def count_uplinks(self) -> int:
        """Number of stored uplinks."""
        ...


def open_store(cfg: StoreSettings) -> Store:
    """The SQLite or InfluxDB store the settings name."""
    if cfg.kind == "sqlite":
        return SqliteStore(cfg.sqlite_path, synchronous=cfg.sqlite_synchronous)
    store = InfluxStore(
        cfg.influx_url,
        cfg.influx_database,
        api=cfg.influx_api,
        username=cfg.influx_username,
        password=cfg.influx_password.get_secret_value() if cfg.influx_password else None,
        token=cfg.influx_token.get_secret_value() if cfg.influx_token else None,
        org=cfg.influx_org,
        bucket=cfg.influx_bucket,
        retention_policy=cfg.influx_retention_policy,
    )
    if cfg.influx_api == "v1":
        store.create_database()
    return store
