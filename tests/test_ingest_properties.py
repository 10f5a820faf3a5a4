"""Property: TTS and ChirpStack envelopes with extreme values, through the whole pipeline into
both stores: every message ends up stored, rejected or dead-lettered, and the counts add up."""

from __future__ import annotations

import base64
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lorakeet.gateway_bridge.devices import DeviceDirectory
from lorakeet.gateway_bridge.durability import MemoryDeadLetters
from lorakeet.gateway_bridge.pipeline import Decoding, Inbound, Pipeline
from lorakeet.storage.influx_store import InfluxStore
from lorakeet.storage.protocols import ReadingWriter
from lorakeet.storage.sqlite_store import SqliteStore

from .fakes import StaticDevices
from .services import InfluxServer

EXTREME_INTS = [-1, 0, 255, 256, 2**31, 2**32 - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 2**70]
TIMES = [
    "9999-12-31T23:59:59.999999999Z",
    "0001-01-01T00:00:00Z",
    "2300-01-01T00:00:00Z",
    "2262-04-11T23:47:16.854775807Z",
    "1677-09-21T00:12:43.145224192Z",
    "1970-01-01T00:00:00Z",
    "1999-12-31T23:59:59Z",
    "2024-05-01T10:00:00.123456789+14:00",
    "not a time",
]

ints = st.one_of(st.integers(-(2**8), 2**33), st.sampled_from(EXTREME_INTS))
floats = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([-120.0, 7.5]))
times = st.one_of(st.none(), st.sampled_from(TIMES), st.integers(-(2**65), 2**65).map(lambda s: f"@{s}"))
decoded = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["temperature", "battery", "humidity", "counter", "status", "TempC_SHT"]),
        st.one_of(st.integers(-(2**80), 2**80), st.floats(), st.text(max_size=5), st.booleans()),
        max_size=4,
    ),
)


def _time(value: str | None, now_ns: int) -> str | None:
    if value is None:
        return None
    if value.startswith("@"):  # an offset from now, in seconds: recent, or far away
        from lorakeet.timefmt import format_rfc3339_ns

        try:
            return format_rfc3339_ns(now_ns + int(value[1:]) * 10**9)
        except (ValueError, OverflowError, OSError):
            return "0001-01-01T00:00:00Z"
    return value


@st.composite
def envelope(draw: st.DrawFn, i: int) -> tuple[str, bytes]:
    now = time.time_ns()
    recent = draw(st.booleans())
    t = None if recent else _time(draw(times), now)
    f_cnt, f_port = draw(ints), draw(st.one_of(st.integers(-2, 300), st.just(1)))
    sf, freq, bw = (
        draw(st.one_of(st.none(), ints)),
        draw(st.one_of(st.none(), ints)),
        draw(st.one_of(st.none(), ints)),
    )
    rssi, snr, obj = draw(floats), draw(floats), draw(decoded)
    payload = base64.b64encode(draw(st.binary(max_size=12))).decode()
    if draw(st.booleans()):
        doc: dict[str, Any] = {
            "end_device_ids": {"device_id": f"dev-{i}", "application_ids": {"application_id": "props"}},
            "uplink_message": {
                "f_port": f_port,
                "f_cnt": f_cnt,
                "frm_payload": payload,
                "rx_metadata": [{"gateway_ids": {"gateway_id": "gw"}, "rssi": rssi, "snr": snr}],
                "settings": {
                    "data_rate": {"lora": {"spreading_factor": sf, "bandwidth": bw}},
                    "frequency": None if freq is None else str(freq),
                },
            },
        }
        if t is not None:
            doc["received_at"] = t
        if obj is not None:
            doc["uplink_message"]["decoded_payload"] = obj
        return "tts", json.dumps(doc).encode()
    cs: dict[str, Any] = {
        "deviceInfo": {"applicationId": "props", "devEui": f"{i:016x}"},
        "fCnt": f_cnt,
        "fPort": f_port,
        "data": payload,
        "rxInfo": [{"gatewayId": "gw", "rssi": rssi, "snr": snr}],
        "txInfo": {"frequency": freq, "modulation": {"lora": {"spreadingFactor": sf, "bandwidth": bw}}},
    }
    if t is not None:
        cs["time"] = t
    if obj is not None:
        cs["object"] = obj
    return "chirpstack", json.dumps(cs).encode()


batches = st.integers(1, 25).flatmap(lambda n: st.tuples(*(envelope(i) for i in range(n))))


def run(writer: ReadingWriter, messages: tuple[tuple[str, bytes], ...]) -> tuple[Pipeline, MemoryDeadLetters]:
    dead = MemoryDeadLetters()
    p = Pipeline(writer, Decoding(DeviceDirectory(StaticDevices())), dead_letters=dead)
    now = time.time_ns()
    p.process([Inbound(body, kind, "props", arrived_ns=now, envelope=kind) for kind, body in messages])  # type: ignore[arg-type]
    s = p.stats
    assert s.received == len(messages)
    assert s.stored + s.rejected + s.dead_lettered + s.dedup_hits + s.other_events == s.received, s
    assert len(dead.items) == s.dead_lettered and p.health() == []
    return p, dead


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
def test_sqlite_every_message_is_accounted_for(messages: tuple[tuple[str, bytes], ...]) -> None:
    with tempfile.TemporaryDirectory() as d:
        store = SqliteStore(Path(d) / "r.db")
        try:
            p, _ = run(store, messages)
            assert store.count_uplinks() == p.stats.stored
            assert len(store.rejected(1000)) == p.stats.rejected
        finally:
            store.close()


_influx: list[InfluxServer] = []


def _server() -> InfluxServer:
    if not _influx:
        _influx.append(InfluxServer().start())
    return _influx[0]


def teardown_module() -> None:
    for server in _influx:
        server.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
def test_influxdb_every_message_is_accounted_for(messages: tuple[tuple[str, bytes], ...]) -> None:
    server = _server()
    store = InfluxStore(server.url, server.new_database(), timeout_s=10)
    store.create_database()
    try:
        p, _ = run(store, messages)
        assert store.count_uplinks() == p.stats.stored
        res = store.query("SELECT count(error) FROM rejected")[0].get("series", [])
        assert (int(res[0]["values"][0][1]) if res else 0) == p.stats.rejected
    finally:
        store.query(f'DROP DATABASE "{store.database}"', method="POST")
        store.close()
