"""Elsys TLV payloads: golden vectors from the payload specification and the Device Repository
examples, every type of the table, and what happens to unknown or cut-short items."""

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
    get_decoder,
)
from lorakeet.decoders.elsys import TYPES

from .test_dragino import NOT_MAPPED, Field, Mapping_, check_example, only_decode_errors, run_cases

CTX = DeviceContext()


def _decode(hexstr: str, ctx: DeviceContext = CTX, port: int = 5) -> Any:
    return get_decoder("elsys")(bytes.fromhex(hexstr), port, ctx)


# Device Repository examples (ERS, ERS Lite, ELT Ultrasonic), vendor field -> our reading.
FILES = {
    "elsys__ers": "elsys",
    "elsys__ers-lite": "elsys",
    "elsys__elt-ultrasonic": "elsys",
}
TABLE: Mapping_ = {
    "temperature": Field("temperature"),
    "humidity": Field("humidity"),
    "light": Field("illuminance"),
    "motion": Field("presence"),
    "x": Field("acceleration_x", lambda v: v / 63),
    "y": Field("acceleration_y", lambda v: v / 63),
    "z": Field("acceleration_z", lambda v: v / 63),
    "distance": Field("distance", lambda mm: mm / 1000),
    # The example's pressure bytes (0x06010111) give 100729.105 hPa at the specified 1/1000 hPa:
    # out of range, so the reading is dropped with a warning (checked below).
    "pressure": NOT_MAPPED,
}


@pytest.mark.parametrize(("name", "ex", "table"), run_cases(FILES, dict.fromkeys(FILES, TABLE)))
def test_device_repository_examples(name: str, ex: Any, table: Mapping_) -> None:
    check_example(name, ex, table)


def test_elt_ultrasonic_example_pressure_is_dropped_not_guessed() -> None:
    r = _decode("0100e202290301270514060101110e2311")
    assert "pressure" not in r.as_dict()
    assert any("pressure" in w and "outside" in w for w in r.warnings)


# Golden vectors written from the specification's type table.
GOLDEN = [
    # the specification's own example: temperature, humidity, light, motion, CO2, VDD
    (
        "0100e202290400270506060308070d62",
        {
            "temperature": 22.6,
            "humidity": 41.0,
            "illuminance": 39.0,
            "presence": 6.0,
            "co2": 776.0,
            "battery_voltage": 3.426,
        },
    ),
    ("01ff38", {"temperature": -20.0}),  # signed 0.1 °C
    ("03c13f00", {"acceleration_x": -1.0, "acceleration_y": 1.0, "acceleration_z": 0.0}),
    ("080dac180640", {"voltage_1": 3.5, "voltage_2": 1.6}),
    (
        "0a00100b0001000016ffff1700000002",
        {"counter_1": 16.0, "counter_11": 65536.0, "counter_2": 65535.0, "counter_12": 2.0},
    ),
    ("0c00fa19ff9c", {"temperature_1": 25.0, "temperature_2": -10.0}),
    ("19ff9c1900c819000a", {"temperature_2": -10.0, "temperature_21": 20.0, "temperature_22": 1.0}),
    ("1c01f4", {"concentration": 0.5}),  # TVOC 500 ppb
    ("0d011a00", {"digital_input_1": 1.0, "digital_input_2": 0.0}),
    ("0e04d2", {"distance": 1.234}),
    ("0f07", {"counter_3": 7.0}),
    ("1000d2ff9c", {"temperature_3": 21.0, "temperature_4": -10.0}),
    ("1102", {"occupancy": True}),
    ("1100", {"occupancy": False}),
    ("12c8", {"generic_18": 200.0}),
    ("14000f7714", {"pressure": 1013.524}),
    ("155a3c", {"sound_level_1": 90.0, "sound_level": 60.0}),
    ("1b00325aa0", {"voltage_3": 3.3}),
    ("0100e23d010203040229", {"temperature": 22.6, "humidity": 41.0}),
]


@pytest.mark.parametrize(("hexstr", "want"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(hexstr: str, want: dict[str, object]) -> None:
    got = _decode(hexstr).as_dict()
    assert got.keys() == want.keys()
    for k, v in want.items():
        assert got[k] == (pytest.approx(v) if isinstance(v, float) else v), k


def test_every_type_has_a_golden_vector_or_a_reason() -> None:
    covered = {bytes.fromhex(h)[0] for h, _ in GOLDEN}
    for h, _ in GOLDEN:
        p, i = bytes.fromhex(h), 0
        while i < len(p):
            covered.add(p[i])
            i += 1 + TYPES[p[i]].size
    assert set(TYPES) - covered == {0x09, 0x13}  # GPS and Grid-EYE: skipped with a warning


def test_distance_gives_fill_level_with_bin_metadata() -> None:
    got = _decode("0e0320", DeviceContext(metadata={"bin_depth_m": 1.6})).as_dict()
    assert got["distance"] == pytest.approx(0.8)
    assert got["fill_pct"] == pytest.approx(50.0)


def test_skipped_items_warn_and_decoding_goes_on() -> None:
    r = _decode("090000010000020229")
    assert r.as_dict() == {"humidity": 41.0}
    assert any("GPS" in w for w in r.warnings)
    r = _decode("13" + "00" * 65 + "0229")
    assert r.as_dict() == {"humidity": 41.0}
    assert any("Grid-EYE" in w for w in r.warnings)
    r = _decode("1101")
    assert r.as_dict() == {} and any("pending" in w for w in r.warnings)


def test_unknown_type_keeps_what_came_before() -> None:
    r = _decode("0100e27f01020229")
    assert r.as_dict() == {"temperature": pytest.approx(22.6)}
    assert any("unknown type 0x7f at byte 3" in w for w in r.warnings)


@pytest.mark.parametrize(
    ("hexstr", "error", "match"),
    [
        ("", TruncatedPayloadError, "Elsys frame"),
        ("7f00", PayloadFormatError, "unknown type 0x7f"),
        ("0100", TruncatedPayloadError, "temperature at byte 0"),
        ("13" + "00" * 64, TruncatedPayloadError, "Grid-EYE"),
    ],
)
def test_errors(hexstr: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        _decode(hexstr)


def test_cut_short_after_known_items_keeps_them() -> None:
    r = _decode("0100e20601")
    assert r.as_dict() == {"temperature": pytest.approx(22.6)}
    assert any("truncated" in w for w in r.warnings)


def test_registered() -> None:
    assert DECODERS["elsys"].decode is get_decoder("elsys")


@settings(max_examples=400, deadline=None)
@given(payload=st.binary(max_size=80), f_port=st.integers(0, 255))
def test_fuzz(payload: bytes, f_port: int) -> None:
    only_decode_errors("elsys", payload, f_port)


@settings(max_examples=300, deadline=None)
@given(items=st.lists(st.sampled_from(sorted(TYPES)), min_size=1, max_size=8), data=st.data())
def test_fuzz_well_formed_items_always_decode(items: list[int], data: st.DataObject) -> None:
    frame = b"".join(
        bytes([t]) + data.draw(st.binary(min_size=TYPES[t].size, max_size=TYPES[t].size)) for t in items
    )
    r = get_decoder("elsys")(frame, 5, CTX)
    assert not any("unknown type" in w or "truncated" in w for w in r.warnings)
