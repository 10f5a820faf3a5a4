"""Application squatting, on the webhook path and on the MQTT path (the authorization matrix's
second half): an application belongs to the account that proved control of it.

Each scenario of the adversarial review runs twice. On the webhook path Alice's uplinks come
through ``POST /v1/ingest/ttn`` with her ingest secret (its first uplink proves her
application); on the MQTT path they come from a real Mosquitto through the bridge, and Alice
proves her application with a TTS API key that a local stand-in for The Things Stack checks.

1. Bob registers ``alice-app.squat`` and tries to read what Alice's application delivers.
2. Bob's device in ``alice2-app`` must not make Alice's first ingest secret fail.
3. Bob pre-registers a device in an application nobody used yet (and on the webhook path takes
   it with a forged first uplink); Alice's later registration there gets none of his readings.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lorakeet.api.app import create_app
from lorakeet.api.deps import Services
from lorakeet.gateway_bridge.broker import LocalBroker
from lorakeet.gateway_bridge.devices import DeviceDirectory
from lorakeet.gateway_bridge.pipeline import Decoding, Pipeline
from lorakeet.gateway_bridge.simulator import ttn_uplink_body
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore

from ..e2e import publish, start_bridge, wait_until
from .conftest import Account, api_settings, signup

LPP = bytes.fromhex("016700E1")  # temperature 22.5 °C
TTS_KEYS = {
    "NNSXS.ALICE-APP-KEY": "alice-app",
    "NNSXS.ALICE2-KEY": "alice2-app",
    "NNSXS.FRESH-KEY": "fresh-app",
}


class _Tts(BaseHTTPRequestHandler):
    """The part of The Things Stack's API that says which rights a key holds on an application."""

    def do_GET(self) -> None:
        m = re.fullmatch(r"/api/v3/applications/([a-z0-9_-]+)/rights", self.path)
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if m is None:
            self._answer(404, {"code": 5, "message": "not found"})
        elif TTS_KEYS.get(key) != m.group(1):
            self._answer(403, {"code": 7, "message": "no rights"})
        else:
            self._answer(200, {"rights": ["RIGHT_APPLICATION_INFO", "RIGHT_APPLICATION_TRAFFIC_READ"]})

    def _answer(self, status: int, doc: object) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def tts() -> Iterator[str]:
    """A local stand-in for The Things Stack's rights endpoint."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Tts)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@dataclass
class World:
    """An API with ingest, Alice, Bob, and a way to deliver Alice's genuine uplinks."""

    path: str
    client: TestClient
    services: Services
    store: SqliteStore
    alice: Account
    bob: Account
    send: Callable[[str, str, int], None]  # application, device, f_cnt

    def prove_for_alice(self, app: str) -> None:
        """Alice proves ``app``: her ingest secret's first uplink (webhook), a TTS key (MQTT)."""
        if self.path == "webhook":
            r = self.client.post(
                "/v1/ingest/ttn/secrets", json={"application_id": app}, headers=self.alice.headers
            )
            assert r.status_code == 201, r.text
            self.secret = r.json()["secret"]
            self.send(app, "proof-dev", 1)
        else:
            key = next(k for k, a in TTS_KEYS.items() if a == app)
            r = self.client.post(
                f"/v1/applications/{app}/claim", json={"tts_api_key": key}, headers=self.alice.headers
            )
            assert r.status_code == 200, r.text
        assert self.services.registry.get_application(app).owner_id == self.alice.id  # type: ignore[union-attr]

    secret: str = ""


@pytest.fixture(params=["webhook", "mqtt"])
def world(request: pytest.FixtureRequest, tmp_path: Path, tts: str) -> Iterator[World]:
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    store = SqliteStore(tmp_path / "readings.db")
    pipeline = None
    bridge = None
    broker = None
    if request.param == "webhook":
        pipeline = Pipeline(store, Decoding(DeviceDirectory(registry)), batch_size=100, flush_interval=0.01)
        pipeline.start()
    else:
        broker = LocalBroker(kind="mosquitto", data_dir=tmp_path / "broker")
        broker.start()
        bridge = start_bridge(broker, store, registry)
    services = Services(api_settings(tts_url=tts), registry, store, pipeline=pipeline, ingest_timeout_s=5)
    client = TestClient(create_app(services))
    client.__enter__()
    w = World(
        request.param,
        client,
        services,
        store,
        signup(client, "Alice"),
        signup(client, "Bob"),
        lambda *a: None,
    )

    def send(app: str, dev: str, f_cnt: int) -> None:
        body = ttn_uplink_body(
            app, dev, LPP, f_port=1, f_cnt=f_cnt, received_at_ns=time.time_ns() - 60 * 10**9
        )
        key = DeviceKey(app, dev)
        before = len(store.uplinks(key, 0, 2**62, 1000))
        if request.param == "webhook":
            r = client.post("/v1/ingest/ttn", content=body, headers={"X-Lorakeet-Secret": w.secret})
            assert r.status_code == 200, r.text
        else:
            assert broker is not None
            publish(broker, [(f"v3/{app}@ttn/devices/{dev}/up", body)])
            wait_until(lambda: len(store.uplinks(key, 0, 2**62, 1000)) > before, 15, f"{key.uid} stored")

    w.send = send
    yield w
    client.__exit__(None, None, None)
    if bridge is not None:
        bridge.stop()
    if broker is not None:
        broker.close()
    if pipeline is not None:
        pipeline.stop()
    store.close()
    registry.close()


def register(w: World, who: Account, uid: str, **fields: object) -> int:
    app, _, dev = uid.partition(".")
    body = {"application_id": app, "device_id": dev, "kind": "other", **fields}
    return w.client.post("/v1/devices", json=body, headers=who.headers).status_code


def reads(w: World, who: Account, uid: str) -> int:
    return w.client.get(
        f"/v1/devices/{uid}/uplinks", params={"start": "-1d"}, headers=who.headers
    ).status_code


def test_bob_cannot_squat_a_device_id_in_alices_application(world: World) -> None:
    w = world
    # before Alice proves her application, Bob's registration there is pending and shows nothing
    assert register(w, w.bob, "alice-app.squat", visibility="public") == 201
    assert w.client.get("/v1/devices/alice-app.squat", headers=w.bob.headers).json()["pending"] is True
    w.prove_for_alice("alice-app")
    w.send("alice-app", "squat", 2)
    # proving took the pending registration from Bob: he neither reads it nor sees it
    assert reads(w, w.bob, "alice-app.squat") == 404
    assert w.client.get("/v1/public/devices/alice-app.squat/readings").status_code == 404
    assert reads(w, w.alice, "alice-app.squat") == 200
    uplinks = w.client.get(
        "/v1/devices/alice-app.squat/uplinks", params={"start": "-1d"}, headers=w.alice.headers
    )
    assert uplinks.json()["count"] >= 1
    # and once the application is Alice's, Bob cannot register there at all
    assert register(w, w.bob, "alice-app.squat-2") == 403
    assert (
        w.client.post(
            "/v1/ingest/ttn/secrets", json={"application_id": "alice-app"}, headers=w.bob.headers
        ).status_code
        == 403
    )


def test_pending_devices_show_no_data_to_their_registrant(world: World) -> None:
    w = world
    assert register(w, w.bob, "alice-app.early", visibility="public") == 201
    if w.path == "mqtt":  # the operator's bridge delivers Alice's traffic before anyone proved it
        w.send("alice-app", "early", 1)
    assert reads(w, w.bob, "alice-app.early") == 403
    for path in ("latest", "readings"):
        assert w.client.get(f"/v1/devices/alice-app.early/{path}", headers=w.bob.headers).status_code == 403
    assert w.client.get("/v1/public/devices/alice-app.early").status_code == 404
    assert "alice-app.early" not in w.client.get("/v1/public/devices.csv").text
    listed = w.client.get("/v1/devices", params={"owner": "me"}, headers=w.bob.headers).json()["data"]
    assert [d["id"] for d in listed] == ["alice-app.early"] and listed[0]["pending"]


def test_bobs_device_does_not_block_alices_first_secret(world: World) -> None:
    w = world
    assert (
        register(w, w.bob, "alice2-app.bob-1", name="Bob's", location={"latitude": 52.0, "longitude": 5.0})
        == 201
    )
    r = w.client.post(
        "/v1/ingest/ttn/secrets", json={"application_id": "alice2-app"}, headers=w.alice.headers
    )
    assert r.status_code == 201 and r.json()["pending"] is True
    w.prove_for_alice("alice2-app")
    # Bob's pending registration passed to Alice, without what Bob wrote into it
    assert w.client.get("/v1/devices/alice2-app.bob-1", headers=w.bob.headers).status_code == 404
    mine = w.client.get("/v1/devices/alice2-app.bob-1", headers=w.alice.headers).json()
    assert mine["owner_id"] == w.alice.id and mine["name"] is None and mine["location"] is None
    assert register(w, w.alice, "alice2-app.sensor-1") == 201


def test_bob_preregistering_an_unused_application_gets_alice_nothing_of_his(world: World) -> None:
    w = world
    assert register(w, w.bob, "fresh-app.alice-dev") == 201  # pending: nobody proved fresh-app
    if w.path == "webhook":
        # Bob takes fresh-app with a forged first uplink sent with his own claim's secret
        r = w.client.post(
            "/v1/ingest/ttn/secrets", json={"application_id": "fresh-app"}, headers=w.bob.headers
        )
        forged = ttn_uplink_body(
            "fresh-app", "alice-dev", LPP, f_cnt=7, received_at_ns=time.time_ns() - 10**9
        )
        assert (
            w.client.post(
                "/v1/ingest/ttn", content=forged, headers={"X-Lorakeet-Secret": r.json()["secret"]}
            ).status_code
            == 200
        )
        assert w.services.registry.get_application("fresh-app").owner_id == w.bob.id  # type: ignore[union-attr]
        assert register(w, w.alice, "fresh-app.other") == 403  # not hers to register in
        assert len(w.store.uplinks(DeviceKey("fresh-app", "alice-dev"), 0, 2**62, 10)) == 1
        # a TTS key of fresh-app proves Alice controls it: Bob loses it with his devices and data
        r = w.client.post(
            "/v1/applications/fresh-app/claim",
            json={"tts_api_key": "NNSXS.FRESH-KEY"},
            headers=w.alice.headers,
        )
        assert r.status_code == 200 and r.json()["owner_id"] == w.alice.id
        assert w.store.uplinks(DeviceKey("fresh-app", "alice-dev"), 0, 2**62, 10) == []
        assert w.client.get("/v1/devices/fresh-app.alice-dev", headers=w.bob.headers).status_code == 404
        assert register(w, w.alice, "fresh-app.alice-dev") == 201
    else:
        w.send("fresh-app", "alice-dev", 1)  # Alice's genuine traffic, through the operator's bridge
        assert reads(w, w.bob, "fresh-app.alice-dev") == 403
        w.prove_for_alice("fresh-app")
        assert w.client.get("/v1/devices/fresh-app.alice-dev", headers=w.bob.headers).status_code == 404
    assert reads(w, w.alice, "fresh-app.alice-dev") == 200
    # Bob's key of nothing proves nothing; a claim without a key on an owned application is refused
    assert (
        w.client.post(
            "/v1/applications/fresh-app/claim",
            json={"tts_api_key": "NNSXS.ALICE2-KEY"},
            headers=w.bob.headers,
        ).status_code
        == 403
    )
    assert (
        w.client.post("/v1/applications/fresh-app/claim", json={}, headers=w.bob.headers).status_code == 409
    )
