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
described here as a table keyed by (device type, report type) -> field layout
(:mod:`lorakeet.decoders.netvox_models`).

Degrading gracefully: a device type not in the table still has its startup report and
its common command responses (0x81, 0x82) read, with a warning; its other reports raise
(their layout is device specific). A known battery device's unknown report type gives
its battery (the first body byte of every report of such a device) and a warning.
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

from .errors import DecodeError, PayloadFormatError, TruncatedPayloadError, UnsupportedPortError
from .netvox_models import _COMMON_COMMANDS, DEVICES, MODELS, DeviceSpec, Field, Flag, Layout, _s, _u
from .types import Decoder, DecodeResult, DeviceContext, ReadingsBuilder

__all__ = ["DEVICES", "MODELS", "DeviceSpec", "Field", "Flag", "Layout", "decode", "decoder_for"]

REPORT_PORT = 6
CONFIG_PORT = 7
REPORT_VERSION = 0x01
REPORT_SIZE = 11  # every report, startup included, is 11 bytes
STARTUP_REPORT = 0x00


def _need(payload: bytes, n: int, what: str) -> None:
    if len(payload) < n:
        raise TruncatedPayloadError(n, len(payload), what)


def _spec(b: ReadingsBuilder, device_type: int) -> DeviceSpec:
    """The device type's spec; an unknown type gets an empty one (common layouts only), with a warning."""
    spec = DEVICES.get(device_type)
    if spec is None:
        spec = DeviceSpec(f"device type 0x{device_type:02x}", device_type, {}, {})
        b.warn(f"unknown Netvox device type 0x{device_type:02x}: only the common report layouts are read")
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
        _unknown_report(b, payload, spec, report_type)
        return
    _need(payload, REPORT_SIZE, f"{spec.model} report 0x{report_type:02x}")
    body = payload[3:]
    if layout.battery:
        _battery(b, body[0])
    for f in layout.fields:
        _field(b, f, body)
    if layout.special is not None:
        layout.special(b, body)


def _unknown_report(b: ReadingsBuilder, payload: bytes, spec: DeviceSpec, report_type: int) -> None:
    """A report type the table lacks: a battery device's first body byte is still its battery."""
    what = f"unknown {spec.model} report type 0x{report_type:02x}"
    if not spec.reports or not all(layout.battery for layout in spec.reports.values()):
        raise PayloadFormatError(f"{what}: its layout is device specific; not read")
    _need(payload, REPORT_SIZE, f"{spec.model} report 0x{report_type:02x}")
    _battery(b, payload[3])
    b.warn(f"{what}: only the battery read (the rest of its layout is not known)")


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
    spec = _spec(b, payload[1])
    if expected is not None and spec is not expected:
        b.warn(f"payload is from a {spec.model}, not a {expected.model}")
    if f_port == REPORT_PORT:
        _report(b, payload, spec)
        if len(payload) > REPORT_SIZE:
            b.warn(f"{len(payload) - REPORT_SIZE} byte(s) after the 11-byte report ignored")
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
