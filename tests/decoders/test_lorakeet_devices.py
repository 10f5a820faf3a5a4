"""Decoders of Lorakeet's reference devices (golden vectors: tests/test_firmware_payloads.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorakeet.decoders import DECODERS, get_decoder
from lorakeet.decoders import lorakeet_devices as dev
from lorakeet.decoders.errors import (
    DecodeError,
    PayloadFormatError,
    TruncatedPayloadError,
    UnsupportedPortError,
)
from lorakeet.decoders.types import DeviceContext

CTX = DeviceContext()


def test_registered() -> None:
    assert get_decoder("lorakeet_bin") is dev.decode_bin
    assert get_decoder("lorakeet_tracker") is dev.decode_tracker
    assert get_decoder("lorakeet_light") is dev.decode_light
    assert DECODERS["lorakeet_bin"].family == "bin"


def test_bin_with_depth_gives_fill_level() -> None:
    res = dev.decode_bin(bytes.fromhex("032c0cf000d702"), 10, DeviceContext(metadata={"bin_depth_m": 1.0}))
    d = res.as_dict()
    assert d["distance"] == 0.812
    assert round(d["fill_pct"], 6) == 18.8
    assert d["fire_alarm"] is True and d["tilt_alarm"] is False and d["status"] == "ok"


def test_bin_without_depth_has_no_fill_level() -> None:
    assert "fill_pct" not in dev.decode_bin(bytes.fromhex("032c0cf000d702"), 10, CTX).as_dict()


def test_bin_sentinels_and_reserved_bits() -> None:
    res = dev.decode_bin(bytes.fromhex("ffff0bb88000f4"), 10, CTX)
    assert res.as_dict() == {
        "battery_voltage": 3.0,
        "tilt_alarm": False,
        "fire_alarm": False,
        "status": "low_battery",
    }
    assert any("no valid echo" in w for w in res.warnings)
    assert any("reserved bits 0xf0" in w for w in res.warnings)


def test_tracker_without_fix_omits_position() -> None:
    res = dev.decode_tracker(bytes.fromhex("1f38bc8202eb9b5e007b01120f9306"), 20, CTX)
    assert res.as_dict() == {"battery_voltage": 3.987, "gps_fix": False, "in_motion": True}
    assert any("reserved" in w for w in res.warnings)


def test_light_reserved_bits() -> None:
    res = dev.decode_light(bytes.fromhex("033c01c40001e24008fd80"), 30, CTX)
    assert res.as_dict()["lamp_on"] is True
    assert res.as_dict()["fault"] is False
    assert len(res.warnings) == 2


@pytest.mark.parametrize(
    ("decode", "port", "size"),
    [(dev.decode_bin, 10, 7), (dev.decode_tracker, 20, 15), (dev.decode_light, 30, 11)],
)
def test_lengths_and_ports(decode: object, port: int, size: int) -> None:
    assert callable(decode)
    with pytest.raises(TruncatedPayloadError):
        decode(bytes(size - 1), port, CTX)
    with pytest.raises(PayloadFormatError, match=f"is {size} bytes"):
        decode(bytes(size + 1), port, CTX)
    with pytest.raises(UnsupportedPortError):
        decode(bytes(size), port + 1, CTX)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"", TruncatedPayloadError),
        (b"\x04\x01", PayloadFormatError),
        (b"\x01", TruncatedPayloadError),
        (b"\x03\x00", TruncatedPayloadError),
        (b"\x01\x10\x01\x11", PayloadFormatError),
        (b"\x01\x65", PayloadFormatError),
        (b"\x02\x02", PayloadFormatError),
        (b"\x03\x00\x00", PayloadFormatError),
        (b"\x03\x27\x81", PayloadFormatError),
    ],
)
def test_light_command_errors(payload: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        dev.decode_light_command(payload)


def test_light_command_any_order() -> None:
    assert dev.decode_light_command(bytes.fromhex("03000f0200")) == {"interval": 900, "lamp_on": False}


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["lorakeet_bin", "lorakeet_tracker", "lorakeet_light"]),
    st.sampled_from([10, 20, 30, 31, 1]),
    st.binary(max_size=24),
    st.floats(allow_nan=True) | st.none(),
)
def test_fuzz_only_decode_errors(name: str, port: int, payload: bytes, depth: float | None) -> None:
    ctx = DeviceContext(metadata={} if depth is None else {"bin_depth_m": depth})
    try:
        get_decoder(name)(payload, port, ctx)
    except DecodeError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=12))
def test_fuzz_light_command(payload: bytes) -> None:
    try:
        dev.decode_light_command(payload)
    except DecodeError:
        pass
