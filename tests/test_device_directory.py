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
    clock.now += 5.0
    assert d.device(k).decoder == "cayenne_lpp"  # served from memory
    assert d.refreshes == 1
