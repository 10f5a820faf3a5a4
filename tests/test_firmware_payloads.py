"""Reference device payloads: golden vectors against the Python encoders, the decoders and
the C header (compiled with gcc), plus round trips over each field's whole range."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorakeet.decoders import lorakeet_devices as dev
from lorakeet.decoders.types import DeviceContext
from lorakeet.firmware_payloads import formats as fmt

HERE = Path(fmt.__file__).parent
GOLDEN: dict[str, Any] = json.loads((HERE / "golden_vectors.json").read_text())
META = GOLDEN["bin_metadata"]

ENCODERS = {
    "bin": (fmt.BinStatus, fmt.encode_bin, fmt.decode_bin),
    "tracker": (fmt.TrackerStatus, fmt.encode_tracker, fmt.decode_tracker),
    "light_status": (fmt.LightStatus, fmt.encode_light_status, fmt.decode_light_status),
    "light_command": (fmt.LightCommand, fmt.encode_light_command, fmt.decode_light_command),
}
DECODERS = {
    "bin": dev.decode_bin,
    "tracker": dev.decode_tracker,
    "light_status": dev.decode_light,
}


def _cases(kind: str) -> list[Any]:
    return [pytest.param(kind, v, id=f"{kind}:{v['name']}") for v in GOLDEN[kind]]


ALL_CASES = [c for kind in ENCODERS for c in _cases(kind)]


def test_golden_file_covers_every_format() -> None:
    assert GOLDEN["format_version"] == 1
    for kind in ENCODERS:
        assert len(GOLDEN[kind]) >= 4


@pytest.mark.parametrize(("kind", "vector"), ALL_CASES)
def test_python_encoder_matches_golden(kind: str, vector: dict[str, Any]) -> None:
    cls, encode, decode = ENCODERS[kind]
    value = cls(**vector["input"])
    assert encode(value).hex() == vector["hex"]
    assert decode(bytes.fromhex(vector["hex"])) == value


@pytest.mark.parametrize(("kind", "vector"), [c for k in DECODERS for c in _cases(k)])
def test_decoder_matches_golden(kind: str, vector: dict[str, Any]) -> None:
    ctx = DeviceContext(metadata=META)
    result = DECODERS[kind](bytes.fromhex(vector["hex"]), vector["f_port"], ctx)
    got = {r.key: r.value for r in result.readings}
    assert got.keys() == vector["readings"].keys()
    for key, want in vector["readings"].items():
        if isinstance(want, float):
            assert math.isclose(got[key], want, rel_tol=1e-12), key
        else:
            assert got[key] == want, key


@pytest.mark.parametrize(("kind", "vector"), _cases("light_command"))
def test_command_decoder_matches_golden(kind: str, vector: dict[str, Any]) -> None:
    assert dev.decode_light_command(bytes.fromhex(vector["hex"])) == vector["command"]


# ---------------------------------------------------------------- C header


def _c_bool(v: bool) -> str:
    return "true" if v else "false"


def _c_initialiser(kind: str, inp: dict[str, Any]) -> str:
    if kind == "bin":
        dist = "LK_NO_ECHO" if inp["distance_mm"] is None else str(inp["distance_mm"])
        temp = "LK_NO_TEMPERATURE" if inp["temperature_dc"] is None else str(inp["temperature_dc"])
        return (
            f"lk_bin_status_t s = {{{dist}, {inp['battery_mv']}, {temp}, "
            f"{_c_bool(inp['tilt'])}, {_c_bool(inp['fire'])}, {_c_bool(inp['low_battery'])}}};"
        )
    if kind == "tracker":
        heading = "LK_NO_HEADING" if inp["heading_deg"] is None else str(inp["heading_deg"])
        return (
            f"lk_tracker_status_t s = {{{inp['latitude_e7']}L, {inp['longitude_e7']}L, {inp['speed_dkmh']}, "
            f"{heading}, {inp['battery_mv']}, {_c_bool(inp['gps_fix'])}, {_c_bool(inp['in_motion'])}}};"
        )
    if kind == "light_status":
        return (
            f"lk_light_status_t s = {{{_c_bool(inp['lamp_on'])}, {inp['dim_pct']}, {inp['power_dw']}, "
            f"{inp['energy_wh']}UL, {inp['voltage_dv']}, {_c_bool(inp['lamp_fault'])}, "
            f"{_c_bool(inp['power_fault'])}}};"
        )
    dim, on, interval = inp["dim_pct"], inp["lamp_on"], inp["interval_min"]
    return (
        f"lk_light_command_t s = {{{_c_bool(dim is not None)}, {dim or 0}, {_c_bool(on is not None)}, "
        f"{_c_bool(bool(on))}, {_c_bool(interval is not None)}, {interval or 0}}};"
    )


_C_FUNCS = {
    "bin": "lk_encode_bin",
    "tracker": "lk_encode_tracker",
    "light_status": "lk_encode_light_status",
    "light_command": "lk_encode_light_command",
}

# Rejections the C encoders must report by returning 0.
_C_REJECTS = """
    { lk_bin_status_t s = {1, 2, 3, false, false, false}; print_len(lk_encode_bin(&s, buf, 6)); }
    { lk_tracker_status_t s = {900000001L, 0, 0, 0, 0, true, false};
      print_len(lk_encode_tracker(&s, buf, sizeof buf)); }
    { lk_tracker_status_t s = {0, -1800000001L, 0, 0, 0, true, false};
      print_len(lk_encode_tracker(&s, buf, sizeof buf)); }
    { lk_tracker_status_t s = {0, 0, 0, 360, 0, true, false}; print_len(lk_encode_tracker(&s, buf, sizeof buf)); }
    { lk_light_status_t s = {true, 101, 0, 0, 0, false, false};
      print_len(lk_encode_light_status(&s, buf, sizeof buf)); }
    { lk_light_command_t s = {false, 0, false, false, false, 0}; print_len(lk_encode_light_command(&s, buf, sizeof buf)); }
    { lk_light_command_t s = {true, 101, false, false, false, 0}; print_len(lk_encode_light_command(&s, buf, sizeof buf)); }
    { lk_light_command_t s = {false, 0, false, false, true, 0}; print_len(lk_encode_light_command(&s, buf, sizeof buf)); }
    { lk_light_command_t s = {false, 0, false, false, true, 10081}; print_len(lk_encode_light_command(&s, buf, sizeof buf)); }
    { lk_light_command_t s = {true, 1, true, true, true, 5}; print_len(lk_encode_light_command(&s, buf, 6)); }
    print_len(lk_encode_bin(NULL, buf, sizeof buf));
"""
_C_REJECT_COUNT = _C_REJECTS.count("print_len(")


def _c_program() -> tuple[str, list[str]]:
    lines = [
        '#include "lorakeet_payloads.h"',
        "#include <stdio.h>",
        "static void print_hex(const uint8_t *b, size_t n) {",
        "    size_t i;",
        '    for (i = 0; i < n; i++) printf("%02x", (unsigned)b[i]);',
        '    printf("\\n");',
        "}",
        'static void print_len(size_t n) { printf("%u\\n", (unsigned)n); }',
        "int main(void) {",
        "    uint8_t buf[16];",
        "    size_t n;",
    ]
    expected = []
    for kind in ENCODERS:
        for v in GOLDEN[kind]:
            lines.append(f"    {{ {_c_initialiser(kind, v['input'])}")
            lines.append(f"      n = {_C_FUNCS[kind]}(&s, buf, sizeof buf); print_hex(buf, n); }}")
            expected.append(v["hex"])
    lines.append(_C_REJECTS)
    expected += ["0"] * _C_REJECT_COUNT
    lines += ["    return 0;", "}"]
    return "\n".join(lines) + "\n", expected


def _compile_and_run(compiler: str, flags: list[str], src_name: str, tmp_path: Path) -> list[str]:
    source, _ = _c_program()
    src = tmp_path / src_name
    src.write_text(source)
    exe = tmp_path / (src_name + ".out")
    cmd = [compiler, *flags, "-I", str(HERE), str(src), "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stderr}"
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30, check=True)
    return run.stdout.split()


STRICT_C = [
    "-std=c99",
    "-pedantic",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wconversion",
    "-Wsign-conversion",
    "-O2",
]


def test_c_header_matches_golden(tmp_path: Path) -> None:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is required to check lorakeet_payloads.h against the golden vectors; install it")
    _, expected = _c_program()
    assert _compile_and_run(gcc, STRICT_C, "golden.c", tmp_path) == expected


def test_c_header_compiles_as_cxx(tmp_path: Path) -> None:
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.fail("g++ is required to check that Arduino (C++) sketches can include the header; install it")
    _, expected = _c_program()
    flags = ["-x", "c++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-O2"]
    assert _compile_and_run(gxx, flags, "golden.cpp", tmp_path) == expected


# ---------------------------------------------------------------- encoder validation


@pytest.mark.parametrize(
    ("encode", "value"),
    [
        (fmt.encode_bin, fmt.BinStatus(0xFFFF, 0, 0)),
        (fmt.encode_bin, fmt.BinStatus(1, -1, 0)),
        (fmt.encode_bin, fmt.BinStatus(1, 1, -0x8000)),
        (fmt.encode_bin, fmt.BinStatus(True, 1, 0)),  # type: ignore[arg-type]
        (fmt.encode_tracker, fmt.TrackerStatus(900_000_001, 0, 0, 0, 0)),
        (fmt.encode_tracker, fmt.TrackerStatus(0, 0, 0, 360, 0)),
        (fmt.encode_tracker, fmt.TrackerStatus(0, 0, 0x10000, 0, 0)),
        (fmt.encode_light_status, fmt.LightStatus(True, 101, 0, 0, 0)),
        (fmt.encode_light_status, fmt.LightStatus(True, 1, 0, 2**32, 0)),
        (fmt.encode_light_command, fmt.LightCommand()),
        (fmt.encode_light_command, fmt.LightCommand(interval_min=0)),
        (fmt.encode_light_command, fmt.LightCommand(dim_pct=101)),
    ],
)
def test_encoders_reject_out_of_range(encode: Any, value: Any) -> None:
    with pytest.raises(ValueError):
        encode(value)


@pytest.mark.parametrize(
    ("decode", "data"),
    [
        (fmt.decode_bin, b"\x00" * 6),
        (fmt.decode_tracker, b"\x00" * 16),
        (fmt.decode_light_status, b""),
        (fmt.decode_light_command, b""),
        (fmt.decode_light_command, b"\x09\x01"),
        (fmt.decode_light_command, b"\x03\x00"),
        (fmt.decode_light_command, b"\x01\x10\x01\x20"),
        (fmt.decode_light_command, b"\x02\x02"),
        (fmt.decode_light_command, b"\x01\x65"),
    ],
)
def test_raw_decoders_reject_malformed(decode: Any, data: bytes) -> None:
    with pytest.raises(ValueError):
        decode(data)


def test_command_any_order() -> None:
    assert fmt.decode_light_command(bytes.fromhex("030010" + "0200")) == fmt.LightCommand(None, False, 16)


# ---------------------------------------------------------------- round trips over the whole range

u16 = st.integers(0, 0xFFFF)
bins = st.builds(
    fmt.BinStatus,
    distance_mm=st.none() | st.integers(0, 0xFFFE),
    battery_mv=u16,
    temperature_dc=st.none() | st.integers(-0x7FFF, 0x7FFF),
    tilt=st.booleans(),
    fire=st.booleans(),
    low_battery=st.booleans(),
)
trackers = st.builds(
    fmt.TrackerStatus,
    latitude_e7=st.integers(-900_000_000, 900_000_000),
    longitude_e7=st.integers(-1_800_000_000, 1_800_000_000),
    speed_dkmh=u16,
    heading_deg=st.none() | st.integers(0, 359),
    battery_mv=u16,
    gps_fix=st.booleans(),
    in_motion=st.booleans(),
)
lights = st.builds(
    fmt.LightStatus,
    lamp_on=st.booleans(),
    dim_pct=st.integers(0, 100),
    power_dw=u16,
    energy_wh=st.integers(0, 0xFFFF_FFFF),
    voltage_dv=u16,
    lamp_fault=st.booleans(),
    power_fault=st.booleans(),
)
commands = st.builds(
    fmt.LightCommand,
    dim_pct=st.none() | st.integers(0, 100),
    lamp_on=st.none() | st.booleans(),
    interval_min=st.none() | st.integers(1, 10_080),
).filter(lambda c: dataclasses.astuple(c) != (None, None, None))


def _readings(result: Any) -> dict[str, Any]:
    return {r.key: r.value for r in result.readings}


def _in_range(lo: float, hi: float, v: float) -> bool:
    return lo <= v <= hi


@settings(max_examples=300, deadline=None)
@given(bins, st.floats(0.2, 3.0))
def test_bin_round_trip(s: fmt.BinStatus, depth: float) -> None:
    data = fmt.encode_bin(s)
    assert len(data) == fmt.BIN_SIZE
    assert fmt.decode_bin(data) == s
    r = _readings(dev.decode_bin(data, 10, DeviceContext(metadata={"bin_depth_m": depth})))
    if s.distance_mm is None:
        assert "distance" not in r and "fill_pct" not in r
    else:
        assert r["distance"] == s.distance_mm / 1000
        assert 0 <= r["fill_pct"] <= 100
    assert r["battery_voltage"] == s.battery_mv / 1000
    if s.temperature_dc is not None and _in_range(-90, 200, s.temperature_dc / 10):
        assert r["temperature"] == s.temperature_dc / 10
    else:
        assert "temperature" not in r
    assert (r["tilt_alarm"], r["fire_alarm"]) == (s.tilt, s.fire)
    assert r["status"] == ("low_battery" if s.low_battery else "ok")


@settings(max_examples=300, deadline=None)
@given(trackers)
def test_tracker_round_trip(s: fmt.TrackerStatus) -> None:
    data = fmt.encode_tracker(s)
    assert len(data) == fmt.TRACKER_SIZE
    assert fmt.decode_tracker(data) == s
    r = _readings(dev.decode_tracker(data, 20, DeviceContext()))
    assert (r["gps_fix"], r["in_motion"]) == (s.gps_fix, s.in_motion)
    assert r["battery_voltage"] == s.battery_mv / 1000
    if s.gps_fix:
        assert r["latitude"] == s.latitude_e7 / 1e7
        assert r["longitude"] == s.longitude_e7 / 1e7
        assert r.get("speed") == (s.speed_dkmh / 10 if s.speed_dkmh <= 20_000 else None)
        assert r.get("heading") == s.heading_deg
    else:
        assert not {"latitude", "longitude", "speed", "heading"} & r.keys()


@settings(max_examples=300, deadline=None)
@given(lights)
def test_light_round_trip(s: fmt.LightStatus) -> None:
    data = fmt.encode_light_status(s)
    assert len(data) == fmt.LIGHT_STATUS_SIZE
    assert fmt.decode_light_status(data) == s
    r = _readings(dev.decode_light(data, 30, DeviceContext()))
    assert r == {
        "lamp_on": s.lamp_on,
        "dim_level": s.dim_pct,
        "power": s.power_dw / 10,
        "energy": s.energy_wh / 1000,
        "voltage": s.voltage_dv / 10,
        "lamp_fault": s.lamp_fault,
        "power_fault": s.power_fault,
        "fault": s.lamp_fault or s.power_fault,
    }


@settings(max_examples=300, deadline=None)
@given(commands)
def test_command_round_trip(c: fmt.LightCommand) -> None:
    data = fmt.encode_light_command(c)
    assert 2 <= len(data) <= 7
    assert fmt.decode_light_command(data) == c
    got = dev.decode_light_command(data)
    want: dict[str, Any] = {}
    if c.dim_pct is not None:
        want["dim_level"] = c.dim_pct
    if c.lamp_on is not None:
        want["lamp_on"] = c.lamp_on
    if c.interval_min is not None:
        want["interval"] = c.interval_min * 60
    assert got == want
