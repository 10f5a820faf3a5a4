"""Downlinks: the owner queues a street-light command; it is published as the documented TTS JSON on
``v3/{app}@{tenant}/devices/{dev}/down/push`` to a real Mosquitto; the 11th within 24 h is refused (429)."""

from __future__ import annotations

import base64
import json
import queue
import threading
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from lorakeet.api.app import create_app
from lorakeet.api.deps import Services
from lorakeet.firmware_payloads.formats import LightCommand, decode_light_command
from lorakeet.gateway_bridge.broker import LocalBroker
from lorakeet.gateway_bridge.downlink import tts_app_id
from lorakeet.settings import ApiSettings, MqttSettings, Settings
from lorakeet.storage.alerts_store import DownlinkLog
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore

from .conftest import register_device, signup


@pytest.fixture
def client(broker: LocalBroker, sqlite_registry: Registry, sqlite_store: SqliteStore) -> Iterator[TestClient]:
    settings = Settings(
        mqtt=MqttSettings(url=broker.url, application="lorakeet-demo@ttn", client_id="dl-test"),
        api=ApiSettings(rate_limit_per_minute=100_000, rate_limit_burst=100_000),
    )
    with TestClient(create_app(Services(settings, sqlite_registry, sqlite_store))) as c:
        yield c


def test_tts_app_id() -> None:
    assert tts_app_id("app", "app@ttn") == "app@ttn"
    assert tts_app_id("app", "+") == "app@ttn"
    assert tts_app_id("app", "other@acme") == "app@acme"
    assert tts_app_id("app", "app") == "app"


def test_light_downlink_published_and_fair_use_enforced(
    client: TestClient, broker: LocalBroker, sqlite_registry: Registry
) -> None:
    owner, other = signup(client), signup(client, "Other")
    register_device(client, owner, "lorakeet-demo.light-001", kind="streetlight", visibility="public")
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    ready = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="dl-test-sub")
    sub.on_connect = lambda cl, *a: cl.subscribe("v3/+/devices/+/down/#", qos=1)
    sub.on_subscribe = lambda *a: ready.set()
    sub.on_message = lambda cl, ud, msg: got.put((msg.topic, msg.payload))
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    assert ready.wait(10)

    url = "/v1/devices/lorakeet-demo.light-001/downlinks"
    assert client.post(url, json={"light": {"dim_level": 40}}).status_code == 401
    assert client.post(url, headers=other.headers, json={"light": {"dim_level": 40}}).status_code == 403
    assert client.post(url, headers=owner.headers, json={"light": {}}).status_code == 422
    assert client.post(url, headers=owner.headers, json={"payload_hex": "01"}).status_code == 422

    r = client.post(url, headers=owner.headers, json={"light": {"dim_level": 40, "lamp_on": True}})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["topic"] == "v3/lorakeet-demo@ttn/devices/light-001/down/push"
    assert body["quota"] == {"limit_24h": 10, "used_24h": 1, "remaining_24h": 9, "next_slot_at": None}
    topic, payload = got.get(timeout=10)
    assert topic == "v3/lorakeet-demo@ttn/devices/light-001/down/push"
    msg = json.loads(payload)
    (dl,) = msg["downlinks"]
    assert set(dl) == {"f_port", "frm_payload", "priority", "confirmed", "correlation_ids"}
    assert dl["f_port"] == 31 and dl["priority"] == "NORMAL" and dl["confirmed"] is False
    assert decode_light_command(base64.b64decode(dl["frm_payload"])) == LightCommand(40, True, None)
    assert dl["correlation_ids"] == [body["downlink"]["correlation_id"]]

    for i in range(9):
        r = client.post(url, headers=owner.headers, json={"f_port": 31, "payload_hex": f"01{i:02x}"})
        assert r.status_code == 202, r.text
    for _ in range(9):
        got.get(timeout=10)
    r = client.post(url, headers=owner.headers, json={"light": {"lamp_on": False}})
    assert r.status_code == 429
    assert "10 downlinks per device per 24 h" in r.json()["detail"]
    assert 0 < int(r.headers["Retry-After"]) <= 86_400
    with pytest.raises(queue.Empty):
        got.get(timeout=0.5)  # nothing published for the refused one
    hist = client.get(url, headers=owner.headers).json()
    assert hist["quota"]["remaining_24h"] == 0 and hist["quota"]["next_slot_at"] is not None
    assert len(hist["downlinks"]) == 10
    assert DownlinkLog(sqlite_registry).count() == 10
    sub.disconnect()
    sub.loop_stop()


def test_light_command_only_for_lights(client: TestClient) -> None:
    owner = signup(client)
    register_device(client, owner, "lorakeet-demo.bin-001", kind="bin")
    r = client.post(
        "/v1/devices/lorakeet-demo.bin-001/downlinks", headers=owner.headers, json={"light": {"dim_level": 5}}
    )
    assert r.status_code == 409
