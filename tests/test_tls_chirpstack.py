"""TLS to the broker with certificate verification, and ChirpStack v4 events over MQTT.

A private CA signs a certificate for 127.0.0.1; Mosquitto serves it on a TLS listener.
The bridge connects when given that CA file, and refuses (verification on by default)
when it only trusts the system CAs. ChirpStack ``event/up`` messages are stored; its
other events on the same subscription are recognised and skipped.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lorakeet.gateway_bridge.bridge import Bridge
from lorakeet.gateway_bridge.broker import LocalBroker
from lorakeet.settings import MqttSettings, Settings
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore

from .e2e import publish, start_bridge, wait_until
from .test_e2e_ingest import APP, uplinks

pytestmark = pytest.mark.services

FIXTURES = Path(__file__).parent / "fixtures"


def make_ca(d: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 (openssl CLI)."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=lorakeet-test-ca")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "san.ext")  # fmt: skip
    return d / "ca.crt", d / "server.crt", d / "server.key"


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[LocalBroker, Path]]:
    certs = tmp_path / "certs"
    certs.mkdir()
    ca, cert, key = make_ca(certs)
    b = LocalBroker(kind="mosquitto", data_dir=tmp_path / "broker", tls=(ca, cert, key))
    b.start()
    yield b, ca
    b.close()


def test_tls_with_ca_file_connects_and_stores(
    tls_broker: tuple[LocalBroker, Path], sqlite_store: SqliteStore, sqlite_registry: Registry
) -> None:
    broker, ca = tls_broker
    sqlite_registry.upsert_device(DeviceKey(APP, "bin-00"), decoder="cayenne_lpp")
    cfg = MqttSettings(
        url=f"mqtts://127.0.0.1:{broker.tls_port}", ca_file=ca, client_id=f"tls-{uuid.uuid4().hex[:6]}"
    )
    b = Bridge(Settings(mqtt=cfg), store=sqlite_store, registry=sqlite_registry)
    b.start()
    try:
        assert b.mqtt.wait_connected(10), "no TLS connection with the right CA"
        publish(broker, uplinks(10, devices=1))
        wait_until(lambda: sqlite_store.count_uplinks() == 10, what="10 uplinks over TLS")
    finally:
        b.mqtt.stop()
        b.pipeline.stop()


def test_tls_verification_is_on_by_default(
    tls_broker: tuple[LocalBroker, Path], sqlite_store: SqliteStore, sqlite_registry: Registry
) -> None:
    broker, _ = tls_broker
    cfg = MqttSettings(url=f"mqtts://127.0.0.1:{broker.tls_port}", client_id="tls-untrusted")
    b = Bridge(Settings(mqtt=cfg), store=sqlite_store, registry=sqlite_registry)
    b.start()
    try:
        assert not b.mqtt.wait_connected(3), "connected to a broker whose certificate no system CA signed"
    finally:
        b.mqtt.stop()
        b.pipeline.stop()


def test_chirpstack_events_over_mqtt(
    broker: LocalBroker, sqlite_store: SqliteStore, sqlite_registry: Registry
) -> None:
    bridge = start_bridge(broker, sqlite_store, sqlite_registry, network="chirpstack", events=["up", "join"])
    up = (FIXTURES / "chirpstack_up.json").read_bytes()
    join = (FIXTURES / "chirpstack_join.json").read_bytes()
    app = "17c82e96-be03-4f38-aef3-f83d48582d97"
    try:
        publish(
            broker,
            [
                (f"application/{app}/device/0101010101010101/event/join", join),
                (f"application/{app}/device/0101010101010101/event/up", up),
                (f"application/{app}/device/0101010101010101/event/up", up),  # redelivered
            ],
        )
        wait_until(lambda: bridge.pipeline.stats.received == 3, what="three events")
        assert bridge.pipeline.wait_idle(10)
    finally:
        bridge.mqtt.stop()
        bridge.pipeline.stop()
    assert bridge.pipeline.stats.other_events == 1
    assert sqlite_store.count_uplinks() == 1
    latest = {v.key: v.value for v in sqlite_store.latest(DeviceKey(app, "0101010101010101"))}
    # no decoder registered: ChirpStack's own decoded object is used
    # no unit is stated in the object: both fields are kept as vendor fields without a unit
    assert latest == {"v.battery_voltage": 3.1, "v.temperatureSensor.1": 21.5}
