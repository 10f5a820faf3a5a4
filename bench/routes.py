"""Route benchmark: tour length and solve time of our planner against baselines, in one run.

    .venv/bin/python bench/routes.py [--seeds 5] [--ortools-s 1]

Instances: the demo's 50 bins (and random sets of 8, 100 and 200 bins over the same town) as
one closed tour from a depot. For each it prints the median over seeds of:

- **nearest neighbour** (the old collection list) and **2-opt** from it;
- **VROOM** (pyvroom, exploration 1, one thread) alone;
- **ours**: :func:`lorakeet.views.routing.best_tour` (VROOM or nearest neighbour, polished by 2-opt);
- **OR-Tools** (``pip install .[bench]``): path-cheapest-arc, then guided local search for
  ``--ortools-s`` seconds;
- **optimum** (Held-Karp dynamic programming) on instances of at most 9 stops.

Lengths are in metres, ratios against nearest neighbour (and against the optimum where known);
times in milliseconds. A second table plans the demo's bins for 2 vehicles with capacity and
shift (VROOM) to show what a fleet plan costs.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import random
import statistics
import time
from collections.abc import Callable

import numpy as np

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


def held_karp(d: np.ndarray) -> float:
    n = len(d)
    best = {(1 << k, k): d[0][k] for k in range(1, n)}
    for size in range(2, n):
        for subset in itertools.combinations(range(1, n), size):
            mask = sum(1 << k for k in subset)
            for k in subset:
                prev = mask & ~(1 << k)
                best[(mask, k)] = min(best[(prev, m)] + d[m][k] for m in subset if m != k)
    full = (1 << n) - 2
    return float(min(best[(full, k)] + d[k][0] for k in range(1, n)))


def vroom_only(d: np.ndarray) -> list[int]:
    import vroom

    p = vroom.Input()
    p.set_durations_matrix(profile="car", matrix_input=np.rint(d).astype(int).tolist())
    p.add_vehicle(vroom.Vehicle(0, start=0, end=0))
    p.add_job([vroom.Job(i, location=i) for i in range(1, len(d))])
    r = p.solve(exploration_level=1, nb_threads=1).routes
    return [int(x) for x in r[r.type == "job"].location_index]


def ortools(d: np.ndarray, seconds: float) -> list[int] | None:
    try:
        from ortools.constraint_solver import pywrapcp, routing_enums_pb2
    except ImportError:
        return None
    m = np.rint(d).astype(int)
    man = pywrapcp.RoutingIndexManager(len(d), 1, 0)
    routing = pywrapcp.RoutingModel(man)
    cb = routing.RegisterTransitCallback(lambda a, b: int(m[man.IndexToNode(a), man.IndexToNode(b)]))
    routing.SetArcCostEvaluatorOfAllVehicles(cb)
    ps = pywrapcp.DefaultRoutingSearchParameters()
    ps.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    ps.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    ps.time_limit.FromMilliseconds(int(seconds * 1000))
    sol = routing.SolveWithParameters(ps)
    i, order = routing.Start(0), []
    while not routing.IsEnd(i):
        i = sol.Value(routing.NextVar(i))
        if not routing.IsEnd(i):
            order.append(man.IndexToNode(i))
    return order


def instances(seeds: int) -> dict[str, list[list[tuple[float, float]]]]:
    demo = [d.location for d in make_fleet(50, 0, 0) if d.location is not None]
    out: dict[str, list[list[tuple[float, float]]]] = {"demo 50": [demo]}
    for n in (8, 100, 200):
        sets = []
        for s in range(seeds):
            rng = random.Random(s)
            sets.append(
                [(51.92 + rng.uniform(-0.006, 0.006), 4.48 + rng.uniform(-0.012, 0.012)) for _ in range(n)]
            )
        out[f"random {n}"] = sets
    return out


def run(fn: Callable[[], list[int] | None]) -> tuple[list[int] | None, float]:
    t = time.perf_counter()
    order = fn()
    return order, (time.perf_counter() - t) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--ortools-s", type=float, default=1.0)
    args = ap.parse_args()
    print(f"{'instance':12} {'method':20} {'length m':>10} {'vs NN':>7} {'vs opt':>7} {'ms':>9}")
    for name, sets in instances(args.seeds).items():
        results: dict[str, list[tuple[float, float, float | None]]] = {}
        for pts in sets:
            d = distance_matrix_m([DEPOT, *pts])
            opt = held_karp(d) if len(pts) <= 9 else None
            nn, _ = run(lambda d=d: nearest_neighbour(d))
            assert nn is not None
            nn_len = tour_length(d, nn)
            methods: dict[str, Callable[[], list[int] | None]] = {
                "nearest neighbour": lambda nn=nn: nn,
                "2-opt from NN": lambda d=d: two_opt(d, nearest_neighbour(d)),
                "VROOM": lambda d=d: vroom_only(d),
                "ours (best_tour)": lambda pts=pts: [i + 1 for i in best_tour(DEPOT, pts)],
                f"OR-Tools GLS {args.ortools_s:g}s": lambda d=d: ortools(d, args.ortools_s),
            }
            for method, fn in methods.items():
                order, ms = run(fn)
                if order is None:
                    continue
                length = tour_length(d, order)
                results.setdefault(method, []).append(
                    (length, length / nn_len, None if opt is None else length / opt)
                )
                results.setdefault(method + "#ms", []).append((ms, 0.0, None))
            if opt is not None:
                results.setdefault("optimum (Held-Karp)", []).append((opt, opt / nn_len, 1.0))
        for method, rows in results.items():
            if method.endswith("#ms"):
                continue
            ms_rows = results.get(method + "#ms")
            ms = statistics.median(r[0] for r in ms_rows) if ms_rows else float("nan")
            vs_opt = [r[2] for r in rows if r[2] is not None]
            opt_txt = f"{statistics.median(vs_opt):7.3f}" if vs_opt else f"{'':>7}"
            print(
                f"{name:12} {method:20} {statistics.median(r[0] for r in rows):10.0f} "
                f"{statistics.median(r[1] for r in rows):7.3f} {opt_txt} {ms:9.1f}"
            )
    demo = [d.location for d in make_fleet(50, 0, 0) if d.location is not None]
    rng = random.Random(1)
    stops = [
        Stop(f"bin-{i}", p, rng.choice([240, 660, 1100]), rng.uniform(70, 95), 0.4)
        for i, p in enumerate(demo)
    ]
    print("\nfleet plan over the demo's 50 bins (VROOM): vehicles, capacity, shift 4 h, 120 s per stop")
    for vehicles, cap in ((1, 100_000), (2, 12_000), (3, 8_000)):
        t = time.perf_counter()
        plan = plan_routes(
            stops, Fleet(DEPOT, vehicles=vehicles, capacity_l=cap, shift_s=4 * 3600, service_s=120)
        )
        ms = (time.perf_counter() - t) * 1000
        tours = ", ".join(
            f"{len(t.visits)} stops {t.load_l} L {t.duration_s / 3600:.1f} h" for t in plan.tours
        )
        print(
            f"  {vehicles} x {cap} L: {plan.length_m:7.0f} m, {len(plan.unassigned)} unassigned, "
            f"{ms:7.1f} ms  [{tours}]"
        )
    print(f"(run at {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC)")


if __name__ == "__main__":
    main()
