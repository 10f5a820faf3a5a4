"""What the crews' pages draw: map markers for bins, lights and boats, boat tracks, today's
collection tour, and the security headers that let map tiles load. Shared by the crews' pages and
the fleet overview."""

from __future__ import annotations

import time

from markupsafe import Markup

from lorakeet.settings import Settings
from lorakeet.storage.protocols import ReadingReader
from lorakeet.storage.records import DeviceKey
from lorakeet.storage.registry import DeviceFilter
from lorakeet.views.collection import Collection, answers_of, collection_route
from lorakeet.views.fleet import BinView, BoatView, LightView, bin_views

from ..auth import Viewer
from ..deps import Services, deadline_ns
from . import maps
from .common import SECURITY_HEADERS

TRACK_NS = 6 * 3600 * 1_000_000_000


def page_headers(settings: Settings) -> dict[str, str]:
    """The security headers, with the tile origin allowed for images when one is configured."""
    origin = maps.tile_origin(settings.map.tile_url)
    if origin is None:
        return SECURITY_HEADERS
    csp = SECURITY_HEADERS["Content-Security-Policy"].replace(
        "img-src 'self' data:", f"img-src 'self' data: {origin}"
    )
    return {**SECURITY_HEADERS, "Content-Security-Policy": csp}


def draw(settings: Settings, view: maps.MapView) -> Markup:
    """The map with the configured tile background, if any."""
    return maps.render(view, settings.map.tile_url, settings.map.tile_attribution)


def _fill_state(b: BinView) -> str:
    s = b.state
    if s.fill_pct is None:
        return "unknown"
    if s.fill_pct >= s.threshold_pct:
        return "full"
    return "mid" if s.fill_pct >= 0.75 * s.threshold_pct else "low"


def bin_markers(
    bins: list[BinView], collection: Collection | None
) -> tuple[list[maps.Marker], list[maps.Line]]:
    """Bins coloured by fill; today's route in its order, from the depot and back."""
    order = {b.device.uid: i for i, b in enumerate(collection.ordered, start=1)} if collection else {}
    markers = []
    for b in bins:
        if b.device.latitude is None or b.device.longitude is None:
            continue
        fill = "no reading" if b.state.fill_pct is None else f"{b.state.fill_pct:.0f} % full"
        stop = order.get(b.device.uid)
        label = f"Bin {b.device.label}: {fill}" + (f", stop {stop} of today's route" if stop else "")
        markers.append(
            maps.Marker(
                (b.device.latitude, b.device.longitude),
                label,
                "bin",
                _fill_state(b) + (" due" if b.state.needs_collection else ""),
                f"/web/devices/{b.device.uid}",
                stop,
            )
        )
    lines = []
    if collection and collection.depot and collection.ordered:
        pts = [(b.device.latitude or 0.0, b.device.longitude or 0.0) for b in collection.ordered]
        km = collection.length_m / 1000
        lines.append(
            maps.Line(
                [collection.depot, *pts, collection.depot],
                f"Today's route: {len(pts)} stops, {km:.1f} km",
                "route",
            )
        )
        markers.insert(
            0, maps.Marker(collection.depot, "Depot: start and end of today's route", "depot", "depot")
        )
    return markers, lines


def light_markers(lights: list[LightView]) -> list[maps.Marker]:
    """Lights by state: on, off, or with a fault."""
    out = []
    for v in lights:
        if v.device.latitude is None or v.device.longitude is None:
            continue
        s = v.state
        state = "fault" if s.faults else "on" if s.lamp_on else "off" if s.lamp_on is False else "unknown"
        what = ", ".join(s.faults) if s.faults else state
        out.append(
            maps.Marker(
                (v.device.latitude, v.device.longitude),
                f"Light {v.device.label}: {what}",
                "light",
                state,
                f"/web/devices/{v.device.uid}",
            )
        )
    return out


def boat_tracks(
    store: ReadingReader, boats: list[BoatView], now_ns: int
) -> dict[str, list[tuple[float, float]]]:
    """Each boat's positions of the last six hours, oldest first."""
    out: dict[str, list[tuple[float, float]]] = {}
    for b in boats:
        pts = store.points(
            DeviceKey.from_uid(b.device.uid), ["latitude", "longitude"], now_ns - TRACK_NS, now_ns + 1, 2000
        )
        out[b.device.uid] = [
            (float(p.values["latitude"]), float(p.values["longitude"]))
            for p in pts
            if isinstance(p.values.get("latitude"), float) and isinstance(p.values.get("longitude"), float)
        ]
    return out


def boat_markers(
    boats: list[BoatView], tracks: dict[str, list[tuple[float, float]]]
) -> tuple[list[maps.Marker], list[maps.Line]]:
    """Boats at their last fix, with their tracks."""
    markers, lines = [], []
    for b in boats:
        track = tracks.get(b.device.uid, [])
        if len(track) >= 2:
            lines.append(maps.Line(track, f"Track of boat {b.device.label}, last six hours", "track"))
        if b.position is None:
            continue
        speed = b.position.speed_kmh
        moving = speed is not None and speed > 0.5
        state = "outside" if b.inside_geofence is False else "moving" if moving else "still"
        label = f"Boat {b.device.label}: " + (f"{speed:.1f} km/h" if moving and speed else "not moving")
        if b.inside_geofence is False:
            label += ", outside its geofence"
        markers.append(
            maps.Marker(
                (b.position.latitude, b.position.longitude),
                label,
                "boat",
                state,
                f"/web/devices/{b.device.uid}",
            )
        )
    return markers, lines


def todays_collection(services: Services, viewer: Viewer, tz: str) -> Collection:
    """The due bins this viewer may see, as today's tour (anonymous answers kept a few seconds)."""

    def compute() -> Collection:
        now = time.time_ns()
        deadline = deadline_ns(now, None, tz)
        bins = bin_views(
            services.registry,
            services.store,
            DeviceFilter(viewer_id=viewer.account_id, viewer_admin=viewer.is_admin),
            now,
            deadline,
        )
        return collection_route([b for b in bins if b.state.needs_collection], None)

    if viewer.anonymous:
        return answers_of(services.store).get(("web-collection", tz), compute)
    return compute()
