"""Token-bucket rate limits: one bucket per API key, or per client IP for anonymous callers.

Webhook ingest (``/v1/ingest/...``) has buckets of its own, per source address and with
a limit sized for uplink traffic: The Things Stack posts every uplink of an application
from a few addresses, without an API key, and must not share the anonymous readers' limit.

A bucket holds up to ``burst`` tokens and refills at ``per_minute / 60`` tokens a second;
each request takes one. An empty bucket answers 429 with ``Retry-After`` (whole seconds).
Buckets live in this process: several API instances each enforce their own limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from fastapi import HTTPException, Request

from .auth import ViewerDep

MAX_BUCKETS = 50_000
INGEST_PREFIX = "/v1/ingest/"


class TokenBuckets:
    """Thread-safe buckets keyed by caller; the least recently used are evicted past a cap."""

    def __init__(self, per_minute: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, who: str) -> float:
        """Take a token: 0.0 when allowed, else the seconds until one is available."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(who, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[who] = (tokens, now)
            while len(self._buckets) > MAX_BUCKETS:
                self._buckets.popitem(last=False)
            return wait


def caller(request: Request, key_id: int | None) -> str:
    """The bucket name of a request."""
    if key_id is not None:
        return f"key:{key_id}"
    host = request.client.host if request.client else "unknown"
    return f"ip:{host}"


async def rate_limit(request: Request, viewer: ViewerDep) -> None:
    """App-wide dependency: 429 with Retry-After when the caller's bucket is empty."""
    ingest = request.scope["path"].startswith(INGEST_PREFIX)  # (request.url parses the whole URL)
    buckets: TokenBuckets | None = getattr(
        request.app.state, "ingest_rate_limits" if ingest else "rate_limits", None
    )
    if buckets is None:
        return
    wait = buckets.take(caller(request, None if ingest else viewer.key_id))
    if wait > 0:
        raise HTTPException(
            status_code=429,
            detail="rate limit exceeded; retry later",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
