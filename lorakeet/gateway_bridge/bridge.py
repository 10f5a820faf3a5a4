"""Wires the bridge together: store, registry, pipeline and MQTT source."""

from __future__ import annotations

import logging

from lorakeet.settings import Settings
from lorakeet.storage.factory import Store, open_store
from lorakeet.storage.registry import DeviceInfo, Registry

from .devices import DeviceDirectory
from .mqtt_source import MqttSource
from .pipeline import Decoding, Pipeline

log = logging.getLogger(__name__)


class Bridge:
    """A running bridge: MQTT in, readings out to the configured store."""

    def __init__(
        self, settings: Settings, store: Store | None = None, registry: Registry | None = None
    ) -> None:
        self.settings = settings
        self.store: Store = store if store is not None else open_store(settings.store)
        self.registry = registry if registry is not None else Registry(settings.registry_url)
        self.devices = DeviceDirectory(self.registry)
        p = settings.pipeline
        self.pipeline = Pipeline(
            self.store,
            Decoding(self.devices),
            batch_size=p.batch_size,
            flush_interval=p.flush_interval_s,
            queue_size=p.queue_size,
            dedup_capacity=p.dedup_capacity,
        )
        self.mqtt = MqttSource(settings.mqtt, self.pipeline)

    def start(self) -> None:
        """Start consuming and connect to the broker."""
        rows = self.registry.list_devices(limit=1_000_000)
        self.devices.preload(DeviceInfo.from_row(r) for r in rows)
        self.pipeline.start()
        self.mqtt.start()

    def stop(self) -> None:
        """Disconnect, flush what is queued, close the store."""
        self.mqtt.stop()
        self.pipeline.stop()
        self.store.close()
        log.info(
            "bridge stopped: %d received, %d stored, %d duplicates skipped",
            self.pipeline.stats.received,
            self.pipeline.stats.stored,
            self.pipeline.stats.dedup_hits,
        )
