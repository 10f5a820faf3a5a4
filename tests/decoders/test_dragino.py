"""Dragino decoders against the TTN Device Repository vectors, plus error cases and fuzzing.

The helpers at the top (``Field``, ``check_example``, ``fuzz_*``) are shared with
test_milesight.py and test_dingtek.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorakeet.decoders import (
    DECODERS,
    DecodeError,
    DeviceContext,
    LayoutMismatchError,
    PayloadFormatError,
    TruncatedPayloadError,
    UnsupportedPortError,
    dragino,
    get_decoder,
)

from . import vectorlib

# --- shared helpers ---------------------------------------------------------------------

ABSENT = object()
"""A converter returns this when the vendor's value means "no reading" (e.g. "No Sensor")."""


@dataclass(frozen=True)
class Field:
    """Vendor field -> our reading key, with the unit/format converter."""

    key: str
    convert: Callable[[Any], Any] = lambda v: v
    abs_tol: float = 1e-9


NOT_MAPPED = None
"""Table value for a vendor field with no counterpart in our vocabulary (reason in a comment)."""

Mapping_ = Mapping[str, Field | None]


def number(text: str) -> float:
    """The number in a vendor string such as ``"2799 mm"`` or ``"25 ℃"``."""
    m = re.match(r"\s*(-?\d+(?:\.\d+)?)", str(text))
    assert m, text
    return float(m.group(1))


def check_example(
    decoder_name: str, ex: vectorlib.Example, table: Mapping_, ctx: DeviceContext | None = None
) -> None:
    """Decode one vector and check every vendor field through the mapping table."""
    decode = get_decoder(decoder_name)
    ctx = ctx or DeviceContext()
    if ex.expected is None:
        assert ex.errors, ex.id
        with pytest.raises(DecodeError):
            decode(ex.payload, ex.f_port, ctx)
        return
    result = decode(ex.payload, ex.f_port, ctx)
    got = result.as_dict()
    for vendor_key, vendor_value in ex.expected.items():
        assert vendor_key in table, f"{ex.id}: vendor field {vendor_key!r} missing from mapping table"
        field = table[vendor_key]
        if field is None:
            continue
        want = field.convert(vendor_value)
        if want is ABSENT:
            assert field.key not in got, f"{ex.id}: {field.key} should be absent"
            assert result.warnings, f"{ex.id}: expected a warning for {vendor_key}={vendor_value!r}"
            continue
        assert field.key in got, f"{ex.id}: {field.key} missing (vendor {vendor_key}={vendor_value!r})"
        value = got[field.key]
        if isinstance(want, bool) or isinstance(want, str):
            assert value == want, (ex.id, field.key, value, want)
        else:
            assert isinstance(value, float | int)
            assert math.isclose(value, want, rel_tol=1e-9, abs_tol=field.abs_tol), (
                ex.id,
                field.key,
                value,
                want,
            )
    if ex.warnings:
        assert result.warnings, f"{ex.id}: vendor warns {ex.warnings}, we did not"


def only_decode_errors(name: str, payload: bytes, f_port: int) -> None:
    """Decode and accept any result or a DecodeError; anything else fails the test."""
    try:
        get_decoder(name)(payload, f_port, DeviceContext(metadata={"bin_depth_m": 2.0}))
    except DecodeError:
        pass


def draw_mutation(data: st.DataObject, valid: list[tuple[bytes, int]]) -> tuple[bytes, int]:
    """A valid payload cut short, maybe with one byte changed, on its own port or a random one."""
    payload, port = data.draw(st.sampled_from(valid))
    cut = data.draw(st.integers(0, len(payload)))
    mutated = bytearray(payload[:cut])
    if mutated and data.draw(st.booleans()):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    return bytes(mutated), data.draw(st.one_of(st.just(port), st.integers(0, 255)))


def vector_payloads(files: Mapping[str, str]) -> dict[str, list[tuple[bytes, int]]]:
    """Decoder name -> [(payload, f_port)] of its valid vectors."""
    out: dict[str, list[tuple[bytes, int]]] = {}
    for file, name in files.items():
        for ex in vectorlib.load(f"{file}-codec.json"):
            if ex.expected is not None:
                out.setdefault(name, []).append((ex.payload, ex.f_port))
    return out


def run_cases(files: Mapping[str, str], tables: Mapping[str, Mapping_]) -> list[Any]:  # list of pytest.param
    """pytest params (decoder, example, table) for every example of the given codec files."""
    return [
        pytest.param(name, ex, tables[file], id=ex.id)
        for file, name in files.items()
        for ex in vectorlib.load(f"{file}-codec.json")
    ]


# --- Dragino mapping tables ---------------------------------------------------------------

FILES = {
    "dragino__ldds75": "dragino_ldds75",
    "dragino__ldds75-114": "dragino_ldds75",
    "dragino__ldds20": "dragino_ldds20",
    "dragino__ldds04": "dragino_ldds04",
    "dragino__llds12": "dragino_llds12",
    "dragino__lgt92": "dragino_lgt92",
    "dragino__lt22222-l": "dragino_lt22222_l",
}


def _no_sensor_or_mm(v: Any) -> Any:
    return ABSENT if v in ("No Sensor", "Invalid Reading") else number(v) / 1000


LDDS75 = {
    "distance": Field("distance", _no_sensor_or_mm),
    "Distance": Field("distance", _no_sensor_or_mm),  # "2799 mm"
    "Bat": Field("battery_voltage"),
    "Interrupt_flag": Field("interrupt", bool),
    "TempC_DS18B20": Field("temperature", float),  # "0.00"
    "Sensor_flag": NOT_MAPPED,  # 1 = sensor present; 0 suppresses distance with a warning
}

LDDS04 = {
    "BatV": Field("battery_voltage"),
    "distance1_cm": Field("distance_1", lambda cm: cm / 100),
    "distance2_cm": Field("distance_2", lambda cm: cm / 100),
    "distance3_cm": Field("distance_3", lambda cm: cm / 100),
    "distance4_cm": Field("distance_4", lambda cm: cm / 100),
    "EXTI_Trigger": Field("interrupt", lambda s: s == "TRUE"),
    "mes_type": NOT_MAPPED,  # message type code, not a measurement
}

LLDS12 = {
    "Bat": Field("battery_voltage"),
    "TempC_DS18B20": Field("temperature", float),
    "Lidar_distance": Field("distance", lambda cm: cm / 100),
    "Interrupt_flag": Field("interrupt", bool),
    "Lidar_temp": Field("temperature_1"),
    "Lidar_signal": NOT_MAPPED,  # signal strength: used to reject unreliable distances only
    "Message_type": NOT_MAPPED,  # message type code
}

LGT92 = {
    "latitude": Field("latitude"),
    "longitude": Field("longitude"),
    "BatV": Field("battery_voltage"),
    "ALARM_status": Field("alarm"),
    "FW": Field("firmware_version", str),
    "MD": NOT_MAPPED,  # motion-detection *mode* setting (Disable/Move/Collide), not motion state
    "LON": NOT_MAPPED,  # LED on/off setting
    "Roll": NOT_MAPPED,  # attitude angles: no roll/pitch quantity in the vocabulary
    "Pitch": NOT_MAPPED,
}


def _hl(s: str) -> float:
    return 1.0 if s == "H" else 0.0


LT22222 = {
    "AVI1_V": Field("voltage_1"),
    "AVI2_V": Field("voltage_2"),
    "ACI1_mA": Field("current_1", lambda ma: ma / 1000),
    "ACI2_mA": Field("current_2", lambda ma: ma / 1000),
    "DI1_status": Field("digital_input_1", _hl),
    "DI2_status": Field("digital_input_2", _hl),
    "DI3_status": Field("digital_input_3", _hl),
    "DO1_status": Field("digital_output_1", _hl),
    "DO2_status": Field("digital_output_2", _hl),
    "DO3_status": Field("digital_output_3", _hl),
    "RO1_status": Field("relay_1", lambda s: s == "ON"),
    "RO2_status": Field("relay_2", lambda s: s == "ON"),
    "Hardware_mode": NOT_MAPPED,  # hardware variant name
    "Work_mode": NOT_MAPPED,  # configured work mode name
}

TABLES: dict[str, Mapping_] = {
    "dragino__ldds75": LDDS75,
    "dragino__ldds75-114": LDDS75,
    "dragino__ldds20": LDDS75,
    "dragino__ldds04": LDDS04,
    "dragino__llds12": LLDS12,
    "dragino__lgt92": LGT92,
    "dragino__lt22222-l": LT22222,
}

NAMES = sorted(set(FILES.values()))
VALID = vector_payloads(FILES)


@pytest.mark.parametrize(("name", "ex", "table"), run_cases(FILES, TABLES))
def test_vectors(name: str, ex: vectorlib.Example, table: Mapping_) -> None:
    check_example(name, ex, table)


def test_all_dragino_vectors_covered() -> None:
    assert len(run_cases(FILES, TABLES)) == 15


# --- unit tests ---------------------------------------------------------------------------

CTX = DeviceContext()


def _decode(name: str, hexstr: str, port: int = 2, ctx: DeviceContext = CTX) -> dict[str, Any]:
    return dict(get_decoder(name)(bytes.fromhex(hexstr), port, ctx).as_dict())


def test_registered() -> None:
    for name in NAMES:
        assert name in DECODERS
    assert DECODERS["dragino_lgt92"].family == "tracker"
    assert DECODERS["dragino_ldds75"].family == "bin"


@pytest.mark.parametrize("name", NAMES)
def test_unknown_port(name: str) -> None:
    with pytest.raises(UnsupportedPortError):
        get_decoder(name)(b"\x0d\x3b\x0a\xef\x00\x00\x00\x01\x00\x00\x00", 99, CTX)


@pytest.mark.parametrize("name", NAMES)
def test_empty_payload_truncated(name: str) -> None:
    with pytest.raises(TruncatedPayloadError):
        get_decoder(name)(b"", 2, CTX)


def test_ldds75_fill_pct_from_bin_metadata() -> None:
    ctx = DeviceContext(metadata={"bin_depth_m": 3.0, "mount_offset_m": 0.2})
    got = _decode("dragino_ldds75", "0d3b0aef00000001", ctx=ctx)
    assert got["distance"] == pytest.approx(2.799)
    assert got["fill_pct"] == pytest.approx((3.0 - 2.799) / 2.8 * 100)
    assert "fill_pct" not in _decode("dragino_ldds75", "0d3b0aef00000001")


def test_ldds75_v10_five_byte_frame() -> None:
    got = _decode("dragino_ldds75", "0b450bb801")
    assert got == {"battery_voltage": 2.885, "interrupt": True, "distance": 3.0}


def test_ldds75_zero_distance_is_no_sensor() -> None:
    r = get_decoder("dragino_ldds75")(bytes.fromhex("0d3b000000000001"), 2, CTX)
    assert "distance" not in r.as_dict()
    assert any("No Sensor" in w for w in r.warnings)


def test_ldds75_sensor_flag_zero() -> None:
    r = get_decoder("dragino_ldds75")(bytes.fromhex("0d3b0aef00000000"), 2, CTX)
    assert "distance" not in r.as_dict()
    assert r.warnings


def test_ldds75_below_range_is_invalid() -> None:
    r = get_decoder("dragino_ldds75")(bytes.fromhex("0d3b001400000001"), 2, CTX)
    assert "distance" not in r.as_dict()
    assert any("invalid" in w for w in r.warnings)
    # the LDDS20 measures from 20 mm, so the same 20 mm reading is valid there
    assert _decode("dragino_ldds20", "0d3b001400000001")["distance"] == pytest.approx(0.02)


@pytest.mark.parametrize("hexstr", ["0d", "0d3b0a", "0d3b0aef0000", "0d3b0aef000000"])
def test_ldds75_truncated(hexstr: str) -> None:
    with pytest.raises(TruncatedPayloadError):
        get_decoder("dragino_ldds75")(bytes.fromhex(hexstr), 2, CTX)


def test_ldds75_trailing_bytes_warn() -> None:
    r = get_decoder("dragino_ldds75")(bytes.fromhex("0d3b0aef00000001ff"), 2, CTX)
    assert r.as_dict()["distance"] == pytest.approx(2.799)
    assert any("trailing" in w for w in r.warnings)


@pytest.mark.parametrize("name", ["dragino_ldds75", "dragino_ldds20"])
@pytest.mark.parametrize(
    "hexstr",
    [
        "0d5c00fa0b18005000ff01",  # LLDS12
        "0d4a0316000003e8031581",  # LDDS04
        "0cbf0b6d0207017fff7fff",  # LHT65-style 11 bytes
    ],
)
def test_sibling_11_byte_frames_are_not_read(name: str, hexstr: str) -> None:
    with pytest.raises(LayoutMismatchError, match="4, 5 or 8 bytes, this one is 11"):
        get_decoder(name)(bytes.fromhex(hexstr), 2, CTX)


def test_ldds75_negative_temperature() -> None:
    assert _decode("dragino_ldds75", "0d3b0aef00ff9c01")["temperature"] == pytest.approx(-10.0)


@pytest.mark.parametrize("name", ["dragino_ldds75", "dragino_ldds20", "dragino_llds12", "dragino_lt22222_l"])
def test_device_status_port5(name: str) -> None:
    got = _decode(name, "14011401000c80", port=5)
    assert got == {"firmware_version": "1.1.4", "battery_voltage": 3.2}
    with pytest.raises(TruncatedPayloadError):
        get_decoder(name)(bytes.fromhex("140114"), 5, CTX)


def test_ldds04_channels_and_no_sensor() -> None:
    ctx = DeviceContext(metadata={"bin_depth_m": 1.0})
    r = get_decoder("dragino_ldds04")(bytes.fromhex("0d4a0316000003e8031581"), 2, ctx)
    got = r.as_dict()
    assert got["distance_1"] == pytest.approx(0.79)
    assert got["fill_pct_1"] == pytest.approx(21.0)
    assert "distance_2" not in got
    assert got["distance_3"] == pytest.approx(1.0)
    assert got["interrupt"] is True
    assert any("channel 2" in w for w in r.warnings)


def test_llds12_weak_signal_drops_distance() -> None:
    r = get_decoder("dragino_llds12")(bytes.fromhex("0d5c00fa0b18005000ff01"), 2, CTX)
    got = r.as_dict()
    assert "distance" not in got
    assert got["temperature"] == pytest.approx(25.0)
    assert got["temperature_1"] == -1.0
    assert any("signal" in w for w in r.warnings)
    r = get_decoder("dragino_llds12")(bytes.fromhex("0d5c00000b18ffff001e01"), 2, CTX)
    assert "distance" not in r.as_dict()


def test_lgt92_alarm_and_south_west() -> None:
    got = _decode("dragino_lgt92", "fea5ff50ff2d2a004c2e64")
    assert got["alarm"] is True
    assert got["battery_voltage"] == pytest.approx(3.118)
    assert got["latitude"] == pytest.approx(-22.675632)
    assert got["longitude"] == pytest.approx(-13.817344)


def test_lgt92_trailing_and_truncated() -> None:
    r = get_decoder("dragino_lgt92")(bytes.fromhex("015a785406cf33d80d2060004b019000"), 2, CTX)
    assert any("trailing" in w for w in r.warnings)
    r = get_decoder("dragino_lgt92")(bytes.fromhex("015a785406cf33d80d206000"), 2, CTX)
    assert any("trailing" in w for w in r.warnings)
    with pytest.raises(TruncatedPayloadError):
        get_decoder("dragino_lgt92")(bytes.fromhex("015a785406cf33d80d20"), 2, CTX)


def test_lgt92_out_of_range_latitude_dropped() -> None:
    r = get_decoder("dragino_lgt92")(bytes.fromhex("7fffffff06cf33d80d2060"), 2, CTX)
    assert "latitude" not in r.as_dict()
    assert r.as_dict()["longitude"] == pytest.approx(114.24252)
    assert any("latitude" in w for w in r.warnings)


def test_lt22222_counting_modes() -> None:
    got = _decode("dragino_lt22222_l", "0000000a00000014800002")
    assert got["counter_1"] == 10
    assert got["counter_2"] == 20
    assert got["relay_1"] is True
    got = _decode("dragino_lt22222_l", "0000000513101300000003")
    assert got["counter_1"] == 5
    assert got["current_1"] == pytest.approx(0.00488)
    r = get_decoder("dragino_lt22222_l")(bytes.fromhex("000000000000000040000605"), 2, CTX)
    assert r.as_dict()["relay_2"] is True
    assert any("work mode 6" in w for w in r.warnings)


# --- fuzzing ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=64), f_port=st.integers(0, 255))
def test_fuzz_random(name: str, payload: bytes, f_port: int) -> None:
    only_decode_errors(name, payload, f_port)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fuzz_truncated_and_mutated(name: str, data: st.DataObject) -> None:
    only_decode_errors(name, *draw_mutation(data, VALID[name]))


def test_foreign_exception_translated() -> None:
    def body(p: bytes, f_port: int, ctx: DeviceContext) -> Any:
        raise IndexError("boom")

    decode = dragino._guarded("probe", (2,), body)
    with pytest.raises(PayloadFormatError, match="boom") as info:
        decode(b"\x00", 2, CTX)
    assert isinstance(info.value.__cause__, IndexError)
    assert issubclass(PayloadFormatError, DecodeError)
