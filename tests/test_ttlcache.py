"""TtlCache: the one cache type (registry lookups, device directory, codec resolver)."""

from __future__ import annotations

import math
import threading

import pytest

from lorakeet.ttlcache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_their_ttl_but_stay_readable_as_stale() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(10.0, clock=clock)
    cache.put("a", 1)
    clock.now += 9.9
    assert cache.get("a") == 1
    clock.now += 0.1
    assert cache.get("a") is None
    assert cache.get_stale("a") == 1
    assert cache.get("missing") is None and cache.get_stale("missing") is None


def test_a_put_may_choose_its_own_ttl() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(10.0, clock=clock)
    cache.put("short", 1, ttl=2.0)
    cache.put("long", 2, ttl=50.0)
    clock.now += 20
    assert (cache.get("short"), cache.get("long")) == (None, 2)


def test_without_a_ttl_entries_live_until_removed() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(clock=clock)
    assert cache.ttl == math.inf
    cache.put("a", 1)
    cache.put("b", 2)
    clock.now += 1e12
    assert cache.get("a") == 1
    cache.pop("a")
    assert cache.get("a") is None and cache.get("b") == 2
    cache.clear()
    assert len(cache) == 0 and cache.get("b") is None


def test_when_full_the_entry_put_longest_ago_goes_first() -> None:
    cache: TtlCache[int, str] = TtlCache(maxsize=3)
    for i in range(3):
        cache.put(i, str(i))
    cache.put(0, "again")  # putting again makes it the newest
    cache.put(3, "3")
    assert len(cache) == 3
    assert [cache.get(i) for i in range(4)] == ["again", None, "2", "3"]
    with pytest.raises(ValueError, match="maxsize"):
        TtlCache(maxsize=0)


def test_concurrent_puts_keep_the_bound() -> None:
    cache: TtlCache[int, int] = TtlCache(maxsize=50)

    def fill(base: int) -> None:
        for i in range(2000):
            cache.put(base + i, i)

    threads = [threading.Thread(target=fill, args=(n * 10_000,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 50
