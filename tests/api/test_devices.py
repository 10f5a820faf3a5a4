"""Device registry through the API: register, validate, list with filters and pages, change,
delete with purge of readings, claim auto-registered devices, admin owner assignment, audit.
"""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from lorakeet.api.deps import Services
from lorakeet.storage.records import DeviceKey

from .conftest import make_admin, register_device, signup, store_reading

BIN = "bins-town.bin-001"


def test_register_and_get(api_client: TestClient) -> None:
    owner = signup(api_client)
    d = register_device(
        api_client,
        owner,
        BIN,
        name="Station bin",
        decoder="cayenne_lpp",
        metadata={"bin_depth_m": 1.2},
        location={"latitude": 52.09071, "longitude": 5.12142},
        visibility="public",
        licence="CC-BY-4.0",
        tags=["centre"],
        dev_eui="0011223344556677",
    )
    assert d["id"] == BIN and d["owner_id"] == owner.id and d["source"] == "registered"
    got = api_client.get(f"/v1/devices/{BIN}").json()
    assert got["metadata"] == {"bin_depth_m": 1.2} and got["location"] == {
        "latitude": 52.09071,
        "longitude": 5.12142,
    }
    assert got["licence"] == "CC-BY-4.0" and got["tags"] == ["centre"]
    r = api_client.post(
        "/v1/devices", json={"application_id": "bins-town", "device_id": "bin-001"}, headers=owner.headers
    )
    assert r.status_code == 409


def test_input_is_validated(api_client: TestClient) -> None:
    owner = signup(api_client)
    bad = [
        {"application_id": "Bins Town", "device_id": "x"},
        {"application_id": "a", "device_id": "a.b"},
        {"application_id": "a", "device_id": "b", "kind": "car"},
        {"application_id": "a", "device_id": "b", "decoder": "nope"},
        {"application_id": "a", "device_id": "b", "decoder": "js:999"},
        {"application_id": "a", "device_id": "b", "location": {"latitude": 91, "longitude": 0}},
        {"application_id": "a", "device_id": "b", "visibility": "secret"},
        {"application_id": "a", "device_id": "b", "dev_eui": "xyz"},
        {"application_id": "a", "device_id": "b", "unknown": 1},
        {"application_id": "a", "device_id": "b", "name": "nul\x00"},
    ]
    for body in bad:
        r = api_client.post("/v1/devices", json=body, headers=owner.headers)
        assert r.status_code == 422, body
        assert r.headers["content-type"] == "application/problem+json"
    assert api_client.get("/v1/devices/no-dot").status_code == 422
    r = api_client.post(
        "/v1/devices",
        content=b'{"application_id": "a", "device_id": "b", "location": {"latitude": NaN, "longitude": 0}}',
        headers={**owner.headers, "content-type": "application/json"},
    )
    assert r.status_code == 422


def test_js_codec_decoder_must_exist_and_be_usable(api_client: TestClient, api_services: Services) -> None:
    owner, other = signup(api_client, "A"), signup(api_client, "B")
    codec = api_services.registry.create_codec(owner.id, "mine", "function decodeUplink(i){return {data:{}}}")
    register_device(api_client, owner, "app.d1", decoder=f"js:{codec.id}")
    r = api_client.post(
        "/v1/devices",
        json={"application_id": "app", "device_id": "d2", "decoder": f"js:{codec.id}"},
        headers=other.headers,
    )
    assert r.status_code == 422


def test_list_filters_and_pages(api_client: TestClient) -> None:
    a, b = signup(api_client, "A"), signup(api_client, "B")
    register_device(api_client, a, "app.a1", kind="bin", visibility="public", tags=["centre"])
    register_device(api_client, a, "app.a2", kind="boat", tags=["harbour"])
    register_device(api_client, b, "bpp.b1", kind="bin")  # "app" is A's application

    def ids(params: str, acc: object = None) -> list[str]:
        headers = acc.headers if acc is not None else {}  # type: ignore[attr-defined]
        r = api_client.get(f"/v1/devices?{params}", headers=headers)
        assert r.status_code == 200, r.text
        return [d["id"] for d in r.json()["data"]]

    assert ids("") == ["app.a1"]
    assert ids("", a) == ["app.a1", "app.a2"]
    assert ids("", b) == ["app.a1", "bpp.b1"]
    assert ids("owner=me", a) == ["app.a1", "app.a2"]
    assert ids("kind=bin", a) == ["app.a1"]
    assert ids("tag=harbour", a) == ["app.a2"]
    assert ids("visibility=private", a) == ["app.a2"]
    assert ids("limit=1&offset=1", a) == ["app.a2"]
    page = api_client.get("/v1/devices?limit=1", headers=a.headers).json()
    assert page["count"] == 1 and page["total"] == 2
    assert api_client.get("/v1/devices?owner=me").status_code == 401
    assert api_client.get("/v1/devices?kind=car").status_code == 422


def test_patch_changes_fields_and_only_owner_or_admin_may(
    api_client: TestClient, api_services: Services
) -> None:
    owner, other, admin = signup(api_client, "A"), signup(api_client, "B"), make_admin(api_services)
    register_device(api_client, owner, BIN, visibility="public")
    r = api_client.patch(f"/v1/devices/{BIN}", json={"name": "Renamed", "tags": ["x"]}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["name"] == "Renamed" and r.json()["tags"] == ["x"]
    assert (
        api_client.patch(f"/v1/devices/{BIN}", json={"name": "n"}, headers=other.headers).status_code == 403
    )
    assert (
        api_client.patch(f"/v1/devices/{BIN}", json={"kind": None}, headers=owner.headers).status_code == 422
    )
    r = api_client.patch(
        f"/v1/devices/{BIN}", json={"location": None, "decoder": None}, headers=owner.headers
    )
    assert r.status_code == 200 and r.json()["location"] is None
    assert (
        api_client.patch(f"/v1/devices/{BIN}", json={"owner_id": other.id}, headers=owner.headers).status_code
        == 403
    )
    r = api_client.patch(f"/v1/devices/{BIN}", json={"owner_id": other.id}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["owner_id"] == other.id
    assert (
        api_client.patch(f"/v1/devices/{BIN}", json={"owner_id": 99999}, headers=admin.headers).status_code
        == 422
    )


def test_delete_purges_readings(api_client: TestClient, api_services: Services) -> None:
    owner, other = signup(api_client, "A"), signup(api_client, "B")
    register_device(api_client, owner, BIN, visibility="public")
    store_reading(api_services, BIN, 42.0)
    key = DeviceKey.from_uid(BIN)
    assert api_services.store.latest(key)
    assert api_client.delete(f"/v1/devices/{BIN}", headers=other.headers).status_code == 403
    assert api_client.delete(f"/v1/devices/{BIN}", headers=owner.headers).status_code == 204
    assert api_services.store.latest(key) == []
    assert api_services.store.points(key, None, 0, time.time_ns(), 10) == []
    assert api_client.get(f"/v1/devices/{BIN}").status_code == 404


def test_claim_auto_registered_device(api_client: TestClient, api_services: Services) -> None:
    key = DeviceKey("bins-town", "auto-7")
    api_services.registry.ensure_device(key)
    maker, stranger, admin = signup(api_client, "A"), signup(api_client, "B"), make_admin(api_services)
    url = f"/v1/devices/{key.uid}/claim"
    assert api_client.post(url, headers=maker.headers).status_code == 404  # private, unproved
    api_client.patch(
        f"/v1/accounts/{maker.id}", json={"ttn_application_ids": ["bins-town"]}, headers=admin.headers
    )
    # the assignment proves bins-town: its auto-registered devices are the maker's
    r = api_client.post(url, headers=maker.headers)
    assert r.status_code == 200 and r.json()["owner_id"] == maker.id and r.json()["source"] == "auto"
    assert api_client.post(url, headers=maker.headers).status_code == 200  # idempotent for the owner
    assert api_client.post(url, headers=stranger.headers).status_code == 404
    later = DeviceKey("bins-town", "auto-8")  # traffic of a proved application: the owner's at once
    assert api_services.registry.ensure_device(later).owner_id == maker.id
    other = DeviceKey("unproved", "auto-9")
    api_services.registry.ensure_device(other)
    assert api_client.post(f"/v1/devices/{other.uid}/claim", headers=stranger.headers).status_code == 404
    r = api_client.post(f"/v1/devices/{other.uid}/claim", headers=admin.headers)
    assert r.status_code == 200 and r.json()["owner_id"] == admin.id
    assert api_client.post("/v1/devices/app.none/claim", headers=admin.headers).status_code == 404


def test_public_unowned_device_claim_needs_proof(api_client: TestClient, api_services: Services) -> None:
    api_services.registry.upsert_device(DeviceKey("lights", "l1"), kind="streetlight", visibility="public")
    maker = signup(api_client)
    assert api_client.post("/v1/devices/lights.l1/claim", headers=maker.headers).status_code == 403


def test_changes_are_audited(api_client: TestClient, api_services: Services) -> None:
    owner, other, admin = signup(api_client, "A"), signup(api_client, "B"), make_admin(api_services)
    register_device(api_client, owner, BIN)
    api_client.patch(f"/v1/devices/{BIN}", json={"name": "x"}, headers=admin.headers)
    register_device(api_client, other, "app.other")
    mine = api_client.get("/v1/audit", headers=owner.headers).json()["data"]
    assert [(e["action"], e["target"]) for e in mine] == [
        ("device.update", f"device:{BIN}"),
        ("device.create", f"device:{BIN}"),
        ("account.create", f"account:{owner.id}"),
    ]
    assert mine[0]["account_id"] == admin.id and mine[0]["detail"] == {"fields": ["name"]}
    everything = api_client.get("/v1/audit", headers=admin.headers).json()["data"]
    assert "device:app.other" in {e["target"] for e in everything}
    assert api_client.get("/v1/audit").status_code == 401


def test_metadata_may_hold_small_json_structures(api_client: TestClient) -> None:
    """A boat's geofence polygon and per-quantity thresholds are objects, not scalars."""
    owner = signup(api_client)
    fence = {"type": "Polygon", "coordinates": [[[4.48, 51.90], [4.49, 51.90], [4.49, 51.91], [4.48, 51.90]]]}
    meta = {"geofence": fence, "thresholds": {"fill_pct": 70}, "bin_depth_m": 1.2}
    dev = register_device(api_client, owner, "harbour.boat-01", kind="boat", metadata=meta)
    assert dev["metadata"] == meta
    r = api_client.get("/v1/devices/harbour.boat-01", headers=owner.headers)
    assert r.json()["metadata"]["geofence"] == fence
