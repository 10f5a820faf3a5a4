"""The pipeline on fakes: decode, dedup, keep bad input, retry the store, ack after writes."""

from __future__ import annotations

import threading

import pytest

from lorakeet.gateway_bridge.devices import DeviceDirectory
from lorakeet.gateway_bridge.pipeline import Decoding, Inbound, Pipeline
from lorakeet.gateway_bridge.simulator import ttn_uplink_body
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import DeviceInfo

from .fakes import MemoryWriter, StaticDevices

BIN = DeviceKey("town-bins", "bin-1")
LPP = bytes.fromhex("0182000002ee02740168")  # distance 0.75 m, voltage 3.60 V


def make_pipeline(writer: MemoryWriter, *infos: DeviceInfo) -> tuple[Pipeline, StaticDevices]:
    devices = StaticDevices(*infos)
    p = Pipeline(
        writer, Decoding(DeviceDirectory(devices)), batch_size=100, flush_interval=0.01, retry_initial=0.01
    )
    return p, devices


def msg(f_cnt: int, payload: bytes = LPP, t: int = 1_700_000_000_000_000_000, **kw: object) -> Inbound:
    body = ttn_uplink_body(BIN.application_id, BIN.device_id, payload, f_cnt=f_cnt, received_at_ns=t, **kw)  # type: ignore[arg-type]
    return Inbound(body, "ttn", topic=f"v3/town-bins@ttn/devices/{BIN.device_id}/up")


def test_decodes_with_registered_decoder_and_metadata() -> None:
    w = MemoryWriter()
    p, _ = make_pipeline(w, DeviceInfo(BIN, kind="bin", decoder="cayenne_lpp"))
    p.process([msg(1)])
    (s,) = w.stored
    assert s.kind == "bin"
    assert s.decoder == "cayenne_lpp"
    assert {r.key: r.value for r in s.readings} == {"distance_1": 0.75, "voltage_2": 3.6}
    assert s.decode_error is None


def test_network_decoded_payload_is_used_when_no_decoder_is_set() -> None:
    w = MemoryWriter()
    p, devices = make_pipeline(w)
    p.process([msg(1, decoded_payload={"BatV": "3.384 V", "TempC_SHT": "21.5"})])
    (s,) = w.stored
    assert s.decoder == "network"
    # BatV states volts; TempC_SHT states °C but names a second sensor: a vendor field with its unit
    assert {(r.key, r.value, r.unit) for r in s.readings} == {
        ("battery_voltage", 3.384, "V"),
        ("v.TempC_SHT", 21.5, "°C"),
    }
    assert devices.auto == [BIN]  # unknown device auto-registered, not dropped


def test_no_decoder_stores_raw_with_error() -> None:
    w = MemoryWriter()
    p, _ = make_pipeline(w)
    p.process([msg(1)])
    (s,) = w.stored
    assert s.readings == ()
    assert s.uplink.payload == LPP
    assert s.decode_error is not None and "no decoder" in s.decode_error


def test_garbage_payload_is_stored_raw_with_its_error() -> None:
    w = MemoryWriter()
    p, _ = make_pipeline(w, DeviceInfo(BIN, decoder="cayenne_lpp"))
    p.process([msg(5, payload=b"\xff\xfe\xfd")])
    (s,) = w.stored
    assert s.uplink.payload == b"\xff\xfe\xfd"
    assert s.decode_error is not None and "unknown LPP type" in s.decode_error
    assert p.stats.decode_failed == 1


def test_unknown_decoder_name_is_a_decode_error_not_a_crash() -> None:
    w = MemoryWriter()
    p, _ = make_pipeline(w, DeviceInfo(BIN, decoder="no-such-decoder"))
    p.process([msg(1)])
    assert "unknown decoder" in (w.stored[0].decode_error or "")


def test_duplicates_within_and_across_batches_are_stored_once() -> None:
    w = MemoryWriter()
    p, _ = make_pipeline(w, DeviceInfo(BIN, decoder="cayenne_lpp"))
    p.process([msg(1), msg(1), msg(2)])
    p.process([msg(2), msg(3)])
    assert [s.uplink.f_cnt for s in w.stored] == [1, 2, 3]
    assert p.stats.dedup_hits == 2
    # same f_cnt at another time is a different uplink (a counter reset after rejoin)
    p.process([msg(1, t=1_700_000_100_000_000_000)])
    assert len(w.stored) == 4


def test_malformed_json_is_rejected_and_kept_raw() -> None:
    w = MemoryWriter()
    p, _ = make_pipeline(w)
    p.process([Inbound(b"{oops", "ttn", topic="v3/x/devices/y/up"), msg(1)])
    assert len(w.rejected) == 1
    assert w.rejected[0].body == b"{oops"
    assert w.rejected[0].topic == "v3/x/devices/y/up"
    assert len(w.stored) == 1  # the good message in the same batch goes on


def test_other_events_are_skipped() -> None:
    w = MemoryWriter()
    p, _ = make_pipeline(w)
    join = b'{"end_device_ids": {"device_id": "d", "application_ids": {"application_id": "a"}}, "join_accept": {}}'
    p.process([Inbound(join, "ttn")])
    assert w.stored == [] and w.rejected == []
    assert p.stats.other_events == 1


def test_acknowledged_only_after_the_store_accepted_the_batch() -> None:
    w = MemoryWriter()
    w.fail_next = 2
    p, _ = make_pipeline(w, DeviceInfo(BIN, decoder="cayenne_lpp"))
    acked: list[BaseException | None] = []
    m = msg(1)
    m.done = acked.append
    p.process([m])
    assert p.stats.write_failures == 2
    assert acked == [None]
    assert len(w.stored) == 1


def test_threaded_run_drains_and_waits_idle() -> None:
    w = MemoryWriter()
    p, _ = make_pipeline(w, DeviceInfo(BIN, decoder="cayenne_lpp"))
    p.start()
    done = threading.Event()
    count = 0

    def ack(err: BaseException | None) -> None:
        nonlocal count
        count += 1
        if count == 500:
            done.set()

    for i in range(1, 501):
        m = msg(i)
        m.done = ack
        p.submit(m)
    assert done.wait(10)
    assert p.wait_idle(5)
    p.stop()
    assert len(w.stored) == 500
    assert p.stats.received == 500


def test_stop_while_store_is_down_leaves_messages_unacknowledged() -> None:
    w = MemoryWriter()
    w.fail_next = 10**6
    p, _ = make_pipeline(w, DeviceInfo(BIN, decoder="cayenne_lpp"))
    results: list[BaseException | None] = []
    m = msg(1)
    m.done = results.append
    p.start()
    p.submit(m)
    threading.Timer(0.2, p.stop).start()
    p.wait_idle(10)
    assert len(results) == 1 and results[0] is not None


def test_observers_see_durable_uplinks_and_cannot_break_ingest() -> None:
    w = MemoryWriter()
    p, _ = make_pipeline(w, DeviceInfo(BIN, decoder="cayenne_lpp"))
    seen: list[int] = []

    def broken(batch: object) -> None:
        raise RuntimeError("observer bug")

    p.observers = [broken, lambda batch: seen.extend(s.uplink.f_cnt for s in batch)]
    p.process([msg(1), msg(2)])
    assert seen == [1, 2]
    assert len(w.stored) == 2


def test_a_preloaded_fleet_is_refreshed_a_few_devices_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Preloaded entries expire spread over the TTL's second half, not all in one batch."""
    now = [1000.0]
    monkeypatch.setattr("lorakeet.gateway_bridge.devices.time.monotonic", lambda: now[0])
    keys = [DeviceKey("town-bins", f"bin-{i}") for i in range(1000)]
    source = StaticDevices(*(DeviceInfo(k, kind="bin") for k in keys))
    lookups: list[DeviceKey] = []
    ensure = source.ensure_device
    monkeypatch.setattr(source, "ensure_device", lambda k, e=None, *a: lookups.append(k) or ensure(k, e, *a))
    directory = DeviceDirectory(source, ttl=30.0)
    assert directory.preload(source.infos.values()) == 1000
    refreshed_per_second = []
    for second in range(1, 31):
        now[0] = 1000.0 + second
        before = len(lookups)
        for k in keys:
            directory.device(k)
        refreshed_per_second.append(len(lookups) - before)
    assert refreshed_per_second[:14] == [0] * 14  # nothing before half the TTL
    assert sum(refreshed_per_second) == 1000  # each device once within the TTL
    assert max(refreshed_per_second) < 150  # spread out, not 1000 at once
