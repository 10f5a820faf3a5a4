"""InfluxDB latest values from the ``latest`` measurement kept on write.

Against a real InfluxDB 1.6.7: the answers equal ``last()`` over the readings (per key, with
each key's own time), older uplinks written later never move a latest value back, a store
filled by another process (or by the layout before this measurement) is read correctly by a
fresh process, deletion drops the device, and a batch that was not written leaves the
writer's state as it was.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from lorakeet.storage.influx_latest import LatestIndex
from lorakeet.storage.influx_store import InfluxStore
from lorakeet.storage.influx_view import TTL_S
from lorakeet.storage.line_protocol import uplink_lines
from lorakeet.storage.records import DeviceKey, LatestValue

from ..services import InfluxServer
from .test_reading_contract import T0, A, B, C, H, S, up

pytestmark = pytest.mark.services


@pytest.fixture
def fresh(influx_store: InfluxStore) -> Iterator[InfluxStore]:
    """Another process's store on the same database (nothing learned yet)."""
    other = InfluxStore(influx_store.url, influx_store.database)
    yield other
    other.close()


def table(values: list[LatestValue]) -> dict[str, tuple[int, object]]:
    return {v.key: (v.time_ns, v.value) for v in values}


def values(values: list[LatestValue]) -> dict[str, object]:
    return {v.key: v.value for v in values}


def by_readings(
    store: InfluxStore, devices: list[DeviceKey]
) -> dict[DeviceKey, dict[str, tuple[int, object]]]:
    """``last()`` of every key over the readings themselves (the layout before ``latest``)."""
    found = store._latest_from_readings(devices)
    return {d: dict(found[d]) for d in devices if d in found}


def test_latest_matches_last_over_the_readings(influx_store: InfluxStore, fresh: InfluxStore) -> None:
    influx_store.write(
        [
            up(A, T0, 1, {"fill_pct_1": 10.0, "battery_2": 90.0}),
            up(B, T0 + S, 1, {"fill_pct_1": 55.0, "status_3": "ok"}),
            up(C, T0 + 2 * S, 1, {"full_alarm_4": True}),
        ]
    )
    influx_store.write(
        [up(A, T0 + H, 2, {"fill_pct_1": 20.0}, sampled={T0 + H - 60 * S: {"temperature_5": 4.5}})]
    )
    influx_store.write([up(A, T0 + 30 * H, 3, {"battery_2": 80.0})])  # next day: a new latest point
    want = by_readings(influx_store, [A, B, C])
    for store in (influx_store, fresh):
        got = store.latest_many([A, B, C, DeviceKey("bins-town", "none")])
        assert {d: table(v) for d, v in got.items()} == want
        assert table(store.latest(A)) == want[A]
        assert store.keys(A) == ["battery_2", "fill_pct_1", "temperature_5"]
    assert want[A] == {
        "fill_pct_1": (T0 + H, 20.0),
        "battery_2": (T0 + 30 * H, 80.0),
        "temperature_5": (T0 + H - 60 * S, 4.5),
    }


def test_older_uplinks_written_later_do_not_move_latest_back(
    influx_store: InfluxStore, fresh: InfluxStore
) -> None:
    influx_store.write([up(A, T0 + 48 * H, 5, {"fill_pct_1": 70.0})])
    influx_store.write([up(A, T0 + 47 * H, 4, {"fill_pct_1": 60.0, "battery_2": 50.0})])  # a backfill
    fresh.write([up(A, T0, 1, {"fill_pct_1": 5.0, "battery_2": 99.0})])  # another process, older still
    assert values(influx_store.latest(A)) == {"fill_pct_1": 70.0, "battery_2": 50.0}
    assert values(fresh.latest(A)) == {"fill_pct_1": 70.0, "battery_2": 50.0}


def test_a_store_written_before_the_latest_measurement_is_read_and_learned(
    influx_server: InfluxServer, influx_store: InfluxStore
) -> None:
    old = [up(A, T0, 1, {"fill_pct_1": 10.0, "battery_2": 90.0}), up(B, T0 + S, 1, {"fill_pct_1": 40.0})]
    influx_store.write_lines([line for s in old for line in uplink_lines(s)])  # no latest points
    assert influx_store.query("SELECT count(*) FROM latest")[0].get("series") is None
    reader = InfluxStore(influx_server.url, influx_store.database)
    writer = InfluxStore(influx_server.url, influx_store.database)
    try:
        want = by_readings(reader, [A, B])
        assert {d: table(v) for d, v in reader.latest_many([A, B]).items()} == want
        assert influx_store.query("SELECT count(*) FROM latest")[0].get("series")  # learned, kept
        writer.write([up(A, T0 + H, 2, {"fill_pct_1": 11.0})])  # a new process adds one key's value
        assert values(influx_store.latest(A)) == {
            "fill_pct_1": 11.0,
            "battery_2": 90.0,
        }
    finally:
        reader.close()
        writer.close()


def test_a_new_writer_on_an_old_store_writes_every_key_first(
    influx_server: InfluxServer, influx_store: InfluxStore
) -> None:
    old = [up(A, T0, 1, {"fill_pct_1": 10.0, "battery_2": 90.0})]
    influx_store.write_lines([line for s in old for line in uplink_lines(s)])  # no latest points
    writer = InfluxStore(influx_server.url, influx_store.database)
    reader = InfluxStore(influx_server.url, influx_store.database)
    try:
        writer.write([up(A, T0 + H, 2, {"fill_pct_1": 11.0})])
        writer.write([up(A, T0 + 2 * H, 3, {"fill_pct_1": 12.0})])  # then only what moved
        assert table(reader.latest(A)) == {"fill_pct_1": (T0 + 2 * H, 12.0), "battery_2": (T0, 90.0)}
        assert reader._no_data == set()  # found in the latest measurement, not in the readings
        rows = influx_store.query("SELECT * FROM latest")[0]["series"][0]["values"]
        assert len(rows) == 1  # one point per device, whatever the number of writes
    finally:
        writer.close()
        reader.close()


def test_delete_drops_latest_values(influx_store: InfluxStore, fresh: InfluxStore) -> None:
    influx_store.write([up(A, T0, 1, {"fill_pct_1": 10.0}), up(B, T0, 1, {"fill_pct_1": 20.0})])
    assert fresh.latest(A)
    fresh.delete_device(A)
    assert fresh.latest(A) == [] and influx_store.latest(A) == []
    assert [v.value for v in influx_store.latest(B)] == [20.0]
    influx_store.forget_devices([A])  # the writer was told (its device directory noticed)
    influx_store.write([up(A, T0 + H, 2, {"battery_2": 70.0})])  # the device comes back
    assert values(influx_store.latest(A)) == {"battery_2": 70.0}  # no old values
    time.sleep(TTL_S)  # another process's write: within the view's bound
    assert values(fresh.latest(A)) == {"battery_2": 70.0}


def test_state_moves_only_when_the_batch_is_committed() -> None:
    learned: list[list[DeviceKey]] = []
    index = LatestIndex(lambda devs: (learned.append(devs) or {}, set()))
    batch = [up(A, T0, 1, {"fill_pct_1": 10.0})]
    lines, pending = index.prepare(batch)
    assert len(lines) == 1 and lines[0].startswith("latest,application_id=bins-town,device_id=bin-001 ")
    assert index.prepare(batch)[0] == lines  # not written: the same point again
    index.commit(pending)
    assert index.prepare(batch) == ([], {})  # written: nothing moved
    assert learned == [[A]]  # the store was asked once


def test_reads_share_one_answer_for_at_most_a_second(influx_store: InfluxStore, fresh: InfluxStore) -> None:
    fleet = [DeviceKey("bins-town", f"bin-{i:03d}") for i in range(150)]
    influx_store.write([up(d, T0, 1, {"fill_pct_1": float(i)}) for i, d in enumerate(fleet)])
    got = fresh.latest_many(fleet)
    assert [values(got[d]) for d in fleet] == [{"fill_pct_1": float(i)} for i in range(150)]
    influx_store.write([up(fleet[0], T0 + S, 2, {"fill_pct_1": 99.0})])  # another process writes
    assert values(fresh.latest_many(fleet)[fleet[0]]) == {"fill_pct_1": 0.0}  # within the second
    assert values(fresh.latest(fleet[0])) == {"fill_pct_1": 0.0}  # one device: the same view
    time.sleep(TTL_S)
    assert values(fresh.latest_many(fleet)[fleet[0]]) == {"fill_pct_1": 99.0}
    fresh.write([up(fleet[1], T0 + S, 2, {"fill_pct_1": 77.0})])  # its own write: seen at once
    assert values(fresh.latest_many(fleet)[fleet[1]]) == {"fill_pct_1": 77.0}
    assert values(fresh.latest(fleet[1])) == {"fill_pct_1": 77.0}
