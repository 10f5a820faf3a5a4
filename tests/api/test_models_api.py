"""Device models through the API: the catalog, users' maps with their precedence and checks,
a device's brand, model and own rules, and a fleet that registers itself from its uplinks."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from lorakeet.api.app import create_app
from lorakeet.api.deps import Services
from lorakeet.gateway_bridge.devices import DeviceDirectory
from lorakeet.gateway_bridge.field_maps import FieldMaps
from lorakeet.gateway_bridge.pipeline import Decoding, Pipeline
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore

from .conftest import api_settings, make_admin, register_device, signup

DISTANCE_CM = {"fields": {"Distance": {"quantity": "distance", "unit": "cm"}}}


def test_the_catalog_lists_shipped_models_with_their_field_maps(api_client: TestClient) -> None:
    r = api_client.get("/v1/models", params={"brand": "dragino"})
    assert r.status_code == 200
    ids = {m["model_id"] for m in r.json()["data"]}
    assert {"ldds75", "lgt92", "lht65", "llds12"} <= ids
    one = api_client.get("/v1/models/dragino/ldds75").json()
    assert one["kind"] == "bin" and one["decoder"] == "dragino_ldds75" and one["layers"] == ["shipped"]
    assert one["field_map"]["Distance"] == {"quantity": "distance", "unit": "mm", "scale": 1.0}
    assert api_client.get("/v1/models/acme/nothing").status_code == 404
    assert api_client.get("/v1/models/Acme/x").status_code == 422


def test_own_and_shared_maps_apply_in_order_and_stay_private(
    api_client: TestClient, api_services: Services
) -> None:
    owner, other = signup(api_client, "Council"), signup(api_client, "Other")
    admin = make_admin(api_services)
    r = api_client.put("/v1/models/dragino/ldds75", json=DISTANCE_CM, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["owner_id"] == owner.id
    mine = api_client.get("/v1/models/dragino/ldds75", headers=owner.headers).json()
    assert mine["layers"] == ["shipped", "own"]
    assert mine["field_map"]["Distance"]["unit"] == "cm"
    assert mine["field_map"]["Bat"]["quantity"] == "battery_voltage"  # untouched paths stay
    theirs = api_client.get("/v1/models/dragino/ldds75", headers=other.headers).json()
    assert theirs["layers"] == ["shipped"] and theirs["field_map"]["Distance"]["unit"] == "mm"
    # only admins write the shared map; it then applies to everyone, under their own maps
    shared = {"kind": "other", "fields": {"Distance": {"quantity": "distance", "unit": "m"}}}
    r = api_client.put("/v1/models/dragino/ldds75?shared=true", json=shared, headers=owner.headers)
    assert r.status_code == 403
    r = api_client.put("/v1/models/dragino/ldds75?shared=true", json=shared, headers=admin.headers)
    assert r.status_code == 200 and r.json()["owner_id"] is None
    theirs = api_client.get("/v1/models/dragino/ldds75", headers=other.headers).json()
    assert theirs["layers"] == ["shipped", "shared"] and theirs["kind"] == "other"
    assert theirs["field_map"]["Distance"]["unit"] == "m"
    assert (
        api_client.get("/v1/models/dragino/ldds75", headers=owner.headers).json()["field_map"]["Distance"][
            "unit"
        ]
        == "cm"
    )
    # a model that ships without a map can be described by a user
    new = {"kind": "bin", "fields": {"dist": {"quantity": "distance", "unit": "mm"}}}
    assert api_client.put("/v1/models/acme/al-1", json=new, headers=owner.headers).status_code == 200
    assert api_client.get("/v1/models/acme/al-1", headers=owner.headers).json()["kind"] == "bin"
    assert api_client.get("/v1/models/acme/al-1", headers=other.headers).status_code == 404
    # removing
    assert api_client.delete("/v1/models/dragino/ldds75", headers=other.headers).status_code == 404
    assert api_client.delete("/v1/models/dragino/ldds75", headers=owner.headers).status_code == 204
    assert api_client.get("/v1/models/dragino/ldds75", headers=owner.headers).json()["layers"] == [
        "shipped",
        "shared",
    ]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"fields": {"Distance": {"quantity": "distanse"}}}, "unknown quantity 'distanse'"),
        ({"fields": {"Distance": {"quantity": "distance", "unit": "V"}}}, "does not convert into distance"),
        ({"fields": {"Distance": {"quantity": "distance", "scale": 0}}}, "scale cannot be 0"),
        ({"fields": {"a..b": {"quantity": "distance"}}}, "not a dotted path"),
        ({"fields": {"d": {"quantity": "distance", "colour": 1}}}, "colour"),
        ({"decoder": "nope"}, "unknown decoder 'nope'"),
        ({"kind": "bucket"}, "kind"),
    ],
)
def test_a_bad_map_is_a_problem_that_says_what_to_fix(
    api_client: TestClient, body: dict[str, object], says: str
) -> None:
    owner = signup(api_client)
    r = api_client.put("/v1/models/dragino/ldds75", json=body, headers=owner.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert says in r.text


def test_the_device_api_shows_brand_model_and_own_rules(api_client: TestClient) -> None:
    owner = signup(api_client)
    d = register_device(
        api_client,
        owner,
        "town.lvl-1",
        brand_id="dragino",
        model_id="ldds75",
        field_map={"Distance": {"quantity": "distance", "unit": "cm"}, "Bat": None},
    )
    assert (d["brand_id"], d["model_id"]) == ("dragino", "ldds75")
    assert d["field_map"] == {"Distance": {"quantity": "distance", "unit": "cm", "scale": 1.0}, "Bat": None}
    r = api_client.patch(
        "/v1/devices/town.lvl-1", json={"field_map": {"x": {"quantity": "nope"}}}, headers=owner.headers
    )
    assert r.status_code == 422 and "unknown quantity" in r.text
    r = api_client.patch("/v1/devices/town.lvl-1", json={"field_map": {}}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["field_map"] == {}


@pytest.fixture
def fleet(sqlite_registry: Registry, sqlite_store: SqliteStore) -> Iterator[tuple[TestClient, Services]]:
    """An app with webhook ingest over a real pipeline for application 'council-bins'."""
    pipeline = Pipeline(
        sqlite_store,
        Decoding(DeviceDirectory(sqlite_registry), field_maps=FieldMaps(sqlite_registry)),
        batch_size=100,
        flush_interval=0.01,
    )
    pipeline.start()
    services = Services(api_settings(), sqlite_registry, sqlite_store, pipeline=pipeline, ingest_timeout_s=5)
    sqlite_registry.set_application_secret(
        "council-bins", hashlib.sha256(b"hook-secret-0123").hexdigest(), None
    )
    with TestClient(create_app(services)) as client:
        yield client, services
    pipeline.stop()


def tts_uplink(device: str, brand: str, model: str, decoded: dict[str, object], f_cnt: int = 1) -> bytes:
    return json.dumps(
        {
            "end_device_ids": {
                "device_id": device,
                "application_ids": {"application_id": "council-bins"},
                "dev_eui": "70B3D57ED0000001",
            },
            "received_at": "2026-12-01T08:00:00.123456789Z",
            "uplink_message": {
                "f_port": 2,
                "f_cnt": f_cnt,
                "frm_payload": base64.b64encode(b"\x0d\x3b\x0a\xf0").decode(),
                "decoded_payload": decoded,
                "rx_metadata": [{"gateway_ids": {"gateway_id": "gw-1"}, "rssi": -80, "snr": 7.5}],
                "settings": {"frequency": "868100000"},
                "received_at": "2026-12-01T08:00:00.100000000Z",
                "version_ids": {
                    "brand_id": brand,
                    "model_id": model,
                    "hardware_version": "_unknown_hw_version_",
                    "firmware_version": "1.1.4",
                    "band_id": "EU_863_870",
                },
            },
        }
    ).encode()


def test_a_connected_application_shows_its_bins_without_registering_them(
    fleet: tuple[TestClient, Services],
) -> None:
    client, services = fleet
    council = signup(client, "Council")
    r = client.post(
        "/v1/ingest/ttn/secrets", json={"application_id": "council-bins"}, headers=council.headers
    )
    assert r.status_code in (200, 201), r.text
    headers = {"Content-Type": "application/json", "X-Lorakeet-Secret": r.json()["secret"]}
    bins = [
        ("bin-a", "dragino", "ldds75", {"Bat": 3.387, "Distance": "2799 mm", "Interrupt_flag": 0}),
        ("bin-b", "milesight-iot", "em310-udl", {"battery": 92, "distance": 2116}),
        ("bin-c", "netvox", "r718pe", {"Device": "R718PE", "Volt": 3.6, "Distance": 300, "FillLevel": 50}),
    ]
    for dev, brand, model, decoded in bins:
        r = client.post("/v1/ingest/ttn", content=tts_uplink(dev, brand, model, decoded), headers=headers)
        assert r.status_code == 200, r.text
    r = client.post(
        "/v1/ingest/ttn",
        content=tts_uplink("probe", "dragino", "lht65", {"TempC_SHT": 21.5}),
        headers=headers,
    )
    assert r.status_code == 200
    # the council's own key sees its bins: the application is its own, so are the devices
    listed = client.get("/v1/bins", headers=council.headers)
    assert listed.status_code == 200
    by_uid = {b["device"]: b for b in listed.json()["bins"]}
    assert set(by_uid) == {"council-bins.bin-a", "council-bins.bin-b", "council-bins.bin-c"}
    assert by_uid["council-bins.bin-c"]["fill_pct"] == 50  # the R718PE's FillLevel, by its model's map
    dev = client.get("/v1/devices/council-bins.bin-b", headers=council.headers).json()
    assert (dev["kind"], dev["decoder"], dev["brand_id"], dev["model_id"], dev["source"]) == (
        "bin",
        "network",
        "milesight-iot",
        "em310-udl",
        "auto",
    )
    assert dev["firmware_version"] == "1.1.4" and dev["band_id"] == "EU_863_870"
    assert dev["owner_id"] == council.id
    probe = client.get("/v1/devices/council-bins.probe", headers=council.headers).json()
    assert probe["kind"] == "other" and probe["model_id"] == "lht65"
    other = signup(client, "Other")
    assert client.get("/v1/bins", headers=other.headers).json()["bins"] == []
    admin = make_admin(services)
    assert len(client.get("/v1/bins", headers=admin.headers).json()["bins"]) == 3


def test_the_registration_form_gives_the_device_its_model() -> None:
    from lorakeet.api.web.hobbyist import device_create

    body = device_create({"application_id": "town", "device_id": "bin-9", "model": "dragino/ldds75"})
    assert (body.brand_id, body.model_id, body.kind, body.decoder) == (
        "dragino",
        "ldds75",
        "bin",
        "dragino_ldds75",
    )
    plain = device_create({"application_id": "town", "device_id": "x"})
    assert plain.brand_id is None and plain.kind == "other"
