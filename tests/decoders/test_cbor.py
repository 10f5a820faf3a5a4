"""Self-describing CBOR payloads (decoder ``cbor``)."""

from __future__ import annotations

import math
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorakeet.decoders import cbor_payload as cb
from lorakeet.decoders import get_decoder
from lorakeet.decoders.errors import DecodeError, PayloadFormatError, PayloadLimitError, TruncatedPayloadError
from lorakeet.decoders.types import DeviceContext, Reading

T0 = 1_700_000_000_000_000_000
CTX = DeviceContext(received_at_ns=T0)


def dec(obj: Any) -> Any:
    return cb.decode(cbor2.dumps(obj), 1, CTX)


def test_registered() -> None:
    assert get_decoder("cbor") is cb.decode


def test_plain_values_units_and_nesting() -> None:
    res = dec(
        {
            "temperature": 21.5,
            "humidity_2": 40,
            "battery_voltage": {"v": 3312, "u": "mV"},
            "battery": {"voltage": {"v": 3.3}},
            "door_open": True,
            "relay": 1,
            "firmware_version": "1.2.3",
            "pressure": {"v": 101325, "u": "Pa"},
            "speed": {"v": 10, "u": "m/s"},
        }
    )
    assert res.as_dict() == {
        "temperature": 21.5,
        "humidity_2": 40.0,
        "battery_voltage": 3.3,
        "door_open": True,
        "relay": True,
        "firmware_version": "1.2.3",
        "pressure": 1013.25,
        "speed": 36.0,
    }
    assert {r.key: r.value for r in res.readings}["battery_voltage"] == 3.3
    assert [r.value for r in res.readings if r.key == "battery_voltage"] == [3.312, 3.3]
    assert res.warnings == ()


@pytest.mark.parametrize(
    ("unit", "value", "key", "expected"),
    [
        ("mm", 812, "distance", 0.812),
        ("cm", 81.2, "distance", 0.812),
        ("°F", 212, "temperature", 100.0),
        ("K", 273.15, "temperature", 0.0),
        ("Wh", 1500, "energy", 1.5),
        ("kW", 1.5, "power", 1500.0),
        ("min", 15, "interval", 900.0),
        ("mA", 250, "current", 0.25),
        ("rad", math.pi, "heading", 180.0),
        ("", 3, "satellites", 3.0),
    ],
)
def test_unit_conversion(unit: str, value: float, key: str, expected: float) -> None:
    res = dec({key: {"v": value, "u": unit}})
    assert math.isclose(res.as_dict()[key], expected, abs_tol=1e-9)


@pytest.mark.parametrize(
    ("obj", "warning", "kept"),
    [
        (
            {"temperature": {"v": 1, "u": "furlongs"}},
            "unknown unit 'furlongs'",
            ("v.temperature", 1.0, "furlongs"),
        ),
        ({"temperature": {"v": 1, "u": "mV"}}, "does not measure temperature", ("v.temperature", 1.0, "mV")),
        ({"temperature": {"v": 1, "u": 5}}, "not text", ("v.temperature", 1.0, "")),
        ({"temperature": "warm"}, "expected a number", ("v.temperature:str", "warm", "")),
        ({"temperature": True}, "expected a number", ("v.temperature:bool", True, "")),
        (
            {"temperature": 2**80 * 10**300},
            "expected a number",
            ("v.temperature:str", str(2**80 * 10**300), ""),
        ),
        ({"door_open": 2}, "expected true/false", ("v.door_open", 2.0, "")),
        ({"door_open": {"v": True, "u": "%"}}, "expected true/false", ("v.door_open:bool", True, "")),
        ({"firmware_version": 12}, "expected text", ("v.firmware_version", 12.0, "")),
        ({"wibble": 1}, "not in the quantity vocabulary", ("v.wibble", 1.0, "")),
        ({"humidity": 120}, "outside", ("v.humidity", 120.0, "%")),
    ],
)
def test_kept_as_vendor_fields_with_warning(
    obj: dict[Any, Any], warning: str, kept: tuple[str, Any, str]
) -> None:
    res = dec(obj)
    assert any(warning in w for w in res.warnings), res.warnings
    assert [(r.key, r.value, r.unit) for r in res.readings] == [kept]


def test_non_text_key_is_ignored_with_warning() -> None:
    res = dec({1: 2, "temperature": 3})
    assert any("non-text key" in w for w in res.warnings), res.warnings
    assert res.as_dict() == {"temperature": 3.0}


def test_time_series() -> None:
    res = dec(
        {
            "distance": [
                {"t": -600, "v": 812, "u": "mm"},
                {"t": -300.5, "v": 0.79},
                {"t": 0, "v": 0.7},
                {"t": 5, "v": 0.1},
                {"t": -(cb.MAX_SAMPLE_AGE_S + 1), "v": 0.1},
                {"t": "soon", "v": 0.1},
                {"t": True, "v": 0.1},
                {"v": 0.1},
                7,
            ],
            "temperature": 20.0,
        }
    )
    assert res.readings == (
        Reading("distance", 0.812, "m", T0 - 600_000_000_000),
        Reading("distance", 0.79, "m", T0 - 300_500_000_000),
        Reading("distance", 0.7, "m", T0),
        Reading("temperature", 20.0, "°C", None),
    )
    assert res.as_dict() == {"temperature": 20.0}
    assert len(res.warnings) == 6


def test_nested_series() -> None:
    res = dec({"battery": {"voltage": [{"t": -60, "v": 3300, "u": "mV"}]}})
    assert res.readings == (Reading("battery_voltage", 3.3, "V", T0 - 60_000_000_000),)


def test_depth_limit() -> None:
    assert dec({"a": {"b": {"c": {"temperature": 1}}}}).warnings  # depth 4 is fine
    with pytest.raises(PayloadLimitError, match="nesting"):
        dec({"a": {"b": {"c": {"d": {"temperature": 1}}}}})
    with pytest.raises(PayloadLimitError, match="nesting"):
        dec({"a": {"b": {"temperature": [{"t": 0, "v": 1}]}}})
    with pytest.raises(PayloadLimitError, match="nesting"):
        dec({"a": {"b": {"c": {"temperature": {"v": 1}}}}})


def test_item_and_size_limits() -> None:
    with pytest.raises(PayloadLimitError, match="data items"):
        dec({"temperature": [{"t": -i, "v": 1} for i in range(60)]})
    with pytest.raises(PayloadLimitError, match="data items"):
        dec({f"k{i}": 0 for i in range(130)})
    with pytest.raises(PayloadLimitError, match="bytes"):
        cb.decode(b"\xa0" * 1025, 1, CTX)


def test_shared_reference_cycle_is_limited() -> None:
    # tag 28 marks a shareable map, tag 29 refers back to it: a cycle
    payload = bytes.fromhex("d81ca16161d81d00")
    with pytest.raises(PayloadLimitError):
        cb.decode(payload, 1, CTX)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"", TruncatedPayloadError),
        (b"\xa1\x61", PayloadFormatError),
        (cbor2.dumps([1, 2]), PayloadFormatError),
        (cbor2.dumps({"a": 1}) + b"\x00", PayloadFormatError),
        (b"\x62\xff\xfe", PayloadFormatError),
        (b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff", PayloadFormatError),
        (b"\x81" * 600 + b"\x00", PayloadFormatError),
        (bytes.fromhex("c1a0"), PayloadFormatError),  # epoch time tag on a map
        (bytes.fromhex("c0") + cbor2.dumps("not a date"), PayloadFormatError),
    ],
)
def test_malformed(payload: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        cb.decode(payload, 1, CTX)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_bytes(payload: bytes) -> None:
    try:
        cb.decode(payload, 1, CTX)
    except DecodeError:
        pass


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | st.sampled_from(["temperature", "mV", "v", "u", "t"]),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                ["temperature", "battery", "voltage", "v", "u", "t", "distance", "x", "door_open"]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.text(max_size=12) | st.sampled_from(["temperature", "distance", "battery"]), values)
)
def test_fuzz_structures(obj: dict[str, Any]) -> None:
    try:
        res = cb.decode(cbor2.dumps(obj), 1, CTX)
    except DecodeError:
        return
    for r in res.readings:
        assert isinstance(r.value, float | bool | str)
