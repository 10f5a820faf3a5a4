"""Hand-over between threads: a bounded queue that the consumer drains in batches, and a
one-thread worker that writes one batch while the next is prepared.

The MQTT network thread only appends; the pipeline takes everything that arrived, up
to a batch size, waiting at most a flush interval after the first item. When the queue
is full the producer blocks, which pushes back on the broker connection.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, Generic, TypeVar

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
        self._woken = False

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
        is closed and empty; :meth:`wake` ends either wait early.
        """
        with self._lock:
            if not self._items:
                if self._closed:
                    return []
                if not self._woken:
                    self._not_empty.wait(idle_timeout)
                if not self._items:
                    self._woken = False
                    return []
            deadline = time.monotonic() + max_wait
            self._want = max_items
            while len(self._items) < max_items and not self._closed and not self._woken:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._not_empty.wait(remaining)
            self._want = 1
            self._woken = False
            n = min(max_items, len(self._items))
            # ``taken`` holds the batch before it leaves the deque: a consumer interrupted
            # here (a crash, an exception raised into its thread) finds it there, at worst twice
            self.taken = batch = list(itertools.islice(self._items, n))
            popleft = self._items.popleft
            for _ in range(n):
                popleft()
            self._not_full.notify_all()
            return batch

    def wake(self) -> None:
        """End the consumer's wait now: get_batch returns what it has (maybe nothing)."""
        with self._lock:
            self._woken = True
            self._not_empty.notify()

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


R = TypeVar("R")


class Job(Generic[R]):
    """A job for the :class:`Worker`, and its outcome once ``done`` is set.

    Waited on through a plain Event (``with``-guarded locks only), not a
    ``concurrent.futures.Future``: an exception raised into the waiting thread at any point
    leaves no lock held.
    """

    __slots__ = ("done", "error", "fn", "then", "value")

    def __init__(self, fn: Callable[[], R], then: Callable[[], None] | None = None) -> None:
        self.fn = fn
        self.then = then  # called in the worker thread once done is set
        self.done = threading.Event()
        self.value: R | None = None
        self.error: BaseException | None = None

    def result(self) -> R:
        """Wait for the job; its value, or what it raised."""
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class Worker:
    """One daemon thread that runs jobs in order.

    A daemon thread (unlike ``ThreadPoolExecutor``'s), so that a job stuck on a store that
    does not answer never holds the process at exit.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: SimpleQueue[Job[Any]] = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[], R], then: Callable[[], None] | None = None) -> Job[R]:
        """Run ``fn`` after the jobs before it; ``then`` once it is done."""
        job = Job(fn, then)
        self._jobs.put(job)
        self.start()
        return job

    def start(self) -> None:
        """Start the thread (once); submit() starts it when nobody did."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job.value = job.fn()
            except BaseException as exc:  # handed to the waiter, which decides
                job.error = exc
            job.done.set()
            if job.then is not None:
                job.then()
