"""Alert rules as frozen values, and the pure decision whether a rule fires or clears.

Threshold rules have hysteresis: a rule ``above 80`` with hysteresis 5 fires when the value
goes above 80 and clears only when it falls to 75 or below, so a value wobbling around 80
alerts once per real crossing. ``low_battery`` is a ``below`` threshold on ``battery``
(default 20 %, hysteresis 5). ``geofence`` fires when a fix lies outside the polygon and
clears when one lies inside again. ``silence`` fires when a device sent nothing for
``silence_s`` seconds and clears with its next uplink.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from lorakeet.decoders import Value
from lorakeet.views.boats import Ring, inside, parse_ring, pick, polygon_from_metadata

RuleType = Literal["threshold", "silence", "geofence", "low_battery"]
Op = Literal["above", "below"]

LOW_BATTERY_PCT = 20.0
LOW_BATTERY_HYSTERESIS = 5.0


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule, as the engine uses it."""

    id: int
    owner_id: int
    name: str
    rule_type: RuleType
    device: str | None = None  # "app.dev"; None: a fleet rule
    kind: str | None = None  # fleet rules: only devices of this kind (None: any)
    quantity: str | None = None
    op: Op = "above"
    threshold: float | None = None
    hysteresis: float = 0.0
    silence_s: float | None = None
    geofence: Ring | None = None  # None: the device's metadata.geofence
    webhook_url: str | None = None
    webhook_secret: str | None = None
    mqtt_topic: str | None = None
    # Whether the rule may watch every device (its owner is an admin and the key that
    # created it still holds the admin scope); decided again at every refresh of the rules.
    owner_is_admin: bool = False

    def applies_to(self, device: str, kind: str, owner_id: int | None, visibility: str = "private") -> bool:
        """Whether this rule watches ``device`` now.

        A rule on one device watches it while its owner may see it (the device is public,
        or theirs, or the rule has admin reach); a fleet rule watches its owner's devices,
        or every device with admin reach.
        """
        if self.device is not None:
            if self.device != device:
                return False
            return visibility == "public" or self.owner_is_admin or owner_id == self.owner_id
        if self.kind is not None and self.kind != kind:
            return False
        return self.owner_is_admin or owner_id == self.owner_id


@dataclass(frozen=True, slots=True)
class Decision:
    """A change of a rule's state for a device."""

    active: bool
    value: float | None
    message: str


def _num(v: Value | None) -> float | None:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, int | float):
        return float(v)
    return None


def threshold_change(active: bool, value: float, op: Op, threshold: float, hysteresis: float) -> bool | None:
    """The new state when a value crosses (with hysteresis), else None."""
    if op == "above":
        if not active and value > threshold:
            return True
        if active and value <= threshold - hysteresis:
            return False
    else:
        if not active and value < threshold:
            return True
        if active and value >= threshold + hysteresis:
            return False
    return None


def evaluate(
    rule: Rule, active: bool, values: Mapping[str, Value], metadata: Mapping[str, object]
) -> Decision | None:
    """What one uplink's values do to a rule's state for a device (None: nothing changes).

    ``silence`` rules are not decided here: an uplink only clears them (see the engine).
    """
    if rule.rule_type in ("threshold", "low_battery"):
        quantity = rule.quantity or ("battery" if rule.rule_type == "low_battery" else None)
        if quantity is None:
            return None
        value = _num(pick(values, quantity))
        if value is None:
            return None
        low = rule.rule_type == "low_battery"
        op: Op = "below" if low else rule.op
        threshold = rule.threshold if rule.threshold is not None else (LOW_BATTERY_PCT if low else None)
        if threshold is None:
            return None
        hysteresis = rule.hysteresis if (rule.hysteresis or not low) else LOW_BATTERY_HYSTERESIS
        change = threshold_change(active, value, op, threshold, hysteresis)
        if change is None:
            return None
        word = op if change else ("back below" if op == "above" else "back above")
        return Decision(change, value, f"{rule.name}: {quantity} {value:g} {word} {threshold:g}")
    if rule.rule_type == "geofence":
        ring = rule.geofence or polygon_from_metadata(metadata)
        lat, lon = _num(pick(values, "latitude")), _num(pick(values, "longitude"))
        if ring is None or lat is None or lon is None:
            return None
        outside = not inside(ring, lat, lon)
        if outside == active:
            return None
        where = f"({lat:.5f}, {lon:.5f})"
        return Decision(
            outside, None, f"{rule.name}: {'left' if outside else 'back inside'} the geofence at {where}"
        )
    return None


def ring_from_json(raw: object) -> Ring | None:
    """A geofence from a rule's JSON (GeoJSON Polygon or bare ring)."""
    if isinstance(raw, Mapping):
        return polygon_from_metadata({"geofence": raw})
    return parse_ring(raw)
