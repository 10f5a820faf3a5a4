"""Digital Matter Oyster decoder against the TTN Device Repository vectors, plus errors and fuzzing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorakeet.decoders import DECODERS, digital_matter
from lorakeet.decoders.errors import DecodeError, TruncatedPayloadError, UnsupportedPortError
from lorakeet.decoders.types import DEFAULT_CONTEXT, DecodeResult
from tests.decoders import vectorlib

EXAMPLES = vectorlib.load("digital-matter__oyster-codec.json")

# vendor field -> (our reading key, converter from the vendor's value to ours).
MAPPING: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "batV": ("battery_voltage", lambda v: v),  # V
    "inTrip": ("in_motion", lambda v: v),
    "fixFailed": ("gps_fix", lambda v: not v),
    "latitudeDeg": ("latitude", lambda v: v),  # deg
    "longitudeDeg": ("longitude", lambda v: v),  # deg
    "speedKmph": ("speed", lambda v: v),  # km/h
    "headingDeg": ("heading", lambda v: v),  # deg
}
# Deliberately not mapped: ``type`` (message kind), ``manDown`` (null on the Oyster; no quantity),
# ``cached`` (the last good fix after a failed fix: stale, so not stored as a position).
NOT_MAPPED = {"type", "manDown", "cached"}


def check_against_vendor(expected: dict[str, Any], result: DecodeResult) -> None:
    """Every vendor field is either mapped (and equal after conversion) or listed as not mapped."""
    got = result.as_dict()
    checked = set()
    for field, value in expected.items():
        if field in NOT_MAPPED:
            continue
        assert field in MAPPING, f"vendor field {field!r} is neither mapped nor listed as not mapped"
        key, convert = MAPPING[field]
        checked.add(key)
        want = convert(value)
        if isinstance(want, bool):
            assert got[key] is want, field
        else:
            assert vectorlib.close(float(got[key]), float(want)), (field, got.get(key), want)
    if "cached" in expected:
        for key in ("latitude", "longitude", "speed", "heading"):
            assert key not in got
    assert set(got) <= checked


@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda ex: ex.id)
def test_vector(ex: vectorlib.Example) -> None:
    decode = DECODERS["digital_matter_oyster"].decode
    if ex.expected is None:
        assert ex.errors
        with pytest.raises(DecodeError):
            decode(ex.payload, ex.f_port, DEFAULT_CONTEXT)
        return
    result = decode(ex.payload, ex.f_port, DEFAULT_CONTEXT)
    check_against_vendor(ex.expected, result)
    for warning in ex.warnings or []:
        assert any(warning in ours for ours in result.warnings)


def test_vectors_present() -> None:
    assert len(EXAMPLES) == 2
    assert DECODERS["digital_matter_oyster"].family == "tracker"


def _d(hex_payload: str, f_port: int = 1) -> DecodeResult:
    return digital_matter.decode(bytes.fromhex(hex_payload), f_port, DEFAULT_CONTEXT)


def test_heading_and_speed() -> None:
    got = _d("0030edec003224451d32de").as_dict()  # flags 0x1d: in trip, heading 7 x 5.625
    assert got["heading"] == pytest.approx(39.375)
    assert got["speed"] == 50
    assert got["in_motion"] is True
    assert got["gps_fix"] is True


def test_latitude_out_of_range_is_dropped() -> None:
    result = _d("ffffff7f003224450000de")  # int32 max x 1e-7 = 214.7 deg
    assert "latitude" not in result.as_dict()
    assert result.as_dict()["longitude"] == pytest.approx(116.0)
    assert any("latitude" in w for w in result.warnings)


def test_downlink_ack() -> None:
    assert _d("850302", 2).as_dict() == {"firmware_version": "3.2", "status": "downlink 5 accepted"}
    assert _d("050302", 2).as_dict()["status"] == "downlink 5 rejected"


def test_stats() -> None:
    assert _d("00" * 11, 3).as_dict() == {"status": "stats"}


@pytest.mark.parametrize(("f_port", "size"), [(1, 11), (2, 3), (3, 11)])
def test_truncated(f_port: int, size: int) -> None:
    for n in range(size):
        with pytest.raises(TruncatedPayloadError):
            _d("00" * n, f_port)


@pytest.mark.parametrize("f_port", [0, 4, 5, 100, 255])
def test_unknown_port(f_port: int) -> None:
    with pytest.raises(UnsupportedPortError):
        _d("00" * 11, f_port)


def _safe(payload: bytes, f_port: int) -> None:
    try:
        result = digital_matter.decode(payload, f_port, DEFAULT_CONTEXT)
    except DecodeError:
        return
    assert isinstance(result, DecodeResult)


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=24), f_port=st.integers(0, 255))
def test_fuzz_random_bytes(payload: bytes, f_port: int) -> None:
    _safe(payload, f_port)


@settings(max_examples=300, deadline=None)
@given(ex=st.sampled_from(EXAMPLES), cut=st.integers(0, 11), f_port=st.integers(0, 255))
def test_fuzz_truncated_vectors(ex: vectorlib.Example, cut: int, f_port: int) -> None:
    _safe(ex.payload[:cut], f_port)
