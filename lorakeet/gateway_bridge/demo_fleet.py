"""The demo's fleet in the registry: every simulated device, public, with its place and metadata."""

from __future__ import annotations

from collections.abc import Callable

from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import Registry

from .pipeline import Inbound
from .simulator import SimDevice, history


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


def fill_history(
    submit: Callable[[Inbound], object],
    fleet: list[SimDevice],
    application_id: str,
    end_ns: int,
    days: float = 14.0,
) -> int:
    """Submit ``days`` of the fleet's past uplinks to a pipeline, as if they had arrived over MQTT."""
    n = 0
    for t, device_id, body in history(fleet, application_id, end_ns, days):
        submit(Inbound(body, "ttn", f"v3/{application_id}@ttn/devices/{device_id}/up", arrived_ns=t))
        n += 1
    return n
