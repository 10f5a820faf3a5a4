"""The two small store protocols: one to write, one to read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .records import Aggregate, DeviceKey, LatestValue, Point, RejectedMessage, StoredUplink, UplinkView


class StoreError(Exception):
    """The store could not be reached or refused a request.

    Plain ``StoreError`` is transient (connection, timeout, 5xx, 429): the same write may
    succeed later. Two subclasses say otherwise.
    """


class StoreConfigError(StoreError):
    """The store refuses every write until an operator acts (401/403, no such database)."""


class PointsRefused(StoreError):
    """The store refused some points of a write for good (a partial write, a field type
    conflict, a time beyond the retention policy, a number it cannot hold). The other points
    of the batch may have been written; writing them again is harmless (writes are
    idempotent), so a caller may split the batch to find the refused ones."""


class ReadingWriter(Protocol):
    """Persists decoded uplinks; a write returns only once the batch is durable."""

    def write(self, batch: Sequence[StoredUplink]) -> None:
        """Store a batch idempotently: a batch written twice is stored once.

        Raises StoreError, StoreConfigError or PointsRefused (see their docs) and nothing else.
        """
        ...

    def write_rejected(self, batch: Sequence[RejectedMessage]) -> None:
        """Keep messages that could not be parsed."""
        ...

    def delete_device(self, device: DeviceKey) -> None:
        """Erase every reading and uplink of a device."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class ReadingReader(Protocol):
    """Reads back what the writer stored."""

    @property
    def reads_inline(self) -> bool:
        """True when a short read costs less than a thread-pool hop (an embedded store), so an
        event loop may run it inline; False when reads wait on a network."""
        ...

    def latest(self, device: DeviceKey) -> list[LatestValue]:
        """The most recent value of every key of a device."""
        ...

    def latest_many(self, devices: Sequence[DeviceKey]) -> dict[DeviceKey, list[LatestValue]]:
        """The latest values of several devices at once (devices with none are left out)."""
        ...

    def points(
        self,
        device: DeviceKey,
        keys: Sequence[str] | None,
        start_ns: int,
        end_ns: int,
        limit: int,
    ) -> list[Point]:
        """Raw points in [start, end), oldest first, at most ``limit``."""
        ...

    def aggregate(
        self,
        device: DeviceKey,
        keys: Sequence[str],
        start_ns: int,
        end_ns: int,
        every_ns: int,
        agg: Aggregate,
    ) -> list[Point]:
        """One point per non-empty window of ``every_ns`` aligned to the epoch.

        Only numeric (float) quantities are aggregated; other keys are ignored.
        """
        ...

    def uplinks(self, device: DeviceKey, start_ns: int, end_ns: int, limit: int) -> list[UplinkView]:
        """Stored uplinks in [start, end), newest first."""
        ...

    def keys(self, device: DeviceKey) -> list[str]:
        """The reading keys stored for a device."""
        ...

    def units(self, device: DeviceKey) -> dict[str, str]:
        """The unit stored with the device's keys ('' for none; vendor fields at least)."""
        ...
