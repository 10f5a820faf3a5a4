"""Decode-and-write in a worker process, so MQTT receiving keeps a core of its own.

Python runs one thread at a time: in one process, paho's network thread and the
pipeline share a core. With ``pipeline.workers = 1`` the bridge process only receives
(paho) and forwards raw messages in chunks over a pipe; a worker process parses,
deduplicates, decodes and writes, then reports each chunk durable. Only then are the
chunk's messages acknowledged (QoS 1). The receiver keeps every unacknowledged chunk: if
the worker dies it is restarted and the chunks are sent again in order (the stores and
the dedup make a replay harmless).

Wire format (trusted pipe between our own processes): receiver -> worker
``seq (u64) + marshal([(body, source, topic, event, arrived_ns, envelope), ...])``, an
empty message to stop; worker -> receiver ``marshal((seq, stats tuple))``.

The worker's pipeline is built by the function handed to :class:`RemotePipeline`
(``compose.build_pipeline``), so this module needs nothing but the sink types.
"""

from __future__ import annotations

import logging
import marshal
import multiprocessing
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields
from multiprocessing.connection import Connection
from typing import Any

from lorakeet import gctune
from lorakeet.settings import Settings

from .sink import Done, Inbound, IngestSink, PipelineStats

log = logging.getLogger(__name__)

_SEQ = struct.Struct("!Q")
STALL_S = 10.0
"""A chunk unacknowledged longer than this (worker stuck, store not answering) is reported by health()."""
_STAT_FIELDS = [f.name for f in fields(PipelineStats)]
Build = Callable[[Settings], tuple[IngestSink, Callable[[], None]]]


@dataclass
class _Chunk:
    messages: list[Inbound]
    blob: bytes
    sent_at: float = 0.0  # monotonic


def _worker_main(settings: Settings, conn: Connection, build: Build) -> None:
    """Worker process: a Pipeline over the configured store, fed from the pipe."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s worker %(name)s: %(message)s"
    )
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    pipeline, close = build(settings)
    pipeline.start()
    gctune.tune()
    send_lock = threading.Lock()

    def chunk_done(seq: int, remaining: list[int]) -> Done:
        def done(error: BaseException | None) -> None:
            if error is not None:
                return  # not durable: the receiver keeps the chunk and never acks it
            remaining[0] -= 1
            if remaining[0] == 0:
                snapshot = tuple(getattr(pipeline.stats, f) for f in _STAT_FIELDS)
                with send_lock:
                    conn.send_bytes(marshal.dumps((seq, snapshot)))

        return done

    try:
        while True:
            try:
                data = conn.recv_bytes()
            except EOFError:
                break
            if not data:
                break
            (seq,) = _SEQ.unpack_from(data)
            items = marshal.loads(data[_SEQ.size :])  # noqa: S302 - our own pipe
            remaining = [len(items)]
            done = chunk_done(seq, remaining)
            for body, source, topic, event, arrived_ns, envelope in items:
                pipeline.submit(Inbound(body, source, topic, event, arrived_ns, done, envelope))
    finally:
        pipeline.stop()
        close()


class RemotePipeline:
    """Receiver-side stand-in for a Pipeline whose work happens in a worker process."""

    def __init__(
        self,
        settings: Settings,
        build: Build,
        chunk_size: int = 1000,
        chunk_interval: float = 0.02,
        max_in_flight: int = 100_000,
    ) -> None:
        self.settings = settings
        self.build = build
        self.chunk_size = chunk_size
        self.chunk_interval = chunk_interval
        self.max_in_flight = max_in_flight
        self.stats = PipelineStats()
        self.restarts = 0  # of the worker process
        self._down = ""
        self._ctx = multiprocessing.get_context("spawn")
        self._buf: list[Inbound] = []
        self._cond = threading.Condition()
        self._pending: OrderedDict[int, _Chunk] = OrderedDict()
        self._in_flight = 0
        self._seq = 0
        self._stopping = False
        self._send_lock = threading.Lock()
        self._proc: Any = None
        self._conn: Connection | None = None
        self._threads: list[threading.Thread] = []

    # -- producer side (paho network thread) ---------------------------------------------

    def submit(self, msg: Inbound, timeout: float | None = None) -> bool:
        """Queue a message for the worker; blocks while too many are unacknowledged."""
        with self._cond:
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._in_flight >= self.max_in_flight and not self._stopping:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            self._buf.append(msg)
            self._in_flight += 1
            if len(self._buf) >= self.chunk_size:
                self._cond.notify_all()
            return True

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker process and the forwarding threads."""
        self._spawn()
        self._threads = [
            threading.Thread(target=self._forward, name="lorakeet-forward", daemon=True),
            threading.Thread(target=self._watch, name="lorakeet-worker-watch", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _spawn(self) -> None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_worker_main, args=(self.settings, child, self.build), name="lorakeet-worker", daemon=True
        )
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        reader = threading.Thread(target=self._read_acks, args=(parent,), name="lorakeet-acks", daemon=True)
        reader.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Forward what is buffered, wait for it to be durable, stop the worker."""
        self.wait_idle(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(5)
        if self._conn is not None:
            try:
                with self._send_lock:
                    self._conn.send_bytes(b"")
            except OSError:
                pass
        if self._proc is not None:
            self._proc.join(timeout)
            if self._proc.is_alive():
                self._proc.kill()

    def health(self) -> list[str]:
        """Why ingest is not consuming normally right now; empty when it is."""
        problems = [self._down] if self._down else []
        with self._cond:
            oldest = next(iter(self._pending.values()), None)
        waited = time.monotonic() - oldest.sent_at if oldest is not None else 0.0
        if waited > STALL_S:
            problems.append(f"the ingest worker has not made a chunk durable for {waited:.0f}s")
        if self.stats.blocked:
            problems.append(f"store blocked: {self.stats.blocked}")
        return problems

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every submitted message is durable."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    # -- threads -------------------------------------------------------------------------

    def _forward(self) -> None:
        while True:
            with self._cond:
                if not self._buf:
                    if self._stopping:
                        return
                    self._cond.wait(self.chunk_interval)
                if not self._buf:
                    continue
                batch, self._buf = self._buf, []
                self._seq += 1
                seq = self._seq
            blob = _SEQ.pack(seq) + marshal.dumps(
                [(bytes(m.body), m.source, m.topic, m.event, m.arrived_ns, m.envelope) for m in batch]
            )
            with self._cond:
                self._pending[seq] = _Chunk(batch, blob, time.monotonic())
            self._send(blob)

    def _send(self, blob: bytes) -> None:
        try:
            with self._send_lock:
                assert self._conn is not None
                self._conn.send_bytes(blob)
        except (OSError, ValueError):
            pass  # the watcher restarts the worker and resends every pending chunk

    def _read_acks(self, conn: Connection) -> None:
        while True:
            try:
                seq, snapshot = marshal.loads(conn.recv_bytes())  # noqa: S302 - our own pipe
            except (EOFError, OSError):
                return
            for name, value in zip(_STAT_FIELDS, snapshot, strict=True):
                setattr(self.stats, name, value)
            self.stats.restarts += self.restarts
            self._down = ""
            with self._cond:
                chunk = self._pending.pop(seq, None)
            if chunk is None:
                continue
            for m in chunk.messages:
                if m.done is not None:
                    try:
                        m.done(None)
                    except Exception:
                        log.exception("acknowledgement callback failed for topic %r", m.topic)
            with self._cond:
                self._in_flight -= len(chunk.messages)
                self._cond.notify_all()

    def _watch(self) -> None:
        while True:
            time.sleep(0.2)
            with self._cond:
                if self._stopping:
                    return
            if self._proc is not None and not self._proc.is_alive():
                self.restarts += 1
                self.stats.restarts += 1
                self._down = f"ingest worker process died (exit {self._proc.exitcode}); restarted, replaying"
                log.error("ingest worker died (exit %s); restarting and replaying", self._proc.exitcode)
                self._spawn()
                with self._cond:
                    blobs = [c.blob for c in self._pending.values()]
                for blob in blobs:
                    self._send(blob)
