"""Alerts: rule CRUD through the API; the engine, as a pipeline observer, fires once per crossing
(hysteresis) and delivers to a real local HTTP receiver (valid HMAC-SHA256) and a real Mosquitto topic;
silence and geofence rules; history with delivery outcomes."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from lorakeet.alerts.delivery import Delivery, Job, verify
from lorakeet.alerts.engine import AlertEngine
from lorakeet.alerts.targets import private_target
from lorakeet.api.deps import Services
from lorakeet.gateway_bridge.broker import LocalBroker
from lorakeet.settings import MqttSettings
from lorakeet.storage.alerts_store import AlertStore
from tests.views.conftest import stored

from .conftest import register_device, signup

MIN = 60 * 1_000_000_000


class Receiver:
    """A real HTTP server on loopback recording POSTs; the first ``fail_first`` get a 503."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.fail_left = fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.fail_left > 0:
                    outer.fail_left -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                outer.requests.put(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=1)  # the first delivery is retried
    yield r
    r.close()


def subscribe(broker: LocalBroker, topic: str) -> tuple[mqtt.Client, queue.Queue[bytes]]:
    got: queue.Queue[bytes] = queue.Queue()
    ready = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="alerts-test-sub")
    c.on_connect = lambda cl, *a: cl.subscribe(topic, qos=1)
    c.on_subscribe = lambda *a: ready.set()
    c.on_message = lambda cl, ud, msg: got.put(msg.payload)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    assert ready.wait(10)
    return c, got


def test_threshold_fires_once_per_crossing_and_delivers(
    api_client: TestClient,
    api_services: Services,
    receiver: Receiver,
    broker: LocalBroker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(api_services.settings.alerts, "allow_private_targets", True)  # a loopback receiver
    owner = signup(api_client)
    register_device(api_client, owner, "town.bin-1", kind="bin")
    r = api_client.post(
        "/v1/alerts/rules",
        headers=owner.headers,
        json={
            "name": "bin full",
            "rule_type": "threshold",
            "device": "town.bin-1",
            "quantity": "fill_pct",
            "op": "above",
            "threshold": 80,
            "hysteresis": 5,
            "webhook_url": receiver.url,
            "mqtt_topic": "lorakeet/alerts/crew-1",
        },
    )
    assert r.status_code == 201, r.text
    rule = r.json()
    secret = rule["webhook_secret"]
    assert secret and len(secret) >= 32
    assert (
        "webhook_secret" not in api_client.get(f"/v1/alerts/rules/{rule['id']}", headers=owner.headers).json()
    )

    sub, got = subscribe(broker, "lorakeet/alerts/#")
    store = AlertStore(api_services.registry)
    delivery = Delivery(
        MqttSettings(url=broker.url),
        on_outcome=store.set_delivery,
        backoff_s=0.05,
        allow_private_targets=True,
    )
    engine = AlertEngine(api_services.registry, delivery=delivery, refresh_s=0)
    now = time.time_ns()
    values = [70, 85, 83, 86, 79, 85, 74, 90]  # fire at 85; 79 is inside the band; clear at 74; fire at 90
    for i, v in enumerate(values):
        engine([stored("town.bin-1", "bin", now + i * MIN, i + 1, fill_pct=float(v))])
    assert delivery.flush(30)

    events = api_client.get("/v1/alerts/events", headers=owner.headers).json()["events"]
    assert [(e["state"], e["value"]) for e in reversed(events)] == [
        ("fired", 85),
        ("cleared", 74),
        ("fired", 90),
    ]
    assert all(e["delivery"]["webhook"]["ok"] and e["delivery"]["mqtt"]["ok"] for e in events)
    assert events[-1]["delivery"]["webhook"]["attempts"] == 2  # the receiver's first 503 was retried

    posted = [receiver.requests.get(timeout=5) for _ in range(3)]
    for headers, body in posted:
        assert verify(secret, body, headers["x-lorakeet-signature"])
        assert not verify("wrong-secret-wrong-secret", body, headers["x-lorakeet-signature"])
    assert [json.loads(b)["state"] for _, b in posted] == ["fired", "cleared", "fired"]
    msgs = [json.loads(got.get(timeout=5)) for _ in range(3)]
    assert [(m["state"], m["device"], m["value"]) for m in msgs] == [
        ("fired", "town.bin-1", 85),
        ("cleared", "town.bin-1", 74),
        ("fired", "town.bin-1", 90),
    ]
    sub.disconnect()
    sub.loop_stop()

    # state survives a restart: a new engine does not fire again for 95
    engine2 = AlertEngine(api_services.registry, delivery=delivery, refresh_s=0)
    engine2([stored("town.bin-1", "bin", now + 20 * MIN, 20, fill_pct=95.0)])
    assert len(api_client.get("/v1/alerts/events", headers=owner.headers).json()["events"]) == 3
    delivery.close()


def test_fleet_low_battery_silence_and_geofence(api_client: TestClient, api_services: Services) -> None:
    owner = signup(api_client)
    other = signup(api_client, "Other")
    register_device(
        api_client,
        owner,
        "harbour.boat-1",
        kind="boat",
        metadata={"geofence": json.dumps([[4.47, 51.90], [4.49, 51.90], [4.49, 51.91], [4.47, 51.91]])},
    )
    register_device(api_client, other, "marina.boat-9", kind="boat")
    for body in (
        {"name": "low battery", "rule_type": "low_battery", "kind": "boat"},
        {"name": "quiet", "rule_type": "silence", "device": "harbour.boat-1", "silence_s": 600},
        {"name": "left harbour", "rule_type": "geofence", "device": "harbour.boat-1"},
    ):
        assert api_client.post("/v1/alerts/rules", headers=owner.headers, json=body).status_code == 201
    assert (
        api_client.post(
            "/v1/alerts/rules",
            headers=owner.headers,
            json={"name": "x", "rule_type": "threshold", "quantity": "fill_pct"},
        ).status_code
        == 422
    )
    assert (
        api_client.post(
            "/v1/alerts/rules",
            headers=owner.headers,
            json={"name": "x", "rule_type": "low_battery", "mqtt_topic": "v3/app@ttn/devices/d/down/push"},
        ).status_code
        == 422
    )

    engine = AlertEngine(api_services.registry, refresh_s=0)
    now = time.time_ns()
    engine([stored("harbour.boat-1", "boat", now, 1, battery=50.0, latitude=51.905, longitude=4.48)])
    engine([stored("marina.boat-9", "boat", now, 1, battery=5.0)])  # not the owner's: fleet rule ignores it
    engine([stored("harbour.boat-1", "boat", now + MIN, 2, battery=15.0, latitude=51.905, longitude=4.50)])
    engine([stored("harbour.boat-1", "boat", now + 2 * MIN, 3, battery=22.0)])  # 22 < 20 + 5: still low
    assert engine.check_silence(now + 5 * MIN) == 0
    assert engine.check_silence(now + 20 * MIN) == 1
    assert engine.check_silence(now + 30 * MIN) == 0  # once
    engine(
        [stored("harbour.boat-1", "boat", now + 31 * MIN, 4, battery=26.0, latitude=51.905, longitude=4.48)]
    )

    events = api_client.get("/v1/alerts/events", headers=owner.headers).json()["events"]
    got = [(e["device"], e["state"], e["message"].split(":")[0]) for e in reversed(events)]
    assert got == [
        ("harbour.boat-1", "fired", "low battery"),
        ("harbour.boat-1", "fired", "left harbour"),
        ("harbour.boat-1", "fired", "quiet"),
        ("harbour.boat-1", "cleared", "low battery"),
        ("harbour.boat-1", "cleared", "quiet"),
        ("harbour.boat-1", "cleared", "left harbour"),
    ]
    assert api_client.get("/v1/alerts/events", headers=other.headers).json()["events"] == []


def test_rule_crud_permissions(api_client: TestClient) -> None:
    owner, other = signup(api_client), signup(api_client, "Other")
    register_device(api_client, owner, "town.bin-7", kind="bin")
    body = {
        "name": "full",
        "rule_type": "threshold",
        "device": "town.bin-7",
        "quantity": "fill_pct",
        "threshold": 90,
    }
    assert api_client.post("/v1/alerts/rules", json=body).status_code == 401
    assert (
        api_client.post("/v1/alerts/rules", headers=other.headers, json=body).status_code == 404
    )  # private device
    rid = api_client.post("/v1/alerts/rules", headers=owner.headers, json=body).json()["id"]
    assert api_client.get(f"/v1/alerts/rules/{rid}", headers=other.headers).status_code == 404
    r = api_client.patch(
        f"/v1/alerts/rules/{rid}", headers=owner.headers, json={"threshold": 75, "enabled": False}
    )
    assert r.status_code == 200 and r.json()["threshold"] == 75 and r.json()["enabled"] is False
    assert [x["id"] for x in api_client.get("/v1/alerts/rules", headers=owner.headers).json()["rules"]] == [
        rid
    ]
    assert api_client.delete(f"/v1/alerts/rules/{rid}", headers=other.headers).status_code == 404
    assert api_client.delete(f"/v1/alerts/rules/{rid}", headers=owner.headers).status_code == 204
    assert api_client.get(f"/v1/alerts/rules/{rid}", headers=owner.headers).status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",  # cloud metadata service
        "http://[::1]/hook",
        "http:///nohost",
    ],
)
def test_webhooks_to_non_public_addresses_are_refused_by_default(url: str) -> None:
    """Refused at delivery (names are resolved then); see also the check when a rule is saved."""
    outcomes: list[tuple[int, str, object]] = []
    delivery = Delivery(None, on_outcome=lambda e, ch, out: outcomes.append((e, ch, out)))
    try:
        delivery.submit(Job(event_id=1, body=b"{}", webhook_url=url))
        assert delivery.flush(10)
    finally:
        delivery.close()
    (event_id, channel, outcome) = outcomes[0]
    assert (event_id, channel) == (1, "webhook")
    assert outcome["ok"] is False and outcome["attempts"] == 0  # type: ignore[index]
    assert private_target(url) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://[::ffff:10.0.0.1]/",
        "http://169.254.169.254/",
    ],
)
def test_a_rule_with_a_private_address_literal_is_refused_when_saved(
    api_client: TestClient, url: str
) -> None:
    owner = signup(api_client)
    register_device(api_client, owner, "town.bin-9", kind="bin")
    body = {
        "name": "x",
        "rule_type": "threshold",
        "device": "town.bin-9",
        "quantity": "fill_pct",
        "threshold": 1,
    }
    r = api_client.post("/v1/alerts/rules", headers=owner.headers, json={**body, "webhook_url": url})
    assert r.status_code == 422 and "private targets are not allowed" in r.json()["detail"]
    rid = api_client.post("/v1/alerts/rules", headers=owner.headers, json=body).json()["id"]
    r = api_client.patch(f"/v1/alerts/rules/{rid}", headers=owner.headers, json={"webhook_url": url})
    assert r.status_code == 422
