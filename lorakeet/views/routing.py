"""Collection routes: closed tours from a depot for N vehicles with capacity, shift and service time.

The solver is VROOM (the ``pyvroom`` bindings): a vehicle-routing solver with capacities,
time windows and service times, fast enough to plan a few hundred stops in well under a
second (docs/routes.md has the measurements against OR-Tools and the baselines).

Distances are great-circle metres between stops (no road network: a crew's real route is
longer, by a factor ``detour``); driving times follow from an average ``speed_kmh``. Each
stop's load is the bin's volume times its predicted fill at arrival, in litres: the plan is
solved once with the fill at the shift's start, the arrivals are read from the solution, and
it is solved again with the loads at those arrivals when any of them grew.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

EARTH_RADIUS_M = 6_371_008.8
LatLon = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Stop:
    """A bin to empty: where, how big, how full at the start and how fast it fills."""

    id: str
    position: LatLon
    volume_l: float = 240.0
    fill_pct: float = 100.0
    rate_pct_per_h: float = 0.0

    def load_l(self, after_s: float) -> int:
        """Litres to take on ``after_s`` seconds into the shift (fill capped at 100 %)."""
        pct = min(100.0, max(0.0, self.fill_pct + self.rate_pct_per_h * after_s / 3600))
        return math.ceil(self.volume_l * pct / 100)


@dataclass(frozen=True, slots=True)
class Fleet:
    """The vehicles and the rules of a shift."""

    depot: LatLon
    vehicles: int = 1
    capacity_l: int = 10_000_000
    shift_s: int = 8 * 3600
    service_s: int = 120
    speed_kmh: float = 20.0
    detour: float = 1.3


@dataclass(frozen=True, slots=True)
class Visit:
    """One stop on a tour."""

    stop: Stop
    arrival_s: int
    load_l: int


@dataclass
class Tour:
    """One vehicle's closed tour (depot, visits, depot)."""

    vehicle: int
    visits: list[Visit] = field(default_factory=list)
    length_m: float = 0.0
    duration_s: int = 0

    @property
    def load_l(self) -> int:
        """Litres collected."""
        return sum(v.load_l for v in self.visits)


@dataclass
class Plan:
    """Tours for the fleet, and the stops none of them could take."""

    fleet: Fleet
    tours: list[Tour]
    unassigned: list[Stop]

    @property
    def length_m(self) -> float:
        """Total length of the tours."""
        return sum(t.length_m for t in self.tours)


def distance_matrix_m(points: Sequence[LatLon]) -> npt.NDArray[np.float64]:
    """Great-circle distances in metres between every pair of points."""
    import numpy as np

    if not points:
        return np.zeros((0, 0))
    p = np.radians(np.asarray(points, dtype=np.float64))
    lat, lon = p[:, 0:1], p[:, 1:2]
    h = np.sin((lat.T - lat) / 2) ** 2 + np.cos(lat) * np.cos(lat.T) * np.sin((lon.T - lon) / 2) ** 2
    d: npt.NDArray[np.float64] = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(1.0, h)))
    return d


def tour_length(d: npt.NDArray[np.float64], order: Sequence[int]) -> float:
    """Length of the closed tour 0 → order → 0 over matrix ``d`` (index 0 is the depot)."""
    path = [0, *order, 0]
    return float(sum(d[a, b] for a, b in itertools.pairwise(path)))


def nearest_neighbour(d: npt.NDArray[np.float64]) -> list[int]:
    """From the depot (index 0), always on to the nearest unvisited point; O(n²) in numpy."""
    import numpy as np

    n = len(d)
    left = np.ones(n, dtype=bool)
    left[0] = False
    here, out = 0, []
    for _ in range(n - 1):
        row = np.where(left, d[here], np.inf)
        here = int(np.argmin(row))
        left[here] = False
        out.append(here)
    return out


def two_opt(d: npt.NDArray[np.float64], order: Sequence[int], *, max_passes: int = 50) -> list[int]:
    """Improve a closed tour by reversing segments while one shortens it (best move per start)."""
    import numpy as np

    path = np.asarray([0, *order, 0], dtype=np.int64)
    n = len(path)
    for _ in range(max_passes):
        improved = False
        for i in range(1, n - 2):
            a, b = path[i - 1], path[i]
            c, e = path[i + 1 : n - 1], path[i + 2 : n]
            gain = d[a, b] + d[c, e] - d[a, c] - d[b, e]
            j = int(np.argmax(gain))
            if gain[j] > 1e-7:
                path[i : i + j + 2] = path[i : i + j + 2][::-1].copy()
                improved = True
        if not improved:
            break
    return [int(x) for x in path[1:-1]]


def best_tour(
    depot: LatLon, points: Sequence[LatLon], *, solver_max: int = 150, timeout_s: float = 2.0
) -> list[int]:
    """A short closed tour over ``points`` from ``depot`` (indices into ``points``).

    The shorter of VROOM's tour (up to ``solver_max`` points) and nearest neighbour, each
    polished by 2-opt: never longer than a 2-opt tour from nearest neighbour.
    """
    if len(points) < 2:
        return list(range(len(points)))
    d = distance_matrix_m([depot, *points])
    candidates = [two_opt(d, nearest_neighbour(d))]
    if len(points) <= solver_max:
        plan = plan_routes(
            [Stop(str(i), p) for i, p in enumerate(points)],
            Fleet(depot),
            exploration=5 if len(points) <= 60 else 1,
            timeout_s=timeout_s,
        )
        if plan.tours and not plan.unassigned:
            candidates.append(two_opt(d, [int(v.stop.id) + 1 for v in plan.tours[0].visits]))
    best = min(candidates, key=lambda o: tour_length(d, o))
    return [i - 1 for i in best]


def plan_routes(stops: Sequence[Stop], fleet: Fleet, *, exploration: int = 5, timeout_s: float = 5.0) -> Plan:
    """Closed tours for ``fleet`` over ``stops`` (VROOM), loads at the predicted arrival."""
    if not stops:
        return Plan(fleet, [], [])
    d = distance_matrix_m([fleet.depot, *(s.position for s in stops)])
    offsets = [0.0] * len(stops)
    plan = _solve(stops, fleet, d, offsets, exploration, timeout_s)
    arrivals = [0.0] * len(stops)
    index = {s.id: i for i, s in enumerate(stops)}
    for t in plan.tours:
        for v in t.visits:
            arrivals[index[v.stop.id]] = v.arrival_s
    if any(s.load_l(a) > s.load_l(0) for s, a in zip(stops, arrivals, strict=True)):
        plan = _solve(stops, fleet, d, arrivals, exploration, timeout_s)
    return plan


def _solve(
    stops: Sequence[Stop],
    fleet: Fleet,
    d: npt.NDArray[np.float64],
    load_at_s: Sequence[float],
    exploration: int,
    timeout_s: float,
) -> Plan:
    import datetime as _dt

    import numpy as np
    import vroom

    metres = np.rint(d * fleet.detour).astype(np.int64)
    seconds = np.rint(metres / (fleet.speed_kmh / 3.6)).astype(np.int64)
    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=seconds.tolist())
    problem.set_distances_matrix(profile="car", matrix_input=metres.tolist())
    for v in range(fleet.vehicles):
        problem.add_vehicle(
            vroom.Vehicle(
                v,
                start=0,
                end=0,
                capacity=[fleet.capacity_l],
                time_window=vroom.TimeWindow(0, fleet.shift_s),
            )
        )
    loads = [s.load_l(a) for s, a in zip(stops, load_at_s, strict=True)]
    problem.add_job(
        [
            vroom.Job(i + 1, location=i + 1, default_service=fleet.service_s, pickup=[loads[i]])
            for i in range(len(stops))
        ]
    )
    solution = problem.solve(
        exploration_level=exploration, nb_threads=1, timeout=_dt.timedelta(seconds=timeout_s)
    )
    routes = solution.routes
    tours: dict[int, Tour] = {}
    assigned: set[int] = set()
    for row in routes.itertuples(index=False):
        t = tours.setdefault(int(row.vehicle_id), Tour(int(row.vehicle_id)))
        if row.type == "job":
            i = int(row.id) - 1
            assigned.add(i)
            t.visits.append(Visit(stops[i], int(row.arrival), stops[i].load_l(int(row.arrival))))
        elif row.type == "end":
            t.duration_s = int(row.arrival)
    for t in tours.values():
        t.length_m = tour_length(d, [stops.index(v.stop) + 1 for v in t.visits]) if t.visits else 0.0
    return Plan(
        fleet,
        [t for _, t in sorted(tours.items()) if t.visits],
        [s for i, s in enumerate(stops) if i not in assigned],
    )
