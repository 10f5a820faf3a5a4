"""The ingest pipeline: parse, dedup, decode, write, then acknowledge.

One consumer thread drains the :class:`BatchQueue` in batches (by size and by time).
Nothing is acknowledged before its batch is durable in the store; when the store
fails, the same batch is retried with backoff while the queue fills and pushes back on
the producers. An undecodable payload is stored raw with its error; an unparseable
message is kept in the store's rejected table. Nothing is dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lorakeet.decoders import DecodeError, Decoder, DeviceContext, get_decoder
from lorakeet.storage.protocols import ReadingWriter, StoreError
from lorakeet.storage.records import RejectedMessage, StoredUplink, Uplink

from .batch_queue import BatchQueue
from .devices import DeviceDirectory
from .envelopes import EnvelopeError, OtherEvent, parse_chirpstack, parse_tts

log = logging.getLogger(__name__)

Done = Callable[[BaseException | None], None]


@dataclass(slots=True)
class Inbound:
    """One message as it arrived, before parsing."""

    body: bytes | bytearray
    source: str  # "ttn" or "chirpstack": which envelope to parse
    topic: str = ""
    event: str = "up"
    arrived_ns: int = 0
    done: Done | None = None  # called once the message is durable (or failed for good)


@dataclass(slots=True)
class PipelineStats:
    """Counters since start (read by /metrics and the benchmarks)."""

    received: int = 0
    stored: int = 0
    decode_failed: int = 0
    rejected: int = 0
    other_events: int = 0
    dedup_hits: int = 0
    write_failures: int = 0
    batches: int = 0
    decode_ns: int = 0
    write_ns: int = 0
    by_decoder: dict[str, int] = field(default_factory=dict)


NO_DECODER = "none"


class DedupCache:
    """The most recent uplink keys seen, bounded (oldest forgotten first)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._keys: OrderedDict[tuple[str, str, int, int], None] = OrderedDict()

    def __contains__(self, key: tuple[str, str, int, int]) -> bool:
        return key in self._keys

    def add(self, key: tuple[str, str, int, int]) -> None:
        """Remember a key."""
        self._keys[key] = None
        if len(self._keys) > self.capacity:
            self._keys.popitem(last=False)


class Decoding:
    """Turns uplinks into stored uplinks with the device's configured decoder."""

    def __init__(
        self,
        devices: DeviceDirectory,
        resolve: Callable[[str], Decoder] = get_decoder,
    ) -> None:
        self.devices = devices
        self.resolve = resolve

    def decode(self, u: Uplink) -> StoredUplink:
        """Decode one uplink; errors become ``decode_error``, never exceptions."""
        info = self.devices.device(u.key, u.dev_eui)
        name = info.decoder or ("network" if u.network_decoded is not None else NO_DECODER)
        if name == NO_DECODER:
            return StoredUplink(
                u,
                info.kind,
                name,
                decode_error="no decoder configured for this device; set one and re-decode",
            )
        ctx = DeviceContext(u.received_at_ns, info.metadata, u.network_decoded, u.device_id)
        try:
            result = self.resolve(name)(u.payload, u.f_port, ctx)
        except DecodeError as exc:
            return StoredUplink(u, info.kind, name, decode_error=f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a decoder bug must not lose the uplink
            log.exception("decoder %s crashed on device_id=%s f_cnt=%d", name, u.device_id, u.f_cnt)
            return StoredUplink(u, info.kind, name, decode_error=f"internal decoder error: {exc!r}")
        return StoredUplink(u, info.kind, name, result.readings, result.warnings)


class Pipeline:
    """Batches inbound messages into the store; see the module docstring."""

    def __init__(
        self,
        writer: ReadingWriter,
        decoding: Decoding,
        *,
        batch_size: int = 5000,
        flush_interval: float = 0.2,
        queue_size: int = 50_000,
        dedup_capacity: int = 200_000,
        retry_initial: float = 0.2,
        retry_max: float = 10.0,
        observers: Sequence[Callable[[Sequence[StoredUplink]], None]] = (),
    ) -> None:
        self.writer = writer
        self.observers = list(observers)
        self.decoding = decoding
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.queue: BatchQueue[Inbound] = BatchQueue(queue_size)
        self.dedup = DedupCache(dedup_capacity)
        self.stats = PipelineStats()
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._in_flight = 0

    # -- producers -----------------------------------------------------------------------

    def submit(self, msg: Inbound, timeout: float | None = None) -> bool:
        """Hand a message over; blocks while the queue is full. False on timeout."""
        with self._idle:
            self._in_flight += 1
        ok = self.queue.put(msg, timeout)
        if not ok:
            with self._idle:
                self._in_flight -= 1
        return ok

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Run the consumer in a background thread."""
        self._thread = threading.Thread(target=self.run, name="lorakeet-pipeline", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Drain what is queued (while the store accepts it) and stop."""
        self.queue.close()
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every submitted message has been processed."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def run(self) -> None:
        """Consume until the queue is closed and empty."""
        while True:
            batch = self.queue.get_batch(self.batch_size, self.flush_interval, idle_timeout=0.5)
            if not batch:
                if self.queue.closed:
                    return
                continue
            self.process(batch)

    # -- the work ------------------------------------------------------------------------

    def process(self, batch: Sequence[Inbound]) -> None:
        """Parse, dedup, decode and durably write one batch, then acknowledge it."""
        stats = self.stats
        stats.received += len(batch)
        stored: list[StoredUplink] = []
        rejected: list[RejectedMessage] = []
        seen: set[tuple[str, str, int, int]] = set()
        t0 = time.perf_counter_ns()
        for msg in batch:
            try:
                parsed = (
                    parse_tts(msg.body, msg.source)
                    if msg.source != "chirpstack"
                    else (parse_chirpstack(msg.body, msg.event))
                )
            except EnvelopeError as exc:
                log.warning("rejected message on topic %r from %s: %s", msg.topic, msg.source, exc)
                rejected.append(
                    RejectedMessage(msg.source, msg.topic, bytes(msg.body), str(exc), msg.arrived_ns)
                )
                continue
            if isinstance(parsed, OtherEvent):
                stats.other_events += 1
                log.debug("skipping %s event of device_id=%s", parsed.kind, parsed.device_id)
                continue
            if not parsed.time_from_network:
                parsed = _with_arrival_time(parsed, msg.arrived_ns)
            key = parsed.dedup_key
            if key in seen or key in self.dedup:
                stats.dedup_hits += 1
                continue
            seen.add(key)
            s = self.decoding.decode(parsed)
            if s.decode_error is not None:
                stats.decode_failed += 1
                log.info(
                    "stored raw: device_id=%s f_cnt=%d: %s", parsed.device_id, parsed.f_cnt, s.decode_error
                )
            stored.append(s)
        t1 = time.perf_counter_ns()
        stats.decode_ns += t1 - t0
        if not self._write(stored, rejected):
            self._finish(batch, StoreError("store unavailable; message not stored"))
            return
        stats.write_ns += time.perf_counter_ns() - t1
        for k in seen:
            self.dedup.add(k)
        stats.stored += len(stored)
        stats.rejected += len(rejected)
        stats.batches += 1
        for s in stored:
            stats.by_decoder[s.decoder] = stats.by_decoder.get(s.decoder, 0) + 1
        self._finish(batch, None)
        self._notify(stored)

    def _notify(self, stored: list[StoredUplink]) -> None:
        """Tell observers (alerts, live views) about uplinks that are now durable."""
        if not stored:
            return
        for observe in self.observers:
            try:
                observe(stored)
            except Exception:
                log.exception("observer %r failed; the uplinks are stored regardless", observe)

    def _write(self, stored: list[StoredUplink], rejected: list[RejectedMessage]) -> bool:
        delay = self.retry_initial
        while True:
            try:
                if stored:
                    self.writer.write(stored)
                if rejected:
                    self.writer.write_rejected(rejected)
                return True
            except StoreError as exc:
                self.stats.write_failures += 1
                if self._stopping.is_set():
                    log.error(
                        "store still failing at shutdown, %d uplinks left unacknowledged: %s",
                        len(stored),
                        exc,
                    )
                    return False
                log.warning("store write failed (%s); retrying %d uplinks in %.1fs", exc, len(stored), delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, self.retry_max)

    def _finish(self, batch: Sequence[Inbound], error: BaseException | None) -> None:
        for msg in batch:
            if msg.done is not None:
                try:
                    msg.done(error)
                except Exception:
                    log.exception("acknowledgement callback failed for topic %r", msg.topic)
        with self._idle:
            self._in_flight -= len(batch)
            if self._in_flight <= 0:
                self._in_flight = 0
                self._idle.notify_all()


def _with_arrival_time(u: Uplink, arrived_ns: int) -> Uplink:
    log.warning(
        "uplink of device_id=%s f_cnt=%d carries no network time; using arrival time", u.device_id, u.f_cnt
    )
    return u._replace(received_at_ns=arrived_ns or time.time_ns())
