"""Wires the bridge together: store, registry, pipeline and MQTT source."""

from __future__ import annotations

import logging
from collections.abc import Callable

from lorakeet.settings import Settings
from lorakeet.storage.factory import Store, open_store
from lorakeet.storage.registry import DeviceInfo, Registry

from .devices import DeviceDirectory
from .mqtt_source import MqttSource
from .pipeline import Decoding, Pipeline
from .worker import RemotePipeline

log = logging.getLogger(__name__)


def make_pipeline(settings: Settings, store: Store, registry: Registry) -> Pipeline:
    """A pipeline over ``store`` whose device cache is preloaded from ``registry``."""
    devices = DeviceDirectory(registry)
    devices.preload(DeviceInfo.from_row(r) for r in registry.list_devices(limit=1_000_000))
    p = settings.pipeline
    return Pipeline(
        store,
        Decoding(devices),
        batch_size=p.batch_size,
        flush_interval=p.flush_interval_s,
        queue_size=p.queue_size,
        dedup_capacity=p.dedup_capacity,
    )


def build_pipeline(settings: Settings) -> tuple[Pipeline, Callable[[], None]]:
    """A pipeline with its own store and registry connections, and a function closing them."""
    store = open_store(settings.store)
    registry = Registry(settings.registry_url)

    def close() -> None:
        store.close()
        registry.close()

    return make_pipeline(settings, store, registry), close


class Bridge:
    """A running bridge: MQTT in, readings out to the configured store.

    With ``settings.pipeline.workers == 1`` decoding and writing happen in a worker
    process (see :mod:`lorakeet.gateway_bridge.worker`); with 0, or when a store object
    is passed in, they happen in a thread of this process.
    """

    def __init__(
        self, settings: Settings, store: Store | None = None, registry: Registry | None = None
    ) -> None:
        self.settings = settings
        in_process = store is not None or settings.pipeline.workers == 0
        self.store: Store = store if store is not None else open_store(settings.store)
        self.registry = registry if registry is not None else Registry(settings.registry_url)
        self.pipeline: Pipeline | RemotePipeline = (
            make_pipeline(settings, self.store, self.registry) if in_process else RemotePipeline(settings)
        )
        self.mqtt = MqttSource(settings.mqtt, self.pipeline.submit)

    def start(self) -> None:
        """Start consuming and connect to the broker."""
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
