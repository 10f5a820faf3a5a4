"""What the API needs, built once by the entry point: the services, and how to read the store."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, ParamSpec, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from lorakeet.gateway_bridge.sink import IngestSink
from lorakeet.settings import Settings
from lorakeet.storage.alerts_store import AlertStore
from lorakeet.storage.factory import Store
from lorakeet.storage.records import DeviceKey, LatestValue
from lorakeet.storage.registry import Registry

P = ParamSpec("P")
T = TypeVar("T")

BULK_READERS = 2
_bulk_limiter: RunVar[CapacityLimiter] = RunVar("lorakeet_bulk_readers")


async def bulk_read(fn: Callable[[], T]) -> T:
    """Run a long read (thousands of rows) in a thread, at most ``BULK_READERS`` at a time.

    Dozens of threads each fetching rows from SQLite fight over the GIL, which every row
    fetch releases and takes back: throughput falls several-fold. Queueing them instead
    keeps it and leaves the event loop free for short requests.
    """
    try:
        limiter = _bulk_limiter.get()
    except LookupError:
        limiter = CapacityLimiter(BULK_READERS)
        _bulk_limiter.set(limiter)
    return await anyio.to_thread.run_sync(fn, limiter=limiter)


class Answers:
    """Built answers kept with what they were built from: at most ``maxsize`` of them and
    ``max_bytes`` of answers in all (the least recently used go first); thread-safe. The
    caller decides when an answer is still valid."""

    def __init__(self, maxsize: int = 64, max_bytes: int = 16 << 20) -> None:
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self._held: OrderedDict[object, tuple[int, Any]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: object) -> Any:
        """What was put under ``key``, or None."""
        with self._lock:
            hit = self._held.get(key)
            if hit is None:
                return None
            self._held.move_to_end(key)
            return hit[1]

    def put(self, key: object, value: object, size: int) -> None:
        """Keep ``value`` (``size`` bytes) under ``key``; one bigger than ``max_bytes`` is not kept."""
        with self._lock:
            old = self._held.pop(key, None)
            if old is not None:
                self._bytes -= old[0]
            if size > self.max_bytes:
                return
            self._held[key] = (size, value)
            self._bytes += size
            while len(self._held) > self.maxsize or self._bytes > self.max_bytes:
                self._bytes -= self._held.popitem(last=False)[1][0]


@dataclass
class Services:
    """What the API needs, built once by the entry point."""

    settings: Settings
    registry: Registry
    store: Store
    pipeline: IngestSink | None = None  # webhook ingest hands messages to it (None: no ingest)
    ingest_timeout_s: float = 8.0  # a webhook waits this long for durability, then 503
    fleet_pages: Answers = field(default_factory=Answers)  # built fleet pages (routes/fleet.py)

    async def quick_read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a short store read: inline when the store says its reads may run inline (the
        embedded SQLite store: a point read takes microseconds, less than a thread-pool hop), in
        the thread pool otherwise (an InfluxDB query must not block the event loop)."""
        if self.store.reads_inline:
            return fn(*args, **kwargs)
        return await run_in_threadpool(fn, *args, **kwargs)

    def latest_held(self, key: DeviceKey) -> list[LatestValue] | None:
        """A device's latest values when the store holds them in memory (the InfluxDB store's
        view of its ``latest`` measurement, while fresh), else None: read the store then."""
        held: Callable[[DeviceKey], list[LatestValue] | None] | None = getattr(
            self.store, "latest_held", None
        )
        return None if held is None else held(key)

    def latest_version(self) -> object | None:
        """A token that stays the same while the store's ``latest_many`` answers the same, or
        None when the store has none (see ``InfluxReads.latest_version``; may block)."""
        version: Callable[[], object | None] | None = getattr(self.store, "latest_version", None)
        return None if version is None else version()

    def purge_devices(self, keys: Iterable[DeviceKey]) -> None:
        """Erase what is kept about devices gone from the registry: their readings and uplinks,
        and every alert rule on them (a device registered later under the same id inherits none)."""
        alerts = AlertStore(self.registry)
        for key in keys:
            self.store.delete_device(key)
            alerts.forget_device(key.uid)


def services_of(request: Request) -> Services:
    """The services of the app serving ``request``."""
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    """The app's services (async: no I/O, so no thread-pool hop per request)."""
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]
