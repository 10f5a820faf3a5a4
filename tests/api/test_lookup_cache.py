"""The API caches API keys and devices in the process; changes must still take effect.

A key revoked, a device made private or deleted through this process stops working on the
very next request. The same changes made by another process (here: another SQLite
connection writing the registry file, as ``lorakeet keys revoke`` or a second API worker
would) are seen once the cache's ``ttl`` has passed; the cache's clock is faked to step
over it. While the database is unchanged, cached entries survive those checks.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from lorakeet.api.deps import Services
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import CACHE_TTL_S, LookupCache, Registry

from .conftest import register_device, signup, store_reading

DEVICE = "bins-town.bin-007"
LATEST = f"/v1/devices/{DEVICE}/latest"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(api_services: Services) -> Iterator[Clock]:
    """Drive the registry cache's clock."""
    fake = Clock()
    cache = api_services.registry.cache
    real, cache.clock = cache.clock, fake
    yield fake
    cache.clock = real


def other_process(registry: Registry, sql: str, *params: object) -> None:
    """Write the registry file through a connection this process's registry does not own."""
    conn = sqlite3.connect(registry.engine.url.database or "")
    with conn:
        conn.execute(sql, params)
    conn.close()


def test_revoked_key_fails_on_the_next_request(api_client: TestClient) -> None:
    me = signup(api_client)
    key_id = api_client.get("/v1/me", headers=me.headers).json()["key_id"]
    assert api_client.get("/v1/me", headers=me.headers).status_code == 200  # cached now
    assert api_client.delete(f"/v1/keys/{key_id}", headers=me.headers).status_code == 200
    assert api_client.get("/v1/me", headers=me.headers).status_code == 401


def test_private_or_deleted_device_disappears_at_once(api_client: TestClient, api_services: Services) -> None:
    owner = signup(api_client)
    register_device(api_client, owner, DEVICE, visibility="public")
    store_reading(api_services, DEVICE, 40.0)
    assert api_client.get(LATEST).status_code == 200  # cached now
    patch = api_client.patch(f"/v1/devices/{DEVICE}", json={"visibility": "private"}, headers=owner.headers)
    assert patch.status_code == 200
    assert api_client.get(LATEST).status_code == 404
    assert api_client.get(LATEST, headers=owner.headers).status_code == 200
    assert api_client.delete(f"/v1/devices/{DEVICE}", headers=owner.headers).status_code == 204
    assert api_client.get(LATEST, headers=owner.headers).status_code == 404


def test_key_revoked_by_another_process_fails_within_the_ttl(
    api_client: TestClient, api_services: Services, clock: Clock
) -> None:
    me = signup(api_client)
    key_id = api_client.get("/v1/me", headers=me.headers).json()["key_id"]
    revoked = datetime.now(UTC).isoformat()
    other_process(api_services.registry, "UPDATE api_keys SET revoked_at = ? WHERE id = ?", revoked, key_id)
    clock.now += CACHE_TTL_S
    assert api_client.get("/v1/me", headers=me.headers).status_code == 401


def test_device_changed_by_another_process_is_seen_within_the_ttl(
    api_client: TestClient, api_services: Services, clock: Clock
) -> None:
    owner = signup(api_client)
    register_device(api_client, owner, DEVICE, visibility="public")
    assert api_client.get(LATEST).status_code == 200
    app_id, _, dev_id = DEVICE.partition(".")
    sql = "UPDATE devices SET visibility = 'private' WHERE application_id = ? AND device_id = ?"
    other_process(api_services.registry, sql, app_id, dev_id)
    clock.now += CACHE_TTL_S
    assert api_client.get(LATEST).status_code == 404
    other_process(
        api_services.registry,
        "DELETE FROM devices WHERE application_id = ? AND device_id = ?",
        app_id,
        dev_id,
    )
    clock.now += CACHE_TTL_S
    assert api_client.get(LATEST, headers=owner.headers).status_code == 404


def test_entries_survive_checks_while_the_database_is_unchanged(api_services: Services, clock: Clock) -> None:
    registry = api_services.registry
    key = DeviceKey.from_uid(DEVICE)
    registry.upsert_device(key, visibility="public")
    first = registry.lookup_device(key)
    clock.now += 10 * CACHE_TTL_S
    assert registry.cache.device(key) is None  # stale until checked again
    assert registry.lookup_device(key) is first
    assert registry.cache.device(key) is first


def test_a_lookup_racing_a_write_does_not_store_its_old_answer() -> None:
    cache = LookupCache(lambda: 1)
    cache.revalidate()
    key = DeviceKey.from_uid(DEVICE)
    generation = cache.generation
    cache.clear()  # a write lands while the lookup reads
    cache.put_device(generation, key, object())  # type: ignore[arg-type]
    assert cache.device(key) is None


def test_fleet_listing_follows_device_changes_at_once(api_client: TestClient) -> None:
    owner = signup(api_client)
    register_device(api_client, owner, DEVICE, visibility="public")
    fleet = "/v1/readings/latest?kind=bin"
    assert [d["device"] for d in api_client.get(fleet).json()["devices"]] == [DEVICE]
    patch = api_client.patch(f"/v1/devices/{DEVICE}", json={"visibility": "private"}, headers=owner.headers)
    assert patch.status_code == 200
    assert api_client.get(fleet).json()["devices"] == []
    assert [d["device"] for d in api_client.get(fleet, headers=owner.headers).json()["devices"]] == [DEVICE]
