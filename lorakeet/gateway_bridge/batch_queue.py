"""A bounded hand-off queue that the consumer drains in batches.

The MQTT network thread only appends; the pipeline takes everything that arrived, up
to a batch size, waiting at most a flush interval after the first item. When the queue
is full the producer blocks, which pushes back on the broker connection.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class QueueClosed(Exception):
    """Raised by put() once the queue is closed."""


class BatchQueue(Generic[T]):
    """Bounded multi-producer, single-consumer queue with batch reads."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be positive")
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._closed = False
        self._want = 1  # items the waiting consumer needs before it wants a wake-up
        self.accepted = 0  # items ever put (the consumer counts what it finished against it)
        self.taken: list[T] = []  # the last batch handed out (the consumer clears it once done)

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T, timeout: float | None = None) -> bool:
        """Append an item, waiting while full; False on timeout. Raises QueueClosed."""
        with self._lock:
            if len(self._items) >= self.maxsize:
                deadline = None if timeout is None else time.monotonic() + timeout
                while len(self._items) >= self.maxsize and not self._closed:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._not_full.wait(remaining)
            if self._closed:
                raise QueueClosed
            self._items.append(item)
            self.accepted += 1
            n = len(self._items)
            if n == 1 or n >= self._want:
                self._not_empty.notify()
            return True

    def get_batch(self, max_items: int, max_wait: float, idle_timeout: float | None = None) -> list[T]:
        """Up to ``max_items``; waits ``max_wait`` after the first item for more.

        Returns an empty list when nothing arrived within ``idle_timeout`` or the queue
        is closed and empty.
        """
        with self._lock:
            if not self._items:
                if self._closed:
                    return []
                self._not_empty.wait(idle_timeout)
                if not self._items:
                    return []
            deadline = time.monotonic() + max_wait
            self._want = max_items
            while len(self._items) < max_items and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._not_empty.wait(remaining)
            self._want = 1
            n = min(max_items, len(self._items))
            # ``taken`` holds the batch before it leaves the deque: a consumer interrupted
            # here (a crash, an exception raised into its thread) finds it there, at worst twice
            self.taken = batch = list(itertools.islice(self._items, n))
            popleft = self._items.popleft
            for _ in range(n):
                popleft()
            self._not_full.notify_all()
            return batch

    def close(self) -> None:
        """Refuse new items and wake every waiter; queued items can still be drained."""
        with self._lock:
            self._closed = True
            self._not_empty.notify_all()
            self._not_full.notify_all()

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return self._closed
