"""Decoded objects to readings: lossless, honest units, exact conversions, safe keys."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lorakeet.decoders import network
from lorakeet.decoders.fields import is_reading_key, is_vendor_key, source_path, vendor_key, vendor_key_type
from lorakeet.decoders.objects import readings_from_object
from lorakeet.decoders.types import DeviceContext, FieldRule, Reading, ReadingsBuilder
from lorakeet.decoders.units import convert, name_parts, split_number
from lorakeet.storage.line_protocol import escape_tag


def read(obj: dict[str, object], **kw: object) -> dict[str, tuple[object, str]]:
    b = ReadingsBuilder()
    readings_from_object(obj, b, **kw)  # type: ignore[arg-type]
    return {r.key: (r.value, r.unit) for r in b.result().readings}


# value, unit, vocabulary unit, exact expected (as a fraction of the input)
CONVERSIONS = [
    (2116, "mm", "m", Fraction(2116, 1000)),
    (300, "mm", "m", Fraction(3, 10)),
    (79.2, "cm", "m", Fraction(79.2) / 100),
    (1.5, "km", "m", Fraction(1500)),
    (3384, "mV", "V", Fraction(3384, 1000)),
    (4.88, "mA", "A", Fraction(4.88) / 1000),
    (250, "µA", "A", Fraction(250, 1_000_000)),
    (1110, "Wh", "kWh", Fraction(1110, 1000)),
    (2.5, "MWh", "kWh", Fraction(2500)),
    (1500, "mW", "W", Fraction(15, 10)),
    (2.2, "kW", "W", Fraction(2.2) * 1000),
    (100729, "Pa", "hPa", Fraction(100729, 100)),
    (101.3, "kPa", "hPa", Fraction(101.3) * 10),
    (1013, "mbar", "hPa", Fraction(1013)),
    (1.013, "bar", "hPa", Fraction(1.013) * 1000),
    (10, "m/s", "km/h", Fraction(36)),
    (3, "kn", "km/h", Fraction(3 * 1852, 1000)),
    (60, "mph", "km/h", Fraction(60 * 1_609_344, 1_000_000)),
    (24, "h", "s", Fraction(86400)),
    (15, "min", "s", Fraction(900)),
    (250, "ms", "s", Fraction(1, 4)),
    (500, "ppb", "ppm", Fraction(1, 2)),
    (212, "°F", "°C", Fraction(100)),
    (-40, "°F", "°C", Fraction(-40)),
    (25, "℃", "°C", Fraction(25)),
    (0.00, "°C", "°C", Fraction(0)),
    (92, "%", "%", Fraction(92)),
    (5000, "lux", "lx", Fraction(5000)),
    (2, "kHz", "Hz", Fraction(2000)),
]


@pytest.mark.parametrize(("value", "unit", "to", "exact"), CONVERSIONS)
def test_conversions_are_the_correctly_rounded_exact_value(
    value: float, unit: str, to: str, exact: Fraction
) -> None:
    got = convert(value, unit, to)
    assert got is not None
    assert got == float(exact) or math.isclose(got, float(exact), rel_tol=2**-52)
    if unit in ("mm", "mV", "Wh", "Pa", "kn"):  # one division: exactly the nearest float
        assert got == float(exact)


@pytest.mark.parametrize(("unit", "to"), [("mm", "V"), ("°C", "%"), ("dBm", "V"), ("V", "nonsense")])
def test_no_conversion_across_dimensions(unit: str, to: str) -> None:
    assert convert(1.0, unit, to) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.384 V", (3.384, "V")),
        ("25 ℃", (25.0, "°C")),
        ("0 uS/cm", (0.0, "µS/cm")),
        ("30.11 °C", (30.11, "°C")),
        ("0.00 %", (0.0, "%")),
        ("2799 mm", (2799.0, "mm")),
        ("24 hours", (24.0, "h")),
        ("1 minutes", (1.0, "min")),
        ("-12.5dBm", (-12.5, "dBm")),
        ("0.04 m⋅s⁻¹", (0.04, "m/s")),
        ("10 W⋅m⁻²", (10.0, "W/m²")),
        ("512 µmol⋅m⁻²⋅s⁻¹", (512.0, "µmol/(m²·s)")),
        ("0.31 m³⋅m⁻³", (0.31, "m³/m³")),
        ("7 kg⋅m⁻³", (7.0, "kg⋅m⁻³")),
        ("0.00", (0.0, "")),
        ("6745e27566240008", None),
        ("0xFFFFFFFF", None),
        ("1.0.3.0", None),
        ("> 150 meters", None),
        ("2ACI+2AVI", None),
        ("fe:ec:da:ad:1d:16", None),
        ("2024-01-01T00:00:00Z", None),
        ("No Sensor", None),
        ("3 days ago", None),
    ],
)
def test_numbers_with_units_in_text(text: str, expected: tuple[float, str] | None) -> None:
    assert split_number(text) == expected


@pytest.mark.parametrize(
    ("name", "unit", "words", "channel"),
    [
        ("BatV", "V", ("bat",), None),
        ("TempC_SHT", "°C", ("temp", "sht"), None),
        ("distance_mm", "mm", ("distance",), None),
        ("distance1_cm", "cm", ("distance",), 1),
        ("ACI1_mA", "mA", ("aci",), 1),
        ("AVI1_V", "V", ("avi",), 1),
        ("speedKmph", "km/h", ("speed",), None),
        ("latitudeDeg", "°", ("latitude",), None),
        ("Volt", "V", (), None),
        ("battery_pct", "%", ("battery",), None),
        ("gpsTimeoutSec", "s", ("gps", "timeout"), None),
        ("Channel_A", None, ("channel", "a"), None),  # a one-letter symbol needs its quantity word
        ("Hum_SHT", None, ("hum", "sht"), None),  # a name alone never fixes a unit
        ("batteryVoltage", None, ("battery", "voltage"), None),
        ("distance", None, ("distance",), None),
        ("Vbat", None, ("vbat",), None),
    ],
)
def test_units_in_names(name: str, unit: str | None, words: tuple[str, ...], channel: int | None) -> None:
    p = name_parts(name)
    assert (p.unit, p.words, p.channel) == (unit, words, channel)


def test_lse01_soil_sensor_keeps_every_field_with_its_stated_unit() -> None:
    got = read(
        {
            "Bat": "3.384 V",
            "TempC_DS18B20": "0.00 °C",
            "conduct_SOIL": "0 uS/cm",
            "temp_SOIL": "30.11 °C",
            "water_SOIL": "0.00 %",
        }
    )
    assert got == {
        "battery_voltage": (3.384, "V"),
        "v.TempC_DS18B20": (0.0, "°C"),
        "v.conduct_SOIL": (0.0, "µS/cm"),
        "v.temp_SOIL": (30.11, "°C"),
        "v.water_SOIL": (0.0, "%"),
    }


def test_bare_numbers_are_vendor_fields_without_a_unit() -> None:
    # Milesight WS201 distance in mm, Browan battery in volts: a name is not a unit
    assert read({"distance": 62, "battery": 3.6, "energy": 1110}) == {
        "v.distance": (62.0, ""),
        "v.battery": (3.6, ""),
        "v.energy": (1110.0, ""),
    }


def test_lgt92_flag_does_not_overwrite_the_position() -> None:
    got = read(
        {"LON": True, "latitude": 22.70626, "longitude": 114.24252, "MD": "Move", "ALARM_status": False}
    )
    assert got == {
        "v.LON:bool": (True, ""),
        "v.latitude": (22.70626, ""),
        "v.longitude": (114.24252, ""),
        "v.MD:str": ("Move", ""),
        "v.ALARM_status:bool": (False, ""),
    }


def test_two_sensors_of_one_quantity_never_share_a_key() -> None:
    got = read({"TempC_SHT": 28.29, "TempC_DS": 27.81, "temperature": "21 °C", "temp": "22 °C"})
    assert got == {
        "v.TempC_SHT": (28.29, "°C"),
        "v.TempC_DS": (27.81, "°C"),
        "temperature": (21.0, "°C"),
        "v.temp": (22.0, "°C"),  # the second claim of one quantity stays under its path
    }


def test_value_unit_objects_and_nesting() -> None:
    got = read(
        {
            "battery_voltage": {"displayName": "Battery voltage", "unit": "V", "value": 2.993},
            "distance": {"displayName": "Distance", "unit": "mm", "value": 1234},
            "Active Energy Import T1": {"unit": "Wh", "value": 1810},
            "cached": {"latitudeDeg": -33.9, "speedKmph": 1},
            "gps": [{"lat": 1.5}, {"lat": 2.5}],
            "nothing": None,
            "bytes": {
                "co2": {"unit": "ppm", "values": [420, 421]},
                "temperature": {"unit": "°C", "values": [43.5]},
            },
        }
    )
    assert got == {
        "battery_voltage": (2.993, "V"),
        "v.battery_voltage.displayName:str": ("Battery voltage", ""),
        "distance": (1.234, "m"),
        "v.distance.displayName:str": ("Distance", ""),
        "v.Active~20Energy~20Import~20T1": (1810.0, "Wh"),
        "v.cached.latitudeDeg": (-33.9, "°"),
        "v.cached.speedKmph": (1.0, "km/h"),
        "v.gps.0.lat": (1.5, ""),
        "v.gps.1.lat": (2.5, ""),
        "v.bytes.co2.values.0": (420.0, "ppm"),
        "v.bytes.co2.values.1": (421.0, "ppm"),
        "v.bytes.temperature.values.0": (43.5, "°C"),
    }


def test_unit_and_values_objects_give_each_value_the_unit() -> None:
    # Adeunis codecs: {unit, values: [t=0, t-1, ...]}; a lower-case unit naming one unit only
    got = read(
        {
            "bytes": {
                "deltaPressure": {"unit": "pa", "values": [-500, -250]},
                "co2": {"unit": "ppm", "values": [420]},
            }
        }
    )
    assert got == {
        "v.bytes.deltaPressure.values.0": (-500.0, "Pa"),
        "v.bytes.deltaPressure.values.1": (-250.0, "Pa"),
        "v.bytes.co2.values.0": (420.0, "ppm"),
    }
    # an upper-case spelling is never read as another unit (MW is not mW)
    assert read({"p": {"value": 2, "unit": "MW"}}) == {"v.p": (2.0, "MW")}


def test_a_unit_text_that_is_no_unit_is_kept_as_a_field() -> None:
    assert read({"flow": {"value": 3, "unit": "litres per hour"}}) == {
        "v.flow": (3.0, ""),
        "v.flow.unit:str": ("litres per hour", ""),
    }


def test_out_of_range_keeps_the_value_and_drops_a_unit_read_from_the_name() -> None:
    b = ReadingsBuilder()
    readings_from_object({"BatV": 3062, "Distance": "5000000 mm"}, b)
    res = b.result()
    assert {r.key: (r.value, r.unit) for r in res.readings} == {
        "v.BatV": (3062.0, ""),  # 3062 V is no battery: the name misled, the number is kept
        "v.Distance": (5_000_000.0, "mm"),  # the unit was stated next to the value
    }
    assert len(res.warnings) == 2


def test_types_are_kept_and_non_finite_numbers_left_out_with_a_warning() -> None:
    b = ReadingsBuilder()
    readings_from_object({"n": float("nan"), "big": 2**60, "ok": 1, "s": "x", "f": False}, b)
    res = b.result()
    assert {r.key: r.value for r in res.readings} == {
        "v.big:str": str(2**60),
        "v.ok": 1.0,
        "v.s:str": "x",
        "v.f:bool": False,
    }
    assert any("n:" in w and "finite" in w for w in res.warnings)


def test_unitless_vocabulary_names_and_tts_cayenne_names() -> None:
    got = read(
        {
            "counter": 7,
            "hdop": 1.4,
            "status": "ok",
            "lamp_on": True,
            "temperature_3": 21.5,
            "relative_humidity_1": 40,
        }
    )
    assert got == {
        "counter": (7.0, ""),
        "hdop": (1.4, ""),
        "status": ("ok", ""),
        "lamp_on": (True, ""),
        "temperature_3": (21.5, "°C"),
        "humidity_1": (40.0, "%"),
    }
    # a vocabulary name with a value of another type is a vendor field
    assert read({"status": 1}) == {"v.status": (1.0, "")}


def test_field_map_applies_first_with_scale_and_unit() -> None:
    fm = {
        "distance": FieldRule("distance", "mm"),
        "Hum_SHT": FieldRule("humidity", "%"),
        "t": FieldRule("temperature", "°C", 0.01),
        "Interrupt_flag": FieldRule("interrupt"),
        "bad": FieldRule("nonsense"),
    }
    b = ReadingsBuilder()
    readings_from_object(
        {"distance": 62, "Hum_SHT": 88.6, "t": 2829, "Interrupt_flag": 1, "bad": 3, "temperature": "20 °C"},
        b,
        fm,
    )
    got = {r.key: (r.value, r.unit) for r in b.result().readings}
    assert got == {
        "distance": (0.062, "m"),
        "humidity": (88.6, "%"),
        "temperature": (28.29, "°C"),
        "interrupt": (True, ""),
        "v.bad": (3.0, ""),
        "v.temperature": (20.0, "°C"),  # the mapped field claimed temperature first
    }


def test_normalized_payload_units_from_the_schema() -> None:
    ctx = DeviceContext(
        received_at_ns=1_000,
        network_decoded={"temperature": "21 °C", "x": 1},
        network_normalized=(
            {"air": {"temperature": 21.5, "relativeHumidity": 40, "pressure": 1013.2}, "battery": 3.1},
            {"time": "2024-01-01T00:00:00.5Z", "air": {"temperature": 20.0}, "wind": {"speed": 3.5}},
            {"soil": {"moisture": 30, "ec": 0.4}},
        ),
    )
    res = network.decode(b"", 1, ctx)
    got = {(r.key, r.time_ns): (r.value, r.unit) for r in res.readings}
    assert got == {
        ("temperature", None): (21.5, "°C"),
        ("humidity", None): (40.0, "%"),
        ("pressure", None): (1013.2, "hPa"),
        ("battery_voltage", None): (3.1, "V"),
        ("temperature", 1_704_067_200_500_000_000): (20.0, "°C"),
        ("n.wind.speed", 1_704_067_200_500_000_000): (3.5, "m/s"),
        ("n.2.soil.moisture", None): (30.0, "%"),
        ("n.2.soil.ec", None): (0.4, "dS/m"),
        ("v.temperature", None): (21.0, "°C"),  # the normalized payload claimed temperature
        ("v.x", None): (1.0, ""),
    }


def test_a_native_decoders_keys_come_first_and_nothing_of_the_network_is_lost() -> None:
    from lorakeet.decoders.types import DecodeResult

    native = DecodeResult((Reading("distance", 2.799, "m"),))
    ctx = DeviceContext(network_decoded={"Distance": "2799 mm", "Sensor_flag": 1})
    res = network.with_network(native, ctx)
    assert {r.key: (r.value, r.unit) for r in res.readings} == {
        "distance": (2.799, "m"),
        "v.Distance": (2799.0, "mm"),
        "v.Sensor_flag": (1.0, ""),
    }


@given(
    st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=4), st.sampled_from([float, bool, str])
)
def test_vendor_keys_are_safe_one_to_one_and_typed(path: list[str], kind: type) -> None:
    key = vendor_key(tuple(path), kind)
    assert is_vendor_key(key) and is_reading_key(key)
    assert escape_tag(key) == key  # nothing to escape in line protocol
    assert '"' not in key and "\\" not in key and "'" not in key  # a plain InfluxQL identifier, SQL-safe
    assert vendor_key_type(key) == {float: "float", bool: "bool", str: "str"}[kind]
    if len(key) < 150:
        assert source_path(key) == ".".join(path)


@given(
    st.lists(st.text(max_size=6), min_size=1, max_size=3),
    st.lists(st.text(max_size=6), min_size=1, max_size=3),
)
def test_two_paths_never_share_a_key(a: list[str], b: list[str]) -> None:
    if a != b:
        assert vendor_key(tuple(a)) != vendor_key(tuple(b))
