"""What the commands share: the console, logging set-up, waiting for a signal."""

from __future__ import annotations

import signal
import threading

from rich.console import Console

from lorakeet.settings import Settings

console = Console(stderr=True)


def setup_logging(settings: Settings) -> None:
    """Log at the configured level, as JSON when configured."""
    from lorakeet.observability import configure_logging

    configure_logging(settings.log_level, settings.log_json)


def wait_for_signal() -> None:
    """Block until SIGTERM or SIGINT."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
