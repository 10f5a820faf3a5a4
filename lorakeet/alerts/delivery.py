"""Sends alert events to webhooks and MQTT topics from a background thread.

Webhooks get a JSON POST signed like GitHub's: ``X-Lorakeet-Signature: sha256=<hex>``, the
HMAC-SHA256 of the exact body with the rule's secret (verify with ``hmac.compare_digest``).
Connection errors, 429 and 5xx are retried with exponential backoff; other 4xx are final.
Each receiver has its own queue and circuit breaker (see :class:`Delivery`).
MQTT messages are the same JSON, published with QoS 1 to the rule's topic on the
configured broker. Nothing here ever blocks the ingest pipeline.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from lorakeet.settings import MqttSettings

from .targets import private_target

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Lorakeet-Signature"
Outcome = Callable[[int, str, Mapping[str, Any]], None]


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """True when ``header`` is the signature of ``body`` under ``secret``."""
    return hmac.compare_digest(sign(secret, body), header)


@dataclass(frozen=True, slots=True)
class Job:
    """One event to deliver."""

    event_id: int
    body: bytes
    webhook_url: str | None = None
    webhook_secret: str | None = None
    mqtt_topic: str | None = None


@dataclass(slots=True)
class _Attempt:
    """One channel of a job, waiting in its target's queue."""

    job: Job
    channel: str  # "webhook" or "mqtt"
    attempt: int = 1
    not_before: float = 0.0


@dataclass(slots=True)
class _Target:
    """A receiver (a webhook origin or the MQTT broker) with its own queue and circuit breaker."""

    key: str
    waiting: deque[_Attempt] = field(default_factory=deque)
    busy: bool = False
    failures: int = 0  # consecutive failed attempts
    open_until: float = 0.0
    opened: int = 0  # times the circuit opened in a row (the cool-down doubles each time)

    def ready_at(self) -> float:
        """When this target may be served next (inf when it has nothing to do or is busy)."""
        if self.busy or not self.waiting:
            return math.inf
        return max(self.waiting[0].not_before, self.open_until)


def target_key(job: Job, channel: str) -> str:
    """The receiver a channel of ``job`` goes to: the webhook's origin, or the MQTT broker."""
    if channel == "mqtt":
        return "mqtt"
    parts = urlsplit(job.webhook_url or "")
    return f"{parts.scheme}://{parts.netloc}".lower()


class Delivery:
    """Per-target queues served by a small pool of threads; ``on_outcome`` hears how each went.

    Each receiver (a webhook origin, or the MQTT broker) has its own queue, served by one
    thread at a time so its events arrive in order. ``workers`` threads serve the ready
    targets in turn, so a receiver that hangs holds at most one thread and never delays
    another receiver's events. A failed attempt is retried with exponential back-off
    without holding a thread; after ``breaker_failures`` failures in a row a target's
    circuit opens for ``breaker_cooldown_s`` (doubling while it keeps failing, up to ten
    minutes), then one attempt tries it again. At most ``per_target_limit`` events wait per
    target; the oldest is given up (and reported) beyond that.
    """

    def __init__(
        self,
        mqtt: MqttSettings | None = None,
        *,
        on_outcome: Outcome | None = None,
        attempts: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 5.0,
        allow_private_targets: bool = False,
        workers: int = 4,
        breaker_failures: int = 5,
        breaker_cooldown_s: float = 30.0,
        per_target_limit: int = 1000,
    ) -> None:
        self.mqtt_settings = mqtt
        self.allow_private_targets = allow_private_targets
        self.on_outcome = on_outcome
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.breaker_failures = breaker_failures
        self.breaker_cooldown_s = breaker_cooldown_s
        self.per_target_limit = per_target_limit
        self._cond = threading.Condition()
        self._report_lock = threading.Lock()
        self._targets: dict[str, _Target] = {}
        self._pending = 0  # attempts queued or in flight
        self._closing = False
        self._http_client: httpx.Client | None = None  # made for the first webhook (TLS set-up: ~2 MB)
        self._http_lock = threading.Lock()
        self._mqtt: Any = None
        self._threads = [
            threading.Thread(target=self._run, name=f"lorakeet-alert-delivery-{i}", daemon=True)
            for i in range(max(1, workers))
        ]
        for t in self._threads:
            t.start()

    def _http(self) -> httpx.Client:
        """The webhook client, made on first use (a bridge whose rules send no webhook never needs it)."""
        with self._http_lock:
            if self._http_client is None:
                self._http_client = httpx.Client(timeout=self.timeout_s, follow_redirects=False)
            return self._http_client

    def submit(self, job: Job) -> None:
        """Queue each channel of ``job`` at its target."""
        channels = [c for c, on in (("webhook", job.webhook_url), ("mqtt", job.mqtt_topic)) if on]
        given_up: list[_Attempt] = []
        with self._cond:
            for channel in channels:
                key = target_key(job, channel)
                target = self._targets.get(key)
                if target is None:
                    target = self._targets[key] = _Target(key)
                if len(target.waiting) >= self.per_target_limit:
                    given_up.append(target.waiting.popleft())
                target.waiting.append(_Attempt(job, channel))
                self._pending += 1
            self._cond.notify_all()
        for old in given_up:
            log.warning(
                "alert target %s has %d events waiting; event %d given up",
                target_key(old.job, old.channel),
                self.per_target_limit,
                old.job.event_id,
            )
            self._report(
                old.job.event_id,
                old.channel,
                {"ok": False, "error": "target queue full", "attempts": old.attempt - 1},
            )
        if given_up:
            with self._cond:
                self._pending -= len(given_up)
                self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued event was delivered or given up (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def waiting(self) -> dict[str, int]:
        """Events waiting per target (for metrics and tests)."""
        with self._cond:
            return {k: len(t.waiting) + t.busy for k, t in self._targets.items() if t.waiting or t.busy}

    def close(self, timeout: float = 30.0) -> None:
        """Deliver what is queued (for at most ``timeout`` seconds) and stop."""
        self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(max(self.timeout_s, 1.0) + 1)
        if self._http_client is not None:
            self._http_client.close()
        if self._mqtt is not None:
            self._mqtt.disconnect()
            self._mqtt.loop_stop()

    # -- scheduling ------------------------------------------------------------------------------

    def _next(self) -> tuple[_Target, _Attempt] | None:
        """The next ready attempt, round-robin over targets; None when closing."""
        with self._cond:
            while not self._closing:
                now = time.monotonic()
                soonest = math.inf
                for key in list(self._targets):
                    target = self._targets[key]
                    at = target.ready_at()
                    if at <= now:
                        # rotate: the target served now goes to the end of the order
                        del self._targets[key]
                        self._targets[key] = target
                        target.busy = True
                        return target, target.waiting.popleft()
                    soonest = min(soonest, at)
                self._cond.wait(None if soonest == math.inf else max(soonest - now, 0.001))
            return None

    def _run(self) -> None:
        while (picked := self._next()) is not None:
            target, item = picked
            try:
                ok, retry, outcome = self._attempt(item)
            except Exception as exc:  # a delivery bug must not kill the worker
                log.exception("alert delivery failed for event %d", item.job.event_id)
                ok, retry, outcome = False, False, {"ok": False, "error": type(exc).__name__}
            self._settle(target, item, ok, retry, outcome)

    def _settle(
        self, target: _Target, item: _Attempt, ok: bool, retry: bool, outcome: dict[str, Any]
    ) -> None:
        final = True
        with self._cond:
            now = time.monotonic()
            target.busy = False
            if ok:
                target.failures = target.opened = 0
                target.open_until = 0.0
            else:
                target.failures += 1
                # closed: opens after breaker_failures in a row; half-open (the trial after a
                # cool-down): one failure opens it again, for twice as long
                if target.failures >= self.breaker_failures or target.opened:
                    cooldown = min(self.breaker_cooldown_s * 2**target.opened, 600.0)
                    target.open_until = now + cooldown
                    target.opened += 1
                    target.failures = 0
                    log.warning("alert target %s failing: circuit open for %.0f s", target.key, cooldown)
                if retry and item.attempt < self.attempts:
                    item.attempt += 1
                    item.not_before = now + self.backoff_s * 2 ** (item.attempt - 2)
                    target.waiting.appendleft(item)  # keep the target's order
                    final = False
            if final:
                idle = not target.waiting and not target.busy
                if idle and target.failures == 0 and target.open_until <= now:
                    del self._targets[target.key]  # a healthy idle target keeps no state
            self._cond.notify_all()
        if final:
            if not ok:
                log.warning(
                    "%s delivery of alert event %d failed after %d attempts: %s",
                    item.channel,
                    item.job.event_id,
                    item.attempt,
                    outcome.get("error"),
                )
            self._report(item.job.event_id, item.channel, {"attempts": item.attempt, **outcome})
            with self._cond:  # only now: flush() promises the outcome is recorded
                self._pending -= 1
                self._cond.notify_all()

    def _attempt(self, item: _Attempt) -> tuple[bool, bool, dict[str, Any]]:
        """One try: (delivered, worth retrying, outcome)."""
        if item.channel == "webhook":
            return self._webhook(item.job)
        return self._publish(item.job)

    def _report(self, event_id: int, channel: str, outcome: Mapping[str, Any]) -> None:
        if self.on_outcome is not None:
            try:
                with self._report_lock:  # one event's channels finish on different threads
                    self.on_outcome(event_id, channel, outcome)
            except Exception:
                log.exception("recording the delivery outcome of event %d failed", event_id)

    def _webhook(self, job: Job) -> tuple[bool, bool, dict[str, Any]]:
        assert job.webhook_url is not None
        if not self.allow_private_targets:
            refused = private_target(job.webhook_url)
            if refused:
                log.warning("webhook for alert event %d refused: %s", job.event_id, refused)
                return False, False, {"ok": False, "error": refused, "attempts": 0}
        headers = {"Content-Type": "application/json", "User-Agent": "lorakeet-alerts"}
        headers["X-Lorakeet-Event-Id"] = str(job.event_id)
        if job.webhook_secret:
            headers[SIGNATURE_HEADER] = sign(job.webhook_secret, job.body)
        try:
            r = self._http().post(job.webhook_url, content=job.body, headers=headers)
        except httpx.HTTPError as exc:
            return False, True, {"ok": False, "error": type(exc).__name__}
        if r.is_success:
            return True, False, {"ok": True, "status": r.status_code}
        retry = r.status_code >= 500 or r.status_code == 429
        return False, retry, {"ok": False, "error": f"HTTP {r.status_code}", "status": r.status_code}

    def _client(self) -> Any:
        if self._mqtt is None:
            import paho.mqtt.client as mqtt
            from paho.mqtt.enums import CallbackAPIVersion

            cfg = self.mqtt_settings
            if cfg is None:
                raise RuntimeError("no MQTT settings for alert delivery")
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{cfg.client_id}-alerts")
            if cfg.username:
                client.username_pw_set(
                    cfg.username, cfg.password.get_secret_value() if cfg.password else None
                )
            if cfg.tls:
                client.tls_set(
                    ca_certs=str(cfg.ca_file) if cfg.ca_file else None,
                    cert_reqs=ssl.CERT_NONE if cfg.tls_insecure else ssl.CERT_REQUIRED,
                )
            client.connect(cfg.host, cfg.port, keepalive=cfg.keepalive)
            client.loop_start()
            self._mqtt = client
        return self._mqtt

    def _publish(self, job: Job) -> tuple[bool, bool, dict[str, Any]]:
        assert job.mqtt_topic is not None
        try:
            info = self._client().publish(job.mqtt_topic, job.body, qos=1)
            info.wait_for_publish(self.timeout_s)
            if info.is_published():
                return True, False, {"ok": True}
            return False, True, {"ok": False, "error": "not acknowledged"}
        except (OSError, RuntimeError, ValueError) as exc:
            self._mqtt = None
            return False, True, {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def event_body(payload: Mapping[str, Any]) -> bytes:
    """The JSON body delivered for an event."""
    return orjson.dumps(payload)
