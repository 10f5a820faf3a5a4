"""Shared dependencies of the API routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from lorakeet.gateway_bridge.pipeline import Pipeline
from lorakeet.settings import Settings
from lorakeet.storage.factory import Store
from lorakeet.storage.registry import Registry


@dataclass
class Services:
    """What the API needs, built once by the entry point."""

    settings: Settings
    registry: Registry
    store: Store
    pipeline: Pipeline | None = None  # webhook ingest hands messages to it (None: no ingest)
    ingest_timeout_s: float = 8.0  # a webhook waits this long for durability, then 503


async def get_services(request: Request) -> Services:
    """The app's services (async: no I/O, so no thread-pool hop per request)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
