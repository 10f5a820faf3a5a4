"""Drill: a receiver that hangs or fails never delays another receiver's alerts.

Real HTTP receivers on loopback: one that never answers within the delivery timeout, one
that always fails, and a healthy one. Each target has its own queue, so the healthy
receiver gets its events within 2 s while the others are being retried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lorakeet.alerts.delivery import Delivery, Job, target_key

from .conftest import DRILL_LINES


class Receiver:
    """A loopback HTTP receiver answering ``status`` after ``delay_s``, recording arrivals."""

    def __init__(self, status: int = 200, delay_s: float = 0.0) -> None:
        self.status = status
        self.delay_s = delay_s
        self.arrivals: list[tuple[float, bytes]] = []
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.arrivals.append((time.monotonic(), body))
                owner.release.wait(owner.delay_s)
                try:
                    self.send_response(owner.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    made = {
        "hanging": Receiver(delay_s=30.0),
        "failing": Receiver(status=503),
        "healthy": Receiver(),
    }
    yield made
    for r in made.values():
        r.close()


def test_hanging_and_failing_receivers_do_not_delay_a_healthy_one(receivers: dict[str, Receiver]) -> None:
    outcomes: dict[int, dict[str, Any]] = {}
    delivery = Delivery(
        None,
        on_outcome=lambda event, channel, out: outcomes.__setitem__(event, dict(out)),
        allow_private_targets=True,
        timeout_s=3.0,
        backoff_s=0.2,
        attempts=3,
        workers=3,
        breaker_failures=3,
        breaker_cooldown_s=60.0,
    )
    try:
        start = time.monotonic()
        # the stuck receivers' events are queued first, several each
        for i in range(3):
            delivery.submit(Job(100 + i, b'{"n": %d}' % i, webhook_url=receivers["hanging"].url))
            delivery.submit(Job(200 + i, b'{"n": %d}' % i, webhook_url=receivers["failing"].url))
        for i in range(5):
            delivery.submit(Job(300 + i, b'{"n": %d}' % i, webhook_url=receivers["healthy"].url))

        deadline = start + 2.0
        while len(receivers["healthy"].arrivals) < 5 and time.monotonic() < deadline + 3:
            time.sleep(0.01)
        healthy = receivers["healthy"].arrivals
        assert len(healthy) == 5
        last_s = healthy[-1][0] - start
        assert last_s < 2.0, f"the healthy receiver waited {last_s:.2f} s behind the others"
        # in submission order
        assert [b for _, b in healthy] == [b'{"n": %d}' % i for i in range(5)]
        # the hanging receiver is served one event at a time: never two threads on it
        assert len(receivers["hanging"].arrivals) == 1
        waiting = delivery.waiting()
        assert waiting.get(target_key(Job(0, b"", receivers["hanging"].url), "webhook")) == 3

        # the failing receiver's circuit opens after three failed attempts, so it is not hammered
        time.sleep(1.5)
        failing_calls = len(receivers["failing"].arrivals)
        assert failing_calls == 3
        time.sleep(1.0)
        assert len(receivers["failing"].arrivals) == failing_calls
        DRILL_LINES.append(
            f"drill alert-targets: healthy=5/5 within {last_s:.2f} s, "
            f"hanging target holds 1 thread, failing target circuit open after {failing_calls} attempts"
        )
        print("\n" + DRILL_LINES[-1], flush=True)
        assert all(outcomes[300 + i]["ok"] for i in range(5))
    finally:
        receivers["hanging"].release.set()
        delivery.close(timeout=1)


def test_a_retried_event_keeps_its_targets_order() -> None:
    flaky = Receiver(status=503)
    outcomes: list[tuple[int, bool, int]] = []
    delivery = Delivery(
        None,
        on_outcome=lambda e, ch, out: outcomes.append((e, bool(out["ok"]), int(out["attempts"]))),
        allow_private_targets=True,
        backoff_s=0.05,
        attempts=5,
        breaker_failures=100,
    )
    try:
        delivery.submit(Job(1, b"first", webhook_url=flaky.url))
        delivery.submit(Job(2, b"second", webhook_url=flaky.url))
        while len(flaky.arrivals) < 2:
            time.sleep(0.01)
        flaky.status = 200  # the receiver recovers after two failures of the first event
        assert delivery.flush(10)
    finally:
        flaky.close()
        delivery.close(timeout=1)
    assert [b for _, b in flaky.arrivals] == [b"first", b"first", b"first", b"second"]
    assert outcomes == [(1, True, 3), (2, True, 1)]


def test_a_full_target_queue_gives_up_its_oldest_event_and_says_so() -> None:
    hanging = Receiver(delay_s=30.0)
    outcomes: dict[int, dict[str, Any]] = {}
    delivery = Delivery(
        None,
        on_outcome=lambda e, ch, out: outcomes.__setitem__(e, dict(out)),
        allow_private_targets=True,
        timeout_s=5.0,
        per_target_limit=2,
    )
    try:
        for i in range(1, 5):
            delivery.submit(Job(i, b"{}", webhook_url=hanging.url))
            time.sleep(0.05)
        assert outcomes[2] == {"ok": False, "error": "target queue full", "attempts": 0}
        assert 1 not in outcomes  # in flight
        assert delivery.waiting() == {target_key(Job(0, b"", hanging.url), "webhook"): 3}
    finally:
        hanging.release.set()
        hanging.close()
        delivery.close(timeout=1)


def test_a_failed_trial_after_the_cool_down_opens_the_circuit_again_for_longer() -> None:
    failing = Receiver(status=503)
    delivery = Delivery(
        None,
        allow_private_targets=True,
        attempts=1,
        breaker_failures=2,
        breaker_cooldown_s=1.0,
    )
    try:
        start = time.monotonic()
        for i in range(5):
            delivery.submit(Job(i, b"{}", webhook_url=failing.url))
        while len(failing.arrivals) < 3 and time.monotonic() - start < 10:
            time.sleep(0.01)
        trial = failing.arrivals[2][0] - start
        assert trial >= 1.0  # two failures opened it for 1 s; then one trial
        time.sleep(max(0.0, start + trial + 1.5 - time.monotonic()))
        assert len(failing.arrivals) == 3  # the failed trial opened it again, now for 2 s
    finally:
        failing.close()
        delivery.close(timeout=1)
