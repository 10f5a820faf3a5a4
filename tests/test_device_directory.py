"""The bridge's device directory: the whole fleet in memory, kept up to date from the registry."""

from __future__ import annotations

import pytest

from lorakeet.gateway_bridge.devices import DeviceDirectory
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import Registry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_fleet_changes_deletions_and_new_devices_are_seen(registry: Registry) -> None:
    keys = [DeviceKey("town-bins", f"bin-{i}") for i in range(50)]
    for k in keys:
        registry.upsert_device(k, kind="bin", decoder="cayenne_lpp")
    clock, removed = Clock(), []
    d = DeviceDirectory(registry, refresh_s=5.0, on_removed=removed.extend, clock=clock)
    assert all(d.device(k).decoder == "cayenne_lpp" for k in keys)
    assert d.refreshes == 1  # one load for the whole fleet, no lookup per device
    registry.upsert_device(keys[3], kind="bin", decoder="lorakeet_bin")  # changed elsewhere
    registry.delete_device(keys[4])
    assert d.device(keys[3]).decoder == "cayenne_lpp"  # held until the next refresh
    clock.now += 5.0
    assert d.device(keys[3]).decoder == "lorakeet_bin"
    assert removed == [keys[4]]  # the count differed: reloaded, and the deletion reported
    new = DeviceKey("town-bins", "bin-new")
    info = d.device(new, "70b3d57ed0000999")  # unknown: auto-registered at once
    assert info.key == new and registry.get_device(new) is not None
    clock.now += 5.0
    d.device(new)
    assert removed == [keys[4]]  # the auto-registered device is counted, no reload


def test_decoding_goes_on_while_the_registry_is_away(
    sqlite_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    k = DeviceKey("town-bins", "bin-1")
    sqlite_registry.upsert_device(k, kind="bin", decoder="cayenne_lpp")
    clock = Clock()
    d = DeviceDirectory(sqlite_registry, refresh_s=5.0, clock=clock)
    assert d.device(k).decoder == "cayenne_lpp"

    def away(since: object) -> list[object]:
        raise OSError("registry unreachable")

    monkeypatch.setattr(sqlite_registry, "devices_changed_since", away)
    monkeypatch.setattr(sqlite_registry, "device_stamps_since", away)
    clock.now += 5.0
    assert d.device(k).decoder == "cayenne_lpp"  # served from memory
    assert d.refreshes == 1


class CountingRegistry:
    """The registry, counting how often whole devices are read."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.device_reads = 0

    def ensure_device(self, *args: object, **kw: object) -> object:
        return self.registry.ensure_device(*args, **kw)  # type: ignore[arg-type]

    def devices_changed_since(self, since: object) -> list[object]:
        found = self.registry.devices_changed_since(since)  # type: ignore[arg-type]
        self.device_reads += len(found)
        return found  # type: ignore[return-value]

    def device_stamps_since(self, since: object) -> object:
        return self.registry.device_stamps_since(since)  # type: ignore[arg-type]

    def device_count(self) -> int:
        return self.registry.device_count()


def test_refreshes_read_whole_devices_only_when_one_changed(registry: Registry) -> None:
    """A fleet registered a moment ago lies inside the overlap window of every refresh for a
    minute: its devices are not read again unless one of them changed."""
    keys = [DeviceKey("town-bins", f"bin-{i}") for i in range(200)]
    for k in keys:
        registry.upsert_device(k, kind="bin", decoder="cayenne_lpp")
    source, clock = CountingRegistry(registry), Clock()
    d = DeviceDirectory(source, refresh_s=5.0, clock=clock)  # type: ignore[arg-type]
    d.device(keys[0])
    assert source.device_reads == 200
    for _ in range(3):
        clock.now += 5.0
        d.device(keys[0])
    assert d.refreshes == 4 and source.device_reads == 200  # nothing changed: nothing read
    registry.upsert_device(keys[7], kind="bin", decoder="lorakeet_bin")
    clock.now += 5.0
    assert d.device(keys[7]).decoder == "lorakeet_bin"
    assert d.device(keys[8]).decoder == "cayenne_lpp"
