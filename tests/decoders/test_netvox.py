"""Netvox decoder against the TTN Device Repository vectors, plus error cases and fuzzing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorakeet.decoders import DECODERS, netvox
from lorakeet.decoders.errors import (
    DecodeError,
    PayloadFormatError,
    TruncatedPayloadError,
    UnsupportedPortError,
)
from lorakeet.decoders.types import DEFAULT_CONTEXT, DecodeResult
from tests.decoders import vectorlib

CODECS = {
    "netvox__r718pe-codec.json": "netvox_r718pe",
    "netvox__r720g-codec.json": "netvox_r720g",
    "netvox__r718nl1-codec.json": "netvox_r718nl1",
    "netvox__r809a-codec.json": "netvox_r809a",
    "netvox__r831a-codec.json": "netvox_r831a",
    "netvox__r718g-codec.json": "netvox_r718g",
    "netvox__r72615a-codec.json": "netvox_r72615a",
}
EXAMPLES = [ex for f in CODECS for ex in vectorlib.load(f)]

Convert = Callable[[Any], Any]


def _mm_to_m(v: Any) -> float:
    return float(v) / 1000


def _ma_to_a(v: Any) -> float:
    return float(v) / 1000


def _on(v: Any) -> bool:
    return bool(v == "ON")


def _same(v: Any) -> Any:
    return v


# vendor field -> (our reading key, converter from the vendor's value to ours).
MAPPING: dict[str, dict[str, tuple[str, Convert]]] = {
    "*": {
        "SWver": ("firmware_version", lambda v: f"{v:g}"),
        "Volt": ("battery_voltage", _same),  # V, bits 0-6 of the battery byte
        "MaxTime": ("interval", _same),  # s, the longest reporting interval
    },
    "netvox__r718pe": {
        "Distance": ("distance", _mm_to_m),  # mm -> m
        "FillLevel": ("fill_pct", _same),  # %
        "Status": ("status", _same),  # "ON"/"OFF" distance-threshold state, kept as a word
    },
    "netvox__r720g": {
        "Latitude": ("latitude", _same),  # deg; "0xFFFFFFFF" = no fix
        "Longitude": ("longitude", _same),  # deg
        "HDop": ("hdop", _same),
        "AltitudeGPS": ("altitude", _same),  # m
        "AngleX": ("tilt_1", _same),  # deg, axis X -> channel 1
        "AngleY": ("tilt_2", _same),
        "AngleZ": ("tilt_3", _same),
    },
    "netvox__r718nl1": {
        "Current": ("current", _ma_to_a),  # mA (x Multiplier, 1 here) -> A
        "Illuminance": ("illuminance", _same),  # lx
    },
    "netvox__r809a": {
        "OnOff": ("relay", _on),
        "Energy": ("energy", lambda v: v / 1000),  # Wh -> kWh
        "Vol": ("voltage", _same),  # V
        "Current": ("current", _ma_to_a),  # mA -> A
        "Power": ("power", _same),  # W
        "PowerOffAlarm": ("power_fault", lambda v: v == "Alarm"),
    },
    "netvox__r831a": {"MotorStatus": ("relay", _on)},
    "netvox__r718g": {"Illuminance": ("illuminance", _same)},
    "netvox__r72615a": {
        "CO2": ("co2", _same),  # ppm
        "Temperature": ("temperature", _same),  # degC
        "Humidity": ("humidity", _same),  # %RH
        "TempPH": ("temperature_8", _same),  # probe temperatures: channel = report type
        "TempNTU": ("temperature_9", _same),
        "SoildTemp5TE": ("temperature_10", _same),
        "TempLDO": ("temperature_11", _same),
        "WindDirection": ("direction", _same),  # deg
        "Atomsphere": ("pressure", _same),  # hPa (raw / 100)
    },
}

# Readings derived from several vendor fields: key -> function of the whole vendor object.
DERIVED: dict[str, dict[str, Callable[[dict[str, Any]], Any]]] = {
    "netvox__r809a": {
        "fault": lambda d: "Alarm" in (d["OverCurrentAlarm"], d["DashCurrentAlarm"]),
    },
}
# The vendor fields a derived reading is made from (it is checked only when they are present).
DERIVED_FROM = {"fault": {"OverCurrentAlarm", "DashCurrentAlarm"}}

# Vendor fields deliberately not stored, and why.
NOT_MAPPED: dict[str, set[str]] = {
    # model name (the per-model decoder warns on a foreign type); HW version and date code
    # go into the startup ``status`` word; MinTime and the *Change/threshold values are settings.
    "*": {"Device", "HWver", "Datecode", "Cmd", "MinTime", "BatteryChange"},
    "netvox__r718pe": {"DistanceChange", "OnDistanceThreshold", "FillMaxDistance", "DeadZoneDistance"},
    "netvox__r720g": {"ActiveThreshold"},
    "netvox__r718nl1": {"Multiplier", "CurrentChange", "IlluminanceChange"},  # Multiplier is folded in
    "netvox__r809a": {"CurrentChange", "PowerChange", "OverCurrentAlarm", "DashCurrentAlarm"},  # -> fault
    "netvox__r831a": {"SwitchType"},
    "netvox__r718g": {"IlluminanceChange", "RangeSetting"},
    # particulates (ug/m3, counts), gases other than CO2, pH, ORP, turbidity, conductivity, soil
    # moisture, water level, dissolved oxygen, VOC and wind speed have no quantity of ours.
    "netvox__r72615a": {
        "PM1_0",
        "PM2_5",
        "PM10",
        "um0_3",
        "um0_5",
        "um1_0",
        "um2_5",
        "um5_0",
        "um10",
        "O3",
        "CO",
        "NO",
        "NO2",
        "SO2",
        "H2S",
        "NH3",
        "Noise",
        "PH",
        "ORP",
        "NTU",
        "EC5SoildHumi",
        "SoildHumi5TE",
        "WaterLevel",
        "EC5TE",
        "LDO_DO",
        "LDO_Sat",
        "WindSpeed",
        "VOC",
    },
}

# Readings we add that have no single vendor field.
EXTRA_KEYS = {"status", "gps_fix", "fault"}
NO_DATA = {"NoSensor", "0xFFFFFFFF"}


def check_against_vendor(codec: str, expected: dict[str, Any], result: DecodeResult) -> None:
    """Every vendor field is either mapped (and equal after conversion) or listed as not mapped."""
    got = result.as_dict()
    mapping = {**MAPPING["*"], **MAPPING.get(codec, {})}
    skipped = NOT_MAPPED["*"] | NOT_MAPPED.get(codec, set())
    checked: set[str] = set()
    for field, value in expected.items():
        if field == "Status" and "Cmd" in expected:  # a set-command response
            assert got["status"] == f"{expected['Cmd']}: {value}"
            continue
        if field in skipped:
            continue
        assert field in mapping, f"vendor field {field!r} is neither mapped nor listed as not mapped"
        key, convert = mapping[field]
        checked.add(key)
        if value in NO_DATA:
            assert key not in got
            continue
        want = convert(value)
        if isinstance(want, float | int) and not isinstance(want, bool):
            assert vectorlib.close(float(got[key]), float(want)), (field, got.get(key), want)
        else:
            assert got[key] == want, (field, got.get(key), want)
    for key, derive in DERIVED.get(codec, {}).items():
        if not DERIVED_FROM[key] <= expected.keys():
            continue
        checked.add(key)
        assert got[key] == derive(expected)
    if "Cmd" in expected:
        assert str(got["status"]).startswith(expected["Cmd"])
    assert set(got) <= checked | EXTRA_KEYS, set(got) - checked - EXTRA_KEYS


@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda ex: ex.id)
def test_vector(ex: vectorlib.Example) -> None:
    decode = DECODERS[CODECS[f"{ex.codec}-codec.json"]].decode
    if ex.expected is None:
        assert ex.errors
        with pytest.raises(DecodeError):
            decode(ex.payload, ex.f_port, DEFAULT_CONTEXT)
        return
    result = decode(ex.payload, ex.f_port, DEFAULT_CONTEXT)
    check_against_vendor(ex.codec, ex.expected, result)
    # The generic decoder agrees with the per-model one.
    assert netvox.decode(ex.payload, ex.f_port, DEFAULT_CONTEXT) == result


def test_vectors_present() -> None:
    assert len(EXAMPLES) == 55


def test_registered_families() -> None:
    families = {name: DECODERS[name].family for name in CODECS.values()}
    assert families == {
        "netvox_r718pe": "bin",
        "netvox_r720g": "tracker",
        "netvox_r718nl1": "light",
        "netvox_r809a": "light",
        "netvox_r831a": "light",
        "netvox_r718g": "light",
        "netvox_r72615a": "generic",
    }
    assert "netvox" in DECODERS


def _d(hex_payload: str, f_port: int = 6) -> DecodeResult:
    return netvox.decode(bytes.fromhex(hex_payload), f_port, DEFAULT_CONTEXT)


@pytest.mark.parametrize("f_port", [0, 1, 5, 8, 100, 255])
def test_unknown_port(f_port: int) -> None:
    with pytest.raises(UnsupportedPortError):
        _d("01b1012401012c32000000", f_port)


@pytest.mark.parametrize(
    ("payload", "f_port"),
    [
        ("", 6),
        ("01b1", 6),
        ("01b101240101", 6),  # report shorter than 11 bytes
        ("01b10064042020", 6),  # startup report
        ("", 7),
        ("82", 7),
        ("82b1038407", 7),  # ReadConfigReportRsp without MaxTime
        ("83b1", 7),  # set response without its status byte
    ],
)
def test_truncated(payload: str, f_port: int) -> None:
    with pytest.raises(TruncatedPayloadError):
        _d(payload, f_port)


@pytest.mark.parametrize(
    ("payload", "f_port", "match"),
    [
        ("01ee012401012c32000000", 6, "device type"),
        ("02b1012401012c32000000", 6, "version"),
        ("010e072401012c32000000", 6, "report type 0x07: its layout is device specific"),  # R809A, mains
        ("8fb1000000000000000000", 7, "command"),
        ("810e000000000000000000", 7, ""),  # sanity: known command decodes (no raise)
    ],
)
def test_format_errors(payload: str, f_port: int, match: str) -> None:
    if not match:
        assert _d(payload, f_port).as_dict() == {"status": "ConfigReportRsp: Success"}
        return
    with pytest.raises(PayloadFormatError, match=match):
        _d(payload, f_port)


def test_set_response_failure() -> None:
    assert _d("83b1010000000000000000", 7).as_dict() == {"status": "SetOnDistanceThresholdRsp: Failure"}


def test_low_battery_flag() -> None:
    result = _d("01b101a201012c32000000")  # 0xa2: low-battery bit + 3.4 V
    assert result.as_dict()["battery_voltage"] == pytest.approx(3.4)
    assert "low battery" in result.warnings


def test_fill_level_out_of_range_is_dropped() -> None:
    result = _d("01b101240001f4ff000000")  # fill level 255 %
    got = result.as_dict()
    assert "fill_pct" not in got
    assert got["distance"] == pytest.approx(0.5)
    assert got["status"] == "OFF"
    assert any("fill_pct" in w for w in result.warnings)


def test_r720g_valid_latitude() -> None:
    got = _d("01b50124030c4c2d00005a").as_dict()  # 0x030c4c2d = 51.137581 deg
    assert got["latitude"] == pytest.approx(51.137581)
    assert got["gps_fix"] is True


def test_r718nl1_multiplier() -> None:
    got = _d("0198012403e80400000bb8").as_dict()  # 1000 mA x 4
    assert got["current"] == pytest.approx(4.0)


def test_r809a_all_alarms() -> None:
    result = _d("010e010000000000010101")
    got = result.as_dict()
    assert got == {"relay": False, "energy": 0.0, "fault": True, "power_fault": True}
    assert len(result.warnings) == 3


def test_r831a_unknown_state_warns() -> None:
    result = _d("01b2010200000000000000")
    assert "relay" not in result.as_dict()
    assert result.warnings == ("MotorStatus: unknown state 2",)


def test_r726_absent_mapped_field_warns() -> None:
    result = _d("01090c48ffffffffffff00")
    assert result.as_dict() == {"battery_voltage": 7.2}
    assert "Temperature: no sensor" in result.warnings


def test_model_decoder_warns_on_foreign_device_type() -> None:
    result = netvox.decoder_for("R718G")(bytes.fromhex("01b1012401012c32000000"), 6, DEFAULT_CONTEXT)
    assert result.as_dict()["distance"] == pytest.approx(0.3)
    assert result.warnings == ("payload is from a R718PE, not a R718G",)


DECODE_FUNCS = [netvox.decode, *(DECODERS[name].decode for name in CODECS.values())]


def _safe(decode: Any, payload: bytes, f_port: int) -> None:
    try:
        result = decode(payload, f_port, DEFAULT_CONTEXT)
    except DecodeError:
        return
    assert isinstance(result, DecodeResult)


@settings(max_examples=300, deadline=None)
@given(
    payload=st.binary(max_size=24), f_port=st.integers(0, 255), which=st.integers(0, len(DECODE_FUNCS) - 1)
)
def test_fuzz_random_bytes(payload: bytes, f_port: int, which: int) -> None:
    _safe(DECODE_FUNCS[which], payload, f_port)


@settings(max_examples=300, deadline=None)
@given(
    ex=st.sampled_from(EXAMPLES),
    cut=st.integers(0, 11),
    f_port=st.sampled_from([6, 7]),
    flip=st.tuples(st.integers(0, 10), st.integers(0, 255)),
)
def test_fuzz_truncated_and_mutated_vectors(
    ex: vectorlib.Example, cut: int, f_port: int, flip: tuple[int, int]
) -> None:
    payload = bytearray(ex.payload[:cut])
    if flip[0] < len(payload):
        payload[flip[0]] = flip[1]
    _safe(netvox.decode, bytes(payload), f_port)


def test_layouts_fit_the_report_body() -> None:
    for spec in netvox.DEVICES.values():
        for layout in spec.reports.values():
            for f in layout.fields:
                size = f.size if isinstance(f, netvox.Field) else 1
                assert f.offset + size <= netvox.REPORT_SIZE - 3, (spec.model, f.name)


# --- degrading gracefully: unknown device types and report types ---------------------------


def test_unknown_device_type_startup_report_is_read_with_a_warning() -> None:
    r = _d("01ee000a02202008110000")
    assert r.as_dict() == {"firmware_version": "1", "status": "startup hw 2 date 20200811"}
    assert any("unknown Netvox device type 0xee" in w for w in r.warnings)


def test_unknown_device_type_common_command_responses_are_read() -> None:
    r = _d("82ee003c0e1000000000", 7)
    assert r.as_dict() == {"status": "ReadConfigReportRsp", "interval": 3600.0}
    assert any("device type 0xee" in w for w in r.warnings)
    assert _d("81ee000000000000000000", 7).as_dict() == {"status": "ConfigReportRsp: Success"}
    with pytest.raises(PayloadFormatError, match="command response 0x83"):
        _d("83ee000000000000000000", 7)


@pytest.mark.parametrize("name", sorted(CODECS.values()))
def test_unknown_device_type_data_report_is_never_read(name: str) -> None:
    with pytest.raises(
        PayloadFormatError, match="device type 0xee report type 0x01: its layout is device specific"
    ):
        DECODERS[name].decode(bytes.fromhex("01ee012401012c32000000"), 6, DEFAULT_CONTEXT)


def test_known_battery_device_unknown_report_type_keeps_its_battery() -> None:
    r = _d("01b1072401012c32000000")  # R718PE, report type 0x07 (not in its document)
    assert r.as_dict() == {"battery_voltage": pytest.approx(3.6)}
    assert any("unknown R718PE report type 0x07: only the battery read" in w for w in r.warnings)


def test_bytes_after_the_report_warn() -> None:
    r = _d("01b1012401012c32000000" + "ff")
    assert r.as_dict()["fill_pct"] == 50.0
    assert any("1 byte(s) after the 11-byte report ignored" in w for w in r.warnings)
