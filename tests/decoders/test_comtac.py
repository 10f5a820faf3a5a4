"""comtac LPN TD1 decoder against the TTN Device Repository vectors, plus errors and fuzzing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorakeet.decoders import DECODERS, comtac
from lorakeet.decoders.errors import (
    DecodeError,
    PayloadFormatError,
    TruncatedPayloadError,
    UnsupportedPortError,
)
from lorakeet.decoders.types import DEFAULT_CONTEXT, DecodeResult
from tests.decoders import vectorlib

EXAMPLES = vectorlib.load("comtac__lpn-td1-codec.json")

# vendor field -> (our reading key, converter from the vendor's value to ours).
MAPPING: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "batVoltage": ("battery_voltage", lambda v: v),  # V
    "temp": ("temperature", lambda v: v),  # degC
    "gpsLat": ("latitude", lambda v: v),  # deg
    "gpsLong": ("longitude", lambda v: v),  # deg
    "gpsSAT": ("satellites", lambda v: v),
    "posStatus": ("gps_fix", lambda v: "GPS" in v),  # "GPS AND WIFI OK" / "NONE" -> fix or not
    "cfgStatus": ("status", lambda v: v),
    "pingInterval": ("interval", lambda v: v * 60),  # min -> s
}
# Readings made from several vendor fields: key -> function of the whole vendor object.
DERIVED: dict[str, Callable[[dict[str, Any]], Any]] = {
    "firmware_version": lambda d: f"{d['appMainVers']}.{d['appMinorVers']}",
}
# Deliberately not mapped: ping type and EPE class (words with no quantity), Wi-Fi MAC/RSSI
# pairs (need a geolocation service), and the configuration triggers/counts (settings).
NOT_MAPPED = {
    "pingType",
    "gpsEPE",
    "appMainVers",  # -> firmware_version (derived)
    "appMinorVers",
    "longRangeTrigger",
    "midRangeTrigger",
    "rejoinTrigger",
    "gpsFixes",
    "minWIFIDetects",
}
NOT_MAPPED_PREFIXES = ("MAC", "RSSI")


def check_against_vendor(expected: dict[str, Any], result: DecodeResult) -> None:
    """Every vendor field is either mapped (and equal after conversion) or listed as not mapped."""
    got = result.as_dict()
    checked = set()
    for field, value in expected.items():
        if field in NOT_MAPPED or field.startswith(NOT_MAPPED_PREFIXES):
            continue
        assert field in MAPPING, f"vendor field {field!r} is neither mapped nor listed as not mapped"
        key, convert = MAPPING[field]
        checked.add(key)
        want = convert(value)
        if isinstance(want, bool | str):
            assert got[key] == want, field
        else:
            assert vectorlib.close(float(got[key]), float(want)), (field, got.get(key), want)
    for key, derive in DERIVED.items():
        if "appMainVers" in expected:
            checked.add(key)
            assert got[key] == derive(expected)
    assert set(got) <= checked, set(got) - checked


@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda ex: ex.id)
def test_vector(ex: vectorlib.Example) -> None:
    decode = DECODERS["comtac_lpn_td1"].decode
    if ex.expected is None:
        assert ex.errors
        with pytest.raises(DecodeError):
            decode(ex.payload, ex.f_port, DEFAULT_CONTEXT)
        return
    check_against_vendor(ex.expected, decode(ex.payload, ex.f_port, DEFAULT_CONTEXT))


def test_vectors_present() -> None:
    assert len(EXAMPLES) == 3
    assert DECODERS["comtac_lpn_td1"].family == "tracker"


def _d(hex_payload: str, f_port: int = 3) -> DecodeResult:
    return comtac.decode(bytes.fromhex(hex_payload), f_port, DEFAULT_CONTEXT)


GPS = "0102d7ad100083b649f5"


def test_negative_temperature_and_wifi_only() -> None:
    result = _d("0128c2f60201feecdaad1d1636")
    got = result.as_dict()
    assert got["temperature"] == -10
    assert got["gps_fix"] is False
    assert result.warnings == ()


def test_gps_out_of_range_is_dropped() -> None:
    result = _d("01a8c20a01" + "7fffffff" + "0083b649" + "f5")  # 2147.48 deg
    assert "latitude" not in result.as_dict()
    assert any("latitude" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("tail", "warning"),
    [
        ("0102d7ad10", "GPS block"),  # GPS block cut short
        ("02", "Wi-Fi block"),  # Wi-Fi block without its count
        ("0202feecdaad1d1636", "Wi-Fi block"),  # two APs announced, one present
        ("07aa", "unknown block"),
    ],
)
def test_malformed_block_keeps_earlier_readings(tail: str, warning: str) -> None:
    result = _d("01a8c20a" + GPS + tail)
    got = result.as_dict()
    assert got["latitude"] == pytest.approx(47.688976)
    assert got["battery_voltage"] == pytest.approx(3.97)
    assert len(result.warnings) == 1
    assert warning in result.warnings[0]


def test_unknown_config_status() -> None:
    got = _d("0101c2090200000f010016800501", 100).as_dict()
    assert got["status"] == "config status 0x01"


@pytest.mark.parametrize(("payload", "f_port"), [("", 3), ("0108c3", 3), ("0102c209020000", 100)])
def test_truncated(payload: str, f_port: int) -> None:
    with pytest.raises(TruncatedPayloadError):
        _d(payload, f_port)


def test_unknown_version() -> None:
    with pytest.raises(PayloadFormatError, match="version"):
        _d("0208c31a")


@pytest.mark.parametrize("f_port", [0, 1, 2, 4, 99, 101, 255])
def test_unknown_port(f_port: int) -> None:
    with pytest.raises(UnsupportedPortError):
        _d("0108c31a", f_port)


def _safe(payload: bytes, f_port: int) -> None:
    try:
        result = comtac.decode(payload, f_port, DEFAULT_CONTEXT)
    except DecodeError:
        return
    assert isinstance(result, DecodeResult)


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=64), f_port=st.integers(0, 255))
def test_fuzz_random_bytes(payload: bytes, f_port: int) -> None:
    _safe(payload, f_port)


@settings(max_examples=300, deadline=None)
@given(
    ex=st.sampled_from(EXAMPLES),
    cut=st.integers(0, 44),
    f_port=st.sampled_from([3, 100, 0, 255]),
    first=st.booleans(),
)
def test_fuzz_truncated_vectors(ex: vectorlib.Example, cut: int, f_port: int, first: bool) -> None:
    payload = ex.payload[:cut]
    # Keep the version byte valid half the time so the block parser gets exercised.
    if first and payload:
        payload = b"\x01" + payload[1:]
    _safe(payload, f_port)
