"""The demo's fleet in the registry: every simulated device, public, with its place and metadata."""

from __future__ import annotations

from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import Registry

from .simulator import SimDevice


def register_fleet(registry: Registry, application_id: str, fleet: list[SimDevice]) -> None:
    """Register (or update) every device of ``fleet`` as a public device of ``application_id``."""
    for d in fleet:
        loc = d.location
        registry.upsert_device(
            DeviceKey(application_id, d.device_id),
            kind=d.kind,
            decoder=d.decoder,
            metadata=d.metadata,
            latitude=loc[0] if loc else None,
            longitude=loc[1] if loc else None,
            name=d.device_id.replace("-", " ").title(),
            visibility="public",
        )
