"""Maps drawn on the server as inline SVG in Web Mercator (EPSG:3857): no JavaScript, no network.

The SVG's user space is Web Mercator pixels at an integer zoom level (256 px tiles), so an
optional raster tile background (``map.tile_url``, ``{z}/{x}/{y}``) lines up exactly: each
tile is an ``<image>`` at its own pixel position. Without tiles the map still shows every
marker and line on a plain background. Every marker carries a ``<title>`` and an
``aria-label`` and links to its device page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

TILE = 256
WIDTH, HEIGHT = 640, 420
PAD = 28
MAX_ZOOM = 18
MAX_LAT = 85.05112878
LatLon = tuple[float, float]


def project(lat: float, lon: float, zoom: int) -> tuple[float, float]:
    """Web Mercator pixel coordinates of a point at ``zoom``."""
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    scale = TILE * 2**zoom
    x = (lon + 180.0) / 360.0 * scale
    s = math.sin(math.radians(lat))
    y = (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * scale
    return x, y


@dataclass(frozen=True, slots=True)
class Marker:
    """A point on the map: ``kind`` and ``state`` become CSS classes."""

    position: LatLon
    label: str
    kind: str
    state: str
    href: str | None = None
    order: int | None = None


@dataclass(frozen=True, slots=True)
class Line:
    """A polyline: a boat's track or a route (``kind`` becomes a CSS class)."""

    points: Sequence[LatLon]
    label: str
    kind: str


@dataclass
class MapView:
    """What one map shows."""

    title: str
    markers: list[Marker] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)

    def points(self) -> list[LatLon]:
        """Every position drawn."""
        return [m.position for m in self.markers] + [p for line in self.lines for p in line.points]


def fit_zoom(points: Sequence[LatLon]) -> int:
    """The largest zoom at which every point fits inside the padded frame."""
    for z in range(MAX_ZOOM, -1, -1):
        xs, ys = zip(*(project(lat, lon, z) for lat, lon in points), strict=True)
        if max(xs) - min(xs) <= WIDTH - 2 * PAD and max(ys) - min(ys) <= HEIGHT - 2 * PAD:
            return z
    return 0


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def render(view: MapView, tile_url: str | None = None, attribution: str = "") -> Markup:
    """The map as an ``<svg class="map">`` element (a note instead when nothing has a place)."""
    pts = view.points()
    title = _e(view.title)
    if not pts:
        return Markup(  # noqa: S704 (escaped text only)
            f'<svg class="map empty" viewBox="0 0 {WIDTH} 60" role="img" aria-label="{title}">'
            f'<title>{title}</title><text x="{WIDTH / 2}" y="34" text-anchor="middle" class="note">'
            "nothing with a place to show</text></svg>"
        )
    z = fit_zoom(pts)
    xs, ys = zip(*(project(lat, lon, z) for lat, lon in pts), strict=True)
    x0 = (min(xs) + max(xs)) / 2 - WIDTH / 2
    y0 = (min(ys) + max(ys)) / 2 - HEIGHT / 2
    out = [
        f'<svg class="map" xmlns="http://www.w3.org/2000/svg" viewBox="{x0:.1f} {y0:.1f} {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{title}" data-zoom="{z}"><title>{title}</title>'
        f'<rect class="sea" x="{x0:.1f}" y="{y0:.1f}" width="{WIDTH}" height="{HEIGHT}"/>'
    ]
    if tile_url:
        out.append(_tiles(tile_url, z, x0, y0))
    for line in view.lines:
        if len(line.points) < 2:
            continue
        d = " ".join(
            f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}"
            for i, (x, y) in enumerate(project(lat, lon, z) for lat, lon in line.points)
        )
        label = _e(line.label)
        out.append(
            f'<path class="line {_e(line.kind)}" d="{d}" aria-label="{label}"><title>{label}</title></path>'
        )
    out.extend(_marker(m, *project(*m.position, z)) for m in view.markers)
    if tile_url and attribution:
        out.append(
            f'<text class="attribution" x="{x0 + WIDTH - 4:.1f}" y="{y0 + HEIGHT - 4:.1f}" '
            f'text-anchor="end">{_e(attribution)}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 (numbers and escaped text only)


def _marker(m: Marker, x: float, y: float) -> str:
    label = _e(m.label)
    cls = f"marker {_e(m.kind)} {_e(m.state)}"
    if m.kind == "boat":
        shape = f'<path d="M{x:.1f},{y - 8:.1f} L{x + 6:.1f},{y + 6:.1f} L{x - 6:.1f},{y + 6:.1f} Z"/>'
    elif m.kind == "light":
        shape = f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10"/>'
    elif m.kind == "depot":
        shape = f'<rect x="{x - 7:.1f}" y="{y - 7:.1f}" width="14" height="14" rx="2"/>'
    else:
        shape = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9"/>'
    if m.order is not None:
        shape += f'<text class="order" x="{x:.1f}" y="{y + 3.5:.1f}" text-anchor="middle">{m.order}</text>'
    body = f'<g class="{cls}" role="img" aria-label="{label}"><title>{label}</title>{shape}</g>'
    if m.href:
        return f'<a href="{_e(m.href)}">{body}</a>'
    return body


def _tiles(url: str, z: int, x0: float, y0: float) -> str:
    n = 2**z
    out = ['<g class="tiles" aria-hidden="true">']
    for ty in range(max(0, int(y0 // TILE)), min(n, int((y0 + HEIGHT) // TILE) + 1)):
        for tx in range(int(x0 // TILE), int((x0 + WIDTH) // TILE) + 1):
            href = url.replace("{z}", str(z)).replace("{x}", str(tx % n)).replace("{y}", str(ty))
            out.append(
                f'<image href="{_e(href)}" x="{tx * TILE}" y="{ty * TILE}" width="{TILE}" height="{TILE}"/>'
            )
    out.append("</g>")
    return "".join(out)


def tile_origin(url: str | None) -> str | None:
    """``https://host[:port]`` of a tile URL, for the page's Content-Security-Policy."""
    if not url or not url.startswith("https://"):
        return None
    host = url[len("https://") :].split("/", 1)[0]
    return f"https://{host}" if host and all(c not in host for c in "{} ;'\"") else None
