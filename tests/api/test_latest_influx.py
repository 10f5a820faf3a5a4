"""Latest values over HTTP when the readings store is InfluxDB 1.6.7 (the docker-compose set-up).

The API, with webhook ingest through a production pipeline, reads latest values from its
process's view of the ``latest`` measurement: a webhook's uplink is in the answer as soon as
the webhook is answered, another process's write within the view's bound, and the JSON built
without the models is the JSON the models render (the OpenAPI schema documents those).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime

import orjson
import pytest
from fastapi.testclient import TestClient

from lorakeet.api.app import create_app
from lorakeet.api.deps import Services
from lorakeet.api.presentation import json_bytes, latest_values_plain
from lorakeet.api.schemas import LatestPublic
from lorakeet.gateway_bridge.compose import make_pipeline
from lorakeet.gateway_bridge.simulator import ttn_uplink_body
from lorakeet.storage.influx_store import InfluxStore
from lorakeet.storage.influx_view import TTL_S
from lorakeet.storage.records import DeviceKey, LatestValue
from lorakeet.storage.registry import CACHE_TTL_S, Registry

from ..storage.test_reading_contract import up
from .conftest import Account, api_settings, make_admin

pytestmark = pytest.mark.services

APP = "town"
SECRET = "s3cret-webhook-value-0123456789"
LPP = bytes.fromhex("0167011002680A")  # temperature 27.2 °C, humidity 5 %


@pytest.fixture
def api(
    sqlite_registry: Registry, influx_store: InfluxStore
) -> Iterator[tuple[TestClient, Services, Account]]:
    settings = api_settings()
    settings = settings.model_copy(
        update={"pipeline": settings.pipeline.model_copy(update={"flush_interval_s": 0.005})}
    )
    pipeline = make_pipeline(settings, influx_store, sqlite_registry)
    pipeline.start()
    services = Services(settings, sqlite_registry, influx_store, pipeline=pipeline, ingest_timeout_s=10.0)
    sqlite_registry.set_application_secret(APP, hashlib.sha256(SECRET.encode()).hexdigest(), None)
    for device in ("sensor-1", "sensor-2"):
        sqlite_registry.upsert_device(DeviceKey(APP, device), decoder="cayenne_lpp", visibility="public")
    admin = make_admin(services)
    with TestClient(create_app(services)) as client:
        yield client, services, admin
    pipeline.stop()


def webhook(client: TestClient, device: str, f_cnt: int, payload: bytes = LPP) -> None:
    body = ttn_uplink_body(APP, device, payload, f_cnt=f_cnt, received_at_ns=time.time_ns())
    r = client.post(
        "/v1/ingest/ttn",
        content=body,
        headers={"Content-Type": "application/json", "X-Lorakeet-Secret": SECRET},
    )
    assert r.status_code == 200, r.text


def latest(client: TestClient, admin: Account, device: str) -> dict[str, object]:
    r = client.get(f"/v1/devices/{APP}.{device}/latest", headers=admin.headers)
    assert r.status_code == 200, r.text
    return {v["key"]: v["value"] for v in r.json()["values"]}


def test_a_webhook_uplink_is_in_the_latest_values_at_once(api: tuple[TestClient, Services, Account]) -> None:
    client, services, admin = api
    webhook(client, "sensor-1", 1)
    assert latest(client, admin, "sensor-1") == {"temperature_1": 27.2, "humidity_2": 5.0}
    webhook(client, "sensor-1", 2, bytes.fromhex("016700C8"))  # 20.0 °C
    key = DeviceKey(APP, "sensor-1")
    assert services.latest_held(key) is not None  # answered from the view, no query
    assert latest(client, admin, "sensor-1") == {"temperature_1": 20.0, "humidity_2": 5.0}


def write_from_another_process(
    influx_store: InfluxStore, device: str, f_cnt: int, temperature: float
) -> None:
    """A reading written through another store on the same InfluxDB, as another API process
    or a bridge would."""
    other = InfluxStore(influx_store.url, influx_store.database)
    try:
        other.write([up(DeviceKey(APP, device), time.time_ns(), f_cnt, {"temperature_1": temperature})])
    finally:
        other.close()


def test_another_process_write_is_served_within_the_bound(
    api: tuple[TestClient, Services, Account], influx_store: InfluxStore
) -> None:
    client, _, admin = api
    webhook(client, "sensor-2", 1)
    assert latest(client, admin, "sensor-2")["temperature_1"] == 27.2
    write_from_another_process(influx_store, "sensor-2", 2, 4.5)
    time.sleep(TTL_S)
    assert latest(client, admin, "sensor-2")["temperature_1"] == 4.5


@pytest.mark.parametrize(
    "value",
    [20.0, 0.1, -3.25, 1e21, 123456.789, True, False, "ok", "ünïcode ✓", 7.0],
)
@pytest.mark.parametrize("time_ns", [1_767_225_600_000_000_000, 1_767_225_600_123_456_789, 1_000])
def test_the_hand_built_json_is_the_models_json(value: float | bool | str, time_ns: int) -> None:
    values = [LatestValue("fill_pct", time_ns, value), LatestValue("v.x", time_ns + 1, value)]
    plain = {"device": "town.d", "values": latest_values_plain(values, {"v.x": "mV"})}
    model = LatestPublic.model_validate(plain)
    assert json_bytes(plain) == model.model_dump_json().encode()
    assert isinstance(model.values[0].time, datetime)
    assert orjson.loads(json_bytes(plain))["values"][1]["unit"] == "mV"


def fleet(client: TestClient) -> dict[str, dict[str, object]]:
    """The anonymous fleet page: device -> its latest values."""
    r = client.get("/v1/readings/latest")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == body["total"] == len(body["devices"])
    return {d["device"]: {v["key"]: v["value"] for v in d["values"]} for d in body["devices"]}


def test_the_fleet_page_is_built_once_and_follows_every_change(
    api: tuple[TestClient, Services, Account],
    influx_store: InfluxStore,
    sqlite_registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lorakeet.api.routes import fleet as fleet_routes

    client, _, admin = api
    built: list[int] = []
    build = fleet_routes._build

    def counting(*args: object) -> bytes:
        built.append(1)
        return build(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(fleet_routes, "_build", counting)
    webhook(client, "sensor-1", 1)
    first = client.get("/v1/readings/latest").content
    assert orjson.loads(first)["count"] == 2
    assert client.get("/v1/readings/latest").content == first
    assert len(built) == 1  # nothing moved: the page built once
    # this process's write (a webhook): in the page at once
    webhook(client, "sensor-1", 2, bytes.fromhex("016700C8"))
    assert fleet(client)[f"{APP}.sensor-1"]["temperature_1"] == 20.0
    # another process's write: within the view's bound
    write_from_another_process(influx_store, "sensor-2", 1, 4.5)
    time.sleep(TTL_S)
    assert fleet(client)[f"{APP}.sensor-2"] == {"temperature_1": 4.5}
    # a device registered: listed at once
    sqlite_registry.upsert_device(DeviceKey(APP, "sensor-3"), decoder="cayenne_lpp", visibility="public")
    assert f"{APP}.sensor-3" in fleet(client)
    # made private: gone from the anonymous page at once, still on the admin's
    r = client.patch(f"/v1/devices/{APP}.sensor-3", json={"visibility": "private"}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert f"{APP}.sensor-3" not in fleet(client)
    mine = client.get("/v1/readings/latest", headers=admin.headers).json()
    assert f"{APP}.sensor-3" in {d["device"] for d in mine["devices"]}
    # deleted: gone at once, values and all
    assert client.delete(f"/v1/devices/{APP}.sensor-1", headers=admin.headers).status_code == 204
    assert set(fleet(client)) == {f"{APP}.sensor-2"}
    # changed by another process (straight in the registry's database): within the lookup cache's bound
    with sqlite3.connect(sqlite_registry.engine.url.database or "") as conn:
        conn.execute("UPDATE devices SET visibility = 'public' WHERE device_id = 'sensor-3'")
    time.sleep(CACHE_TTL_S + 0.1)
    assert set(fleet(client)) == {f"{APP}.sensor-2", f"{APP}.sensor-3"}
    # an unchanged page is not built again
    n = len(built)
    fleet(client)
    assert len(built) == n
