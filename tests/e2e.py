"""Helpers for end-to-end tests: a bridge on a real broker, a publisher, polling."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from lorakeet.gateway_bridge.bridge import Bridge
from lorakeet.gateway_bridge.broker import LocalBroker
from lorakeet.settings import MqttSettings, PipelineSettings, Settings
from lorakeet.storage.factory import Store
from lorakeet.storage.registry import Registry


def start_bridge(broker: LocalBroker, store: Store, registry: Registry, **mqtt: object) -> Bridge:
    """A bridge subscribed (QoS 1, persistent session) to the broker, already connected."""
    cfg = MqttSettings(url=broker.url, qos=1, client_id=f"bridge-{uuid.uuid4().hex[:8]}", **mqtt)  # type: ignore[arg-type]
    settings = Settings(mqtt=cfg, pipeline=PipelineSettings(batch_size=500, flush_interval_s=0.05))
    b = Bridge(settings, store=store, registry=registry)
    b.start()
    assert b.mqtt.wait_connected(10), "bridge did not connect to the broker"
    return b


def publish(broker: LocalBroker, messages: Iterable[tuple[str, bytes]], qos: int = 1) -> int:
    """Publish (topic, body) pairs and wait until the broker has them all."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    c.max_inflight_messages_set(1000)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    infos = [c.publish(topic, body, qos=qos) for topic, body in messages]
    for info in infos:
        info.wait_for_publish(30)
    c.disconnect()
    c.loop_stop()
    return len(infos)


def wait_until(cond: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Poll until ``cond()`` is true; AssertionError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
