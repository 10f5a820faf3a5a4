"""Street lights: lamp state, dim level, power, energy and what is wrong with each.

Faults are the device's own flags (``lamp_fault``, ``power_fault``, ``fault``) plus two
the backend infers: ``silent`` (no uplink for N times the usual interval) and
``no_power_when_on`` (the controller says the lamp is on but it draws next to nothing:
usually a dead lamp the controller did not notice).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lorakeet.decoders import Value

MIN_ON_POWER_W = 1.0


@dataclass(frozen=True, slots=True)
class LightState:
    """One light as a crew sees it."""

    lamp_on: bool | None
    dim_level: float | None
    power_w: float | None
    energy_kwh: float | None
    faults: tuple[str, ...]


def _bool(v: Value | None) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v != 0
    return None


def _num(v: Value | None) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def light_state(values: Mapping[str, Value], *, silent: bool = False) -> LightState:
    """Assess a light from its latest values (key → value)."""
    lamp_on = _bool(values.get("lamp_on"))
    power = _num(values.get("power"))
    faults: list[str] = [
        flag for flag in ("lamp_fault", "power_fault", "fault") if _bool(values.get(flag)) is True
    ]
    if lamp_on and power is not None and power < MIN_ON_POWER_W and "lamp_fault" not in faults:
        faults.append("no_power_when_on")
    if silent:
        faults.append("silent")
    return LightState(
        lamp_on, _num(values.get("dim_level")), power, _num(values.get("energy")), tuple(faults)
    )
