"""ChirpStack v4 envelopes: the integration's ``UplinkEvent`` JSON (protobuf JSON, camelCase)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from lorakeet.ids import DEV_EUI_PATTERN, ID_PATTERN
from lorakeet.storage.records import DeviceModel, Uplink

from .envelope_common import Model, OtherEvent, b64, id_text, summary, time_ns
from .validate import EnvelopeError, check_bandwidth


class _CsDeviceInfo(Model):
    applicationId: str = Field(pattern=ID_PATTERN)
    devEui: str = Field(pattern=DEV_EUI_PATTERN)
    deviceName: str | None = None
    deviceProfileId: Any = None
    deviceProfileName: Any = None
    tags: Any = None


class _CsRx(Model):
    gatewayId: str = ""
    rssi: float | None = None
    snr: float | None = None
    nsTime: str | None = None


class _CsLora(Model):
    spreadingFactor: int | None = None
    bandwidth: int | None = None


class _CsModulation(Model):
    lora: _CsLora | None = None


class _CsTxInfo(Model):
    frequency: int | None = None
    modulation: _CsModulation | None = None


class ChirpStackUp(Model):
    """ChirpStack v4 ``UplinkEvent`` (protobuf JSON, camelCase)."""

    deviceInfo: _CsDeviceInfo
    time: str | None = None
    fCnt: int = Field(0, ge=0)
    fPort: int = Field(0, ge=0, le=255)
    data: str = ""
    object: dict[str, Any] | None = None
    rxInfo: list[_CsRx] = Field(default_factory=list)
    txInfo: _CsTxInfo | None = None


def parse_chirpstack(body: bytes | bytearray | str, event: str = "up") -> Uplink | OtherEvent:
    """Parse a ChirpStack v4 event body for ``event`` (from the topic); raises EnvelopeError."""
    if event != "up":
        try:
            info = _CsEventOnly.model_validate_json(body).deviceInfo
        except ValidationError as exc:
            raise EnvelopeError(summary(exc)) from exc
        return OtherEvent(event, info.applicationId, info.devEui.lower())
    try:
        up = ChirpStackUp.model_validate_json(body)
    except ValidationError as exc:
        raise EnvelopeError(summary(exc)) from exc
    info = up.deviceInfo
    rx = up.rxInfo
    best = max(rx, key=lambda r: r.snr if r.snr is not None else -99.0, default=None)
    received_at_ns, from_network = time_ns(up.time, rx[0].nsTime if rx else None)
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
        payload=b64(up.data),
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


class _CsEventOnly(Model):
    deviceInfo: _CsDeviceInfo


def profile_model(info: _CsDeviceInfo) -> DeviceModel | None:
    """ChirpStack's device profile and the device's tags (``brand_id``/``model_id``)."""
    tags = info.tags if isinstance(info.tags, dict) else {}

    def tag(*names: str) -> str | None:
        return next((v for v in (id_text(tags.get(n)) for n in names) if v), None)

    model = DeviceModel(
        brand_id=tag("brand_id", "brand", "vendor"),
        model_id=tag("model_id", "model"),
        hardware_version=tag("hardware_version"),
        firmware_version=tag("firmware_version"),
        band_id=tag("band_id"),
        profile_name=id_text(info.deviceProfileName),
        profile_id=id_text(info.deviceProfileId),
    )
    return model if any(model) else None
