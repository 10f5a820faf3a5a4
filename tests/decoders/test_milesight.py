"""Milesight TLV decoders against the TTN Device Repository vectors, error cases, fuzzing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorakeet.decoders import (
    DECODERS,
    DeviceContext,
    PayloadFormatError,
    TruncatedPayloadError,
    UnsupportedPortError,
    get_decoder,
    milesight,
)

from . import vectorlib
from .test_dragino import (
    NOT_MAPPED,
    Field,
    Mapping_,
    check_example,
    draw_mutation,
    only_decode_errors,
    run_cases,
    vector_payloads,
)

FILES = {
    "milesight-iot__em310-udl": "milesight_em310_udl",
    "milesight-iot__em400-udl": "milesight_em400_udl",
    "milesight-iot__em400-tld": "milesight_em400_tld",
    "milesight-iot__em500-lgt": "milesight_em500_lgt",
    "milesight-iot__ws52x": "milesight_ws52x",
    "milesight-iot__ws202": "milesight_ws202",
}

DISTANCE = {
    "battery": Field("battery"),
    "distance": Field("distance", lambda mm: mm / 1000),
    "temperature": Field("temperature"),
    "tilt": Field("tilt_alarm", lambda s: s == "tilt"),  # EM310-UDL: "normal" / "tilt"
    "position": Field("tilt_alarm", lambda s: s == "tilt"),  # EM400: "normal" / "tilt"
}

TABLES: dict[str, Mapping_] = {
    "milesight-iot__em310-udl": DISTANCE,
    "milesight-iot__em400-udl": DISTANCE,
    "milesight-iot__em400-tld": DISTANCE,
    "milesight-iot__em500-lgt": {"battery": Field("battery"), "light": Field("illuminance")},
    "milesight-iot__ws52x": {
        "voltage": Field("voltage"),
        "energy": Field("energy", lambda wh: wh / 1000),
        "button": Field("relay", lambda s: s == "open"),  # socket state: open = on
        "power": Field("power"),
        "factor": Field("power_factor", lambda pct: pct / 100),
        "current": Field("current", lambda ma: ma / 1000),
    },
    "milesight-iot__ws202": {
        "pir": Field("occupancy", lambda s: s == "trigger"),
        "light": Field("daylight", lambda s: s == "light"),  # "dark" / "light"
    },
}

NAMES = sorted(set(FILES.values()))
VALID = vector_payloads(FILES)
CTX = DeviceContext()
PORT = milesight.PORT


@pytest.mark.parametrize(("name", "ex", "table"), run_cases(FILES, TABLES))
def test_vectors(name: str, ex: vectorlib.Example, table: Mapping_) -> None:
    check_example(name, ex, table)


def test_all_milesight_vectors_covered() -> None:
    assert len(run_cases(FILES, TABLES)) == 10
    assert NOT_MAPPED is None


def _decode(name: str, hexstr: str, ctx: DeviceContext = CTX) -> Any:
    return get_decoder(name)(bytes.fromhex(hexstr), PORT, ctx)


def test_registered_one_name_per_model() -> None:
    for name in NAMES:
        assert name in DECODERS
    assert DECODERS["milesight_em500_lgt"].family == "light"
    assert DECODERS["milesight_em310_udl"].family == "bin"


@pytest.mark.parametrize("name", NAMES)
def test_unknown_port(name: str) -> None:
    with pytest.raises(UnsupportedPortError):
        get_decoder(name)(bytes.fromhex("017564"), 2, CTX)


@pytest.mark.parametrize("name", NAMES)
def test_empty_and_truncated(name: str) -> None:
    with pytest.raises(TruncatedPayloadError):
        _decode(name, "")
    with pytest.raises(TruncatedPayloadError):
        _decode(name, "01")
    with pytest.raises(TruncatedPayloadError):
        _decode(name, "0175")


def test_unknown_item_alone_raises() -> None:
    with pytest.raises(PayloadFormatError):
        _decode("milesight_em310_udl", "09990000")


def test_unknown_item_after_known_keeps_readings() -> None:
    r = _decode("milesight_em400_udl", "01755c09990000")
    assert r.as_dict() == {"battery": 92.0}
    assert any("unknown channel 09 type 99" in w for w in r.warnings)


def test_truncated_item_after_known_keeps_readings() -> None:
    r = _decode("milesight_em400_udl", "01755c048244")
    assert r.as_dict() == {"battery": 92.0}
    assert r.warnings


def test_same_pair_differs_by_model() -> None:
    assert _decode("milesight_em310_udl", "040001").as_dict() == {"tilt_alarm": True}
    assert _decode("milesight_ws202", "040001").as_dict() == {"daylight": True}


def test_em400_fill_pct_and_alarm_frames() -> None:
    ctx = DeviceContext(metadata={"bin_depth_m": 2.0})
    got = _decode("milesight_em400_tld", "04820807" + "050000", ctx).as_dict()
    assert got["distance"] == pytest.approx(1.8)
    assert got["fill_pct"] == pytest.approx(10.0)
    assert got["tilt_alarm"] is False
    got = _decode("milesight_em400_udl", "8482330701" + "8367220101").as_dict()
    assert got["distance"] == pytest.approx(1.843)
    assert got["temperature"] == pytest.approx(29.0)


def test_em400_reserved_values_warn() -> None:
    r = _decode("milesight_em400_udl", "0482fdff")
    assert "distance" not in r.as_dict()
    assert any("out of measuring range" in w for w in r.warnings)
    r = _decode("milesight_em400_udl", "0482ffff0367ffff")
    assert r.as_dict() == {}
    assert len(r.warnings) == 2


def test_negative_temperature() -> None:
    assert _decode("milesight_em400_udl", "0367f8ff").as_dict() == {"temperature": -0.8}


def test_basic_information_packet() -> None:
    r = _decode("milesight_em310_udl", "ff0bff ff0101 ff166329c42503920003 ff090100 ff0a0114 ff0f00")
    assert r.as_dict() == {"firmware_version": "1.14"}
    assert r.warnings == ()


def test_ws52x_full_report() -> None:
    got = _decode("milesight_ws52x", "0374ed08 0480e8030000 058162 0683b80b0000 07c9a00f 087000").as_dict()
    assert got == pytest.approx(
        {
            "voltage": 228.5,
            "power": 1000.0,
            "power_factor": 0.98,
            "energy": 3.0,
            "current": 4.0,
            "relay": False,
        }
    )


def test_battery_out_of_range_dropped() -> None:
    r = _decode("milesight_em500_lgt", "0175c8")
    assert "battery" not in r.as_dict()
    assert r.warnings


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=64), f_port=st.integers(0, 255))
def test_fuzz_random(name: str, payload: bytes, f_port: int) -> None:
    only_decode_errors(name, payload, f_port)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=48))
def test_fuzz_random_on_port_85(name: str, payload: bytes) -> None:
    only_decode_errors(name, payload, PORT)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fuzz_truncated_and_mutated(name: str, data: st.DataObject) -> None:
    only_decode_errors(name, *draw_mutation(data, VALID[name]))


# EM300-TH / EM320-TH (Milesight EM300 series user guide): battery 92 %, 27.6 °C, 62.5 %RH.
EM320_TH = "01755c0367140104687d"


def test_em320_th_keeps_every_item() -> None:
    r = _decode("milesight_em300_th", EM320_TH)
    assert r.as_dict() == {"battery": 92.0, "temperature": pytest.approx(27.6), "humidity": 62.5}
    assert r.warnings == ()


@pytest.mark.parametrize(
    "name", ["milesight_em310_udl", "milesight_em400_udl", "milesight_em500_lgt", "milesight_ws202"]
)
def test_sibling_model_items_are_read_by_type_and_parsing_goes_on(name: str) -> None:
    """An EM320-TH frame given to another model's decoder: nothing stops at the first unknown channel."""
    r = _decode(name, EM320_TH)
    got = r.as_dict()
    assert got["battery"] == 92.0
    assert got["temperature"] == pytest.approx(27.6)
    assert got["humidity"] == 62.5
    assert any("channel 04 type 68 (humidity): read by its type" in w for w in r.warnings)


def test_known_size_without_quantity_is_skipped_and_parsing_goes_on() -> None:
    # AM307-style: CO2 as a 0x7D concentration on channel 07, then humidity on channel 04
    r = _decode("milesight_em310_udl", "077d640004687d")
    assert r.as_dict() == {"humidity": 62.5}
    assert any("channel 07 type 7d (concentration): 2 byte(s) skipped" in w for w in r.warnings)


def test_second_item_of_a_quantity_gets_its_channel() -> None:
    r = _decode("milesight_em500_lgt", "0367140109670a00")
    assert r.as_dict() == {"temperature": pytest.approx(27.6), "temperature_9": pytest.approx(1.0)}


def test_type_read_sentinels_warn() -> None:
    r = _decode("milesight_em500_lgt", "01755c0867ffff")
    assert r.as_dict() == {"battery": 92.0}
    assert any("no value (ffff)" in w for w in r.warnings)


def test_unknown_type_still_ends_parsing_with_what_came_before() -> None:
    r = _decode("milesight_em500_lgt", "01755c05ee010204687d")
    assert r.as_dict() == {"battery": 92.0}
    assert any("unknown channel 05 type ee" in w for w in r.warnings)
