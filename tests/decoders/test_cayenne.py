"""Cayenne LPP: the examples of the Cayenne LPP documentation, every type of the extended
table, unsigned voltage and current, per-item errors, and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorakeet.decoders import (
    DecodeError,
    DeviceContext,
    PayloadFormatError,
    TruncatedPayloadError,
    get_decoder,
)
from lorakeet.decoders.cayenne import LPP_TYPES

LPP = get_decoder("cayenne_lpp")
CTX = DeviceContext()


def decode(hexstr: str) -> dict[str, object]:
    return LPP(bytes.fromhex(hexstr), 1, CTX).as_dict()


@pytest.mark.parametrize(
    ("hexstr", "expected"),
    [
        # the Cayenne LPP documentation's examples
        ("03670110056700ff", {"temperature_3": 27.2, "temperature_5": 25.5}),
        (
            "0671 04d2 fb2e 0000",
            {"acceleration_x_6": 1.234, "acceleration_y_6": -1.234, "acceleration_z_6": 0.0},
        ),
        ("018806765ff2960a0003e8", {"latitude_1": 42.3519, "longitude_1": -87.9094, "altitude_1": 10.0}),
        # one item of each remaining type
        ("0100 2a", {"digital_input_1": 42.0}),
        ("0101 01", {"digital_output_1": 1.0}),
        ("0102 fc18", {"analog_input_1": -10.0}),
        ("0103 03e8", {"analog_output_1": 10.0}),
        ("0164 00010000", {"generic_1": 65536.0}),
        ("0165 03e8", {"illuminance_1": 1000.0}),
        ("0166 01", {"presence_1": 1.0}),
        ("0168 61", {"humidity_1": 48.5}),
        ("0173 2724", {"pressure_1": 1002.0}),
        ("0174 0168", {"voltage_1": 3.6}),
        ("0175 ff9c", {"current_1": 65.436}),  # unsigned: 0xFF9C is 65.436 A, never -0.1 A
        ("0176 000003e8", {"frequency_1": 1000.0}),
        ("0178 37", {"percentage_1": 55.0}),
        ("0179 ff38", {"altitude_1": -200.0}),
        ("017d 0190", {"concentration_1": 400.0}),
        ("0180 003c", {"power_1": 60.0}),
        ("0182 000002ee", {"distance_1": 0.75}),
        ("0183 000003e8", {"energy_1": 1.0}),
        ("0184 010e", {"direction_1": 270.0}),
        ("0185 5f5e1000", {"unix_time_1": 1600000000.0}),
        ("0186 0064 ff9c 0000", {"gyro_x_1": 1.0, "gyro_y_1": -1.0, "gyro_z_1": 0.0}),
        ("0187 ff8000", {"colour_r_1": 255.0, "colour_g_1": 128.0, "colour_b_1": 0.0}),
        ("018e 01", {"switch_1": True}),
    ],
)
def test_types(hexstr: str, expected: dict[str, object]) -> None:
    got = decode(hexstr.replace(" ", ""))
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert got[k] == pytest.approx(v)


def test_every_table_type_is_covered_above() -> None:
    # the parametrised cases name every type id of the table (a new type needs a case)
    assert set(LPP_TYPES) == {
        0, 1, 2, 3, 100, 101, 102, 103, 104, 113, 115, 116, 117, 118, 120, 121, 125,
        128, 130, 131, 132, 133, 134, 135, 136, 142,
    }  # fmt: skip


def test_out_of_range_value_is_dropped_with_a_warning() -> None:
    r = LPP(bytes.fromhex("0168ff" + "0174016803"), 1, CTX)  # humidity 127.5 %: impossible
    assert r.as_dict() == {"voltage_1": 3.6}
    assert any("humidity_1" in w for w in r.warnings)


@pytest.mark.parametrize(
    ("hexstr", "error", "kept"),
    [
        ("016700e102", TruncatedPayloadError, {"temperature_1": 22.5}),  # dangling header byte
        ("016700e10263", PayloadFormatError, {"temperature_1": 22.5}),  # unknown type 0x63
        ("016700e1027401", TruncatedPayloadError, {"temperature_1": 22.5}),  # short voltage
    ],
)
def test_bad_item_after_good_ones_keeps_them(
    hexstr: str, error: type[Exception], kept: dict[str, object]
) -> None:
    r = LPP(bytes.fromhex(hexstr), 1, CTX)
    assert r.as_dict() == kept
    assert len(r.warnings) == 1 and "1 item(s) before it kept" in r.warnings[0]


@pytest.mark.parametrize(
    ("hexstr", "error"),
    [("", TruncatedPayloadError), ("0163", PayloadFormatError), ("01", TruncatedPayloadError)],
)
def test_nothing_readable_raises(hexstr: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        LPP(bytes.fromhex(hexstr), 1, CTX)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64), st.integers(0, 255))
def test_fuzz_only_decode_errors_escape(payload: bytes, f_port: int) -> None:
    try:
        LPP(payload, f_port, CTX)
    except DecodeError:
        pass
