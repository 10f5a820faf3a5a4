"""The simulated town behind the demo: bins that fill, street lights, boats on waterways.

Every model runs on real time (seconds since the epoch), so 14 days of history and the
live run afterwards follow the same rules and nothing is time-compressed:

- **Bins** fill a few percent a day (each bin its own base rate), faster on Saturdays and
  Sundays, much faster near the market square on market days (Tuesday and Saturday), mostly
  in the daytime. A crew round on Monday to Saturday mornings empties the bins at or above
  ``ROUND_EMPTIES_AT_PCT`` (and misses one now and then).
- **Street lights** switch on at dusk and off at dawn (solar elevation at the light), dim
  after midnight, and fail now and then (a lamp fault the controller reports, or a dead lamp
  it does not notice) until a crew repairs them a few days later.
- **Boats** sail along waterways between a home basin and the river's ends in the daytime and
  lie moored at night.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

DAY_S = 86_400.0
LOCAL = ZoneInfo("Europe/Amsterdam")
MARKET = (51.9205, 4.4880)  # a market square; bins near it fill faster on market days
MARKET_DAYS = (1, 5)  # Tuesday, Saturday
MARKET_RADIUS_M = 350.0
ROUND_DAYS = (0, 1, 2, 3, 4, 5, 6)
ROUND_START_H = 7.0
ROUND_SPAN_H = 4.0
ROUND_EMPTIES_AT_PCT = 80.0
ROUND_MISS_P = 0.5  # a crew gets round half of the bins on its list in a day
DUSK_ELEVATION_DEG = -3.0
LIGHT_MTBF_DAYS = 120.0

Point = tuple[float, float]  # (lat, lon)

# Waterways as (lat, lon) polylines: a river through town and two harbour basins off it.
RIVER = [
    (51.8995, 4.4330),
    (51.9025, 4.4550),
    (51.9060, 4.4720),
    (51.9085, 4.4850),
    (51.9135, 4.4930),
    (51.9170, 4.5010),
    (51.9150, 4.5150),
    (51.9110, 4.5330),
]
INNER_BASIN = [(51.9040, 4.4800), (51.9045, 4.4870), (51.9085, 4.4850)]
SOUTH_BASIN = [(51.8985, 4.4840), (51.9010, 4.4760), (51.9060, 4.4720)]
BOAT_ROUTES: list[list[Point]] = [
    INNER_BASIN + RIVER[4:],  # basin -> river, east
    INNER_BASIN + RIVER[2::-1],  # basin -> river, west
    SOUTH_BASIN + RIVER[3:7],
    SOUTH_BASIN + RIVER[1::-1],
]


def metres(a: Point, b: Point) -> float:
    """Equirectangular distance in metres (good to well under 1 % across a town)."""
    k = 111_195.0
    dx = (b[1] - a[1]) * k * math.cos(math.radians((a[0] + b[0]) / 2))
    dy = (b[0] - a[0]) * k
    return math.hypot(dx, dy)


def local_time(t_s: float) -> datetime:
    """Wall-clock time in the town."""
    return datetime.fromtimestamp(t_s, UTC).astimezone(LOCAL)


def sun_elevation_deg(lat: float, lon: float, t_s: float) -> float:
    """The sun's elevation above the horizon (NOAA's low-precision formulas, about 0.5° good)."""
    days = t_s / DAY_S - 10_957.5  # days since J2000.0
    g = math.radians((357.529 + 0.98560028 * days) % 360)
    q = (280.459 + 0.98564736 * days) % 360
    ecl_lon = math.radians(q + 1.915 * math.sin(g) + 0.020 * math.sin(2 * g))
    obliquity = math.radians(23.439 - 0.00000036 * days)
    decl = math.asin(math.sin(obliquity) * math.sin(ecl_lon))
    ra = math.atan2(math.cos(obliquity) * math.sin(ecl_lon), math.cos(ecl_lon))
    gmst_deg = (280.46061837 + 360.98564736629 * days) % 360
    hour_angle = math.radians(gmst_deg + lon) - ra
    la = math.radians(lat)
    s = math.sin(la) * math.sin(decl) + math.cos(la) * math.cos(decl) * math.cos(hour_angle)
    return math.degrees(math.asin(max(-1.0, min(1.0, s))))


def fill_factor(t_s: float, near_market: bool) -> float:
    """How fast a bin fills now relative to its base daily rate (averages about 1 over a week)."""
    lt = local_time(t_s)
    hour = lt.hour + lt.minute / 60
    diurnal = 1.5 if 7 <= hour < 22 else 0.2  # 15 h x 1.5 + 9 h x 0.2 ≈ 24 h x 1
    weekday = lt.weekday()
    week = 1.3 if weekday == 5 else 1.2 if weekday == 6 else 0.95
    market = 2.5 if near_market and weekday in MARKET_DAYS and 8 <= hour < 18 else 1.0
    return diurnal * week * market


@dataclass
class BinModel:
    """A bin's fill level over time."""

    location: Point
    rate_pct_day: float
    volume_l: int
    rng: random.Random
    fill_pct: float = 0.0
    t_s: float | None = None
    round_offset_h: float = 0.0
    round_days: tuple[int, ...] = ROUND_DAYS
    emptied_rounds: set[str] = field(default_factory=set)

    @property
    def near_market(self) -> bool:
        """Within the market square's catchment."""
        return metres(self.location, MARKET) <= MARKET_RADIUS_M

    def advance(self, t_s: float) -> float:
        """Fill up to ``t_s`` (in steps of at most an hour), emptying on crew rounds; the level now."""
        if self.t_s is None:
            self.t_s = t_s
            return self.fill_pct
        while self.t_s < t_s:
            step = min(3600.0, t_s - self.t_s)
            mid = self.t_s + step / 2
            self.fill_pct = min(
                100.0, self.fill_pct + self.rate_pct_day * fill_factor(mid, self.near_market) * step / DAY_S
            )
            self.t_s += step
            self._round(self.t_s)
        return self.fill_pct

    def _round(self, t_s: float) -> None:
        """The crew passes this bin once on each round day, at its place in the round."""
        lt = local_time(t_s)
        if lt.weekday() not in self.round_days:
            return
        passes = lt.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
            hours=ROUND_START_H + self.round_offset_h
        )
        day = lt.date().isoformat()
        if lt < passes or day in self.emptied_rounds:
            return
        self.emptied_rounds = {day}
        if self.fill_pct >= ROUND_EMPTIES_AT_PCT and self.rng.random() >= ROUND_MISS_P:
            self.fill_pct = self.rng.uniform(0.0, 4.0)

    def distance_mm(self, depth_m: float, offset_m: float) -> int:
        """What the ultrasonic sensor measures (a centimetre of noise)."""
        d = offset_m + depth_m * (1 - self.fill_pct / 100)
        return max(0, round(d * 1000 + self.rng.gauss(0, 10)))


@dataclass
class LightModel:
    """A street light: photocell switching, a dimming schedule and failures."""

    location: Point
    rng: random.Random
    watts: float = 60.0
    energy_wh: float = 0.0
    t_s: float | None = None
    fault: str | None = None  # "lamp" (reported) or "dead" (draws nothing, not reported)
    fault_until_s: float = 0.0
    threshold_deg: float = DUSK_ELEVATION_DEG

    def state(self, t_s: float) -> tuple[bool, int, float, bool]:
        """(on, dim %, power W, lamp fault flag) at ``t_s``, advancing energy and failures."""
        if self.t_s is None:
            self.t_s = t_s
        dt = max(0.0, t_s - self.t_s)
        if self.fault is not None and t_s >= self.fault_until_s:
            self.fault = None
        elif self.fault is None and self.rng.random() < 1 - math.exp(-dt / (LIGHT_MTBF_DAYS * DAY_S)):
            self.fault = "lamp" if self.rng.random() < 0.6 else "dead"
            self.fault_until_s = t_s + self.rng.uniform(2, 5) * DAY_S
        on = sun_elevation_deg(*self.location, t_s) < self.threshold_deg
        hour = local_time(t_s).hour
        dim = 50 if 0 <= hour < 5 else 100
        power = self.watts * dim / 100 if on and self.fault is None else 0.0
        self.energy_wh += power * dt / 3600
        self.t_s = t_s
        return on, dim, power, on and self.fault == "lamp"


@dataclass
class BoatModel:
    """A boat sailing a waterway in the daytime, moored at its home basin at night."""

    route: list[Point]
    speed_kmh: float
    dwell_s: float
    start_h: float
    end_h: float
    phase_s: float

    @property
    def length_m(self) -> float:
        """Length of the waterway."""
        return sum(metres(a, b) for a, b in itertools.pairwise(self.route))

    def at(self, t_s: float) -> tuple[Point, float, float]:
        """(position, speed km/h, heading °) at ``t_s``: a deterministic function of the time."""
        lt = local_time(t_s)
        hour = lt.hour + lt.minute / 60 + lt.second / 3600
        if not self.start_h <= hour < self.end_h:
            return self.route[0], 0.0, 0.0
        v = self.speed_kmh / 3.6
        leg = self.length_m / v
        cycle = 2 * (leg + self.dwell_s)
        into = ((hour - self.start_h) * 3600 + self.phase_s) % cycle
        if into < leg:
            return self._along(into * v, forward=True)
        if into < leg + self.dwell_s:
            return self.route[-1], 0.0, 0.0
        if into < 2 * leg + self.dwell_s:
            return self._along((into - leg - self.dwell_s) * v, forward=False)
        return self.route[0], 0.0, 0.0

    def _along(self, s: float, *, forward: bool) -> tuple[Point, float, float]:
        pts = self.route if forward else self.route[::-1]
        for a, b in itertools.pairwise(pts):
            seg = metres(a, b)
            if s <= seg:
                f = s / seg if seg else 0.0
                heading = math.degrees(math.atan2((b[1] - a[1]) * math.cos(math.radians(a[0])), b[0] - a[0]))
                return (a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1])), self.speed_kmh, heading % 360
            s -= seg
        return pts[-1], 0.0, 0.0


def new_model(kind: str, rng: random.Random, town: Point) -> BinModel | LightModel | BoatModel:
    """A new device's model, drawn from ``rng``."""
    if kind == "bin":
        loc = (town[0] + rng.uniform(-0.006, 0.006), town[1] + rng.uniform(-0.012, 0.012))
        rate = min(18.0, max(2.0, rng.lognormvariate(math.log(8.0), 0.3)))
        volume = rng.choice([240, 660, 1100])
        # a bin's level when the story starts: as if it had been emptied some days before
        return BinModel(loc, rate, volume, rng, fill_pct=rng.uniform(0, 60), round_offset_h=rng.uniform(0, 4))
    if kind == "streetlight":
        loc = (town[0] + rng.uniform(-0.006, 0.006), town[1] + rng.uniform(-0.012, 0.012))
        return LightModel(
            loc,
            rng,
            watts=rng.choice([40.0, 60.0, 90.0]),
            energy_wh=rng.uniform(1e4, 5e5),
            threshold_deg=DUSK_ELEVATION_DEG + rng.uniform(-1.0, 1.0),
        )
    return BoatModel(
        rng.choice(BOAT_ROUTES),
        speed_kmh=rng.uniform(7, 14),
        dwell_s=rng.uniform(15, 60) * 60,
        start_h=rng.uniform(6.5, 9),
        end_h=rng.uniform(18, 21),
        phase_s=rng.uniform(0, 3600),
    )
