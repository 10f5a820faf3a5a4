"""Backfill from The Things Stack Storage Integration after a gap.

TTS publishes uplinks on MQTT at QoS 0 only: whatever arrives while the bridge is away
is lost on MQTT. The Storage Integration keeps uplinks for a while (24 h on TTN, 30 days
on TTS Cloud), so on start and after every reconnect the bridge asks it for everything
since the newest uplink it stored (minus a small overlap) and submits the answers through
the same pipeline, as source ``backfill``: the dedup key (device, f_cnt, received_at) and
the idempotent stores make the overlap harmless.

API: ``GET {base}/api/v3/as/applications/{app}/packages/storage/uplink_message`` with
``after`` (RFC 3339), ``limit`` and ``order=received_at``, ``Authorization: Bearer <key>``
and ``Accept: text/event-stream``; the answer is one ``{"result": {ApplicationUp}}`` per
line. Pages are fetched with ``after`` set to the newest ``received_at`` seen until a page
comes back short. A line that is not such an object is submitted raw (the pipeline keeps it
in the rejected table) and the run goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from lorakeet.settings import Settings
from lorakeet.storage.history import newest_uplink_ns
from lorakeet.storage.protocols import StoreError
from lorakeet.timefmt import parse_rfc3339_ns

from .sink import Inbound

log = logging.getLogger(__name__)

TOPIC = "storage-integration"


class BackfillError(Exception):
    """The Storage Integration could not be queried (auth, network, HTTP error)."""


@dataclass
class BackfillResult:
    """What one backfill run did."""

    since_ns: int
    lines: int = 0
    submitted: int = 0
    malformed: int = 0
    pages: int = 0
    newest_ns: int = 0
    durable: bool = True


def rfc3339(ns: int) -> str:
    """``2026-01-01T00:00:00.123456789Z`` from ns since the epoch."""
    secs, frac = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def application_id(mqtt_application: str) -> str | None:
    """The TTS application id from an MQTT application (``app@tenant`` or ``app``)."""
    app = mqtt_application.split("@", 1)[0]
    return None if app in ("", "+", "#") else app


class StorageIntegration:
    """A client of one application's Storage Integration."""

    def __init__(
        self,
        base_url: str,
        application: str,
        api_key: str,
        *,
        page_size: int = 1000,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = (
            f"{base_url.rstrip('/')}/api/v3/as/applications/{application}/packages/storage/uplink_message"
        )
        self.application = application
        self.page_size = page_size
        self._client = client or httpx.Client(timeout=timeout)
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "text/event-stream"}

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def page(self, after_ns: int) -> Iterator[bytes]:
        """The raw lines of one page of uplinks received after ``after_ns``."""
        params: dict[str, str | int] = {
            "after": rfc3339(after_ns),
            "limit": self.page_size,
            "order": "received_at",
        }
        try:
            with self._client.stream("GET", self.url, params=params, headers=self._headers) as resp:
                if resp.status_code in (401, 403):
                    resp.read()
                    raise BackfillError(
                        f"Storage Integration refused the API key ({resp.status_code}): it needs "
                        f"RIGHT_APPLICATION_TRAFFIC_READ on {self.application!r}"
                    )
                if resp.status_code == 404:
                    raise BackfillError(
                        f"no Storage Integration for {self.application!r} (404): enable the package"
                    )
                if resp.status_code >= 400:
                    resp.read()
                    raise BackfillError(f"Storage Integration answered {resp.status_code}: {resp.text[:200]}")
                for line in resp.iter_lines():
                    text = line.strip()
                    if text:
                        yield text.encode()
        except httpx.HTTPError as exc:
            raise BackfillError(f"Storage Integration unreachable: {exc}") from exc


class Backfill:
    """Fetches a gap from the Storage Integration into a pipeline."""

    def __init__(
        self,
        client: StorageIntegration,
        submit: Callable[[Inbound], object],
        *,
        retention_s: float = 86_400,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.client = client
        self.submit = submit
        self.retention_s = retention_s
        self.clock = clock

    def run(self, since_ns: int, wait_durable: float | None = 60.0) -> BackfillResult:
        """Fetch and submit every uplink after ``since_ns``; raises BackfillError."""
        now = self.clock()
        oldest = now - int(self.retention_s * 1e9)
        res = BackfillResult(since_ns)
        if since_ns < oldest:
            log.error(
                "backfill gap starts at %s, older than the Storage Integration retention (%.0f h): "
                "uplinks received between %s and %s are LOST",
                rfc3339(since_ns),
                self.retention_s / 3600,
                rfc3339(since_ns),
                rfc3339(oldest),
            )
        pending = [0]
        failed = [0]
        cond = threading.Condition()

        def done(error: BaseException | None) -> None:
            with cond:
                pending[0] -= 1
                if error is not None:
                    failed[0] += 1
                cond.notify_all()

        after = since_ns
        while True:
            res.pages += 1
            count = 0
            newest = after
            for line in self.client.page(after):
                count += 1
                res.lines += 1
                body, t = _result(line)
                if body is None:
                    res.malformed += 1
                    log.warning("backfill: malformed Storage Integration line kept raw: %.200r", line)
                    body = line
                if t is not None and t > newest:
                    newest = t
                with cond:
                    pending[0] += 1
                self.submit(Inbound(body, "backfill", TOPIC, "up", time.time_ns(), done))
                res.submitted += 1
            res.newest_ns = max(res.newest_ns, newest)
            if count < self.client.page_size:
                break
            if newest <= after:
                log.error(
                    "backfill: a full page of %d uplinks all at %s; cannot page further",
                    count,
                    rfc3339(after),
                )
                break
            after = newest
        if wait_durable is not None:
            deadline = time.monotonic() + wait_durable
            with cond:
                while pending[0] > 0 and time.monotonic() < deadline:
                    cond.wait(deadline - time.monotonic())
                res.durable = pending[0] == 0 and failed[0] == 0
        log.info(
            "backfill from %s: %d lines in %d pages, %d submitted, %d malformed",
            rfc3339(since_ns),
            res.lines,
            res.pages,
            res.submitted,
            res.malformed,
        )
        return res


def _result(line: bytes) -> tuple[bytes | None, int | None]:
    """(ApplicationUp JSON, its received_at) from one line; (None, None) when malformed."""
    try:
        doc: Any = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(doc, dict) or not isinstance(doc.get("result"), dict):
        return None, None
    result = doc["result"]
    t: int | None = None
    received = result.get("received_at")
    if isinstance(received, str):
        try:
            t = parse_rfc3339_ns(received)
        except ValueError:
            t = None
    return orjson.dumps(result), t


class GapFiller:
    """Runs a backfill on every MQTT (re)connection, one at a time, in a thread of its own."""

    def __init__(self, settings: Settings, store: object, submit: Callable[[Inbound], object]) -> None:
        cfg = settings.backfill
        app = cfg.application or application_id(settings.mqtt.application)
        if app is None:
            raise ValueError("backfill needs LORAKEET_BACKFILL__APPLICATION (mqtt.application is a wildcard)")
        if cfg.api_key is None:
            raise ValueError("backfill needs LORAKEET_BACKFILL__API_KEY")
        self.application = app
        self.cfg = cfg
        self.store = store
        self.backfill = Backfill(
            StorageIntegration(
                cfg.base_url,
                app,
                cfg.api_key.get_secret_value(),
                page_size=cfg.page_size,
                timeout=cfg.timeout_s,
            ),
            submit,
            retention_s=cfg.retention_s,
        )
        self.runs = 0
        self.last: BackfillResult | None = None
        self._lock = threading.Lock()
        self._wanted: int | None = None
        self._thread: threading.Thread | None = None

    def since(self, connected_ns: int) -> int:
        """Where a gap that ended at ``connected_ns`` starts."""
        try:
            newest = newest_uplink_ns(self.store, self.application, connected_ns)
        except StoreError as exc:
            log.warning("backfill: cannot read the newest stored uplink (%s); using the default window", exc)
            newest = None
        if newest is None:
            return connected_ns - int(self.cfg.default_window_s * 1e9)
        return newest - int(self.cfg.overlap_s * 1e9)

    def on_connected(self, reconnect: bool) -> None:
        """MqttSource hook (network thread): start a backfill for the gap just closed."""
        with self._lock:
            self._wanted = time.time_ns()
            if self._thread is not None:
                return  # the running thread picks the new request up
            self._thread = threading.Thread(target=self._loop, name="lorakeet-backfill", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._lock:
                connected_ns, self._wanted = self._wanted, None
                if connected_ns is None:
                    self._thread = None
                    return
            try:
                self.last = self.backfill.run(self.since(connected_ns))
            except BackfillError as exc:
                log.error("backfill failed: %s; the gap stays open until the next reconnect", exc)
            except Exception:
                log.exception("backfill crashed")
            self.runs += 1

    def join(self, timeout: float = 60.0) -> None:
        """Wait for a running backfill (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                t = self._thread
            if t is None:
                return
            t.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        """Release the HTTP client."""
        self.backfill.client.close()
