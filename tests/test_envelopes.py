"""Envelope parsing: TTS v3 and ChirpStack v4 JSON, written from the documented shapes.

The fixtures carry the quirks real messages have: omitted zero fields (f_cnt 0), a
string frequency, coding_rate in both its old and new places, decoded values as strings
with units, a missing decoded_payload, several gateways, and non-uplink events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorakeet.gateway_bridge.envelopes import (
    EnvelopeError,
    OtherEvent,
    parse_chirpstack,
    parse_tts,
    parse_tts_validated,
)
from lorakeet.storage.records import DeviceModel, Uplink
from lorakeet.timefmt import format_rfc3339_ns, parse_rfc3339_ns

FIXTURES = Path(__file__).parent / "fixtures"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def uplink(name: str) -> Uplink:
    parsed = parse_tts(body(name))
    assert isinstance(parsed, Uplink)
    return parsed


def test_full_tts_uplink() -> None:
    u = uplink("ttn_up_full.json")
    assert (u.application_id, u.device_id) == ("green-town", "soil-sensor-7")
    assert u.dev_eui == "a84041000181c6e1"
    assert u.f_port == 2
    assert u.f_cnt == 1287
    assert u.payload == bytes.fromhex("0d180100000008660000")
    # the AS reception time, with its nanoseconds
    assert u.received_at_ns == parse_rfc3339_ns("2023-08-14T09:12:45.287719331Z")
    assert u.received_at_ns % 1_000_000_000 == 287_719_331
    assert u.frequency == 867_300_000  # a JSON string on the wire
    assert u.spreading_factor == 9
    assert u.gateways == ("town-hall-gw", "harbour-gw")
    # radio figures of the best gateway (highest SNR)
    assert (u.rssi, u.snr) == (-98.0, 4.5)
    assert u.network_decoded is not None
    assert u.network_decoded["Bat"] == "3.384 V"


def test_omitted_zero_fcnt_and_missing_decoded_payload() -> None:
    u = uplink("ttn_up_zero_fcnt.json")
    assert u.f_cnt == 0
    assert u.network_decoded is None
    assert u.payload == bytes.fromhex("0182000002ee02740168")
    assert u.received_at_ns == parse_rfc3339_ns("2024-03-02T06:30:00.500Z")


def test_old_coding_rate_location_is_accepted() -> None:
    u = uplink("ttn_up_old_coding_rate.json")
    assert u.f_port == 15
    assert u.f_cnt == 0
    assert u.spreading_factor == 7
    assert u.frequency == 868_500_000


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ttn_join.json", "join_accept"),
        ("ttn_down_queued.json", "downlink_queued"),
        ("ttn_location_solved.json", "location_solved"),
        ("ttn_service_data.json", "service_data"),
    ],
)
def test_other_events_are_recognised(name: str, kind: str) -> None:
    parsed = parse_tts(body(name))
    assert isinstance(parsed, OtherEvent)
    assert parsed.kind == kind


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "json"),
        (b"[]", "object"),
        (b"{}", "end_device_ids"),
        (b'{"end_device_ids": {"device_id": "x"}}', "application_ids"),
        (
            b'{"end_device_ids": {"device_id": "d", "application_ids": {"application_id": "a"}},'
            b' "uplink_message": {"frm_payload": "%%%"}}',
            "base64",
        ),
        (
            b'{"end_device_ids": {"device_id": "d", "application_ids": {"application_id": "a"}},'
            b' "received_at": "yesterday", "uplink_message": {"frm_payload": "AA=="}}',
            "yesterday",
        ),
        (
            b'{"end_device_ids": {"device_id": "d", "application_ids": {"application_id": "a"}},'
            b' "uplink_message": {"f_port": 300, "frm_payload": "AA=="}}',
            "f_port",
        ),
    ],
)
def test_malformed_bodies_raise_envelope_error(raw: bytes, message: str) -> None:
    with pytest.raises(EnvelopeError) as err:
        parse_tts(raw)
    assert message.lower() in str(err.value).lower()


def test_uplink_without_any_time_is_flagged() -> None:
    raw = json.dumps(
        {
            "end_device_ids": {"device_id": "d", "application_ids": {"application_id": "a"}},
            "uplink_message": {"f_port": 1, "frm_payload": "AA=="},
        }
    )
    u = parse_tts(raw)
    assert isinstance(u, Uplink)
    assert u.time_from_network is False


def test_chirpstack_uplink() -> None:
    u = parse_chirpstack(body("chirpstack_up.json"))
    assert isinstance(u, Uplink)
    assert u.source == "chirpstack"
    assert u.application_id == "17c82e96-be03-4f38-aef3-f83d48582d97"
    assert u.device_id == "0101010101010101"  # ChirpStack keys devices by DevEUI
    assert (u.f_port, u.f_cnt, u.payload) == (1, 4, b"\xaa")
    assert u.received_at_ns == parse_rfc3339_ns("2022-07-18T09:34:15.775023242+00:00")
    assert (u.rssi, u.snr, u.spreading_factor, u.frequency) == (-36.0, 10.5, 11, 867_100_000)
    assert u.gateways == ("0016c001f153a14c",)
    assert u.network_decoded == {"temperatureSensor": {"1": 21.5}, "battery_voltage": 3.1}


def test_chirpstack_other_event() -> None:
    parsed = parse_chirpstack(body("chirpstack_join.json"), event="join")
    assert parsed == OtherEvent("join", "17c82e96-be03-4f38-aef3-f83d48582d97", "0101010101010101")


def test_chirpstack_malformed() -> None:
    with pytest.raises(EnvelopeError):
        parse_chirpstack(b'{"deviceInfo": {}}')
    with pytest.raises(EnvelopeError):
        parse_chirpstack(b"nope", event="status")


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:01.5Z", 1_500_000_000),
        ("2024-05-01T10:00:00.123456789Z", 1_714_557_600_123_456_789),
        ("2024-05-01T12:00:00.123456789+02:00", 1_714_557_600_123_456_789),
    ],
)
def test_rfc3339_nanoseconds(text: str, ns: int) -> None:
    assert parse_rfc3339_ns(text) == ns


@pytest.mark.parametrize(
    "bad", ["2024-05-01T10:00:00", "2024-05-01T10:00:00.Z", "2024-05-01T10:00:00.1234567890Z"]
)
def test_rfc3339_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339_ns(bad)


def test_rfc3339_round_trip() -> None:
    ns = 1_714_557_600_000_000_007
    assert parse_rfc3339_ns(format_rfc3339_ns(ns)) == ns


# --- the fast path and the pydantic models agree ------------------------------------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
_PATHS = [
    ("received_at",),
    ("end_device_ids", "device_id"),
    ("end_device_ids", "dev_eui"),
    ("end_device_ids", "application_ids", "application_id"),
    ("uplink_message", "f_port"),
    ("uplink_message", "f_cnt"),
    ("uplink_message", "frm_payload"),
    ("uplink_message", "decoded_payload"),
    ("uplink_message", "rx_metadata"),
    ("uplink_message", "settings", "frequency"),
    ("uplink_message", "settings", "data_rate"),
    ("uplink_message", "received_at"),
    ("uplink_message", "version_ids"),
    ("uplink_message", "version_ids", "brand_id"),
    ("uplink_message", "version_ids", "model_id"),
]


def _outcome(fn: Callable[[bytes], object], raw: bytes) -> object:
    try:
        return fn(raw)
    except EnvelopeError:
        return "error"


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("ttn_*.json")))
def test_fast_path_matches_models_on_fixtures(name: str) -> None:
    assert parse_tts(body(name)) == parse_tts_validated(body(name))


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["ttn_up_full.json", "ttn_up_zero_fcnt.json", "ttn_up_old_coding_rate.json"]),
    path=st.sampled_from(_PATHS),
    value=_JSON,
)
def test_fast_path_matches_models_on_mutations(name: str, path: tuple[str, ...], value: object) -> None:
    doc = json.loads(body(name))
    node = doc
    for k in path[:-1]:
        node = node.setdefault(k, {})
    node[path[-1]] = value
    raw = json.dumps(doc).encode()
    assert _outcome(parse_tts, raw) == _outcome(parse_tts_validated, raw)


@pytest.mark.parametrize(
    "bad_id",
    ["Dev-1", "dev.1", "dev 1", "dev,1", 'dev"1', "dev\\", "dev\n1", "dev-1\n", "-dev", "", "x" * 65],
)
def test_ids_outside_the_network_rules_are_rejected(bad_id: str) -> None:
    # ids end up in uids (app.dev), line protocol tags and queries: only TTS-style ids pass
    doc = json.loads(body("ttn_up_zero_fcnt.json"))
    doc["end_device_ids"]["device_id"] = bad_id
    with pytest.raises(EnvelopeError):
        parse_tts(json.dumps(doc))


def test_tts_version_ids_name_the_device_model() -> None:
    for parse in (parse_tts, parse_tts_validated):
        u = parse(body("ttn_up_full.json"))
        assert isinstance(u, Uplink)
        assert u.device_model == DeviceModel(
            "dragino", "lse01", "_unknown_hw_version_", "1.1.4", "EU_863_870"
        )
    doc = json.loads(body("ttn_up_zero_fcnt.json"))
    u = parse_tts(json.dumps(doc))
    assert isinstance(u, Uplink) and u.device_model is None
    # unusable ids are left out, and never reject the uplink
    doc["uplink_message"]["version_ids"] = {"brand_id": 7, "model_id": "ldds75", "band_id": "x\n"}
    for parse in (parse_tts, parse_tts_validated):
        u = parse(json.dumps(doc))
        assert isinstance(u, Uplink) and u.device_model == DeviceModel(None, "ldds75")


def test_chirpstack_device_profile_and_tags_name_the_device_model() -> None:
    u = parse_chirpstack(body("chirpstack_up.json"))
    assert isinstance(u, Uplink)
    assert u.device_model == DeviceModel(
        profile_name="Test device-profile", profile_id="14855bf7-d10d-4aee-b618-ebfcb64dc7ad"
    )
    doc = json.loads(body("chirpstack_up.json"))
    doc["deviceInfo"]["tags"] = {"brand_id": "dragino", "model_id": "ldds75", "firmware_version": "1.1.4"}
    doc["deviceInfo"]["deviceProfileName"] = {"not": "a string"}
    u = parse_chirpstack(json.dumps(doc))
    assert isinstance(u, Uplink)
    assert u.device_model == DeviceModel(
        "dragino", "ldds75", None, "1.1.4", None, None, "14855bf7-d10d-4aee-b618-ebfcb64dc7ad"
    )


def test_tts_normalized_payload_is_read_by_both_paths() -> None:
    doc = json.loads(body("ttn_up_zero_fcnt.json"))
    measurements = [{"air": {"temperature": 21.5, "relativeHumidity": 40}}, {"battery": 3.1}]
    doc["uplink_message"]["normalized_payload"] = measurements
    for parse in (parse_tts, parse_tts_validated):
        u = parse(json.dumps(doc))
        assert isinstance(u, Uplink) and u.network_normalized == tuple(measurements)
    doc["uplink_message"]["normalized_payload"] = "not a list"
    assert _outcome(parse_tts, json.dumps(doc).encode()) == _outcome(
        parse_tts_validated, json.dumps(doc).encode()
    )
    del doc["uplink_message"]["normalized_payload"]
    u = parse_tts(json.dumps(doc))
    assert isinstance(u, Uplink) and u.network_normalized is None


@pytest.mark.parametrize("bad_eui", ["zz", "70B3D57ED0000012\n", "70B3D57ED00000123", ""])
def test_a_malformed_dev_eui_is_left_out_and_the_uplink_kept(bad_eui: str) -> None:
    doc = json.loads(body("ttn_up_zero_fcnt.json"))
    doc["end_device_ids"]["dev_eui"] = bad_eui
    raw = json.dumps(doc)
    assert parse_tts(raw).dev_eui is None and parse_tts_validated(raw).dev_eui is None
    doc["end_device_ids"]["dev_eui"] = "70B3D57ED0000012"
    assert parse_tts(json.dumps(doc)).dev_eui == "70b3d57ed0000012"
