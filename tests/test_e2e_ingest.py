"""End to end on real services: TTN JSON published to a private Mosquitto, through the
bridge, into SQLite and into a private InfluxDB 1.6.7, read back with values and times.

Also: a redelivered uplink is stored once, a garbage payload is stored raw with its
error, a malformed message is kept, and a Mosquitto restart mid-stream loses nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lorakeet.gateway_bridge.broker import LocalBroker
from lorakeet.gateway_bridge.simulator import ttn_uplink_body
from lorakeet.storage.factory import Store
from lorakeet.storage.influx_store import InfluxStore
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import Registry
from lorakeet.storage.sqlite_store import SqliteStore

from .e2e import publish, start_bridge, wait_until

pytestmark = pytest.mark.services

APP = "town-bins"
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
STEP = 60_000_000_000


def lpp(distance_mm: int, centivolts: int) -> bytes:
    return bytes([1, 130]) + distance_mm.to_bytes(4, "big") + bytes([2, 116]) + centivolts.to_bytes(2, "big")


def uplinks(n: int, devices: int = 10, start: int = 0) -> list[tuple[str, bytes]]:
    out = []
    for i in range(start, start + n):
        dev = f"bin-{i % devices:02d}"
        body = ttn_uplink_body(
            APP, dev, lpp(100 + i, 300 + i % 60), f_cnt=i + 1, received_at_ns=T0 + i * STEP
        )
        out.append((f"v3/{APP}@ttn/devices/{dev}/up", body))
    return out


@pytest.fixture(params=["sqlite", "influxdb"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    s: Store = request.getfixturevalue("sqlite_store" if request.param == "sqlite" else "influx_store")
    yield s


def register_bins(registry: Registry, devices: int = 10) -> None:
    for i in range(devices):
        registry.upsert_device(
            DeviceKey(APP, f"bin-{i:02d}"), kind="bin", decoder="cayenne_lpp", metadata={"bin_depth_m": 1.2}
        )


def test_n_uplinks_stored_with_values_and_network_times(
    broker: LocalBroker, store: Store, sqlite_registry: Registry
) -> None:
    register_bins(sqlite_registry)
    bridge = start_bridge(broker, store, sqlite_registry)
    try:
        n = 1000
        publish(broker, uplinks(n))
        wait_until(lambda: store.count_uplinks() == n, what=f"{n} uplinks stored")
        assert bridge.pipeline.wait_idle(10)
    finally:
        bridge.mqtt.stop()
        bridge.pipeline.stop()
    # every uplink of bin-03 is there, at its network time, with its decoded values
    key = DeviceKey(APP, "bin-03")
    points = store.points(key, ["distance_1", "voltage_2"], T0, T0 + n * STEP, 10_000)
    assert [p.time_ns for p in points] == [T0 + i * STEP for i in range(3, n, 10)]
    for p, i in zip(points, range(3, n, 10), strict=True):
        assert p.values["distance_1"] == pytest.approx((100 + i) / 1000)
        assert p.values["voltage_2"] == pytest.approx((300 + i % 60) / 100)
    latest = {v.key: v for v in store.latest(key)}
    assert latest["distance_1"].time_ns == T0 + 993 * STEP
    ups = store.uplinks(key, T0, T0 + n * STEP, 5)
    assert ups[0].f_cnt == 994 and ups[0].rssi == -90.0 and ups[0].spreading_factor == 7
    assert ups[0].gateways == ("lorakeet-sim-gw",)
    assert ups[0].decoder == "cayenne_lpp" and ups[0].decode_error is None


def test_redelivered_uplink_is_stored_once(
    broker: LocalBroker, store: Store, sqlite_registry: Registry
) -> None:
    register_bins(sqlite_registry)
    bridge = start_bridge(broker, store, sqlite_registry)
    try:
        batch = uplinks(50)
        publish(broker, batch)
        wait_until(lambda: store.count_uplinks() == 50, what="first delivery")
        publish(broker, batch[:20])  # the same uplinks again (a redelivery / double ingest)
        wait_until(lambda: bridge.pipeline.stats.received == 70, what="redelivery received")
        assert bridge.pipeline.wait_idle(10)
    finally:
        bridge.mqtt.stop()
        bridge.pipeline.stop()
    assert store.count_uplinks() == 50
    assert bridge.pipeline.stats.dedup_hits == 20
    points = store.points(DeviceKey(APP, "bin-00"), None, T0, T0 + 100 * STEP, 1000)
    assert len(points) == 5


def test_garbage_payload_and_malformed_json_are_kept(
    broker: LocalBroker, store: Store, sqlite_registry: Registry
) -> None:
    register_bins(sqlite_registry)
    bridge = start_bridge(broker, store, sqlite_registry)
    try:
        garbage = ttn_uplink_body(APP, "bin-01", b"\x07\xee\x00", f_cnt=9, received_at_ns=T0)
        publish(
            broker,
            [
                (f"v3/{APP}@ttn/devices/bin-01/up", garbage),
                (f"v3/{APP}@ttn/devices/bin-02/up", b'{"end_device_ids": '),
            ],
        )
        wait_until(lambda: bridge.pipeline.stats.received == 2, what="both messages")
        assert bridge.pipeline.wait_idle(10)
    finally:
        bridge.mqtt.stop()
        bridge.pipeline.stop()
    (u,) = store.uplinks(DeviceKey(APP, "bin-01"), T0, T0 + 1, 10)
    assert u.payload == b"\x07\xee\x00"
    assert u.decode_error is not None and "LPP" in u.decode_error
    assert store.latest(DeviceKey(APP, "bin-01")) == []
    assert bridge.pipeline.stats.rejected == 1
    if isinstance(store, SqliteStore):
        (r,) = store.rejected()
        assert r.body == b'{"end_device_ids": '
        assert r.topic == f"v3/{APP}@ttn/devices/bin-02/up"
    else:
        assert isinstance(store, InfluxStore)
        rows = store.query("SELECT count(body) FROM rejected")
        assert rows[0]["series"][0]["values"][0][1] == 1


def test_mosquitto_restart_mid_stream_loses_nothing(
    broker: LocalBroker, sqlite_store: SqliteStore, sqlite_registry: Registry
) -> None:
    register_bins(sqlite_registry)
    bridge = start_bridge(broker, sqlite_store, sqlite_registry)
    try:
        publish(broker, uplinks(300))
        broker.restart()
        # the bridge reconnects and resubscribes by itself (paho backoff + on_connect)
        wait_until(lambda: bridge.mqtt.connections >= 2 and bridge.mqtt.connected.is_set(), what="reconnect")
        publish(broker, uplinks(300, start=300))
        wait_until(lambda: sqlite_store.count_uplinks() == 600, what="600 uplinks after restart")
    finally:
        bridge.mqtt.stop()
        bridge.pipeline.stop()
    assert sqlite_store.count_uplinks() == 600


def test_registry_on_postgresql_end_to_end(
    broker: LocalBroker, sqlite_store: SqliteStore, pg_registry: Registry
) -> None:
    bridge = start_bridge(broker, sqlite_store, pg_registry)
    try:
        publish(broker, uplinks(20))
        wait_until(lambda: sqlite_store.count_uplinks() == 20, what="20 uplinks")
    finally:
        bridge.mqtt.stop()
        bridge.pipeline.stop()
    # unknown devices were auto-registered as unowned, with no decoder, and stored raw
    rows = pg_registry.list_devices()
    assert {r.device_id for r in rows} == {f"bin-{i:02d}" for i in range(10)}
    assert all(r.owner_id is None and r.source == "auto" for r in rows)
    (u,) = sqlite_store.uplinks(DeviceKey(APP, "bin-00"), T0, T0 + 1, 10)
    assert u.decode_error is not None and "no decoder" in u.decode_error


def test_two_bridges_in_a_share_group_split_the_uplinks(
    broker: LocalBroker, influx_store: InfluxStore, sqlite_registry: Registry
) -> None:
    """`$share/<group>/...`: each uplink goes to exactly one of the bridges, none is lost."""
    register_bins(sqlite_registry)
    bridges = [start_bridge(broker, influx_store, sqlite_registry, share_group="ingest") for _ in range(2)]
    try:
        assert all(b.mqtt.filters == ["$share/ingest/v3/+/devices/+/up"] for b in bridges)
        n = 600
        publish(broker, uplinks(n))
        wait_until(lambda: influx_store.count_uplinks() == n, what=f"{n} uplinks stored")
        assert all(b.pipeline.wait_idle(10) for b in bridges)
        received = [b.pipeline.stats.received for b in bridges]
        assert sum(received) == n and min(received) > 0, received
    finally:
        for b in bridges:
            b.mqtt.stop()
            b.pipeline.stop()
