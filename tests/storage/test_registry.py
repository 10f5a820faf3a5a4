"""Registry operations on SQLite and PostgreSQL: accounts, keys, devices, erasure, audit, codecs."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import (
    AccountChanges,
    ConflictError,
    DeviceChanges,
    DeviceFilter,
    Registry,
    as_utc,
)

KEY = DeviceKey("bins-town", "bin-001")


def _account(registry: Registry, name: str = "maker", admin: bool = False) -> int:
    return registry.create_account(name, f"{name}@example.org", is_admin=admin).id


def test_accounts_have_unique_emails(registry: Registry) -> None:
    a = registry.create_account("Maker", "Maker@Example.org", ttn_application_ids=["bins-town"])
    assert a.email == "maker@example.org" and a.ttn_application_ids == ("bins-town",) and not a.is_admin
    with pytest.raises(ConflictError):
        registry.create_account("Other", "maker@example.org")
    assert registry.count_accounts() == 1
    updated = registry.update_account(a.id, AccountChanges(ttn_application_ids=["x"], is_admin=True))
    assert updated is not None and updated.is_admin and updated.ttn_application_ids == ("x",)
    assert registry.update_account(999, AccountChanges(name="n")) is None


def test_keys_are_found_by_hash_until_revoked(registry: Registry) -> None:
    acc = _account(registry, admin=True)
    row = registry.create_key(acc, name="k", key_hash="a" * 64, prefix="lk_abcdefgh", scopes=["admin"])
    assert row.prefix == "lk_abcde"
    found = registry.find_key("a" * 64)
    assert found is not None
    assert (found.account_id, found.scopes, found.is_admin) == (acc, ("admin",), True)
    assert registry.find_key("b" * 64) is None
    used = registry.get_key(row.id)
    assert used is not None and used.last_used_at is not None
    revoked = registry.revoke_key(row.id)
    assert revoked is not None and revoked.revoked_at is not None
    assert registry.find_key("a" * 64) is None
    assert registry.revoke_key(12345) is None
    assert [k.id for k in registry.list_keys(acc)] == [row.id]


def test_last_used_is_touched_at_most_once_a_minute(registry: Registry) -> None:
    acc = _account(registry)
    row = registry.create_key(acc, name="k", key_hash="c" * 64, prefix="lk_", scopes=["read"])
    registry.find_key("c" * 64)
    first = registry.get_key(row.id)
    registry.find_key("c" * 64)
    second = registry.get_key(row.id)
    assert first is not None and second is not None and first.last_used_at == second.last_used_at
    old = as_utc(first.last_used_at) - timedelta(minutes=5)  # type: ignore[arg-type]
    with registry.session() as s:
        from lorakeet.storage.registry import ApiKeyRow

        k = s.get(ApiKeyRow, row.id)
        assert k is not None
        k.last_used_at = old
        s.commit()
    registry.find_key("c" * 64)
    third = registry.get_key(row.id)
    assert third is not None and as_utc(third.last_used_at) > old  # type: ignore[arg-type]


def test_devices_create_update_delete(registry: Registry) -> None:
    owner = _account(registry)
    fields = DeviceChanges(owner_id=owner, kind="bin", metadata={"bin_depth_m": 1.2}, tags=["centre"])
    row = registry.create_device(KEY, fields)
    assert row.owner_id == owner and row.metadata == {"bin_depth_m": 1.2} and row.tags == ("centre",)
    with pytest.raises(ConflictError):
        registry.create_device(KEY, DeviceChanges(owner_id=owner))
    updated = registry.update_device(KEY, DeviceChanges(name="Station", latitude=52.1, longitude=5.1))
    assert updated is not None and updated.name == "Station" and updated.kind == "bin"
    assert registry.update_device(DeviceKey("x", "y"), DeviceChanges(name="n")) is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        updated.name = "changed"  # type: ignore[misc]
    cleared = registry.update_device(KEY, DeviceChanges(name=None, tags=[]))  # None clears, UNSET keeps
    assert cleared is not None and (cleared.name, cleared.tags, cleared.latitude) == (None, (), 52.1)
    assert cleared.metadata == {"bin_depth_m": 1.2} and cleared.owner_id == owner
    info = registry.get_device(KEY)
    assert info is not None and info.owner_id == owner and info.kind == "bin"
    assert registry.delete_device(KEY)
    assert not registry.delete_device(KEY)
    assert registry.get_row(KEY) is None


def test_find_devices_filters_and_hides_private_ones(registry: Registry) -> None:
    a, b = _account(registry, "a"), _account(registry, "b")
    registry.create_device(
        DeviceKey("app", "d1"), DeviceChanges(owner_id=a, kind="bin", visibility="public", tags=["x"])
    )
    registry.create_device(
        DeviceKey("app", "d2"), DeviceChanges(owner_id=a, kind="boat", visibility="private", tags=["x", "y"])
    )
    registry.create_device(
        DeviceKey("app", "d3"), DeviceChanges(owner_id=b, kind="bin", visibility="private")
    )
    registry.ensure_device(DeviceKey("other", "auto-1"))

    def ids(f: DeviceFilter, **kw: int) -> list[str]:
        return [r.device_id for r in registry.find_devices(f, **kw)[0]]

    assert ids(DeviceFilter()) == ["d1", "d2", "d3", "auto-1"]
    assert ids(DeviceFilter(viewer_admin=False)) == ["d1"]
    assert ids(DeviceFilter(viewer_admin=False, viewer_id=a)) == ["d1", "d2"]
    assert ids(DeviceFilter(viewer_admin=False, viewer_id=b)) == ["d1", "d3"]
    assert ids(DeviceFilter(kind="bin")) == ["d1", "d3"]
    assert ids(DeviceFilter(tag="y")) == ["d2"]
    assert ids(DeviceFilter(owner_id=a)) == ["d1", "d2"]
    assert ids(DeviceFilter(visibility="public")) == ["d1"]
    rows, total = registry.find_devices(DeviceFilter(), limit=2, offset=1)
    assert [r.device_id for r in rows] == ["d2", "d3"] and total == 4
    rows, total = registry.find_devices(DeviceFilter(tag="x"), limit=1, offset=1)
    assert [r.device_id for r in rows] == ["d2"] and total == 2
    assert [r.device_id for r in registry.list_devices(kind="boat")] == ["d2"]


def test_delete_account_erases_keys_devices_codecs_and_secrets(registry: Registry) -> None:
    a, b = _account(registry, "a"), _account(registry, "b")
    registry.create_key(a, name="k", key_hash="d" * 64, prefix="lk_", scopes=["read"])
    registry.create_device(DeviceKey("app", "mine"), DeviceChanges(owner_id=a))
    registry.create_device(DeviceKey("app", "theirs"), DeviceChanges(owner_id=b))
    codec = registry.create_codec(a, "mine", "function decodeUplink(i){return {data:{}}}", [{"x": 1}])
    registry.set_application_secret("app", "e" * 64, a)
    erased = registry.delete_account(a)
    assert erased == [DeviceKey("app", "mine")]
    assert registry.get_account(a) is None
    assert registry.find_key("d" * 64) is None and registry.list_keys(a) == []
    assert registry.get_row(DeviceKey("app", "theirs")) is not None
    assert registry.get_codec(codec.id) is None
    assert registry.get_application_secret("app") is None


def test_codecs_and_application_secrets(registry: Registry) -> None:
    a = _account(registry)
    codec = registry.create_codec(a, "bin codec", "function decodeUplink(i){return {data:{}}}")
    got = registry.get_codec(codec.id)
    assert got is not None and got.name == "bin codec" and got.examples == ()
    registry.set_application_secret("app", "1" * 64, a)
    registry.set_application_secret("app", "2" * 64, a)
    secret = registry.get_application_secret("app")
    assert secret is not None and secret.secret_hash == "2" * 64


def test_audit_entries_for_an_account(registry: Registry) -> None:
    a, b = _account(registry, "a"), _account(registry, "b")
    registry.audit(a, "device.create", "device:app.mine")
    registry.audit(None, "device.update", "device:app.mine", {"fields": ["name"]})
    registry.audit(b, "device.create", "device:app.theirs")
    assert [e.action for e in registry.audit_entries()] == ["device.create", "device.update", "device.create"]
    mine = registry.audit_entries(account_id=a, targets=["device:app.mine"])
    assert [(e.account_id, e.target) for e in mine] == [(None, "device:app.mine"), (a, "device:app.mine")]
    assert mine[0].detail == {"fields": ["name"]}


def test_existing_bridge_methods_still_work(registry: Registry) -> None:
    auto = registry.ensure_device(KEY, dev_eui="0011223344556677")
    assert auto.owner_id is None
    row = registry.get_row(KEY)
    assert row is not None and row.source == "auto"
    info = registry.upsert_device(KEY, kind="bin", decoder="cayenne_lpp", metadata={"bin_depth_m": 1.0})
    assert info.decoder == "cayenne_lpp" and info.metadata == {"bin_depth_m": 1.0}
    assert registry.ensure_device(KEY).kind == "bin"
