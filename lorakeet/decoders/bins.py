"""Bin fill level from a distance reading and the bin's registry metadata.

Metadata keys (set per device in the registry):
- ``bin_depth_m``: distance from the sensor's face to the bin floor when empty;
- ``mount_offset_m``: distance from the sensor's face to the "full" line (default 0).
"""

from __future__ import annotations

from collections.abc import Mapping

from .types import ReadingsBuilder


def _metres(metadata: Mapping[str, object], key: str) -> float | None:
    value = metadata.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def fill_pct(distance_m: float, metadata: Mapping[str, object]) -> float | None:
    """Fill level in percent, or None when the bin's depth is unknown."""
    depth = _metres(metadata, "bin_depth_m")
    if depth is None:
        return None
    offset = _metres(metadata, "mount_offset_m") or 0.0
    usable = depth - offset
    if usable <= 0:
        return None
    pct = (depth - distance_m) / usable * 100.0
    return min(100.0, max(0.0, pct))


def add_distance(b: ReadingsBuilder, distance_m: float, metadata: Mapping[str, object]) -> None:
    """Add ``distance`` and, when the bin's depth is known, ``fill_pct``."""
    b.add("distance", distance_m)
    pct = fill_pct(distance_m, metadata)
    if pct is not None:
        b.add("fill_pct", pct)
