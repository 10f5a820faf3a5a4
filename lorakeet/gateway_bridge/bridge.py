"""Wires the bridge together: store, registry, pipeline and MQTT source."""

from __future__ import annotations

import logging
import threading

from lorakeet import gctune
from lorakeet.settings import Settings
from lorakeet.storage.factory import Store, open_store
from lorakeet.storage.leader import LeaderLock, open_leader_lock
from lorakeet.storage.registry import Registry

from .backfill import GapFiller
from .compose import open_sink
from .mqtt_source import MqttSource
from .sink import IngestSink

log = logging.getLogger(__name__)


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
        self.pipeline: IngestSink = open_sink(settings, self.store, self.registry, in_process=in_process)
        self.gaps = (
            GapFiller(settings, self.store, self.pipeline.submit) if settings.backfill.enabled else None
        )
        self.mqtt = self._new_mqtt()
        self.leader: LeaderLock | None = None
        self.is_leader = threading.Event()
        self._stopping = threading.Event()
        self._elector: threading.Thread | None = None
        if settings.leader.enabled:
            name = settings.leader.name or f"lorakeet-bridge:{settings.mqtt.application}"
            self.leader = open_leader_lock(settings.registry_url, name, settings.leader.lease_s)

    def _new_mqtt(self) -> MqttSource:
        hook = self.gaps.on_connected if self.gaps is not None else None
        return MqttSource(self.settings.mqtt, self.pipeline.submit, on_connected=hook)

    def start(self) -> None:
        """Start consuming and connect to the broker (once leader, when a lock is configured)."""
        self.pipeline.start()
        gctune.tune()
        if self.leader is None:
            self.mqtt.start()
            return
        self._elector = threading.Thread(target=self._lead, name="lorakeet-leader", daemon=True)
        self._elector.start()

    def _lead(self) -> None:
        """Stand by until the lock is ours, then consume; let go of MQTT if it is lost."""
        assert self.leader is not None
        cfg = self.settings.leader
        used = False
        while not self._stopping.is_set():
            held = self.leader.acquire()
            if held and not self.is_leader.is_set():
                log.warning("leader lock taken by %s: connecting to MQTT", self.leader.holder)
                if used:
                    self.mqtt = self._new_mqtt()
                self.mqtt.start()
                used = True
                self.is_leader.set()
            elif not held and self.is_leader.is_set():
                log.error("leader lock lost: disconnecting from MQTT and standing by")
                self.mqtt.stop()
                self.is_leader.clear()
            self._stopping.wait(min(cfg.poll_s, cfg.lease_s / 3) if held else cfg.poll_s)

    def stop(self) -> None:
        """Disconnect, flush what is queued, close the store."""
        self._stopping.set()
        if self._elector is not None:
            self._elector.join(10)
        if self.leader is None or self.is_leader.is_set():
            self.mqtt.stop()
        if self.gaps is not None:
            self.gaps.join(30)
            self.gaps.close()
        self.pipeline.stop()
        if self.leader is not None:
            self.leader.release()
        self.store.close()
        log.info(
            "bridge stopped: %d received, %d stored, %d duplicates skipped",
            self.pipeline.stats.received,
            self.pipeline.stats.stored,
            self.pipeline.stats.dedup_hits,
        )
