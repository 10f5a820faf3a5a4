"""Privacy and open data: private devices are invisible to others (404), locations of private
devices are coarsened to ~1 km for anyone but owner/admin, the export zip holds everything an
account owns, erasing an account erases its devices' readings, and public data is served
without a key as JSON, CSV and GeoJSON.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile

from fastapi.testclient import TestClient

from lorakeet.api.auth import ANONYMOUS, Viewer
from lorakeet.api.deps import Services
from lorakeet.api.presentation import device_public
from lorakeet.storage.records import DeviceKey

from .conftest import make_admin, register_device, signup, store_reading

PRIVATE = "bins-town.secret-bin"
PUBLIC = "bins-town.open-bin"
T0 = 1_700_000_000_000_000_000


def test_private_devices_are_404_for_others(api_client: TestClient, api_services: Services) -> None:
    owner, other, admin = signup(api_client, "A"), signup(api_client, "B"), make_admin(api_services)
    register_device(api_client, owner, PRIVATE)
    for who in ({}, other.headers):
        assert api_client.get(f"/v1/devices/{PRIVATE}", headers=who).status_code == 404
        assert api_client.patch(f"/v1/devices/{PRIVATE}", json={"name": "x"}, headers=who).status_code in (
            401,
            404,
        )
        assert api_client.get(f"/v1/public/devices/{PRIVATE}", headers=who).status_code == 404
        assert api_client.get(f"/v1/public/devices/{PRIVATE}/readings", headers=who).status_code == 404
    assert api_client.get(f"/v1/devices/{PRIVATE}", headers=owner.headers).status_code == 200
    assert api_client.get(f"/v1/devices/{PRIVATE}", headers=admin.headers).status_code == 200
    # Even the owner gets no private device under /v1/public.
    assert api_client.get(f"/v1/public/devices/{PRIVATE}", headers=owner.headers).status_code == 404


def test_private_locations_are_coarsened_for_non_owners(api_services: Services) -> None:
    api_services.registry.upsert_device(
        DeviceKey.from_uid(PRIVATE), latitude=52.090712, longitude=5.121427, owner_id=None
    )
    row = api_services.registry.get_row(DeviceKey.from_uid(PRIVATE))
    assert row is not None
    shown = device_public(row, ANONYMOUS).location
    assert shown is not None and (shown.latitude, shown.longitude) == (52.09, 5.12)
    admin = device_public(row, Viewer(account_id=1, is_admin=True, scopes=frozenset({"read"}))).location
    assert admin is not None and admin.latitude == 52.090712


def test_me_export_contains_everything(api_client: TestClient, api_services: Services) -> None:
    owner, other = signup(api_client, "A"), signup(api_client, "B")
    register_device(api_client, owner, PRIVATE, location={"latitude": 52.0907, "longitude": 5.1214})
    register_device(api_client, other, "other.dev")
    store_reading(api_services, PRIVATE, 42.0, T0)
    store_reading(api_services, PRIVATE, 43.5, T0 + 60 * 10**9)
    r = api_client.get("/v1/me/export", headers=owner.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    names = set(z.namelist())
    assert {n for n in names if not n.startswith("registry/")} == {
        "account.json",
        "keys.json",
        "devices.json",
        f"readings/{PRIVATE}.csv",
        f"uplinks/{PRIVATE}.ndjson",
    }
    assert "registry/audit_log.json" in names and "registry/applications.json" in names
    assert json.loads(z.read("account.json"))["id"] == owner.id
    keys = json.loads(z.read("keys.json"))
    assert keys[0]["prefix"] == owner.key[:8] and owner.key not in z.read("keys.json").decode()
    assert "hash" not in keys[0]
    devices = json.loads(z.read("devices.json"))
    assert [d["id"] for d in devices] == [PRIVATE] and devices[0]["location"]["latitude"] == 52.0907
    rows = list(csv.reader(io.StringIO(z.read(f"readings/{PRIVATE}.csv").decode())))
    assert rows[0] == ["time", "fill_pct"] and [r[1] for r in rows[1:]] == ["42.0", "43.5"]
    uplinks = [json.loads(line) for line in z.read(f"uplinks/{PRIVATE}.ndjson").decode().splitlines()]
    assert len(uplinks) == 2 and {u["f_cnt"] for u in uplinks} == {42, 43}
    assert api_client.get("/v1/me/export").status_code == 401


def test_delete_me_erases_account_keys_devices_and_readings(
    api_client: TestClient, api_services: Services
) -> None:
    owner, other = signup(api_client, "A"), signup(api_client, "B")
    register_device(api_client, owner, PRIVATE)
    register_device(api_client, other, "other.dev")
    store_reading(api_services, PRIVATE, 42.0)
    store_reading(api_services, "other.dev", 10.0)
    assert api_client.delete("/v1/me", headers=owner.headers).status_code == 204
    assert api_client.get("/v1/me", headers=owner.headers).status_code == 401
    reg = api_services.registry
    assert reg.get_account(owner.id) is None and reg.list_keys(owner.id) == []
    assert reg.get_row(DeviceKey.from_uid(PRIVATE)) is None
    assert api_services.store.latest(DeviceKey.from_uid(PRIVATE)) == []
    assert api_services.store.latest(DeviceKey.from_uid("other.dev"))  # others' data stays


def test_public_data_without_a_key(api_client: TestClient, api_services: Services) -> None:
    owner = signup(api_client)
    register_device(
        api_client,
        owner,
        PUBLIC,
        name="Open bin",
        visibility="public",
        licence="CC-BY-4.0",
        location={"latitude": 52.0907, "longitude": 5.1214},
        tags=["centre"],
    )
    register_device(api_client, owner, PRIVATE, location={"latitude": 52.1, "longitude": 5.2})
    register_device(api_client, owner, "bins-town.unlocated", visibility="public")
    store_reading(api_services, PUBLIC, 42.0, T0)
    store_reading(api_services, PRIVATE, 99.0, T0)

    listed = api_client.get("/v1/public/devices").json()
    assert [d["id"] for d in listed["data"]] == ["bins-town.open-bin", "bins-town.unlocated"]

    r = api_client.get("/v1/public/devices.csv?tag=centre")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows == [
        {
            "id": PUBLIC,
            "name": "Open bin",
            "kind": "bin",
            "latitude": "52.0907",
            "longitude": "5.1214",
            "licence": "CC-BY-4.0",
            "tags": "centre",
        }
    ]

    r = api_client.get("/v1/public/devices.geojson")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 1
    f = fc["features"][0]
    assert f["geometry"] == {"type": "Point", "coordinates": [5.1214, 52.0907]}
    assert f["properties"]["licence"] == "CC-BY-4.0" and f["properties"]["latest"] == {"fill_pct": 42.0}
    assert f["properties"]["latest_time"].startswith("2023-11-14T22:13:20")

    start = "2023-11-14T00:00:00Z"
    r = api_client.get(f"/v1/public/devices/{PUBLIC}/readings?start={start}")
    assert r.status_code == 200
    body = r.json()
    assert body["units"] == {"fill_pct": "%"} and body["points"][0]["values"] == {"fill_pct": 42.0}
    r = api_client.get(f"/v1/public/devices/{PUBLIC}/readings.csv?start={start}")
    assert r.text.splitlines() == ["time,fill_pct", "2023-11-14T22:13:20Z,42.0"]
    assert api_client.get(f"/v1/public/devices/{PUBLIC}/readings?start=yesterday").status_code == 422
    assert api_client.get(f"/v1/public/devices/{PUBLIC}/readings?start=now&end=-1d").status_code == 422
    assert api_client.get(f"/v1/public/devices/{PRIVATE}/readings.csv").status_code == 404


def test_index_page_lists_only_public_devices(api_client: TestClient) -> None:
    owner = signup(api_client)
    register_device(api_client, owner, PUBLIC, visibility="public")
    register_device(api_client, owner, PRIVATE)
    page = api_client.get("/").text
    assert PUBLIC in page and PRIVATE not in page
