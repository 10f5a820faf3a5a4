"""Envelope parsing: TTS v3 and ChirpStack v4 JSON in, one frozen :class:`Uplink` out.

This module parses The Things Stack's envelopes and re-exports the ChirpStack parser
(:mod:`.chirpstack_envelope`); what both share is in :mod:`.envelope_common`, the ranges
every uplink is checked against in :mod:`.validate`.

The Things Stack omits empty fields (``f_cnt: 0`` is absent), sends ``frequency`` as a
string, moved ``coding_rate`` into ``data_rate.lora`` and may drop ``decoded_payload``;
these models accept all of that. MQTT and webhooks carry the same body.

Other events on the same subscription (join, down/*, service/data, location/solved)
parse to :class:`OtherEvent` so the caller can log and skip them.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import Field, ValidationError

from lorakeet.ids import ID_PATTERN, is_dev_eui, is_valid_id
from lorakeet.storage.records import DeviceModel, Uplink

from .chirpstack_envelope import ChirpStackUp, parse_chirpstack, profile_model
from .envelope_common import Model, OtherEvent, b64, id_text, summary, time_ns
from .validate import EnvelopeError, OutOfRange, check_bandwidth

_tuple_new = tuple.__new__  # a NamedTuple from all its fields in one C call (per uplink)
assert len(Uplink._fields) == 17, "_fast_tts builds an Uplink from every one of its fields"

__all__ = [
    "ChirpStackUp",
    "EnvelopeError",
    "OtherEvent",
    "OutOfRange",
    "parse_chirpstack",
    "parse_tts",
    "parse_tts_validated",
    "profile_model",
    "version_model",
]


# --- The Things Stack v3 ---------------------------------------------------------------


class _TtsAppIds(Model):
    application_id: str = Field(pattern=ID_PATTERN)


class _TtsDeviceIds(Model):
    device_id: str = Field(pattern=ID_PATTERN)
    application_ids: _TtsAppIds
    dev_eui: str | None = None


class _TtsGatewayIds(Model):
    gateway_id: str = ""


class _TtsRx(Model):
    gateway_ids: _TtsGatewayIds = _TtsGatewayIds()
    rssi: float | None = None
    channel_rssi: float | None = None
    snr: float | None = None
    time: str | None = None


class _TtsLora(Model):
    spreading_factor: int | None = None
    bandwidth: int | None = None


class _TtsDataRate(Model):
    lora: _TtsLora | None = None


class _TtsSettings(Model):
    data_rate: _TtsDataRate | None = None
    frequency: int | None = None  # a JSON string in TTS; pydantic's lax mode converts it


class _TtsUplinkMessage(Model):
    f_port: int = Field(0, ge=0, le=255)
    f_cnt: int = Field(0, ge=0)
    frm_payload: str = ""
    decoded_payload: dict[str, Any] | None = None
    normalized_payload: list[dict[str, Any]] | None = None
    rx_metadata: list[_TtsRx] = Field(default_factory=list)
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


class TtsApplicationUp(Model):
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


_VERSION_KEYS = ("brand_id", "model_id", "hardware_version", "firmware_version", "band_id")


def version_model(ids: object) -> DeviceModel | None:
    """TTS ``version_ids`` as a DeviceModel; unusable entries are left out, never an error."""
    if type(ids) is not dict:
        return None
    found = [id_text(ids.get(k)) for k in _VERSION_KEYS]
    return DeviceModel(*found) if any(found) else None


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
    received_at_ns, from_network = time_ns(
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
        payload=b64(msg.frm_payload),
        dev_eui=_eui(ids.dev_eui),
        rssi=(best.rssi if best.rssi is not None else best.channel_rssi) if best else None,
        snr=best.snr if best else None,
        spreading_factor=lora.spreading_factor if lora else None,
        frequency=settings.frequency if settings else None,
        gateways=tuple(dict.fromkeys(r.gateway_ids.gateway_id for r in rx if r.gateway_ids.gateway_id)),
        network_decoded=msg.decoded_payload,
        time_from_network=from_network,
        device_model=version_model(msg.version_ids),
        network_normalized=tuple(msg.normalized_payload) if msg.normalized_payload else None,
    )


_IDS_SEEN: set[str] = set()
"""Ids already checked (a fleet's few thousand repeat on every uplink)."""
_IDS_SEEN_MAX = 100_000


def _str_id(value: object) -> str:
    if type(value) is not str:
        raise _NotFast
    if value not in _IDS_SEEN:
        if not is_valid_id(value):
            raise _NotFast
        if len(_IDS_SEEN) >= _IDS_SEEN_MAX:
            _IDS_SEEN.clear()
        _IDS_SEEN.add(value)
    return value


def _opt_num(value: object) -> float | None:
    if value is None:
        return None
    if type(value) is float or type(value) is int:
        return float(value)
    raise _NotFast


def _eui(value: str | None) -> str | None:
    """A DevEUI as stored (lower case); one that is not 16 hex digits is left out, not the uplink."""
    return value.lower() if value and is_dev_eui(value) else None


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
    normalized = msg.get("normalized_payload")
    if normalized is not None and (
        type(normalized) is not list or any(type(m) is not dict for m in normalized)
    ):
        raise _NotFast
    first_time = rx[0].get("time") if rx else None
    times = (d.get("received_at"), msg.get("received_at"), first_time)
    if any(t is not None and type(t) is not str for t in times):
        raise _NotFast
    received_at_ns, from_network = time_ns(*times)
    rssi = None
    if best is not None:
        rssi = _opt_num(best.get("rssi"))
        if rssi is None:
            rssi = _opt_num(best.get("channel_rssi"))
    return _tuple_new(  # every field, in order: one C call, not the NamedTuple's Python constructor
        Uplink,
        (
            source,
            app,
            dev,
            received_at_ns,
            f_port,
            f_cnt,
            b64(payload),
            _eui(eui),
            rssi,
            best_snr,
            sf,
            int(freq) if freq else None,
            tuple(gateways),
            decoded,
            from_network,
            version_model(msg.get("version_ids")),
            tuple(normalized) if normalized else None,
        ),
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
        raise EnvelopeError(summary(exc)) from exc
    return _tts_uplink(up, source)
