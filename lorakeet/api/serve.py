"""Build the API's services from settings, for ``lorakeet api`` and uvicorn workers."""

from __future__ import annotations

import atexit

from fastapi import FastAPI

from lorakeet import gctune
from lorakeet.gateway_bridge.compose import make_pipeline
from lorakeet.settings import Settings
from lorakeet.storage.factory import open_store
from lorakeet.storage.registry import Registry

from .app import create_app
from .deps import Services


def build_services(settings: Settings) -> Services:
    """Registry, store and a started pipeline for webhook ingest (same dedup and decoders as MQTT)."""
    registry = Registry(settings.registry_url)
    store = open_store(settings.store)
    pipeline = make_pipeline(settings, store, registry)
    pipeline.start()

    def close() -> None:
        pipeline.stop()
        store.close()
        registry.close()

    atexit.register(close)
    return Services(settings, registry, store, pipeline=pipeline)


def app_from_env() -> FastAPI:
    """The application configured from the environment (a uvicorn factory, one per worker)."""
    app = create_app(build_services(Settings()))
    gctune.tune()
    return app
