"""Today's collection list: the due bins as one closed tour from the depot, computed cheaply.

- the fill history behind each bin's state is cached per store (:mod:`.bin_history`);
- the tour over a set of stops is cached by the stops' ids and places (it changes only when
  a bin becomes due or is emptied);
- a whole answer is kept ``ANSWER_TTL_S`` seconds per question (viewer, threshold, horizon,
  time zone, depot), and concurrent askers of one question wait for one computation.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import TypeVar

from lorakeet.ttlcache import TtlCache

from .bins import haversine_m
from .fleet import BinView
from .routing import Fleet, Plan, Stop, best_tour, plan_routes

ANSWER_TTL_S = 5.0
TOUR_TTL_S = 600.0
T = TypeVar("T")
LatLon = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Collection:
    """Due bins in tour order, those without a place, the depot used and the closed tour's length."""

    ordered: list[BinView]
    unlocated: list[BinView]
    depot: LatLon | None
    length_m: float


_tours: TtlCache[tuple[LatLon, tuple[tuple[str, float, float], ...]], list[int]] = TtlCache(TOUR_TTL_S, 256)


def closed_length_m(depot: LatLon, points: list[LatLon]) -> float:
    """Depot → points in order → depot, in metres."""
    path = [depot, *points, depot] if points else []
    return sum(haversine_m(a, b) for a, b in itertools.pairwise(path))


def collection_route(bins: list[BinView], depot: LatLon | None) -> Collection:
    """The due ``bins`` as a closed tour from ``depot`` (the bins' centroid when None)."""
    located = [b for b in bins if b.device.latitude is not None and b.device.longitude is not None]
    unlocated = [b for b in bins if b.device.latitude is None or b.device.longitude is None]
    points = [(b.device.latitude or 0.0, b.device.longitude or 0.0) for b in located]
    if depot is None and points:
        depot = (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))
    if depot is None:
        return Collection([], unlocated, None, 0.0)
    key = (depot, tuple((b.device.uid, p[0], p[1]) for b, p in zip(located, points, strict=True)))
    order = _tours.get(key)
    if order is None:
        order = best_tour(depot, points)
        _tours.put(key, order)
    ordered = [located[i] for i in order]
    return Collection(ordered, unlocated, depot, closed_length_m(depot, [points[i] for i in order]))


class Answers:
    """Answers kept briefly per question, each computed once however many ask at the same time."""

    def __init__(self, ttl_s: float = ANSWER_TTL_S, maxsize: int = 512) -> None:
        self._cache: TtlCache[Hashable, object] = TtlCache(ttl_s, maxsize)
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The kept answer to ``key``, else ``compute()`` (once for all concurrent askers)."""
        hit = self._cache.get(key)
        if hit is not None:
            return hit  # type: ignore[return-value]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            hit = self._cache.get(key)
            if hit is None:
                hit = compute()
                self._cache.put(key, hit)
        with self._guard:
            if len(self._locks) > 4 * self._cache.maxsize:
                self._locks.clear()
        return hit  # type: ignore[return-value]

    def clear(self) -> None:
        """Forget every answer."""
        self._cache.clear()


_answers: weakref.WeakKeyDictionary[object, Answers] = weakref.WeakKeyDictionary()
_answers_lock = threading.Lock()


def answers_of(store: object) -> Answers:
    """The kept answers computed over ``store`` (one set per store)."""
    with _answers_lock:
        a = _answers.get(store)
        if a is None:
            a = _answers[store] = Answers()
        return a


def stop_of(b: BinView, default_volume_l: float) -> Stop:
    """A due bin as a routing stop (volume from ``volume_l`` in its metadata)."""
    s = b.state
    return Stop(
        b.device.uid,
        (b.device.latitude or 0.0, b.device.longitude or 0.0),
        b.volume_l or default_volume_l,
        s.fill_pct if s.fill_pct is not None else 100.0,
        max(0.0, s.rate_pct_per_h or 0.0),
    )


def plan_collection(
    bins: list[BinView],
    fleet: Fleet | None,
    *,
    depot: LatLon | None,
    default_volume_l: float,
    timeout_s: float,
) -> tuple[Plan | None, list[BinView]]:
    """Tours for the located due ``bins`` (depot: given, else their centroid) and the unlocated ones."""
    located = [b for b in bins if b.device.latitude is not None and b.device.longitude is not None]
    unlocated = [b for b in bins if b.device.latitude is None or b.device.longitude is None]
    used = depot
    if used is None and located:
        used = (
            sum(b.device.latitude or 0.0 for b in located) / len(located),
            sum(b.device.longitude or 0.0 for b in located) / len(located),
        )
    if used is None or fleet is None:
        return None, unlocated
    fleet = replace(fleet, depot=used)
    return plan_routes([stop_of(b, default_volume_l) for b in located], fleet, timeout_s=timeout_s), unlocated
