"""Sends alert events to webhooks and MQTT topics from a background thread.

Webhooks get a JSON POST signed like GitHub's: ``X-Lorakeet-Signature: sha256=<hex>``, the
HMAC-SHA256 of the exact body with the rule's secret (verify with ``hmac.compare_digest``).
Connection errors, 429 and 5xx are retried with exponential backoff; other 4xx are final.
MQTT messages are the same JSON, published with QoS 1 to the rule's topic on the
configured broker. Nothing here ever blocks the ingest pipeline.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from lorakeet.settings import MqttSettings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Lorakeet-Signature"
Outcome = Callable[[int, str, Mapping[str, Any]], None]


def private_target(url: str) -> str | None:
    """Why ``url`` must not be called (its host is or resolves to a non-public address), or None.

    Alert webhooks are user-supplied URLs called from inside the deployment: without this a
    rule could reach the broker, the database or a cloud metadata service (SSRF). Set
    ``LORAKEET_ALERTS__ALLOW_PRIVATE_TARGETS=true`` for receivers on a private network.
    """
    host = urlsplit(url).hostname
    if not host:
        return "webhook URL has no host"
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"webhook host {host!r} does not resolve: {exc}"
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if not addr.is_global or addr.is_multicast:
            return f"webhook host {host!r} is a non-public address ({addr}); private targets are not allowed"
    return None


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


class Delivery:
    """A queue and a worker thread that deliver jobs; ``on_outcome`` hears how each went."""

    def __init__(
        self,
        mqtt: MqttSettings | None = None,
        *,
        on_outcome: Outcome | None = None,
        attempts: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 5.0,
        allow_private_targets: bool = False,
    ) -> None:
        self.mqtt_settings = mqtt
        self.allow_private_targets = allow_private_targets
        self.on_outcome = on_outcome
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=10_000)
        self._http = httpx.Client(timeout=timeout_s, follow_redirects=False)
        self._mqtt: Any = None
        self._thread = threading.Thread(target=self._run, name="lorakeet-alert-delivery", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        """Queue a job (dropped with a warning if 10 000 are already waiting)."""
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            log.warning("alert delivery queue full; event %d not delivered", job.event_id)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued job was attempted to the end (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self) -> None:
        """Finish what is queued and stop."""
        self._queue.put(None)
        self._thread.join(30)
        self._http.close()
        if self._mqtt is not None:
            self._mqtt.disconnect()
            self._mqtt.loop_stop()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                if job.webhook_url:
                    self._report(job.event_id, "webhook", self._webhook(job))
                if job.mqtt_topic:
                    self._report(job.event_id, "mqtt", self._publish(job))
            except Exception:  # a delivery bug must not kill the worker
                log.exception("alert delivery failed for event %s", getattr(job, "event_id", "?"))
            finally:
                self._queue.task_done()

    def _report(self, event_id: int, channel: str, outcome: Mapping[str, Any]) -> None:
        if self.on_outcome is not None:
            try:
                self.on_outcome(event_id, channel, outcome)
            except Exception:
                log.exception("recording the delivery outcome of event %d failed", event_id)

    def _webhook(self, job: Job) -> dict[str, Any]:
        assert job.webhook_url is not None
        if not self.allow_private_targets:
            refused = private_target(job.webhook_url)
            if refused:
                log.warning("webhook for alert event %d refused: %s", job.event_id, refused)
                return {"ok": False, "error": refused, "attempts": 0}
        headers = {"Content-Type": "application/json", "User-Agent": "lorakeet-alerts"}
        headers["X-Lorakeet-Event-Id"] = str(job.event_id)
        if job.webhook_secret:
            headers[SIGNATURE_HEADER] = sign(job.webhook_secret, job.body)
        error = ""
        for attempt in range(1, self.attempts + 1):
            try:
                r = self._http.post(job.webhook_url, content=job.body, headers=headers)
                if r.is_success:
                    return {"ok": True, "status": r.status_code, "attempts": attempt}
                error = f"HTTP {r.status_code}"
                if r.status_code < 500 and r.status_code != 429:
                    break
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            if attempt < self.attempts:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
        log.warning("webhook for alert event %d failed after %d attempts: %s", job.event_id, attempt, error)
        return {"ok": False, "error": error, "attempts": attempt}

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

    def _publish(self, job: Job) -> dict[str, Any]:
        assert job.mqtt_topic is not None
        error = ""
        for attempt in range(1, self.attempts + 1):
            try:
                info = self._client().publish(job.mqtt_topic, job.body, qos=1)
                info.wait_for_publish(self.timeout_s)
                if info.is_published():
                    return {"ok": True, "attempts": attempt}
                error = "not acknowledged"
            except (OSError, RuntimeError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"
                self._mqtt = None
            if attempt < self.attempts:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
        log.warning("MQTT delivery of alert event %d failed: %s", job.event_id, error)
        return {"ok": False, "error": error, "attempts": attempt}


def event_body(payload: Mapping[str, Any]) -> bytes:
    """The JSON body delivered for an event."""
    return orjson.dumps(payload)
