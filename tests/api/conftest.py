"""API fixtures: an app over a temp SQLite registry and store, and helpers to make accounts.

``api_client`` is a TestClient; ``signup(client)`` makes an ordinary account through the API;
``make_admin(services)`` bootstraps an admin straight in the registry (as the CLI does).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from lorakeet.api.app import create_app
from lorakeet.api.auth import hash_key, new_key
from lorakeet.api.deps import Services
from lorakeet.settings import ApiSettings, Settings
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore


@dataclass(frozen=True)
class Account:
    """An account made for a test, with its API key."""

    id: int
    key: str

    @property
    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer <key>``."""
        return {"Authorization": f"Bearer {self.key}"}


def api_settings(**api: object) -> Settings:
    """Settings for tests: generous rate limits unless overridden."""
    fields: dict[str, object] = {"rate_limit_per_minute": 100_000, "rate_limit_burst": 100_000}
    fields.update(api)
    return Settings(api=ApiSettings.model_validate(fields))


@pytest.fixture
def api_services(sqlite_registry: Registry, sqlite_store: SqliteStore) -> Services:
    """Services over a temp SQLite registry and store."""
    return Services(api_settings(), sqlite_registry, sqlite_store)


@pytest.fixture
def api_client(api_services: Services) -> Iterator[TestClient]:
    """A TestClient on a fresh app."""
    with TestClient(create_app(api_services), raise_server_exceptions=True) as client:
        yield client


def signup(client: TestClient, name: str = "Maker") -> Account:
    """Sign up an ordinary account through the API."""
    email = f"{name.lower().replace(' ', '-')}-{uuid.uuid4().hex[:8]}@example.org"
    r = client.post("/v1/accounts", json={"name": name, "email": email})
    assert r.status_code == 201, r.text
    body = r.json()
    return Account(body["account"]["id"], body["key"])


def make_admin(services: Services, name: str = "Admin") -> Account:
    """An admin account with an admin-scoped key, made in the registry."""
    reg = services.registry
    acc = reg.create_account(name, f"admin-{uuid.uuid4().hex[:8]}@example.org", is_admin=True)
    key = new_key()
    reg.create_key(acc.id, name="admin", key_hash=hash_key(key), prefix=key[:8], scopes=["admin"])
    return Account(acc.id, key)


def prove_application(client: TestClient, owner: Account, application_id: str) -> None:
    """Make ``owner`` the owner of an application nobody has proved yet (as an admin's assignment
    would): the world of most tests, where each account registers in its own applications."""
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    app = services.registry.get_application(application_id)
    if app is None or app.owner_id is None:
        services.registry.prove_application(application_id, owner.id, "admin")


def register_device(
    client: TestClient, owner: Account, device: str = "bins-town.bin-001", **fields: object
) -> dict[str, object]:
    """Register a device through the API and return its JSON."""
    app_id, _, dev_id = device.partition(".")
    prove_application(client, owner, app_id)
    body: dict[str, object] = {"application_id": app_id, "device_id": dev_id, "kind": "bin"}
    body.update(fields)
    r = client.post("/v1/devices", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    result: dict[str, object] = r.json()
    return result


def store_reading(
    services: Services, device: str, value: float, time_ns: int = 1_700_000_000_000_000_000
) -> None:
    """Write one fill_pct reading (and its uplink) for a device into the store."""
    from lorakeet.decoders import Reading
    from lorakeet.storage.records import StoredUplink, Uplink

    app_id, _, dev_id = device.partition(".")
    up = Uplink("ttn", app_id, dev_id, time_ns, 1, int(value), bytes([int(value)]))
    services.store.write([StoredUplink(up, "bin", "test", (Reading("fill_pct", value, "%"),))])
