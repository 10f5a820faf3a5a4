"""The TTN webhook: per-application secret, size limit, same pipeline and dedup as MQTT.

A real :class:`Pipeline` over a real SQLite store sits behind the route. A webhook is
answered 200 only once its uplink is durable; while the store is down it is answered 503
(TTS retries), and the retry is stored once. Malformed JSON is a 400 and the raw body is
kept in the rejected table.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence

import pytest
from fastapi.testclient import TestClient

from lorakeet.api.app import create_app
from lorakeet.api.deps import Services
from lorakeet.gateway_bridge.devices import DeviceDirectory
from lorakeet.gateway_bridge.pipeline import Decoding, Pipeline
from lorakeet.gateway_bridge.simulator import ttn_uplink_body
from lorakeet.storage.protocols import StoreError
from lorakeet.storage.records import DeviceKey, StoredUplink
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore

from .conftest import api_settings, make_admin, register_device, signup

SECRET = "s3cret-webhook-value-0123456789"
URL = "/v1/ingest/ttn"
LPP = bytes.fromhex("016700E1")


class FlakyStore(SqliteStore):
    """A SQLite store whose writes fail until ``down_until`` (monotonic seconds)."""

    down_until = 0.0
    failures = 0

    def write(self, batch: Sequence[StoredUplink]) -> None:
        if time.monotonic() < self.down_until:
            self.failures += 1
            raise StoreError("simulated outage")
        super().write(batch)


@pytest.fixture
def hook(sqlite_registry: Registry, tmp_path: object) -> Iterator[tuple[TestClient, Services, FlakyStore]]:
    """An app with webhook ingest over a real pipeline; application 'town' has SECRET."""
    store = FlakyStore(f"{tmp_path}/readings.db")
    pipeline = Pipeline(
        store,
        Decoding(DeviceDirectory(sqlite_registry)),
        batch_size=100,
        flush_interval=0.01,
        retry_initial=0.05,
    )
    pipeline.start()
    # generous: a loaded host must not turn a durable uplink into a 503 (the outage test sets its own)
    services = Services(api_settings(), sqlite_registry, store, pipeline=pipeline, ingest_timeout_s=10.0)
    sqlite_registry.set_application_secret("town", hashlib.sha256(SECRET.encode()).hexdigest(), None)
    sqlite_registry.upsert_device(DeviceKey("town", "bin-1"), kind="bin", decoder="cayenne_lpp")
    with TestClient(create_app(services)) as client:
        yield client, services, store
    pipeline.stop()
    store.close()


def body(f_cnt: int = 1, app: str = "town", t: int = 1_767_225_600_000_000_000) -> bytes:
    return ttn_uplink_body(app, "bin-1", LPP, f_port=1, f_cnt=f_cnt, received_at_ns=t)


def post(client: TestClient, content: bytes, secret: str | None = SECRET) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Lorakeet-Secret"] = secret
    return client.post(URL, content=content, headers=headers).status_code


def test_stores_once_and_dedups_a_redelivery(hook: tuple[TestClient, Services, FlakyStore]) -> None:
    client, _, store = hook
    r = client.post(URL, content=body(), headers={"X-Lorakeet-Secret": SECRET})
    assert r.status_code == 200 and r.json() == {"status": "stored"}
    assert store.count_uplinks() == 1  # durable before the answer
    assert post(client, body()) == 200
    assert store.count_uplinks() == 1
    assert [v.value for v in store.latest(DeviceKey("town", "bin-1"))] == [22.5]


def test_secret_is_required_and_checked(hook: tuple[TestClient, Services, FlakyStore]) -> None:
    client, services, store = hook
    assert post(client, body(), secret=None) == 401
    assert post(client, body(), secret="wrong-secret-wrong-secret") == 403
    other = "another-app-secret-0123456789"
    services.registry.set_application_secret("boats", hashlib.sha256(other.encode()).hexdigest(), None)
    assert post(client, body(app="town"), secret=other) == 403  # boats' secret, town's uplink
    assert store.count_uplinks() == 0


def test_body_size_limit(hook: tuple[TestClient, Services, FlakyStore]) -> None:
    client, _, store = hook
    big = b'{"pad": "' + b"x" * (64 * 1024) + b'"}'
    assert post(client, big) == 413
    assert store.rejected() == []


def test_malformed_json_is_400_and_kept_raw(hook: tuple[TestClient, Services, FlakyStore]) -> None:
    client, _, store = hook
    r = client.post(URL, content=b'{"end_device_ids": ', headers={"X-Lorakeet-Secret": SECRET})
    assert r.status_code == 400 and "malformed JSON" in r.json()["detail"]
    (kept,) = store.rejected()
    assert kept.body == b'{"end_device_ids": ' and kept.topic == "webhook"
    assert post(client, b'{"hello": "world"}') == 400


def test_out_of_range_is_422_kept_raw_and_ingest_keeps_answering(
    hook: tuple[TestClient, Services, FlakyStore],
) -> None:
    client, _, store = hook
    poison = body(f_cnt=1).replace(b'"f_cnt":1}', b'"f_cnt":18446744073709551616}')
    assert poison != body(f_cnt=1)
    r = client.post(URL, content=poison, headers={"X-Lorakeet-Secret": SECRET})
    assert r.status_code == 422 and "f_cnt" in r.json()["detail"]
    (kept,) = store.rejected()
    assert kept.body == poison
    assert post(client, body(f_cnt=2)) == 200  # the next uplink (any account's) is stored
    assert store.count_uplinks() == 1
    metrics = client.get("/metrics").text
    assert 'lorakeet_messages_rejected_by_reason_total{reason="f_cnt",source="webhook"} 1.0' in metrics


def test_store_outage_is_503_and_the_retry_is_stored_once(
    hook: tuple[TestClient, Services, FlakyStore],
) -> None:
    client, services, store = hook
    services.ingest_timeout_s = 0.5
    store.down_until = time.monotonic() + 1.5
    assert post(client, body(f_cnt=7)) == 503  # not durable within the 0.5 s budget
    assert store.failures >= 1
    time.sleep(1.5)
    assert post(client, body(f_cnt=7)) == 200  # TTS retries after the outage
    assert services.pipeline is not None and services.pipeline.wait_idle(10)
    assert store.count_uplinks() == 1


def test_no_pipeline_is_503(sqlite_registry: Registry, sqlite_store: SqliteStore) -> None:
    sqlite_registry.set_application_secret("town", hashlib.sha256(SECRET.encode()).hexdigest(), None)
    with TestClient(create_app(Services(api_settings(), sqlite_registry, sqlite_store))) as client:
        assert post(client, body()) == 503


def test_set_secret_needs_the_application(api_client: TestClient, api_services: Services) -> None:
    owner, stranger = signup(api_client, "Owner"), signup(api_client, "Stranger")
    register_device(api_client, owner, "lights.pole-1")
    url = "/v1/ingest/ttn/secrets"
    assert api_client.post(url, json={"application_id": "lights"}).status_code == 401
    assert (
        api_client.post(url, json={"application_id": "lights"}, headers=stranger.headers).status_code == 403
    )
    # an application nobody proved: the secret is a pending claim's, not the application's
    r = api_client.post(url, json={"application_id": "nobody"}, headers=owner.headers)
    assert r.status_code == 201 and r.json()["pending"] is True
    assert api_services.registry.get_application_secret("nobody") is None
    r = api_client.post(url, json={"application_id": "lights"}, headers=owner.headers)
    assert r.status_code == 201
    secret = r.json()["secret"]
    row = api_services.registry.get_application_secret("lights")
    assert row is not None and row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert row.owner_id == owner.id
    # only the owner (or an admin) may replace it
    assert (
        api_client.post(url, json={"application_id": "lights"}, headers=stranger.headers).status_code == 403
    )
    admin = make_admin(api_services)
    r = api_client.post(url, json={"application_id": "lights", "secret": "x" * 20}, headers=admin.headers)
    assert r.status_code == 201 and r.json()["secret"] == "x" * 20
