"""Routes: the solver's tour is never longer than 2-opt on the demo's stops, is optimal on small
instances (within 2 % of the optimum by dynamic programming), and the fleet plan keeps to capacity, shift
length and service time with closed tours."""

from __future__ import annotations

import itertools
import random

import pytest

from lorakeet.gateway_bridge.simulator import make_fleet
from lorakeet.views.routing import (
    Fleet,
    Stop,
    best_tour,
    distance_matrix_m,
    nearest_neighbour,
    plan_routes,
    tour_length,
    two_opt,
)

DEPOT = (51.9200, 4.4800)


def optimum(d: list[list[float]]) -> float:
    """Held-Karp: the shortest closed tour from point 0 over all points."""
    n = len(d)
    best: dict[tuple[int, int], float] = {(1 << k, k): d[0][k] for k in range(1, n)}
    for size in range(2, n):
        for subset in itertools.combinations(range(1, n), size):
            mask = sum(1 << k for k in subset)
            for k in subset:
                prev = mask & ~(1 << k)
                best[(mask, k)] = min(best[(prev, m)] + d[m][k] for m in subset if m != k)
    full = (1 << n) - 2
    return min(best[(full, k)] + d[k][0] for k in range(1, n))


def demo_stops() -> list[tuple[float, float]]:
    return [d.location for d in make_fleet(50, 0, 0) if d.location is not None]


def test_demo_tour_no_longer_than_two_opt() -> None:
    pts = demo_stops()
    d = distance_matrix_m([DEPOT, *pts])
    nn = nearest_neighbour(d)
    opt2 = tour_length(d, two_opt(d, nn))
    tour = [i + 1 for i in best_tour(DEPOT, pts)]
    assert sorted(tour) == list(range(1, len(pts) + 1))
    assert tour_length(d, tour) <= opt2 + 1e-6
    assert tour_length(d, tour) < tour_length(d, nn)


@pytest.mark.parametrize("seed", range(5))
def test_near_optimal_on_small_instances(seed: int) -> None:
    rng = random.Random(seed)
    pts = [(51.92 + rng.uniform(-0.01, 0.01), 4.48 + rng.uniform(-0.015, 0.015)) for _ in range(8)]
    d = distance_matrix_m([DEPOT, *pts])
    tour = [i + 1 for i in best_tour(DEPOT, pts)]
    best = optimum(d.tolist())
    assert best - 1e-6 <= tour_length(d, tour) <= 1.02 * best  # a heuristic: within 2 % of the optimum


def test_fleet_plan_keeps_capacity_shift_and_service() -> None:
    rng = random.Random(4)
    stops = [
        Stop(f"b{i}", (51.92 + rng.uniform(-0.01, 0.01), 4.48 + rng.uniform(-0.015, 0.015)), 1100, 85.0, 0.5)
        for i in range(40)
    ]
    fleet = Fleet(DEPOT, vehicles=3, capacity_l=15_000, shift_s=3 * 3600, service_s=180, speed_kmh=20)
    plan = plan_routes(stops, fleet)
    visited = [v.stop.id for t in plan.tours for v in t.visits]
    assert sorted(visited + [s.id for s in plan.unassigned]) == sorted(s.id for s in stops)
    assert len(set(visited)) == len(visited)
    assert len(plan.tours) >= 2  # 40 x ~935 L does not fit one 15,000 L vehicle
    for t in plan.tours:
        assert t.load_l <= fleet.capacity_l
        assert t.duration_s <= fleet.shift_s
        arrivals = [v.arrival_s for v in t.visits]
        assert all(b - a >= fleet.service_s for a, b in itertools.pairwise(arrivals))
        # loads are the volume times the predicted fill at arrival
        for v in t.visits:
            assert v.load_l == v.stop.load_l(v.arrival_s)
            assert v.load_l > 1100 * 0.85
    # a shift too short for everything leaves stops unassigned, never breaks the shift
    short = plan_routes(stops, Fleet(DEPOT, vehicles=1, shift_s=1800, service_s=180))
    assert short.unassigned and all(t.duration_s <= 1800 for t in short.tours)
