"""The Netvox device table: report layouts and command names per device type.

Read by :mod:`lorakeet.decoders.netvox`, which documents the frame and the sources.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .types import ReadingsBuilder


@dataclass(frozen=True, slots=True)
class Field:
    """One numeric field of a report body.

    ``offset`` counts from the first body byte (frame byte 3). The raw integer is
    divided by ``scale`` (giving the vendor's value) and multiplied by ``factor``
    (giving our unit). A raw value equal to ``absent`` means "no sensor / no data".
    """

    name: str
    offset: int
    size: int
    quantity: str | None
    scale: float = 1.0
    factor: float = 1.0
    signed: bool = False
    channel: int | None = None
    absent: int | None = None


@dataclass(frozen=True, slots=True)
class Flag:
    """A one-byte on/off field: raw 0 -> False, 1 -> True, anything else warns."""

    name: str
    offset: int
    quantity: str


Special = Callable[[ReadingsBuilder, bytes], None]


@dataclass(frozen=True, slots=True)
class Layout:
    """The body layout of one report type."""

    fields: tuple[Field | Flag, ...] = ()
    battery: bool = True
    special: Special | None = None


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A Netvox device type: its model name, report layouts and command names."""

    model: str
    device_type: int
    reports: Mapping[int, Layout]
    commands: Mapping[int, str]


_COMMON_COMMANDS = {0x81: "ConfigReportRsp", 0x82: "ReadConfigReportRsp"}

_NO_DATA_16 = 0xFFFF
_NO_DATA_32 = 0xFFFFFFFF


def _u(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _s(data: bytes) -> int:
    return int.from_bytes(data, "big", signed=True)


def _r809a_alarms(b: ReadingsBuilder, body: bytes) -> None:
    over_current, dash_current, power_off = body[5] != 0, body[6] != 0, body[7] != 0
    b.add("fault", over_current or dash_current)
    b.add("power_fault", power_off)
    for active, what in (
        (over_current, "over-current"),
        (dash_current, "inrush (dash) current"),
        (power_off, "power-off"),
    ):
        if active:
            b.warn(f"{what} alarm")


def _r718nl1_current(b: ReadingsBuilder, body: bytes) -> None:
    multiplier = body[3] or 1
    b.add("current", _u(body[1:3]) * multiplier / 1000)


def _r720g_position(axis: str) -> Special:
    def emit(b: ReadingsBuilder, body: bytes) -> None:
        raw = _u(body[1:5])
        if raw == _NO_DATA_32:
            b.add("gps_fix", False)
            b.warn(f"{axis}: no GPS fix")
            return
        b.add("gps_fix", True)
        b.add(axis, _s(body[1:5]) / 1e6)

    return emit


_TILT = tuple(
    Field(f"Angle{axis}", 5 + i, 1, "tilt", signed=True, channel=i + 1) for i, axis in enumerate("XYZ")
)


def _r726(*fields: Field) -> Layout:
    return Layout(fields)


def _f16(
    name: str,
    offset: int,
    quantity: str | None,
    scale: float = 1,
    signed: bool = False,
    channel: int | None = None,
) -> Field:
    return Field(name, offset, 2, quantity, scale, signed=signed, channel=channel, absent=_NO_DATA_16)


DEVICES: dict[int, DeviceSpec] = {
    spec.device_type: spec
    for spec in (
        DeviceSpec(
            "R718PE",
            0xB1,
            {
                0x01: Layout(
                    (
                        Field("Distance", 2, 2, "distance", factor=1e-3),
                        Field("FillLevel", 4, 1, "fill_pct"),
                    ),
                    special=lambda b, body: b.add("status", "ON" if body[1] else "OFF"),
                )
            },
            {
                0x83: "SetOnDistanceThresholdRsp",
                0x84: "GetOnDistanceThresholdRsp",
                0x85: "SetFillMaxDistanceRsp",
                0x86: "GetFillMaxDistanceRsp",
                0x8B: "SetDeadZoneDistanceRsp",
                0x8C: "GetDeadZoneDistanceRsp",
            },
        ),
        DeviceSpec(
            "R720G",
            0xB5,
            {
                0x01: Layout((Field("Latitude", 1, 4, None), *_TILT), special=_r720g_position("latitude")),
                0x02: Layout(
                    (
                        Field("Longitude", 1, 4, None),
                        Field("HDop", 5, 1, "hdop"),
                        Field("AltitudeGPS", 6, 2, "altitude", signed=True),
                    ),
                    special=_r720g_position("longitude"),
                ),
            },
            {0x83: "SetActiveThresholdRsp", 0x84: "GetActiveThresholdRsp"},
        ),
        DeviceSpec(
            "R718NL1",
            0x98,
            {
                0x01: Layout(
                    (
                        Field("Current", 1, 2, None),
                        Field("Multiplier", 3, 1, None),
                        Field("Illuminance", 4, 4, "illuminance"),
                    ),
                    special=_r718nl1_current,
                )
            },
            {},
        ),
        DeviceSpec(
            "R809A",
            0x0E,
            {
                0x01: Layout(
                    (Flag("OnOff", 0, "relay"), Field("Energy", 1, 4, "energy", factor=1e-3)),
                    battery=False,
                    special=_r809a_alarms,
                ),
                0x02: Layout(
                    (
                        Field("Vol", 0, 2, "voltage"),
                        Field("Current", 2, 2, "current", factor=1e-3),
                        Field("Power", 4, 2, "power"),
                    ),
                    battery=False,
                ),
            },
            {},
        ),
        DeviceSpec(
            "R831A",
            0xB2,
            {0x01: Layout((Flag("MotorStatus", 0, "relay"),), battery=False)},
            {0x83: "SetSwitchTypeRsp", 0x84: "GetSwitchTypeRsp"},
        ),
        DeviceSpec(
            "R718G",
            0x1E,
            {0x01: Layout((Field("Illuminance", 1, 4, "illuminance"),))},
            {0x83: "SetSunlightSampleRangeRsp", 0x84: "GetSunlightSampleRangeRsp"},
        ),
        DeviceSpec(
            "R726 series",
            0x09,
            {
                0x01: _r726(_f16("PM1_0", 1, None), _f16("PM2_5", 3, None), _f16("PM10", 5, None)),
                0x02: _r726(_f16("PM1_0", 1, None), _f16("PM2_5", 3, None), _f16("PM10", 5, None)),
                0x03: _r726(_f16("um0_3", 1, None), _f16("um0_5", 3, None), _f16("um1_0", 5, None)),
                0x04: _r726(_f16("um2_5", 1, None), _f16("um5_0", 3, None), _f16("um10", 5, None)),
                0x05: _r726(_f16("O3", 1, None, 10), _f16("CO", 3, None, 10), _f16("NO", 5, None, 10)),
                0x06: _r726(_f16("NO2", 1, None, 10), _f16("SO2", 3, None, 10), _f16("H2S", 5, None, 10)),
                0x07: _r726(_f16("CO2", 1, "co2", 10), _f16("NH3", 3, None, 10), _f16("Noise", 5, None, 10)),
                0x08: _r726(
                    _f16("PH", 1, None, 100),
                    _f16("TempPH", 3, "temperature", 100, signed=True, channel=8),
                    _f16("ORP", 5, None, signed=True),
                ),
                0x09: _r726(
                    _f16("NTU", 1, None, 10),
                    _f16("TempNTU", 3, "temperature", 100, signed=True, channel=9),
                    _f16("EC5SoildHumi", 5, None, 100),
                ),
                0x0A: _r726(
                    _f16("SoildHumi5TE", 1, None, 100),
                    _f16("SoildTemp5TE", 3, "temperature", 100, signed=True, channel=10),
                    _f16("WaterLevel", 5, None),
                    Field("EC5TE", 7, 1, None, 10, absent=0xFF),
                ),
                0x0B: _r726(
                    _f16("TempLDO", 1, "temperature", 100, signed=True, channel=11),
                    _f16("LDO_DO", 3, None, 100),
                    _f16("LDO_Sat", 5, None, 10),
                ),
                0x0C: _r726(
                    _f16("Temperature", 1, "temperature", 100, signed=True),
                    _f16("Humidity", 3, "humidity", 100),
                    _f16("WindSpeed", 5, None, 100),
                ),
                0x0D: _r726(
                    _f16("WindDirection", 1, "direction"),
                    Field("Atomsphere", 3, 4, "pressure", 100, absent=_NO_DATA_32),
                ),
                0x0E: _r726(_f16("VOC", 1, None, 10)),
            },
            {},
        ),
    )
}

MODELS: dict[str, DeviceSpec] = {spec.model: spec for spec in DEVICES.values()}
