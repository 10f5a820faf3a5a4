"""The bounded hand-off queue: batches by size and by time, back-pressure when full."""

from __future__ import annotations

import threading
import time

import pytest

from lorakeet.gateway_bridge.batch_queue import BatchQueue, QueueClosed


def test_batch_by_size() -> None:
    q: BatchQueue[int] = BatchQueue(100)
    for i in range(10):
        q.put(i)
    assert q.get_batch(4, max_wait=5.0) == [0, 1, 2, 3]
    assert q.get_batch(100, max_wait=0.01) == [4, 5, 6, 7, 8, 9]


def test_batch_by_time() -> None:
    q: BatchQueue[int] = BatchQueue(100)
    q.put(1)
    t0 = time.monotonic()
    assert q.get_batch(50, max_wait=0.1) == [1]
    assert 0.05 <= time.monotonic() - t0 < 2.0


def test_idle_timeout_returns_empty() -> None:
    q: BatchQueue[int] = BatchQueue(10)
    assert q.get_batch(5, 0.01, idle_timeout=0.01) == []


def test_full_queue_blocks_producer_until_drained() -> None:
    q: BatchQueue[int] = BatchQueue(2)
    q.put(1)
    q.put(2)
    assert q.put(3, timeout=0.05) is False
    done = threading.Event()

    def producer() -> None:
        q.put(3)
        done.set()

    threading.Thread(target=producer, daemon=True).start()
    assert not done.wait(0.1)
    assert q.get_batch(2, 0.0) == [1, 2]
    assert done.wait(2)
    assert q.get_batch(2, 0.0) == [3]


def test_close_wakes_and_refuses() -> None:
    q: BatchQueue[int] = BatchQueue(2)
    q.put(1)
    q.close()
    with pytest.raises(QueueClosed):
        q.put(2)
    assert q.get_batch(5, 1.0) == [1]
    assert q.get_batch(5, 1.0) == []
    with pytest.raises(ValueError):
        BatchQueue(0)
