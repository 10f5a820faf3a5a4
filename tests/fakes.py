"""Fakes that implement our protocols, for fast unit tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from lorakeet.storage.protocols import StoreError
from lorakeet.storage.records import DeviceKey, RejectedMessage, StoredUplink
from lorakeet.storage.registry import DeviceInfo


class MemoryWriter:
    """A ReadingWriter that keeps batches in memory and can be told to fail."""

    def __init__(self) -> None:
        self.batches: list[list[StoredUplink]] = []
        self.rejected: list[RejectedMessage] = []
        self.fail_next = 0
        self.lock = threading.Lock()

    @property
    def stored(self) -> list[StoredUplink]:
        return [s for b in self.batches for s in b]

    def write(self, batch: Sequence[StoredUplink]) -> None:
        with self.lock:
            if self.fail_next:
                self.fail_next -= 1
                raise StoreError("simulated outage")
            self.batches.append(list(batch))

    def write_rejected(self, batch: Sequence[RejectedMessage]) -> None:
        self.rejected.extend(batch)

    def delete_device(self, device: DeviceKey) -> None:
        for b in self.batches:
            b[:] = [s for s in b if s.uplink.key != device]

    def close(self) -> None:
        pass


class StaticDevices:
    """A DeviceSource with fixed registrations; unknown devices are 'auto-registered'."""

    def __init__(self, *infos: DeviceInfo) -> None:
        self.infos = {i.key: i for i in infos}
        self.auto: list[DeviceKey] = []

    def ensure_device(
        self, key: DeviceKey, dev_eui: str | None = None, model: object = None, decoded: bool = False
    ) -> DeviceInfo:
        if key not in self.infos:
            self.auto.append(key)
            self.infos[key] = DeviceInfo(key)
        return self.infos[key]
