"""Downlinks through The Things Stack: publish on ``v3/{app}@{tenant}/devices/{dev}/down/push``.

Body (TTS MQTT docs): ``{"downlinks":[{"f_port":31,"frm_payload":"<base64>","priority":"NORMAL",
"confirmed":false,"correlation_ids":["lorakeet:downlink:<id>"]}]}``; ``push`` appends to the
device's queue (``replace`` would clear it first). The tenant comes from the configured
``application`` (``app@tenant``); TTN's community tenant ``ttn`` when it is a wildcard.
"""

from __future__ import annotations

import base64
import ssl
import uuid
from dataclasses import dataclass
from typing import Literal

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from lorakeet.settings import MqttSettings

Priority = Literal["LOWEST", "LOW", "BELOW_NORMAL", "NORMAL", "ABOVE_NORMAL", "HIGH", "HIGHEST"]
DEFAULT_TENANT = "ttn"


class DownlinkError(Exception):
    """The downlink could not be handed to the broker."""


@dataclass(frozen=True, slots=True)
class Downlink:
    """One downlink to queue."""

    application_id: str
    device_id: str
    f_port: int
    payload: bytes
    confirmed: bool = False
    priority: Priority = "NORMAL"
    correlation_id: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.f_port <= 223:
            raise ValueError("f_port must be 1..223 (224 and up are reserved)")
        if not self.payload:
            raise ValueError("a downlink needs a payload")


def tts_app_id(application_id: str, configured: str) -> str:
    """``app@tenant`` for the topic: the configured tenant, else ``ttn`` for a wildcard, else bare."""
    _, sep, tenant = configured.partition("@")
    if sep and tenant and tenant != "+":
        return f"{application_id}@{tenant}"
    if configured in ("+", "#", ""):
        return f"{application_id}@{DEFAULT_TENANT}"
    return application_id


def push_topic(d: Downlink, configured_application: str) -> str:
    """The ``down/push`` topic of the downlink's device."""
    return f"v3/{tts_app_id(d.application_id, configured_application)}/devices/{d.device_id}/down/push"


def push_body(d: Downlink) -> bytes:
    """The JSON body TTS expects on ``down/push``."""
    item: dict[str, object] = {
        "f_port": d.f_port,
        "frm_payload": base64.b64encode(d.payload).decode(),
        "priority": d.priority,
        "confirmed": d.confirmed,
    }
    if d.correlation_id:
        item["correlation_ids"] = [d.correlation_id]
    return orjson.dumps({"downlinks": [item]})


def new_correlation_id() -> str:
    """A correlation id TTS echoes back on ``down/ack`` and friends."""
    return f"lorakeet:downlink:{uuid.uuid4().hex}"


def publish_downlink(cfg: MqttSettings, d: Downlink, timeout: float = 10.0) -> str:
    """Connect, publish with QoS 1, wait for the broker's ack, disconnect; returns the topic."""
    topic = push_topic(d, cfg.application)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{cfg.client_id}-down-{uuid.uuid4().hex[:8]}",
        clean_session=True,
    )
    if cfg.username:
        client.username_pw_set(cfg.username, cfg.password.get_secret_value() if cfg.password else None)
    if cfg.tls:
        client.tls_set(
            ca_certs=str(cfg.ca_file) if cfg.ca_file else None,
            cert_reqs=ssl.CERT_NONE if cfg.tls_insecure else ssl.CERT_REQUIRED,
        )
        if cfg.tls_insecure:
            client.tls_insecure_set(True)
    try:
        client.connect(cfg.host, cfg.port, keepalive=30)
    except OSError as exc:
        raise DownlinkError(f"cannot reach the MQTT broker at {cfg.host}:{cfg.port}: {exc}") from exc
    client.loop_start()
    try:
        info = client.publish(topic, push_body(d), qos=1)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise DownlinkError("the MQTT broker did not acknowledge the downlink")
    except (RuntimeError, ValueError) as exc:
        raise DownlinkError(f"publishing the downlink failed: {exc}") from exc
    finally:
        client.disconnect()
        client.loop_stop()
    return topic
