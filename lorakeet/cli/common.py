"""What the commands share: the (lazily made) console, logging set-up, waiting for a signal."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Any

from lorakeet.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status


class LazyConsole:
    """A rich ``Console`` made on first use: rich (about 3 MB) is only loaded by a command that
    prints through it, not by ``lorakeet bridge`` before it starts consuming."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    @property
    def real(self) -> Console:
        """The console itself (for rich's progress bars and live displays)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def print(self, *objects: Any, **options: Any) -> None:
        """``Console.print``."""
        self.real.print(*objects, **options)

    def status(self, status: str) -> Status:
        """``Console.status``: a spinner while a block runs."""
        return self.real.status(status)


console = LazyConsole(stderr=True)


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
