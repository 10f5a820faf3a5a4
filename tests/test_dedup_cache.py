"""The dedup cache remembers the most recent keys, a bounded number of them."""

from __future__ import annotations

from lorakeet.gateway_bridge.decoding import DedupCache


def test_the_oldest_key_is_forgotten_first() -> None:
    cache = DedupCache(3)
    for k in (1, 2, 3, 4):
        cache.add(k)
    assert 1 not in cache
    assert all(k in cache for k in (2, 3, 4))
    assert len(cache) == 3


def test_a_key_added_again_keeps_its_place_and_is_counted_once() -> None:
    cache = DedupCache(3)
    for k in (1, 2, 1, 3, 1):
        cache.add(k)
    assert len(cache) == 3
    cache.add(4)  # 1 came first, so it goes first, even though it was added again since
    assert 1 not in cache
    assert all(k in cache for k in (2, 3, 4))
    cache.add(5)
    cache.add(6)
    assert len(cache) == 3 and all(k in cache for k in (4, 5, 6))


def test_capacity_zero_remembers_nothing() -> None:
    cache = DedupCache(0)
    cache.add(7)
    assert 7 not in cache and len(cache) == 0


def test_keys_as_large_as_uplink_keys() -> None:
    cache = DedupCache(2)
    big = (0xFFFF_FFFF_FFFF_FFFF << 128) | (5 << 64) | 1_795_132_800_000_000_000
    cache.add(big)
    assert big in cache and big + 1 not in cache
