"""Alert rules are authorised at use: visibility, erasure and the creating key's scopes."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from lorakeet.alerts.engine import AlertEngine
from lorakeet.api.auth import hash_key, new_key
from lorakeet.api.deps import Services
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import DeviceChanges
from tests.views.conftest import stored

from .conftest import Account, make_admin, register_device, signup

MIN = 60 * 10**9
FULL = {"name": "full", "rule_type": "threshold", "quantity": "fill_pct", "threshold": 80}


def fired(client: TestClient, who: Account) -> list[tuple[str, str]]:
    events = client.get("/v1/alerts/events", headers=who.headers).json()["events"]
    return [(e["device"], e["state"]) for e in reversed(events)]


def test_a_rule_on_a_public_device_stops_when_it_becomes_private(
    api_client: TestClient, api_services: Services
) -> None:
    alice, bob = signup(api_client, "Alice"), signup(api_client, "Bob")
    register_device(api_client, alice, "town.bin-1", visibility="public")
    r = api_client.post("/v1/alerts/rules", headers=bob.headers, json={**FULL, "device": "town.bin-1"})
    assert r.status_code == 201, r.text
    bob_rule = r.json()["id"]
    engine = AlertEngine(api_services.registry, refresh_s=0)
    now = time.time_ns()
    engine([stored("town.bin-1", "bin", now, 1, fill_pct=90.0)])
    assert fired(api_client, bob) == [("town.bin-1", "fired")]

    # made private behind the API's back (another process, a direct edit): evaluation refuses
    api_services.registry.update_device(DeviceKey("town", "bin-1"), DeviceChanges(visibility="private"))
    engine([stored("town.bin-1", "bin", now + MIN, 2, fill_pct=10.0)])
    engine([stored("town.bin-1", "bin", now + 2 * MIN, 3, fill_pct=95.0)])
    assert fired(api_client, bob) == [("town.bin-1", "fired")]

    # through the API, the rule itself goes: Bob can no longer see it or have it re-armed
    api_services.registry.update_device(DeviceKey("town", "bin-1"), DeviceChanges(visibility="public"))
    r = api_client.patch("/v1/devices/town.bin-1", headers=alice.headers, json={"visibility": "private"})
    assert r.status_code == 200, r.text
    assert api_client.get(f"/v1/alerts/rules/{bob_rule}", headers=bob.headers).status_code == 404
    # Alice's own rule on her device is kept
    r = api_client.post("/v1/alerts/rules", headers=alice.headers, json={**FULL, "device": "town.bin-1"})
    assert r.status_code == 201
    r = api_client.patch("/v1/devices/town.bin-1", headers=alice.headers, json={"visibility": "private"})
    assert r.status_code == 200
    assert [
        x["device"] for x in api_client.get("/v1/alerts/rules", headers=alice.headers).json()["rules"]
    ] == ["town.bin-1"]


def test_a_deleted_device_takes_its_rules_along(api_client: TestClient, api_services: Services) -> None:
    alice, bob, carol = signup(api_client, "Alice"), signup(api_client, "Bob"), signup(api_client, "Carol")
    register_device(api_client, alice, "harbour.bin-2", visibility="public")
    for who in (alice, bob):
        assert (
            api_client.post(
                "/v1/alerts/rules", headers=who.headers, json={**FULL, "device": "harbour.bin-2"}
            ).status_code
            == 201
        )
    assert api_client.delete("/v1/devices/harbour.bin-2", headers=alice.headers).status_code == 204
    for who in (alice, bob):
        assert api_client.get("/v1/alerts/rules", headers=who.headers).json()["rules"] == []

    # a device registered later under the same id (by an account Alice lets in) inherits nothing
    api_services.registry.grant("harbour", carol.id, by=alice.id)
    register_device(api_client, carol, "harbour.bin-2", visibility="public")
    engine = AlertEngine(api_services.registry, refresh_s=0)
    engine([stored("harbour.bin-2", "bin", time.time_ns(), 1, fill_pct=99.0)])
    assert fired(api_client, alice) == [] and fired(api_client, bob) == []


def test_fleet_reach_follows_the_creating_keys_scope(api_client: TestClient, api_services: Services) -> None:
    maker = signup(api_client, "Maker")
    register_device(api_client, maker, "farm.bin-3")  # private
    admin = make_admin(api_services)
    reg = api_services.registry
    plain = new_key()
    reg.create_key(
        admin.id, name="plain", key_hash=hash_key(plain), prefix=plain[:8], scopes=["read", "write"]
    )
    plain_admin = Account(admin.id, plain)

    by_plain = api_client.post(
        "/v1/alerts/rules", headers=plain_admin.headers, json={**FULL, "name": "plain", "kind": "bin"}
    )
    by_admin = api_client.post(
        "/v1/alerts/rules", headers=admin.headers, json={**FULL, "name": "scoped", "kind": "bin"}
    )
    assert by_plain.status_code == by_admin.status_code == 201
    engine = AlertEngine(api_services.registry, refresh_s=0)
    now = time.time_ns()
    engine([stored("farm.bin-3", "bin", now, 1, fill_pct=90.0)])
    events = api_client.get("/v1/alerts/events", headers=admin.headers).json()["events"]
    assert [e["rule_id"] for e in events] == [by_admin.json()["id"]]  # the plain key's rule does not reach

    # revoking the admin-scoped key narrows its rule at the next evaluation
    admin_key_id = next(k.id for k in reg.list_keys(admin.id) if "admin" in k.scopes)
    engine([stored("farm.bin-3", "bin", now + MIN, 2, fill_pct=10.0)])  # clears
    reg.revoke_key(admin_key_id)
    engine([stored("farm.bin-3", "bin", now + 2 * MIN, 3, fill_pct=95.0)])
    states = [
        (e["rule_id"], e["state"])
        for e in api_client.get("/v1/alerts/events", headers=plain_admin.headers).json()["events"]
    ]
    assert states == [(by_admin.json()["id"], "cleared"), (by_admin.json()["id"], "fired")]


def test_booleans_are_booleans(api_client: TestClient) -> None:
    maker = signup(api_client)
    register_device(api_client, maker, "town.bin-4")
    r = api_client.post(
        "/v1/alerts/rules", headers=maker.headers, json={**FULL, "device": "town.bin-4", "enabled": "yes"}
    )
    assert r.status_code == 422
    assert "enabled" in r.text
