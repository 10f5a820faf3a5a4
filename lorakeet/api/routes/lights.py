"""Street-light routes: every light's state, and the faults list for the maintenance crew.

A light is *silent* (and listed as offline) when no uplink came for ``silence_factor`` times
its usual interval, the median gap between its recent uplinks.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from lorakeet.views.activity import DEFAULT_SILENCE_FACTOR
from lorakeet.views.fleet import LightView, light_views

from ..auth import Viewer, ViewerDep, viewer_filter
from ..deps import Services, ServicesDep
from ..errors import problem_responses
from ..presentation import dt

router = APIRouter(prefix="/v1/lights", tags=["lights"])


class LightPublic(BaseModel):
    """One street light."""

    device: str
    name: str | None
    latitude: float | None
    longitude: float | None
    lamp_on: bool | None
    dim_level: float | None
    power: float | None
    energy: float | None
    faults: list[str]
    last_seen: datetime | None
    usual_interval_s: float | None
    offline: bool


class LightList(BaseModel):
    """Street lights, faulty ones first."""

    count: int
    lights: list[LightPublic]


def light_public(v: LightView) -> LightPublic:
    """Shape a light view for the API."""
    s = v.state
    return LightPublic(
        device=v.device.uid,
        name=v.device.name,
        latitude=v.device.latitude,
        longitude=v.device.longitude,
        lamp_on=s.lamp_on,
        dim_level=s.dim_level,
        power=s.power_w,
        energy=s.energy_kwh,
        faults=list(s.faults),
        last_seen=None if v.device.last_seen_ns is None else dt(v.device.last_seen_ns),
        usual_interval_s=None if v.interval_ns is None else v.interval_ns / 1e9,
        offline=v.silent,
    )


Factor = Annotated[
    float, Query(ge=1.5, le=100, description="offline after this many usual intervals without an uplink")
]


def _lights(services: Services, viewer: Viewer, silence_factor: float) -> list[LightView]:
    return light_views(
        services.registry,
        services.store,
        viewer_filter(viewer),
        time.time_ns(),
        silence_factor=silence_factor,
    )


@router.get("", summary="Every street light", responses=problem_responses(422))
def list_lights(
    services: ServicesDep, viewer: ViewerDep, silence_factor: Factor = DEFAULT_SILENCE_FACTOR
) -> LightList:
    """Lamp state, dim level, power, energy and faults of every visible street light."""
    views = _lights(services, viewer, silence_factor)
    return LightList(count=len(views), lights=[light_public(v) for v in views])


@router.get("/faults", summary="Street lights with a fault or offline", responses=problem_responses(422))
def faults(
    services: ServicesDep, viewer: ViewerDep, silence_factor: Factor = DEFAULT_SILENCE_FACTOR
) -> LightList:
    """Lights that report a fault, draw no power while on, or went silent."""
    views = _lights(services, viewer, silence_factor)
    bad = [light_public(v) for v in views if v.state.faults]
    return LightList(count=len(bad), lights=bad)
