"""Build the configured readings store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from urllib.parse import urlsplit

from lorakeet.settings import StoreSettings

from .influx_store import InfluxStore
from .protocols import ReadingReader, ReadingWriter
from .records import DeviceKey
from .sqlite_store import SqliteStore


class Store(ReadingWriter, ReadingReader, Protocol):
    """A store that both writes and reads (both built-in stores are)."""

    def count_uplinks(self) -> int:
        """Number of stored uplinks."""
        ...

    def forget_devices(self, devices: Sequence[DeviceKey]) -> None:
        """Devices deleted elsewhere: drop what this process holds about them."""
        ...


def _gzip_level(cfg: StoreSettings) -> int:
    """1 (fast) unless off, or auto and InfluxDB is on loopback (compressing costs more than it saves)."""
    if cfg.influx_gzip == "auto":
        host = urlsplit(cfg.influx_url).hostname or ""
        loopback = host == "localhost" or host.startswith("127.") or host == "::1"
        return 0 if loopback else 1
    return 1 if cfg.influx_gzip == "on" else 0


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
        gzip_level=_gzip_level(cfg),
    )
    if cfg.influx_api == "v1":
        store.create_database()
    return store
