"""Server-side SVG: a time-series line chart and a fill bar. No JavaScript, no CDN."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime

from markupsafe import Markup

WIDTH, HEIGHT = 640, 240
PAD_L, PAD_R, PAD_T, PAD_B = 48, 12, 12, 28


def _fmt_time(ns: int, span_ns: int) -> str:
    d = datetime.fromtimestamp(ns / 1e9, UTC)
    return d.strftime("%H:%M" if span_ns <= 86_400 * 10**9 else "%d %b %H:%M")


def _fmt_value(v: float) -> str:
    return f"{v:.4g}"


def line_chart(points: Sequence[tuple[int, float]], *, unit: str = "", title: str = "") -> Markup:
    """An SVG line chart of (time ns, value) pairs, oldest first; a note when there are none."""
    label = html.escape(title or "chart")
    if not points:
        return Markup(  # noqa: S704 (only numbers and escaped text are interpolated)
            f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}">'
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="note">'
            "no readings in this range</text></svg>"
        )
    t0, t1 = points[0][0], points[-1][0]
    vs = [v for _, v in points]
    lo, hi = min(vs), max(vs)
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    span_t = max(t1 - t0, 1)
    w, h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def x(t: int) -> float:
        return PAD_L + (t - t0) / span_t * w if t1 > t0 else PAD_L + w / 2

    def y(v: float) -> float:
        return PAD_T + (hi - v) / (hi - lo) * h

    d = " ".join(f"{'M' if i == 0 else 'L'}{x(t):.1f},{y(v):.1f}" for i, (t, v) in enumerate(points))
    if len(points) == 1:
        d += " l0.1,0"
    u = html.escape(unit)
    grid = "".join(
        f'<line class="grid" x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
        f'<text class="axis" x="{PAD_L - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{_fmt_value(v)}</text>'
        for v in (lo, (lo + hi) / 2, hi)
    )
    return Markup(  # noqa: S704 (only numbers and escaped text are interpolated)
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}">'
        f"<title>{label}</title>{grid}"
        f'<text class="axis" x="{PAD_L}" y="{HEIGHT - 8}">{_fmt_time(t0, span_t)}</text>'
        f'<text class="axis" x="{WIDTH - PAD_R}" y="{HEIGHT - 8}" text-anchor="end">'
        f"{_fmt_time(t1, span_t)}</text>"
        f'<text class="axis" x="{PAD_L}" y="{PAD_T - 2}">{u}</text>'
        f'<path class="line" d="{d}"/></svg>'
    )


def fill_bar(pct: float | None, threshold: float) -> Markup:
    """A horizontal fill bar with the collection threshold marked."""
    p = 0.0 if pct is None else max(0.0, min(100.0, pct))
    level = "full" if pct is not None and pct >= threshold else "mid" if p >= threshold * 0.75 else "low"
    return Markup(  # noqa: S704 (only numbers and escaped text are interpolated)
        '<svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" '
        f'aria-label="{p:.0f} percent full">'
        '<rect class="track" x="0" y="0" width="100" height="10"/>'
        f'<rect class="fill {level}" x="0" y="0" width="{p:.1f}" height="10"/>'
        f'<line class="threshold" x1="{threshold:.1f}" x2="{threshold:.1f}" y1="0" y2="10"/></svg>'
    )
