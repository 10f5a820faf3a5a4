"""A local MQTT broker for the demo and for tests: Mosquitto when installed, else amqtt.

Mosquitto is configured for bulk ingest: ``max_queued_messages`` raised (its default of
1000 silently drops messages to a slow subscriber) and ``max_inflight_messages 0`` so
that acknowledging a whole batch at once does not stall QoS 1 delivery.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

BrokerKind = Literal["auto", "mosquitto", "amqtt"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts connections on ``port``; raises TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s") from None
            time.sleep(0.02)


MOSQUITTO_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
max_queued_messages 1000000
max_queued_bytes 0
max_inflight_messages 0
persistence {persistence}
persistence_location {data_dir}/
autosave_interval 1
log_dest file {data_dir}/mosquitto.log
log_type error
log_type warning
log_type notice
"""


class LocalBroker:
    """Starts and stops a private broker on a loopback port."""

    def __init__(
        self,
        port: int | None = None,
        kind: BrokerKind = "auto",
        data_dir: Path | None = None,
        persistence: bool = True,
        tls: tuple[Path, Path, Path] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.tls = tls  # (CA, certificate, key): adds a TLS listener on tls_port (Mosquitto only)
        self.tls_port = free_port() if tls else None
        self.persistence = persistence
        if kind == "auto":
            kind = "mosquitto" if shutil.which("mosquitto") else "amqtt"
        self.kind: Literal["mosquitto", "amqtt"] = kind
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="lorakeet-broker-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self._amqtt: tuple[asyncio.AbstractEventLoop, Any, threading.Thread] | None = None

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>``."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> LocalBroker:
        """Start the broker and wait until it accepts connections."""
        if self.kind == "mosquitto":
            self._start_mosquitto()
        else:
            self._start_amqtt()
        wait_for_port(self.port, timeout)
        if self.tls_port is not None:
            wait_for_port(self.tls_port, timeout)
        log.info("local %s broker on %s", self.kind, self.url)
        return self

    def _start_mosquitto(self) -> None:
        exe = shutil.which("mosquitto")
        if exe is None:
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text(
            MOSQUITTO_CONF.format(
                port=self.port, data_dir=self.data_dir, persistence="true" if self.persistence else "false"
            )
        )
        if os.geteuid() == 0:
            # Started as root, Mosquitto would drop to user "mosquitto", which cannot reach
            # files under private (0700) temp dirs; this broker is private and local anyway.
            with conf.open("a") as f:
                f.write("user root\n")
        if self.tls is not None:
            with conf.open("a") as f:
                names = ("ca.crt", "server.crt", "server.key")
                for name, src in zip(names, self.tls, strict=True):
                    dst = self.data_dir / name
                    shutil.copyfile(src, dst)
                f.write(
                    f"listener {self.tls_port} 127.0.0.1\ncafile {self.data_dir}/ca.crt\n"
                    f"certfile {self.data_dir}/server.crt\nkeyfile {self.data_dir}/server.key\n"
                )
        os.chmod(conf, 0o644)
        self._proc = subprocess.Popen(
            [exe, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _start_amqtt(self) -> None:
        from amqtt.broker import Broker

        cfg = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        loop = asyncio.new_event_loop()
        broker = Broker(cfg, loop=loop)
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(broker.start())
            started.set()
            loop.run_forever()

        t = threading.Thread(target=run, name="amqtt-broker", daemon=True)
        t.start()
        started.wait(10)
        self._amqtt = (loop, broker, t)

    def stop(self) -> None:
        """Stop the broker (gracefully, so a persistent broker saves its state)."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._amqtt is not None:
            loop, broker, t = self._amqtt
            asyncio.run_coroutine_threadsafe(broker.shutdown(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            t.join(10)
            self._amqtt = None

    def kill(self) -> None:
        """SIGKILL the broker process (fault drills)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def restart(self, timeout: float = 10.0) -> None:
        """Stop and start again on the same port with the same data."""
        self.stop()
        self.start(timeout)

    def close(self) -> None:
        """Stop and remove a temp data dir this object created."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
