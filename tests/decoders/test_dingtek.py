"""Dingtek DF702/DF703/DF555 decoders against the TTN Device Repository vectors, errors, fuzzing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorakeet.decoders import (
    DECODERS,
    DeviceContext,
    LayoutMismatchError,
    PayloadFormatError,
    TruncatedPayloadError,
    UnsupportedPortError,
    dingtek,
    get_decoder,
)

from . import vectorlib
from .test_dragino import (
    NOT_MAPPED,
    Field,
    Mapping_,
    check_example,
    draw_mutation,
    number,
    only_decode_errors,
    run_cases,
    vector_payloads,
)

FILES = {
    "dingtek__df702": "dingtek_df702",
    "dingtek__df703": "dingtek_df703",
    "dingtek__df555": "dingtek_df555",
}

# The vendor renders the float32 GPS values with its own conversion to 6 decimals; they
# agree with the IEEE value to within one float32 ulp (~8e-6 at 116°).
GPS_TOL = 1e-5

DF702 = {
    "level": Field("distance", lambda s: number(s) / 1000),  # "2000 mm"
    "longitude": Field("longitude", float, GPS_TOL),
    "latitude": Field("latitude", float, GPS_TOL),
    "full": Field("full_alarm"),
    "fire": Field("fire_alarm"),
    "tilt": Field("tilt_alarm"),
    "angle": Field("tilt", number),  # "0 °"
    "temperature": Field("temperature", number),  # "25 ℃"
    "battery": NOT_MAPPED,  # low-battery alarm flag: surfaces as a warning when set
    "periodic_interval": Field("interval", lambda s: number(s) * 3600),  # "24 hours"
    "detection_interval": NOT_MAPPED,  # measuring interval setting
    "full_alarm_threshold": NOT_MAPPED,  # thresholds are settings, not readings
    "fire_alarm_threshold": NOT_MAPPED,
    "tilt_alarm_threshold": NOT_MAPPED,
    "tilt_enable": NOT_MAPPED,
    "ultrasonic_range": NOT_MAPPED,
}

DF703 = {
    "level": Field("distance", lambda mm: mm / 1000),
    "longitude": Field("longitude", float, GPS_TOL),
    "latitude": Field("latitude", float, GPS_TOL),
    "alarmLevel": Field("full_alarm"),
    "alarmFire": Field("fire_alarm"),
    "alarmFall": Field("tilt_alarm"),
    "angle": Field("tilt"),
    "temperature": Field("temperature"),
    "alarmBattery": NOT_MAPPED,  # low-battery alarm flag: surfaces as a warning when set
    "frameCounter": NOT_MAPPED,  # frame sequence number, not a measurement
    "firmware": Field("firmware_version"),
    "uploadInterval": Field("interval", lambda h: h * 3600),
    "detectInterval": NOT_MAPPED,  # measuring interval setting
    "levelThreshold": NOT_MAPPED,  # thresholds are settings, not readings
    "fireThreshold": NOT_MAPPED,
    "fallThreshold": NOT_MAPPED,
    "fallEnable": NOT_MAPPED,
    "workMode": NOT_MAPPED,
}

TABLES: dict[str, Mapping_] = {"dingtek__df702": DF702, "dingtek__df703": DF703, "dingtek__df555": DF703}

NAMES = sorted(set(FILES.values()))
VALID = vector_payloads(FILES)
CTX = DeviceContext()
HEARTBEAT = "800001011107d000190000000000010081"


@pytest.mark.parametrize(("name", "ex", "table"), run_cases(FILES, TABLES))
def test_vectors(name: str, ex: vectorlib.Example, table: Mapping_) -> None:
    check_example(name, ex, table)


def test_all_dingtek_vectors_covered() -> None:
    assert len(run_cases(FILES, TABLES)) == 9


def _decode(name: str, hexstr: str, ctx: DeviceContext = CTX) -> Any:
    return get_decoder(name)(bytes.fromhex(hexstr), 3, ctx)


def test_registered() -> None:
    for name in NAMES:
        assert name in DECODERS
        assert DECODERS[name].family == "bin"


@pytest.mark.parametrize("name", NAMES)
def test_unknown_port(name: str) -> None:
    with pytest.raises(UnsupportedPortError):
        get_decoder(name)(bytes.fromhex(HEARTBEAT), 2, CTX)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("cut", [0, 4, 10, 16])
def test_truncated(name: str, cut: int) -> None:
    with pytest.raises(TruncatedPayloadError):
        _decode(name, HEARTBEAT[: 2 * cut])


def test_short_declared_data_frame_is_another_layout() -> None:
    # a consistent frame (length 0x0a, tail present) that is too short for a heartbeat body
    with pytest.raises(LayoutMismatchError):
        _decode("dingtek_df702", "800001010a07d0001981")


def test_short_parameter_frame_is_another_layout() -> None:
    with pytest.raises(LayoutMismatchError):
        _decode("dingtek_df703", "800001030901041881")


# The DF701's published heartbeat and parameter frames (TTN Device Repository examples): same
# header and tail, other lengths and bodies.
DF701_HEARTBEAT = "8000010212270f0000000000000168000181"
DF701_PARAMETERS = "800001030c01020a0a140081"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("frame", [DF701_HEARTBEAT, DF701_PARAMETERS])
def test_sibling_model_frame_is_not_read_at_wrong_offsets(name: str, frame: str) -> None:
    with pytest.raises(LayoutMismatchError, match="another model"):
        _decode(name, frame)


def test_frame_lengths_per_model() -> None:
    df555_params = "8000010311010418011e4b1e0002000081"
    assert _decode("dingtek_df555", df555_params).as_dict()["firmware_version"] == "1.4"
    with pytest.raises(LayoutMismatchError, match="parameter frame is 25 bytes, this frame declares 17"):
        _decode("dingtek_df703", df555_params)
    with pytest.raises(LayoutMismatchError, match="GPS flag 0x02"):
        _decode("dingtek_df702", "800001011107d002190000000000010081")
    with pytest.raises(LayoutMismatchError, match="GPS data frame is 25 bytes"):
        _decode("dingtek_df702", "800001011207d00119000000000001000081")


@pytest.mark.parametrize(
    ("hexstr", "what"),
    [
        ("810001011107d000190000000000010081", "header"),
        ("800001011107d000190000000000010080", "tail"),
        ("800001010307d081", "length"),
        ("800001091107d000190000000000010081", "report type"),
    ],
)
def test_malformed_frames(hexstr: str, what: str) -> None:
    with pytest.raises(PayloadFormatError, match=what):
        _decode("dingtek_df703", hexstr)


def test_fill_pct_with_bin_metadata() -> None:
    ctx = DeviceContext(metadata={"bin_depth_m": 2.5, "mount_offset_m": 0.5})
    got = _decode("dingtek_df703", HEARTBEAT, ctx).as_dict()
    assert got["distance"] == pytest.approx(2.0)
    assert got["fill_pct"] == pytest.approx(25.0)


def test_alarm_bits_and_negative_temperature() -> None:
    r = _decode("dingtek_df702", "800001021107d000f60f1e000000010081")
    got = r.as_dict()
    assert got["temperature"] == -10.0
    assert got["full_alarm"] is True
    assert got["fire_alarm"] is True
    assert got["tilt_alarm"] is True
    assert got["tilt"] == 30.0
    assert any("low battery" in w for w in r.warnings)


def test_df555_has_no_fire_or_tilt() -> None:
    got = _decode("dingtek_df555", "800001011107d000190100000000010081").as_dict()
    assert got["full_alarm"] is True
    assert "fire_alarm" not in got
    assert "tilt" not in got


def test_foreign_exception_translated(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise IndexError("boom")

    monkeypatch.setattr(dingtek, "_parameters", boom)
    with pytest.raises(PayloadFormatError, match="boom") as info:
        _decode("dingtek_df703", "8000010319010418011e4b1e00000000000000000000000081")
    assert isinstance(info.value.__cause__, IndexError)


def test_trailing_bytes_warn() -> None:
    r = _decode("dingtek_df703", HEARTBEAT + "00")
    assert r.as_dict()["distance"] == pytest.approx(2.0)
    assert any("trailing" in w for w in r.warnings)


def test_nan_gps_dropped() -> None:
    r = _decode("dingtek_df703", "800001011907d0010000c07f0000c07f190000000000010081")
    assert "latitude" not in r.as_dict()
    assert "longitude" not in r.as_dict()
    assert len(r.warnings) == 2


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=64), f_port=st.integers(0, 255))
def test_fuzz_random(name: str, payload: bytes, f_port: int) -> None:
    only_decode_errors(name, payload, f_port)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=300, deadline=None)
@given(body=st.binary(min_size=0, max_size=40), kind=st.integers(0, 4), gps=st.integers(0, 2))
def test_fuzz_framed(name: str, body: bytes, kind: int, gps: int) -> None:
    """Well-framed random bodies reach the body parsers."""
    inner = bytes([0x07, 0xD0, gps]) + body
    frame = bytes([0x80, 0x00, 0x01, kind, len(inner) + 6]) + inner + b"\x81"
    only_decode_errors(name, frame, 3)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fuzz_truncated_and_mutated(name: str, data: st.DataObject) -> None:
    only_decode_errors(name, *draw_mutation(data, VALID[name]))
