"""Edge validation: out-of-range values are rejected (raw kept, counted by reason), never stored."""

from __future__ import annotations

import math
import time
from typing import Any

import orjson
import pytest

from lorakeet.decoders import DecodeResult, DeviceContext, Reading
from lorakeet.gateway_bridge.admission import screen
from lorakeet.gateway_bridge.devices import DeviceDirectory
from lorakeet.gateway_bridge.envelopes import parse_chirpstack, parse_tts
from lorakeet.gateway_bridge.pipeline import Decoding, Inbound, Pipeline
from lorakeet.gateway_bridge.simulator import ttn_uplink_body
from lorakeet.gateway_bridge.validate import EARLIEST_NS, OutOfRange, TimeWindow, check_uplink
from lorakeet.storage.registry import DeviceInfo
from lorakeet.storage.sqlite_store import SqliteStore
from lorakeet.timefmt import format_rfc3339_ns

from .fakes import MemoryWriter, StaticDevices

NOW = time.time_ns()
LPP = bytes.fromhex("0182000002ee")


def tts(f_cnt: int = 1, t: int | None = None, **patch: Any) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(
        ttn_uplink_body("town-bins", "bin-1", LPP, f_cnt=f_cnt, received_at_ns=t or NOW)
    )
    msg = doc["uplink_message"]
    for path, value in patch.items():
        where: dict[str, Any] = doc if path in ("received_at",) else msg
        *parents, leaf = path.split("__")
        for p in parents:
            where = where[p][0] if isinstance(where[p], list) else where[p]
        where[leaf] = value
    return doc


def chirpstack(**fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "deviceInfo": {"applicationId": "0b0c8a2e-1111-2222-3333-444455556666", "devEui": "0011223344556677"},
        "time": "2024-05-01T10:00:00.123456789Z",
        "fCnt": 5,
        "fPort": 2,
        "data": "AQI=",
        "rxInfo": [{"gatewayId": "aa", "rssi": -100, "snr": 5.5}],
        "txInfo": {
            "frequency": 868100000,
            "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 9}},
        },
    }
    doc.update(fields)
    return doc


POISON: list[tuple[str, str, dict[str, Any]]] = [
    ("f_cnt 2^63", "f_cnt", tts(f_cnt=2**63)),
    ("f_cnt 2^32", "f_cnt", tts(f_cnt=2**32)),
    ("year 9999", "time", tts(received_at="9999-12-31T23:59:59Z")),
    ("year 2300", "time", tts(received_at="2300-01-01T00:00:00Z")),
    ("year 0001", "time", tts(received_at="0001-01-01T00:00:00Z")),
    ("two days ahead", "time", tts(received_at=format_rfc3339_ns(NOW + 2 * 86400 * 10**9))),
    ("year 1999", "time", tts(received_at="1999-12-31T23:59:59Z")),
    ("frequency 2^63", "frequency", tts(settings__frequency=str(2**63))),
    ("frequency 5 Hz", "frequency", tts(settings__frequency="5")),
    ("sf 2^63", "spreading_factor", tts(settings__data_rate__lora__spreading_factor=2**63)),
    ("sf 13", "spreading_factor", tts(settings__data_rate__lora__spreading_factor=13)),
    ("bandwidth", "bandwidth", tts(settings__data_rate__lora__bandwidth=10**12)),
    ("rssi", "rssi", tts(rx_metadata__rssi=-1e300)),
    ("snr", "snr", tts(rx_metadata__snr=1e9)),
]


@pytest.mark.parametrize(("name", "reason", "doc"), POISON, ids=[p[0] for p in POISON])
def test_out_of_range_tts_is_rejected_with_its_reason(name: str, reason: str, doc: dict[str, Any]) -> None:
    body = orjson.dumps(doc)
    err = screen(body, "ttn", NOW, TimeWindow())
    assert isinstance(err, OutOfRange) and err.reason == reason, (name, err)
    w = MemoryWriter()
    p = Pipeline(w, Decoding(DeviceDirectory(StaticDevices())), batch_size=10)
    good = ttn_uplink_body("town-bins", "bin-1", LPP, f_cnt=7, received_at_ns=NOW)
    p.process([Inbound(good, "ttn", arrived_ns=NOW), Inbound(body, "ttn", "t/up", arrived_ns=NOW)])
    assert [s.uplink.f_cnt for s in w.stored] == [7]
    (r,) = w.rejected
    assert r.reason == reason and r.body == body and r.topic == "t/up"
    assert p.stats.rejected_by == {reason: 1} and p.stats.stored == 1


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (chirpstack(fCnt=2**40), "f_cnt"),
        (chirpstack(time="2300-01-01T00:00:00Z"), "time"),
        (chirpstack(txInfo={"frequency": 2**63}), "frequency"),
        (chirpstack(txInfo={"modulation": {"lora": {"spreadingFactor": 4}}}), "spreading_factor"),
        (chirpstack(txInfo={"modulation": {"lora": {"bandwidth": 1}}}), "bandwidth"),
        (chirpstack(rxInfo=[{"rssi": 9e99}]), "rssi"),
    ],
)
def test_out_of_range_chirpstack_is_rejected(doc: dict[str, Any], reason: str) -> None:
    err = screen(orjson.dumps(doc), "chirpstack", NOW, TimeWindow())
    assert isinstance(err, OutOfRange) and err.reason == reason


def test_well_formed_extremes_pass() -> None:
    u = parse_tts(ttn_uplink_body("a", "b", b"", f_cnt=2**32 - 1, f_port=255, spreading_factor=12))
    assert not isinstance(u, type(None))
    check_uplink(u, NOW, TimeWindow())  # type: ignore[arg-type]
    c = parse_chirpstack(orjson.dumps(chirpstack(fCnt=0, fPort=0)))
    check_uplink(c, NOW, TimeWindow())  # type: ignore[arg-type]


def test_fast_path_never_crashes_on_unicode_digits() -> None:
    body = orjson.dumps(tts(settings__frequency="²"))
    with pytest.raises(ValueError):  # a clear envelope error, not an uncaught crash
        parse_tts(body)


def sampled(t_ns: int | None, value: float = 1.0) -> Decoding:
    def decoder(payload: bytes, f_port: int, ctx: DeviceContext) -> DecodeResult:
        return DecodeResult((Reading("temperature", value, "Cel", t_ns),))

    info = DeviceInfo(tts_key(), decoder="clock")
    return Decoding(DeviceDirectory(StaticDevices(info)), lambda name: decoder)


def tts_key() -> Any:
    from lorakeet.storage.records import DeviceKey

    return DeviceKey("town-bins", "bin-1")


@pytest.mark.parametrize(
    ("t_ns", "ok"),
    [(None, True), (NOW - 3600 * 10**9, True), (EARLIEST_NS - 1, False), (NOW - 91 * 86400 * 10**9, False)],
)
def test_sensor_time_window(t_ns: int | None, ok: bool) -> None:
    w = MemoryWriter()
    p = Pipeline(w, sampled(t_ns), window=TimeWindow(sensor_past_s=90 * 86400))
    p.process([Inbound(ttn_uplink_body("town-bins", "bin-1", LPP, f_cnt=1, received_at_ns=NOW), "ttn")])
    assert (len(w.stored), len(w.rejected)) == ((1, 0) if ok else (0, 1))
    if not ok:
        assert w.rejected[0].reason == "sensor_time"


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_reading_is_stored_raw_with_an_error(value: float) -> None:
    w = MemoryWriter()
    p = Pipeline(w, sampled(None, value))
    p.process([Inbound(ttn_uplink_body("town-bins", "bin-1", LPP, f_cnt=1, received_at_ns=NOW), "ttn")])
    (s,) = w.stored
    assert s.readings == () and s.decode_error is not None and "temperature" in s.decode_error


def test_sqlite_poison_among_good_uplinks(tmp_path: Any) -> None:
    store = SqliteStore(tmp_path / "r.db")
    p = Pipeline(store, Decoding(DeviceDirectory(StaticDevices())), batch_size=500)
    batch = [
        Inbound(ttn_uplink_body("town-bins", f"bin-{i % 7}", LPP, f_cnt=i, received_at_ns=NOW + i), "ttn")
        for i in range(199)
    ]
    batch.insert(100, Inbound(orjson.dumps(tts(f_cnt=2**63)), "ttn"))
    p.process(batch)
    assert store.count_uplinks() == 199
    (r,) = store.rejected()
    assert "f_cnt" in r.error and b"9223372036854775808" in r.body
