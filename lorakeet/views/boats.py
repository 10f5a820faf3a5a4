"""Boats: last position, speed, track as GeoJSON, and geofence leave/enter events.

A boat's geofence is a polygon in its registry metadata under ``geofence``: either a
GeoJSON Polygon (``{"type": "Polygon", "coordinates": [[[lon, lat], ...]]}``, outer ring
only) or a bare ring ``[[lon, lat], ...]``, as JSON or as JSON text. Coordinates are
[longitude, latitude] as in RFC 7946.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from lorakeet.decoders import Value
from lorakeet.storage.records import Point

Ring = tuple[tuple[float, float], ...]  # (lon, lat) pairs


@dataclass(frozen=True, slots=True)
class Position:
    """One fix of a boat."""

    time_ns: int
    latitude: float
    longitude: float
    speed_kmh: float | None = None


@dataclass(frozen=True, slots=True)
class GeofenceEvent:
    """The boat crossed its geofence between two fixes; reported at the first fix on the new side."""

    time_ns: int
    event: Literal["leave", "enter"]
    latitude: float
    longitude: float


def pick(values: Mapping[str, Value], quantity: str) -> Value | None:
    """``quantity``'s value, or the first channel of it (``latitude_1``) when only that exists."""
    if quantity in values:
        return values[quantity]
    prefix = quantity + "_"
    for k in sorted(values):
        if k.startswith(prefix) and k[len(prefix) :].isdigit():
            return values[k]
    return None


def _num(v: Value | None) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def position_of(time_ns: int, values: Mapping[str, Value]) -> Position | None:
    """A position from one point's values, or None without a valid fix."""
    lat, lon = _num(pick(values, "latitude")), _num(pick(values, "longitude"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    if pick(values, "gps_fix") is False:
        return None
    return Position(time_ns, lat, lon, _num(pick(values, "speed")))


def track(points: Sequence[Point]) -> list[Position]:
    """The fixes among stored points, oldest first."""
    out = [p for p in (position_of(pt.time_ns, pt.values) for pt in points) if p is not None]
    out.sort(key=lambda p: p.time_ns)
    return out


def linestring_feature(device: str, positions: Sequence[Position]) -> dict[str, Any]:
    """The track as an RFC 7946 Feature: a LineString with two fixes or more, else a Point (or null)."""
    coords = [[p.longitude, p.latitude] for p in positions]
    geometry: dict[str, Any] | None
    if len(coords) >= 2:
        geometry = {"type": "LineString", "coordinates": coords}
    elif coords:
        geometry = {"type": "Point", "coordinates": coords[0]}
    else:
        geometry = None
    return {
        "type": "Feature",
        "geometry": geometry,
        "properties": {
            "device": device,
            "fixes": len(coords),
            "times": [p.time_ns // 1_000_000_000 for p in positions],
        },
    }


def polygon_from_metadata(metadata: Mapping[str, object]) -> Ring | None:
    """The boat's geofence ring (lon, lat), or None when absent or malformed."""
    raw: Any = metadata.get("geofence")
    if isinstance(raw, str):  # the device API keeps metadata values scalar: JSON text works too
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
    if isinstance(raw, Mapping):
        if raw.get("type") != "Polygon":
            return None
        rings = raw.get("coordinates")
        raw = rings[0] if isinstance(rings, list) and rings else None
    return parse_ring(raw)


def parse_ring(raw: object) -> Ring | None:
    """A ring from ``[[lon, lat], ...]`` (closed or not), or None when it is not one."""
    if not isinstance(raw, list) or len(raw) < 3:
        return None
    ring: list[tuple[float, float]] = []
    for p in raw:
        if not (isinstance(p, list | tuple) and len(p) >= 2):
            return None
        lon, lat = p[0], p[1]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lon, lat)):
            return None
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return None
        ring.append((float(lon), float(lat)))
    if ring[0] == ring[-1]:
        ring.pop()
    return tuple(ring) if len(ring) >= 3 else None


def inside(ring: Ring, latitude: float, longitude: float) -> bool:
    """Ray casting: is (lat, lon) inside the ring? (Planar: fine for harbour-sized fences.)"""
    x, y, hit = longitude, latitude, False
    n = len(ring)
    for i in range(n):
        x1, y1 = ring[i]
        x2, y2 = ring[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def geofence_events(positions: Sequence[Position], ring: Ring) -> list[GeofenceEvent]:
    """Leave and enter events along a track (oldest first); the first fix sets the side only."""
    out: list[GeofenceEvent] = []
    was_inside: bool | None = None
    for p in positions:
        now_inside = inside(ring, p.latitude, p.longitude)
        if was_inside is not None and now_inside != was_inside:
            out.append(GeofenceEvent(p.time_ns, "enter" if now_inside else "leave", p.latitude, p.longitude))
        was_inside = now_inside
    return out
