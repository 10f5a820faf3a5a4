"""Bins' fill history kept in memory per store, so a collection list over 1,000 bins costs
one latest-values query instead of 1,000 history reads.

Each bin keeps hourly buckets (the last reading of each hour, the store's ``last``
aggregate) of the look-back window, and its :class:`FillTrend`. A bin's buckets are read
again only when its newest fill time (from ``latest_many``) changed, and then only from the
last bucket on; an entry older than ``ttl_s`` is re-read whole (a backfill or an erasure
shows within that time). The trend is recomputed only when the buckets changed; the state
against a threshold and a deadline is cheap (:func:`assess`).

The buckets are stamped with their hour's start, so the emptying time is looked up again in
the raw readings around it: it is exact, not rounded to the hour.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass

from lorakeet.storage.protocols import ReadingReader
from lorakeet.storage.records import DeviceKey

from .bins import EMPTY_DROP_PCT, FillSample, FillTrend, emptyings, fill_trend

HOUR_NS = 3_600 * 1_000_000_000
DAY_NS = 24 * HOUR_NS
LOOKBACK_NS = 14 * DAY_NS
TTL_S = 300.0
KEY = "fill_pct"


@dataclass
class _Entry:
    buckets: list[FillSample]  # hourly, oldest first; the last one may still be filling
    newest_ns: int
    trend: FillTrend | None
    read_at: float
    emptied: tuple[int | None, int | None]  # (bucket of the last emptying, its exact time)


class FillHistory:
    """Hourly fill history and trend of every bin of one store."""

    def __init__(self, store: ReadingReader, *, lookback_ns: int = LOOKBACK_NS, ttl_s: float = TTL_S) -> None:
        self.store = store
        self.lookback_ns = lookback_ns
        self.ttl_s = ttl_s
        self._entries: dict[DeviceKey, _Entry] = {}
        self._lock = threading.Lock()
        self.reads = 0  # bucket reads done (for tests and the benchmark)

    def trend(self, key: DeviceKey, latest: FillSample, now_ns: int) -> FillTrend | None:
        """The bin's trend, given its newest fill reading (from the store's latest values)."""
        with self._lock:
            e = self._entries.get(key)
        fresh = e is not None and time.monotonic() - e.read_at < self.ttl_s
        if e is not None and fresh and e.newest_ns == latest.time_ns:
            return e.trend
        start = now_ns - self.lookback_ns
        if e is not None and fresh and e.buckets:
            since = e.buckets[-1].time_ns
            kept = [b for b in e.buckets[:-1] if b.time_ns >= start]
            read_at = e.read_at
        else:
            since, kept, read_at = start - start % HOUR_NS, [], time.monotonic()
        buckets = kept + self._buckets(key, since, latest.time_ns + 1)
        own_hour = latest.time_ns - latest.time_ns % HOUR_NS
        trend = fill_trend([*(b for b in buckets if b.time_ns < own_hour), latest])
        emptied = (None, None) if e is None else e.emptied
        if trend is not None and trend.last_emptied_ns is not None:
            if emptied[0] != trend.last_emptied_ns:
                emptied = (trend.last_emptied_ns, self._exact_emptying(key, trend.last_emptied_ns))
            trend = FillTrend(trend.latest, trend.fit, emptied[1])
        with self._lock:
            self._entries[key] = _Entry(buckets, latest.time_ns, trend, read_at, emptied)
        return trend

    def forget(self, keep: set[DeviceKey]) -> None:
        """Drop entries of bins no longer listed (erased, or gone from the fleet)."""
        with self._lock:
            for k in [k for k in self._entries if k not in keep]:
                del self._entries[k]

    def _buckets(self, key: DeviceKey, start_ns: int, end_ns: int) -> list[FillSample]:
        self.reads += 1
        pts = self.store.aggregate(key, [KEY], start_ns, end_ns, HOUR_NS, "last")
        out = []
        for p in pts:
            v = p.values.get(KEY)
            if isinstance(v, int | float) and not isinstance(v, bool):
                out.append(FillSample(p.time_ns, float(v)))
        return out

    def _exact_emptying(self, key: DeviceKey, bucket_ns: int) -> int:
        """The first raw reading after the drop found between hourly buckets."""
        pts = self.store.points(key, [KEY], bucket_ns - HOUR_NS, bucket_ns + HOUR_NS, 10_000)
        raw = [
            FillSample(p.time_ns, float(v))
            for p in pts
            if isinstance(v := p.values.get(KEY), int | float) and not isinstance(v, bool)
        ]
        found = emptyings(raw, EMPTY_DROP_PCT)
        return raw[found[-1]].time_ns if found else bucket_ns


_histories: weakref.WeakKeyDictionary[object, FillHistory] = weakref.WeakKeyDictionary()
_histories_lock = threading.Lock()


def history_of(store: ReadingReader) -> FillHistory:
    """The one fill history cache of ``store`` (made on first use)."""
    with _histories_lock:
        h = _histories.get(store)
        if h is None:
            h = _histories[store] = FillHistory(store)
        return h
