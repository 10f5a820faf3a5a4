"""Netvox LoRaWAN devices: the common report format, decoded generically.

Devices: R718PE (distance / fill level), R720G (GPS tracker), R718NL1 (current meter
with light sensor), R809A (smart plug), R831A (relay / motor controller), R718G (light
sensor) and the R726 series (R72615A air and water quality station).

Spec: Netvox "LoRaWAN Application Command" documents (one per device; firmware with
application command version 0x01, i.e. report version byte 0x01), which share one frame:

f_port 6, report (11 bytes)::

    [version=0x01][device type][report type][report body: 8 bytes]

Report type 0x00 is the startup version report (software version x10, hardware
version, BCD date code); every other report type's body is device specific and is
described here as a table keyed by (device type, report type) -> field layout.
On battery devices the first body byte is the battery: bits 0-6 voltage in 0.1 V,
bit 7 the low-battery flag.

f_port 7, configuration command responses::

    [command id][device type][body]

0x81 ConfigReportRsp (status 0x00 = success), 0x82 ReadConfigReportRsp (MinTime,
MaxTime in s, then device specific thresholds); higher command ids are device
specific set (status byte) or get (threshold) responses. Thresholds are settings, not
measurements, so only the reporting interval (MaxTime -> ``interval``) and a
``status`` word are stored from port 7.

Mapping choices: R720G tilt angles X/Y/Z -> ``tilt_1``/``tilt_2``/``tilt_3``;
R726 probe temperatures -> ``temperature_<report type>``; fields without a quantity
(particulate matter, gases other than CO2, pH, turbidity, date code ...) are not stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import DecodeError, PayloadFormatError, TruncatedPayloadError, UnsupportedPortError
from .types import Decoder, DecodeResult, DeviceContext, ReadingsBuilder

REPORT_PORT = 6
CONFIG_PORT = 7
REPORT_VERSION = 0x01
REPORT_SIZE = 11  # every report, startup included, is 11 bytes
STARTUP_REPORT = 0x00


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


def _need(payload: bytes, n: int, what: str) -> None:
    if len(payload) < n:
        raise TruncatedPayloadError(n, len(payload), what)


def _spec(device_type: int) -> DeviceSpec:
    spec = DEVICES.get(device_type)
    if spec is None:
        raise PayloadFormatError(f"unknown Netvox device type 0x{device_type:02x}")
    return spec


def _battery(b: ReadingsBuilder, raw: int) -> None:
    b.add("battery_voltage", (raw & 0x7F) / 10)
    if raw & 0x80:
        b.warn("low battery")


def _field(b: ReadingsBuilder, f: Field | Flag, body: bytes) -> None:
    if isinstance(f, Flag):
        raw = body[f.offset]
        if raw > 1:
            b.warn(f"{f.name}: unknown state {raw}")
        else:
            b.add(f.quantity, raw == 1)
        return
    if f.quantity is None:
        return
    data = body[f.offset : f.offset + f.size]
    if f.absent is not None and _u(data) == f.absent:
        b.warn(f"{f.name}: no sensor")
        return
    raw = _s(data) if f.signed else _u(data)
    b.add(f.quantity, raw / f.scale * f.factor, f.channel)


def _startup(b: ReadingsBuilder, payload: bytes) -> None:
    _need(payload, REPORT_SIZE, "Netvox startup report")
    b.add("firmware_version", f"{payload[3] / 10:g}")
    b.add("status", f"startup hw {payload[4]} date {payload[5:9].hex()}")


def _report(b: ReadingsBuilder, payload: bytes, spec: DeviceSpec) -> None:
    version, report_type = payload[0], payload[2]
    if version != REPORT_VERSION:
        raise PayloadFormatError(f"unknown Netvox report version 0x{version:02x}")
    if report_type == STARTUP_REPORT:
        _startup(b, payload)
        return
    layout = spec.reports.get(report_type)
    if layout is None:
        raise PayloadFormatError(f"unknown {spec.model} report type 0x{report_type:02x}")
    _need(payload, REPORT_SIZE, f"{spec.model} report 0x{report_type:02x}")
    body = payload[3:]
    if layout.battery:
        _battery(b, body[0])
    for f in layout.fields:
        _field(b, f, body)
    if layout.special is not None:
        layout.special(b, body)


def _config(b: ReadingsBuilder, payload: bytes, spec: DeviceSpec) -> None:
    cmd = payload[0]
    name = _COMMON_COMMANDS.get(cmd) or spec.commands.get(cmd)
    if name is None:
        raise PayloadFormatError(f"unknown {spec.model} command response 0x{cmd:02x}")
    if cmd == 0x82:
        _need(payload, 6, f"{spec.model} {name}")
        b.add("status", name)
        b.add("interval", _u(payload[4:6]))
    elif cmd % 2:  # odd ids answer "set" commands with a status byte
        _need(payload, 3, f"{spec.model} {name}")
        b.add("status", f"{name}: {'Success' if payload[2] == 0 else 'Failure'}")
    else:  # "get" responses carry settings only
        b.add("status", name)


def _decode(payload: bytes, f_port: int, expected: DeviceSpec | None) -> DecodeResult:
    if f_port not in (REPORT_PORT, CONFIG_PORT):
        raise UnsupportedPortError(f_port, "netvox")
    _need(payload, 3 if f_port == REPORT_PORT else 2, "Netvox frame")
    b = ReadingsBuilder()
    spec = _spec(payload[1])
    if expected is not None and spec is not expected:
        b.warn(f"payload is from a {spec.model}, not a {expected.model}")
    if f_port == REPORT_PORT:
        _report(b, payload, spec)
    else:
        _config(b, payload, spec)
    return b.result()


def decode(payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
    """Decode any known Netvox device's report (port 6) or command response (port 7)."""
    try:
        return _decode(payload, f_port, None)
    except DecodeError:
        raise
    except (IndexError, ValueError, KeyError) as exc:  # pragma: no cover - defensive
        raise PayloadFormatError(f"Netvox payload not decodable: {exc}") from exc


def decoder_for(model: str) -> Decoder:
    """A decoder for one Netvox model that warns when the payload names another model."""
    spec = MODELS[model]

    def decode_model(payload: bytes, f_port: int, ctx: DeviceContext, /) -> DecodeResult:
        try:
            return _decode(payload, f_port, spec)
        except DecodeError:
            raise
        except (IndexError, ValueError, KeyError) as exc:  # pragma: no cover - defensive
            raise PayloadFormatError(f"Netvox payload not decodable: {exc}") from exc

    decode_model.__doc__ = f"Decode a Netvox {model} payload."
    return decode_model
