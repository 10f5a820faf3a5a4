"""Envelope parsing: TTS v3 and ChirpStack v4 JSON in, one frozen :class:`Uplink` out.

The Things Stack omits empty fields (``f_cnt: 0`` is absent), sends ``frequency`` as a
string, moved ``coding_rate`` into ``data_rate.lora`` and may drop ``decoded_payload``;
these models accept all of that. MQTT and webhooks carry the same body.

Other events on the same subscription (join, down/*, service/data, location/solved)
parse to :class:`OtherEvent` so the caller can log and skip them.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lorakeet.storage.records import ID_PATTERN, DeviceModel, Uplink, is_valid_id
from lorakeet.timefmt import parse_rfc3339_ns

from .validate import EnvelopeError, OutOfRange, check_bandwidth

__all__ = ["EnvelopeError", "OtherEvent", "OutOfRange", "parse_chirpstack", "parse_tts"]


@dataclass(frozen=True, slots=True)
class OtherEvent:
    """A recognised non-uplink event (join, downlink status, location, ...)."""

    kind: str
    application_id: str
    device_id: str


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# --- The Things Stack v3 ---------------------------------------------------------------


class _TtsAppIds(_Model):
    application_id: str = Field(pattern=ID_PATTERN)


class _TtsDeviceIds(_Model):
    device_id: str = Field(pattern=ID_PATTERN)
    application_ids: _TtsAppIds
    dev_eui: str | None = None


class _TtsGatewayIds(_Model):
    gateway_id: str = ""


class _TtsRx(_Model):
    gateway_ids: _TtsGatewayIds = _TtsGatewayIds()
    rssi: float | None = None
    channel_rssi: float | None = None
    snr: float | None = None
    time: str | None = None


class _TtsLora(_Model):
    spreading_factor: int | None = None
    bandwidth: int | None = None


class _TtsDataRate(_Model):
    lora: _TtsLora | None = None


class _TtsSettings(_Model):
    data_rate: _TtsDataRate | None = None
    frequency: int | None = None  # a JSON string in TTS; pydantic's lax mode converts it


class _TtsUplinkMessage(_Model):
    f_port: int = Field(0, ge=0, le=255)
    f_cnt: int = Field(0, ge=0)
    frm_payload: str = ""
    decoded_payload: dict[str, Any] | None = None
    rx_metadata: list[_TtsRx] = []
    settings: _TtsSettings | None = None
    received_at: str | None = None
    version_ids: Any = None


_TTS_OTHER_EVENTS = (
    "join_accept",
    "downlink_ack",
    "downlink_nack",
    "downlink_sent",
    "downlink_failed",
    "downlink_queued",
    "downlink_queue_invalidated",
    "location_solved",
    "service_data",
    "uplink_normalized",
)


class TtsApplicationUp(_Model):
    """The Things Stack v3 ``ApplicationUp`` as published on MQTT and POSTed by webhooks."""

    end_device_ids: _TtsDeviceIds
    received_at: str | None = None
    uplink_message: _TtsUplinkMessage | None = None
    join_accept: dict[str, Any] | None = None
    downlink_ack: dict[str, Any] | None = None
    downlink_nack: dict[str, Any] | None = None
    downlink_sent: dict[str, Any] | None = None
    downlink_failed: dict[str, Any] | None = None
    downlink_queued: dict[str, Any] | None = None
    downlink_queue_invalidated: dict[str, Any] | None = None
    location_solved: dict[str, Any] | None = None
    service_data: dict[str, Any] | None = None
    uplink_normalized: dict[str, Any] | None = None


def _b64(text: str) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeError(f"payload is not valid base64: {exc}") from exc


def _time_ns(*candidates: str | None) -> tuple[int, bool]:
    for c in candidates:
        if c:
            try:
                return parse_rfc3339_ns(c), True
            except (ValueError, OverflowError) as exc:
                raise EnvelopeError(str(exc)) from exc
    return 0, False


_VERSION_KEYS = ("brand_id", "model_id", "hardware_version", "firmware_version", "band_id")


def _id_text(value: object) -> str | None:
    """A short printable string, else None: a model id never rejects an uplink."""
    if type(value) is str and 0 < len(value) <= 100 and value.isprintable():
        return value
    return None


def version_model(ids: object) -> DeviceModel | None:
    """TTS ``version_ids`` as a DeviceModel; unusable entries are left out, never an error."""
    if type(ids) is not dict:
        return None
    found = [_id_text(ids.get(k)) for k in _VERSION_KEYS]
    return DeviceModel(*found) if any(found) else None


def profile_model(info: _CsDeviceInfo) -> DeviceModel | None:
    """ChirpStack's device profile and the device's tags (``brand_id``/``model_id``)."""
    tags = info.tags if isinstance(info.tags, dict) else {}

    def tag(*names: str) -> str | None:
        return next((v for v in (_id_text(tags.get(n)) for n in names) if v), None)

    model = DeviceModel(
        brand_id=tag("brand_id", "brand", "vendor"),
        model_id=tag("model_id", "model"),
        hardware_version=tag("hardware_version"),
        firmware_version=tag("firmware_version"),
        band_id=tag("band_id"),
        profile_name=_id_text(info.deviceProfileName),
        profile_id=_id_text(info.deviceProfileId),
    )
    return model if any(model) else None


def _tts_uplink(up: TtsApplicationUp, source: str) -> Uplink | OtherEvent:
    ids = up.end_device_ids
    app = ids.application_ids.application_id
    msg = up.uplink_message
    if msg is None:
        for kind in _TTS_OTHER_EVENTS:
            if getattr(up, kind) is not None:
                return OtherEvent(kind, app, ids.device_id)
        return OtherEvent("unknown", app, ids.device_id)
    rx = msg.rx_metadata
    first_rx = rx[0] if rx else None
    received_at_ns, from_network = _time_ns(
        up.received_at, msg.received_at, first_rx.time if first_rx else None
    )
    settings = msg.settings
    lora = settings.data_rate.lora if settings and settings.data_rate else None
    check_bandwidth(lora.bandwidth if lora else None)
    best = max(rx, key=lambda r: r.snr if r.snr is not None else -99.0, default=None)
    return Uplink(
        source=source,
        application_id=app,
        device_id=ids.device_id,
        received_at_ns=received_at_ns,
        f_port=msg.f_port,
        f_cnt=msg.f_cnt,
        payload=_b64(msg.frm_payload),
        dev_eui=ids.dev_eui.lower() if ids.dev_eui else None,
        rssi=(best.rssi if best.rssi is not None else best.channel_rssi) if best else None,
        snr=best.snr if best else None,
        spreading_factor=lora.spreading_factor if lora else None,
        frequency=settings.frequency if settings else None,
        gateways=tuple(dict.fromkeys(r.gateway_ids.gateway_id for r in rx if r.gateway_ids.gateway_id)),
        network_decoded=msg.decoded_payload,
        time_from_network=from_network,
        device_model=version_model(msg.version_ids),
    )


def _str_id(value: object) -> str:
    if type(value) is not str or not is_valid_id(value):
        raise _NotFast
    return value


def _opt_num(value: object) -> float | None:
    if value is None:
        return None
    if type(value) is float or type(value) is int:
        return float(value)
    raise _NotFast


class _NotFast(Exception):
    """The body is not the plain, well-typed uplink the fast path handles."""


def _fast_tts(body: bytes | bytearray | str, source: str) -> Uplink:
    """Well-formed uplinks without pydantic (about 2.5x faster); anything unusual raises _NotFast.

    Every check the pydantic models make is made here or sends the body to them, so both
    paths give the same Uplink (tests/test_envelopes.py checks parity).
    """
    try:
        d = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _NotFast from None
    if type(d) is not dict:
        raise _NotFast
    msg, ids = d.get("uplink_message"), d.get("end_device_ids")
    if type(msg) is not dict or type(ids) is not dict:
        raise _NotFast
    app_ids = ids.get("application_ids")
    if type(app_ids) is not dict:
        raise _NotFast
    app, dev = _str_id(app_ids.get("application_id")), _str_id(ids.get("device_id"))
    f_port, f_cnt = msg.get("f_port", 0), msg.get("f_cnt", 0)
    if type(f_port) is not int or not 0 <= f_port <= 255 or type(f_cnt) is not int or f_cnt < 0:
        raise _NotFast
    rx = msg.get("rx_metadata", ())
    if type(rx) is not list:
        raise _NotFast
    best: dict[str, Any] | None = None
    best_rank, best_snr = -99.0, None
    gateways: list[str] = []
    for r in rx:
        if type(r) is not dict:
            raise _NotFast
        snr = _opt_num(r.get("snr"))
        rank = snr if snr is not None else -99.0
        if best is None or rank > best_rank:
            best, best_rank, best_snr = r, rank, snr
        gw_ids = r.get("gateway_ids", {})
        gw = gw_ids.get("gateway_id", "") if type(gw_ids) is dict else None
        if type(gw) is not str:
            raise _NotFast
        if gw and gw not in gateways:
            gateways.append(gw)
    settings = msg.get("settings", {})
    if type(settings) is not dict:
        raise _NotFast
    data_rate = settings.get("data_rate", {})
    lora = data_rate.get("lora", {}) if type(data_rate) is dict else None
    if type(lora) is not dict:
        raise _NotFast
    sf, freq, bw = lora.get("spreading_factor"), settings.get("frequency"), lora.get("bandwidth")
    if (sf is not None and type(sf) is not int) or (freq is not None and type(freq) is not str):
        raise _NotFast
    if (freq is not None and not (freq.isascii() and freq.isdigit())) or (
        bw is not None and type(bw) is not int
    ):
        raise _NotFast
    check_bandwidth(bw)
    decoded, eui, payload = msg.get("decoded_payload"), ids.get("dev_eui"), msg.get("frm_payload", "")
    if (decoded is not None and type(decoded) is not dict) or (eui is not None and type(eui) is not str):
        raise _NotFast
    if type(payload) is not str:
        raise _NotFast
    first_time = rx[0].get("time") if rx else None
    times = (d.get("received_at"), msg.get("received_at"), first_time)
    if any(t is not None and type(t) is not str for t in times):
        raise _NotFast
    received_at_ns, from_network = _time_ns(*times)
    rssi = None
    if best is not None:
        rssi = _opt_num(best.get("rssi"))
        if rssi is None:
            rssi = _opt_num(best.get("channel_rssi"))
    return Uplink(
        source,
        app,
        dev,
        received_at_ns,
        f_port,
        f_cnt,
        _b64(payload),
        eui.lower() if eui else None,
        rssi,
        best_snr,
        sf,
        int(freq) if freq else None,
        tuple(gateways),
        decoded,
        from_network,
        version_model(msg.get("version_ids")),
    )


def parse_tts(body: bytes | bytearray | str, source: str = "ttn") -> Uplink | OtherEvent:
    """Parse a TTS v3 message body; raises EnvelopeError."""
    try:
        return _fast_tts(body, source)
    except _NotFast:
        return parse_tts_validated(body, source)


def parse_tts_validated(body: bytes | bytearray | str, source: str = "ttn") -> Uplink | OtherEvent:
    """Parse with the pydantic models only (events, unusual types, precise errors)."""
    try:
        up = TtsApplicationUp.model_validate_json(body)
    except ValidationError as exc:
        raise EnvelopeError(_summary(exc)) from exc
    return _tts_uplink(up, source)


# --- ChirpStack v4 ---------------------------------------------------------------------


class _CsDeviceInfo(_Model):
    applicationId: str = Field(pattern=ID_PATTERN)
    devEui: str = Field(pattern=r"^[0-9A-Fa-f]{16}$")
    deviceName: str | None = None
    deviceProfileId: Any = None
    deviceProfileName: Any = None
    tags: Any = None


class _CsRx(_Model):
    gatewayId: str = ""
    rssi: float | None = None
    snr: float | None = None
    nsTime: str | None = None


class _CsLora(_Model):
    spreadingFactor: int | None = None
    bandwidth: int | None = None


class _CsModulation(_Model):
    lora: _CsLora | None = None


class _CsTxInfo(_Model):
    frequency: int | None = None
    modulation: _CsModulation | None = None


class ChirpStackUp(_Model):
    """ChirpStack v4 ``UplinkEvent`` (protobuf JSON, camelCase)."""

    deviceInfo: _CsDeviceInfo
    time: str | None = None
    fCnt: int = Field(0, ge=0)
    fPort: int = Field(0, ge=0, le=255)
    data: str = ""
    object: dict[str, Any] | None = None
    rxInfo: list[_CsRx] = []
    txInfo: _CsTxInfo | None = None


def parse_chirpstack(body: bytes | bytearray | str, event: str = "up") -> Uplink | OtherEvent:
    """Parse a ChirpStack v4 event body for ``event`` (from the topic); raises EnvelopeError."""
    if event != "up":
        try:
            info = _CsEventOnly.model_validate_json(body).deviceInfo
        except ValidationError as exc:
            raise EnvelopeError(_summary(exc)) from exc
        return OtherEvent(event, info.applicationId, info.devEui.lower())
    try:
        up = ChirpStackUp.model_validate_json(body)
    except ValidationError as exc:
        raise EnvelopeError(_summary(exc)) from exc
    info = up.deviceInfo
    rx = up.rxInfo
    best = max(rx, key=lambda r: r.snr if r.snr is not None else -99.0, default=None)
    received_at_ns, from_network = _time_ns(up.time, rx[0].nsTime if rx else None)
    tx = up.txInfo
    lora = tx.modulation.lora if tx and tx.modulation else None
    check_bandwidth(lora.bandwidth if lora else None)
    return Uplink(
        source="chirpstack",
        application_id=info.applicationId,
        device_id=info.devEui.lower(),
        received_at_ns=received_at_ns,
        f_port=up.fPort,
        f_cnt=up.fCnt,
        payload=_b64(up.data),
        dev_eui=info.devEui.lower(),
        rssi=best.rssi if best else None,
        snr=best.snr if best else None,
        spreading_factor=lora.spreadingFactor if lora else None,
        frequency=tx.frequency if tx else None,
        gateways=tuple(dict.fromkeys(r.gatewayId for r in rx if r.gatewayId)),
        network_decoded=up.object,
        time_from_network=from_network,
        device_model=profile_model(info),
    )


class _CsEventOnly(_Model):
    deviceInfo: _CsDeviceInfo


def _summary(exc: ValidationError) -> str:
    errs = exc.errors(include_url=False)
    first = errs[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    more = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
    return f"{where}: {first['msg']}{more}"
