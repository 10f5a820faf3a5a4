"""Composition: the one place an ingest sink is built from settings.

:func:`make_pipeline` wires a :class:`Pipeline` over a store and a registry (device
cache, codecs, spool, dead-letter table, plausibility window, alert observer);
:func:`build_pipeline` opens its own store and registry (a worker process, backfill);
:func:`open_sink` chooses between the in-process pipeline and a worker process.
``bridge``, ``worker``, the API and the CLI all come here.
"""

from __future__ import annotations

from collections.abc import Callable

from lorakeet.alerts.engine import AlertEngine
from lorakeet.settings import Settings
from lorakeet.storage.dead_letters import DeadLetters
from lorakeet.storage.factory import Store, open_store
from lorakeet.storage.registry import Registry
from lorakeet.storage.spool import Spool

from .codecs import make_resolver
from .devices import DeviceDirectory
from .field_maps import FieldMaps
from .pipeline import Decoding, Pipeline
from .sink import IngestSink
from .validate import TimeWindow
from .worker import RemotePipeline


def make_pipeline(settings: Settings, store: Store, registry: Registry) -> Pipeline:
    """A pipeline over ``store`` holding ``registry``'s devices in memory (refreshed every 5 s)."""
    devices = DeviceDirectory(registry, refresh_s=5.0, on_removed=store.forget_devices)
    p = settings.pipeline
    return Pipeline(
        store,
        Decoding(devices, make_resolver(registry), FieldMaps(registry)),
        batch_size=p.batch_size,
        flush_interval=p.flush_interval_s,
        queue_size=p.queue_size,
        dedup_capacity=p.dedup_capacity,
        spool=Spool(p.spool_path) if p.spool_path else None,
        dead_letters=DeadLetters(registry),
        window=TimeWindow.from_settings(p),
        observers=[AlertEngine.from_settings(settings, registry, store)],
    )


def build_pipeline(settings: Settings) -> tuple[Pipeline, Callable[[], None]]:
    """A pipeline with its own store and registry connections, and a function closing them."""
    store = open_store(settings.store)
    registry = Registry(settings.registry_url)

    def close() -> None:
        store.close()
        registry.close()

    return make_pipeline(settings, store, registry), close


def open_sink(settings: Settings, store: Store, registry: Registry, *, in_process: bool) -> IngestSink:
    """The in-process pipeline, or (``pipeline.workers = 1``) a worker process running one."""
    if in_process or settings.pipeline.workers == 0:
        return make_pipeline(settings, store, registry)
    return RemotePipeline(settings, build_pipeline)
