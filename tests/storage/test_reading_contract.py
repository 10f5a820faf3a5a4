"""The readings-store contract: SQLite and InfluxDB 1.x give identical answers.

Every test runs once per store (``store`` is parametrised) against the real thing: a
SQLite file and a private InfluxDB 1.6.7 with a fresh database. The tests write
decoded uplinks through the writer protocol and read them back through the reader
protocol: latest values (one device and many), raw points (key filter, range edges,
limit), epoch-aligned aggregates, stored uplinks with their radio metadata, deletion,
bool and string values, readings with their own sample time, and idempotent writes.
"""

from __future__ import annotations

import pytest

from lorakeet.decoders import Reading, Value
from lorakeet.storage.factory import Store
from lorakeet.storage.records import DeviceKey, LatestValue, Point, StoredUplink, Uplink

pytestmark = pytest.mark.services

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
S = 1_000_000_000
H = 3600 * S
A = DeviceKey("bins-town", "bin-001")
B = DeviceKey("bins-town", "bin-002")
C = DeviceKey("boats", "bin-001")  # same device id, other application

UNITS = {"fill_pct": "%", "battery": "%", "temperature": "°C", "full_alarm": "", "status": ""}


def up(
    dev: DeviceKey,
    t: int,
    f_cnt: int,
    values: dict[str, Value] | None = None,
    *,
    sampled: dict[int, dict[str, Value]] | None = None,
    decode_error: str | None = None,
    decoder: str = "cayenne_lpp",
    payload: bytes = b"\x01\x02",
    network_decoded: dict[str, object] | None = None,
) -> StoredUplink:
    """A stored uplink of ``dev`` at ``t`` with readings at ``t`` (and sampled ones)."""
    readings = [Reading(k, v, UNITS.get(k.rstrip("_0123456789"), "")) for k, v in (values or {}).items()]
    for ts, vals in (sampled or {}).items():
        readings += [Reading(k, v, UNITS.get(k, ""), ts) for k, v in vals.items()]
    u = Uplink(
        source="ttn",
        application_id=dev.application_id,
        device_id=dev.device_id,
        received_at_ns=t,
        f_port=1,
        f_cnt=f_cnt,
        payload=payload,
        rssi=-97.5,
        snr=6.25,
        spreading_factor=9,
        frequency=868_300_000,
        gateways=("gw-a", "gw-b"),
        network_decoded=network_decoded,
    )
    return StoredUplink(u, "bin", decoder, tuple(readings), decode_error=decode_error)


@pytest.fixture(params=["sqlite", "influx"])
def store(request: pytest.FixtureRequest) -> Store:
    """The SQLite store and the InfluxDB store, one test run each."""
    s: Store = request.getfixturevalue(f"{request.param}_store")
    return s


def fleet(store: Store) -> None:
    """Three devices; A has ten hourly uplinks, the last of which lacks 'battery'."""
    batch = [up(A, T0 + i * H, i + 1, {"fill_pct": 10.0 + i, "battery": 90.0 - i}) for i in range(9)]
    batch.append(up(A, T0 + 9 * H, 10, {"fill_pct": 19.0}))
    batch.append(up(B, T0 + 5 * H, 1, {"fill_pct": 55.5, "temperature": -3.25}))
    batch.append(up(C, T0 + 7 * H, 1, {"temperature": 12.0}))
    store.write(batch)


def test_latest_gives_each_key_its_own_time(store: Store) -> None:
    fleet(store)
    assert store.latest(A) == [
        LatestValue("battery", T0 + 8 * H, 82.0),
        LatestValue("fill_pct", T0 + 9 * H, 19.0),
    ]
    assert store.latest(DeviceKey("bins-town", "nope")) == []


def test_latest_many_matches_latest_and_skips_unknown(store: Store) -> None:
    fleet(store)
    unknown = DeviceKey("bins-town", "nope")
    many = store.latest_many([A, B, C, unknown])
    assert set(many) == {A, B, C}
    for dev in (A, B, C):
        assert many[dev] == store.latest(dev)
    assert many[B] == [
        LatestValue("fill_pct", T0 + 5 * H, 55.5),
        LatestValue("temperature", T0 + 5 * H, -3.25),
    ]
    assert store.latest_many([]) == {}
    assert store.latest_many([unknown]) == {}


def test_latest_many_for_a_large_fleet(store: Store) -> None:
    devs = [DeviceKey("fleet", f"bin-{i:04d}") for i in range(300)]
    store.write([up(d, T0 + i * S, 1, {"fill_pct": float(i % 100)}) for i, d in enumerate(devs)])
    many = store.latest_many(devs[::3])
    assert len(many) == 100
    assert many[devs[297]] == [LatestValue("fill_pct", T0 + 297 * S, 97.0)]


def test_points_range_edges_are_start_inclusive_end_exclusive(store: Store) -> None:
    fleet(store)
    pts = store.points(A, None, T0 + 2 * H, T0 + 5 * H, 100)
    assert [p.time_ns for p in pts] == [T0 + 2 * H, T0 + 3 * H, T0 + 4 * H]
    assert pts[0] == Point(T0 + 2 * H, {"fill_pct": 12.0, "battery": 88.0})


def test_points_key_filter_and_limit(store: Store) -> None:
    fleet(store)
    pts = store.points(A, ["battery"], T0, T0 + 24 * H, 100)
    assert len(pts) == 9  # the last uplink has no battery value: no point for it
    assert all(set(p.values) == {"battery"} for p in pts)
    limited = store.points(A, ["fill_pct"], T0, T0 + 24 * H, 3)
    assert limited == [Point(T0 + i * H, {"fill_pct": 10.0 + i}) for i in range(3)]
    assert store.points(A, ["temperature"], T0, T0 + 24 * H, 10) == []
    assert store.points(DeviceKey("x", "y"), None, T0, T0 + H, 10) == []


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        ("mean", [(0, 11.0), (3, 14.0), (6, 17.0), (9, 19.0)]),
        ("min", [(0, 10.0), (3, 13.0), (6, 16.0), (9, 19.0)]),
        ("max", [(0, 12.0), (3, 15.0), (6, 18.0), (9, 19.0)]),
        ("last", [(0, 12.0), (3, 15.0), (6, 18.0), (9, 19.0)]),
        ("count", [(0, 3.0), (3, 3.0), (6, 3.0), (9, 1.0)]),
    ],
)
def test_aggregate_windows(store: Store, agg: str, expected: list[tuple[int, float]]) -> None:
    fleet(store)
    pts = store.aggregate(A, ["fill_pct"], T0, T0 + 24 * H, 3 * H, agg)  # type: ignore[arg-type]
    assert pts == [Point(T0 + h * H, {"fill_pct": v}) for h, v in expected]


def test_aggregate_aligns_to_epoch_and_omits_empty_windows(store: Store) -> None:
    fleet(store)
    # start in the middle of a window: the first window still starts on the epoch grid
    pts = store.aggregate(A, ["fill_pct", "battery"], T0 + 1 * H, T0 + 10 * H, 4 * H, "max")
    assert pts == [
        Point(T0, {"fill_pct": 13.0, "battery": 89.0}),
        Point(T0 + 4 * H, {"fill_pct": 17.0, "battery": 86.0}),
        Point(T0 + 8 * H, {"fill_pct": 19.0, "battery": 82.0}),
    ]
    sparse = [up(B, T0 + 100 * H, 2, {"fill_pct": 1.0}), up(B, T0 + 130 * H, 3, {"fill_pct": 3.0})]
    store.write(sparse)
    pts = store.aggregate(B, ["fill_pct"], T0 + 90 * H, T0 + 140 * H, H, "mean")
    assert pts == [Point(T0 + 100 * H, {"fill_pct": 1.0}), Point(T0 + 130 * H, {"fill_pct": 3.0})]
    assert store.aggregate(A, [], T0, T0 + H, H, "mean") == []


def test_aggregate_ignores_bool_and_string_keys(store: Store) -> None:
    store.write([up(A, T0, 1, {"fill_pct": 5.0, "full_alarm": True, "status": "ok"})])
    pts = store.aggregate(A, ["fill_pct", "full_alarm", "status"], T0, T0 + H, H, "count")
    assert pts == [Point(T0, {"fill_pct": 1.0})]


def test_bool_and_string_values_round_trip(store: Store) -> None:
    store.write(
        [
            up(A, T0, 1, {"full_alarm": True, "status": "lid open"}),
            up(A, T0 + H, 2, {"full_alarm": False, "status": 'say "hi", \\o/'}),
        ]
    )
    assert store.latest(A) == [
        LatestValue("full_alarm", T0 + H, False),
        LatestValue("status", T0 + H, 'say "hi", \\o/'),
    ]
    assert store.points(A, None, T0, T0 + 2 * H, 10) == [
        Point(T0, {"full_alarm": True, "status": "lid open"}),
        Point(T0 + H, {"full_alarm": False, "status": 'say "hi", \\o/'}),
    ]
    assert sorted(store.keys(A)) == ["full_alarm", "status"]


def test_sampled_readings_keep_their_own_time(store: Store) -> None:
    sampled = {T0 - 20 * 60 * S: {"temperature": 4.5}, T0 - 10 * 60 * S: {"temperature": 5.0}}
    store.write([up(A, T0, 1, {"temperature": 5.5, "battery": 77.0}, sampled=sampled)])
    pts = store.points(A, ["temperature"], T0 - H, T0 + H, 10)
    assert pts == [
        Point(T0 - 20 * 60 * S, {"temperature": 4.5}),
        Point(T0 - 10 * 60 * S, {"temperature": 5.0}),
        Point(T0, {"temperature": 5.5}),
    ]
    assert store.latest(A) == [LatestValue("battery", T0, 77.0), LatestValue("temperature", T0, 5.5)]
    # a later uplink carrying only an older sample does not move "latest" back
    store.write([up(A, T0 + H, 2, sampled={T0 - 30 * 60 * S: {"temperature": 1.0}})])
    assert store.latest(A)[1] == LatestValue("temperature", T0, 5.5)


def test_uplinks_newest_first_with_radio_metadata(store: Store) -> None:
    store.write(
        [
            up(A, T0, 1, {"fill_pct": 1.0}, payload=b"\x00\xff"),
            up(A, T0 + H, 2, decode_error="PayloadFormatError: bad", payload=b"\xde\xad"),
            up(
                A,
                T0 + 2 * H,
                3,
                {"fill_pct": 3.0},
                decoder="network",
                network_decoded={"fill": 3, "ok": True},
            ),
            up(B, T0 + H, 1, {"fill_pct": 9.0}),
        ]
    )
    views = store.uplinks(A, T0, T0 + 2 * H, 10)  # end exclusive: the third is left out
    assert [(v.f_cnt, v.received_at_ns) for v in views] == [(2, T0 + H), (1, T0)]
    v = views[0]
    assert (v.device, v.f_port, v.payload, v.source) == (A, 1, b"\xde\xad", "ttn")
    assert (v.rssi, v.snr, v.spreading_factor, v.frequency) == (-97.5, 6.25, 9, 868_300_000)
    assert v.gateways == ("gw-a", "gw-b")
    assert (v.decoder, v.decode_error) == ("cayenne_lpp", "PayloadFormatError: bad")
    assert views[1].decode_error is None
    newest = store.uplinks(A, T0, T0 + 3 * H, 1)
    assert [u.f_cnt for u in newest] == [3]
    assert newest[0].network_decoded == {"fill": 3, "ok": True}
    assert newest[0].decoder == "network"
    assert views[1].network_decoded is None


def test_delete_device_leaves_others(store: Store) -> None:
    fleet(store)
    store.delete_device(A)
    assert store.latest(A) == []
    assert store.points(A, None, T0, T0 + 24 * H, 100) == []
    assert store.uplinks(A, T0, T0 + 24 * H, 100) == []
    assert store.latest(B) != []
    assert store.latest(C) == [LatestValue("temperature", T0 + 7 * H, 12.0)]
    store.delete_device(DeviceKey("never", "seen"))  # harmless


def test_same_batch_twice_is_stored_once(store: Store) -> None:
    batch = [up(A, T0 + i * H, i + 1, {"fill_pct": float(i)}) for i in range(5)]
    store.write(batch)
    store.write(batch)
    store.write(batch[2:4])
    assert len(store.points(A, None, T0, T0 + 10 * H, 100)) == 5
    assert len(store.uplinks(A, T0, T0 + 10 * H, 100)) == 5
    assert store.aggregate(A, ["fill_pct"], T0, T0 + 10 * H, 24 * H, "count") == [
        Point(T0, {"fill_pct": 5.0})
    ]
    assert store.count_uplinks() == 5


def test_within_a_batch_the_last_write_of_a_key_wins(store: Store) -> None:
    # devices interleaved, times out of order, one uplink delivered twice with a new value
    store.write(
        [
            up(B, T0 + 2 * H, 3, {"fill_pct": 30.0}),
            up(A, T0 + H, 2, {"fill_pct": 20.0}),
            up(B, T0, 1, {"fill_pct": 10.0}),
            up(A, T0 + H, 2, {"fill_pct": 21.0}),
            up(A, T0, 1, {"fill_pct": 5.0}),
        ]
    )
    assert store.points(A, None, T0, T0 + 3 * H, 10) == [
        Point(T0, {"fill_pct": 5.0}),
        Point(T0 + H, {"fill_pct": 21.0}),
    ]
    assert store.latest(A) == [LatestValue("fill_pct", T0 + H, 21.0)]
    assert store.latest(B) == [LatestValue("fill_pct", T0 + 2 * H, 30.0)]
    assert len(store.uplinks(A, T0, T0 + 3 * H, 10)) == 2


def test_rewrite_overwrites_values_and_decode_outcome(store: Store) -> None:
    store.write([up(A, T0, 1, decode_error="no decoder configured", decoder="none")])
    store.write([up(A, T0, 1, {"fill_pct": 42.0})])
    assert store.points(A, None, T0, T0 + H, 10) == [Point(T0, {"fill_pct": 42.0})]
    (v,) = store.uplinks(A, T0, T0 + H, 10)
    assert (v.decoder, v.decode_error) == ("cayenne_lpp", None)


def test_vendor_fields_round_trip_with_their_units_and_types(store: Store) -> None:
    """Vendor fields (any path, any type) and their stated units come back as written; a
    field whose unit changes reports the new one; a field of another type never conflicts."""

    def vendor(dev: DeviceKey, t: int, f_cnt: int, readings: list[Reading]) -> StoredUplink:
        return up(dev, t, f_cnt)._replace(readings=tuple(readings))

    store.write(
        [
            vendor(
                A,
                T0,
                1,
                [
                    Reading("v.temp_SOIL", 30.11, "°C"),
                    Reading("v.conduct_SOIL", 0.0, "µS/cm"),
                    Reading("v.Active~20Energy", 1810.0, "Wh"),
                    Reading("v.LON:bool", True, ""),
                    Reading("v.MD:str", "Move", ""),
                    Reading("battery_voltage", 3.384, "V"),
                ],
            ),
            # another device sends the same path as text: a typed sibling, no conflict
            vendor(B, T0, 1, [Reading("v.temp_SOIL:str", "n/a", "")]),
            vendor(A, T0 + H, 2, [Reading("v.temp_SOIL", 86.0, "°F"), Reading("v.MD:str", "Still", "")]),
        ]
    )
    latest = {v.key: v.value for v in store.latest(A)}
    assert latest == {
        "v.temp_SOIL": 86.0,
        "v.conduct_SOIL": 0.0,
        "v.Active~20Energy": 1810.0,
        "v.LON:bool": True,
        "v.MD:str": "Still",
        "battery_voltage": 3.384,
    }
    units = store.units(A)
    assert {k: units[k] for k in ("v.temp_SOIL", "v.conduct_SOIL", "v.Active~20Energy", "v.LON:bool")} == {
        "v.temp_SOIL": "°F",
        "v.conduct_SOIL": "µS/cm",
        "v.Active~20Energy": "Wh",
        "v.LON:bool": "",
    }
    assert store.latest(B) == [LatestValue("v.temp_SOIL:str", T0, "n/a")]
    pts = store.points(A, ["v.temp_SOIL", "v.LON:bool"], T0, T0 + 2 * H, 10)
    assert pts == [
        Point(T0, {"v.temp_SOIL": 30.11, "v.LON:bool": True}),
        Point(T0 + H, {"v.temp_SOIL": 86.0}),
    ]
    agg = store.aggregate(A, ["v.temp_SOIL", "v.MD:str"], T0, T0 + 2 * H, 2 * H, "max")
    assert agg == [Point(T0, {"v.temp_SOIL": 86.0})]
    assert "v.Active~20Energy" in store.keys(A)
