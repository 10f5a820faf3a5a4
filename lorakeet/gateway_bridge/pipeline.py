"""The ingest pipeline: parse, dedup, decode, write, then acknowledge.

One consumer thread drains the :class:`BatchQueue` in batches (by size and by time).
Nothing is acknowledged before its batch is durable in the store; when the store
fails, the batch goes to the on-disk :class:`~lorakeet.storage.spool.Spool` (fsync'd) and is
then acknowledged; spooled batches are replayed in order, before newer batches, once the
store answers again. Without a spool, or when the spool itself cannot be written (disk
full: logged as critical), the same batch is retried with backoff, unacknowledged, while
the queue fills and pushes back on the producers. An undecodable payload is stored raw
with its error; an unparseable message is kept in the store's rejected table. A body over
``MAX_BODY`` bytes is rejected (kept raw, truncated) without parsing. Nothing is dropped.
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
from lorakeet.storage.spool import Spool, SpoolError

from .batch_queue import BatchQueue
from .devices import DeviceDirectory
from .envelopes import EnvelopeError, OtherEvent, parse_chirpstack, parse_tts
from .validate import TimeWindow, check_readings, check_uplink, non_finite

log = logging.getLogger(__name__)

Done = Callable[[BaseException | None], None]

MAX_BODY = 64 * 1024
"""Largest message body parsed (TTS uplinks are a few KiB); larger ones are rejected."""
SPOOL_WARN_STEP = 10_000
"""A warning is logged each time the spool depth crosses another multiple of this."""


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
    spooled: int = 0
    replayed: int = 0
    spool_depth: int = 0
    batches: int = 0
    decode_ns: int = 0
    write_ns: int = 0
    by_decoder: dict[str, int] = field(default_factory=dict)
    rejected_by: dict[str, int] = field(default_factory=dict)


NO_DECODER = "none"
DEFAULT_WINDOW = TimeWindow()


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
        spool: Spool | None = None,
        window: TimeWindow = DEFAULT_WINDOW,
    ) -> None:
        self.writer = writer
        self.window = window
        self.spool = spool
        self._replay_delay = retry_initial
        self._next_replay = 0.0
        self._spool_warned = 0
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
        self._finished = 0  # messages processed, against queue.accepted

    # -- producers -----------------------------------------------------------------------

    def submit(self, msg: Inbound, timeout: float | None = None) -> bool:
        """Hand a message over; blocks while the queue is full. False on timeout."""
        return self.queue.put(msg, timeout)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Run the consumer in a background thread."""
        if self.spool is not None:
            try:
                self.spool.open_if_present()
            except SpoolError as exc:
                log.critical("cannot open the spool: %s; store failures will block ingest instead", exc)
            self.stats.spool_depth = self.spool.depth
        self._thread = threading.Thread(target=self.run, name="lorakeet-pipeline", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Drain what is queued (while the store accepts it) and stop."""
        self.queue.close()
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.spool is not None:
            self.spool.close()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every submitted message has been processed."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._finished < self.queue.accepted:
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
                    self._replay(final=True)
                    return
                self._replay()
                continue
            self.process(batch)
            with self._idle:
                self._finished += len(batch)
                if self._finished >= self.queue.accepted:
                    self._idle.notify_all()

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
                s = self._admit(msg, seen)
            except EnvelopeError as exc:
                log.warning("rejected message on topic %r from %s: %s", msg.topic, msg.source, exc)
                rejected.append(_rejected(msg, str(exc), exc.reason))
                continue
            except Exception as exc:  # a bug must not end ingest: the message is kept raw
                log.exception(
                    "internal error on a message of topic %r; kept in the rejected table", msg.topic
                )
                rejected.append(_rejected(msg, f"internal error: {exc!r}", "internal"))
                continue
            if s is not None:
                stored.append(s)
        t1 = time.perf_counter_ns()
        stats.decode_ns += t1 - t0
        outcome = self._durable(stored, rejected)
        if outcome is None:
            self._finish(batch, StoreError("store unavailable; message not stored"))
            return
        stats.write_ns += time.perf_counter_ns() - t1
        for k in seen:
            self.dedup.add(k)
        stats.batches += 1
        if outcome == "stored":
            self._count_stored(stored, rejected)  # before the acks: the worker reports stats with them
        self._finish(batch, None)
        if outcome == "stored":
            self._notify(stored)

    def _admit(self, msg: Inbound, seen: set[tuple[str, str, int, int]]) -> StoredUplink | None:
        """Parse, validate, dedup and decode one message; None when there is nothing to store.

        Raises EnvelopeError (OutOfRange included) for a message to keep in the rejected table.
        """
        stats = self.stats
        if len(msg.body) > MAX_BODY:
            raise EnvelopeError(
                f"body of {len(msg.body)} bytes is over the {MAX_BODY} byte limit (kept truncated)"
            )
        parsed = (
            parse_tts(msg.body, msg.source)
            if msg.source != "chirpstack"
            else parse_chirpstack(msg.body, msg.event)
        )
        if isinstance(parsed, OtherEvent):
            stats.other_events += 1
            log.debug("skipping %s event of device_id=%s", parsed.kind, parsed.device_id)
            return None
        arrived = msg.arrived_ns or time.time_ns()
        if not parsed.time_from_network:
            parsed = _with_arrival_time(parsed, arrived)
        check_uplink(parsed, arrived, self.window)
        key = parsed.dedup_key
        if key in seen or key in self.dedup:
            stats.dedup_hits += 1
            return None
        s = self.decoding.decode(parsed)
        check_readings(s, self.window)
        bad = non_finite(s)
        if bad is not None:
            s = s._replace(
                readings=(), decode_error=f"decoder gave a value that is not a finite number for {bad}"
            )
        seen.add(key)
        if s.decode_error is not None:
            stats.decode_failed += 1
            log.info("stored raw: device_id=%s f_cnt=%d: %s", parsed.device_id, parsed.f_cnt, s.decode_error)
        return s

    def _count_stored(self, stored: list[StoredUplink], rejected: list[RejectedMessage]) -> None:
        stats = self.stats
        stats.stored += len(stored)
        stats.rejected += len(rejected)
        for r in rejected:
            stats.rejected_by[r.reason] = stats.rejected_by.get(r.reason, 0) + 1
        for s in stored:
            stats.by_decoder[s.decoder] = stats.by_decoder.get(s.decoder, 0) + 1

    # -- the spool -----------------------------------------------------------------------

    def _durable(self, stored: list[StoredUplink], rejected: list[RejectedMessage]) -> str | None:
        """Make a batch durable: "stored", "spooled", or None (failed for good at shutdown).

        Order is kept: while the spool holds batches, a new batch may go to the store only
        once every older spooled batch has been replayed; otherwise it is spooled behind
        them.
        """
        spool = self.spool
        if spool is None:
            return "stored" if self._write(stored, rejected) else None
        while True:
            if (spool.batches == 0 or self._replay()) and self._try_write(stored, rejected):
                return "stored"
            try:
                spool.append(stored, rejected)
            except SpoolError as exc:
                log.critical(
                    "store down AND spool unusable (%s): %d uplinks stay unacknowledged and are retried",
                    exc,
                    len(stored),
                )
                if self._stopping.is_set():
                    return None
                self._stopping.wait(self._replay_delay)
                self._replay_delay = min(self._replay_delay * 2, self.retry_max)
                continue
            self.stats.spooled += len(stored) + len(rejected)
            self._spool_changed()
            return "spooled"

    def _try_write(self, stored: list[StoredUplink], rejected: list[RejectedMessage]) -> bool:
        try:
            if stored:
                self.writer.write(stored)
            if rejected:
                self.writer.write_rejected(rejected)
        except StoreError as exc:
            self.stats.write_failures += 1
            log.warning("store write failed (%s); spooling %d uplinks", exc, len(stored))
            self._next_replay = time.monotonic() + self._replay_delay
            return False
        return True

    def _replay(self, *, final: bool = False) -> bool:
        """Write spooled batches to the store, oldest first; True once the spool is empty.

        This waits out the backoff since the last failure (the idle loop calls it often);
        ``final`` (shutdown) tries at once and leaves what fails on disk.
        """
        spool = self.spool
        if spool is None or spool.batches == 0:
            return True
        if not final and time.monotonic() < self._next_replay:
            return False
        while True:
            try:
                head = spool.peek()
            except SpoolError as exc:
                log.critical("cannot read the spool: %s", exc)
                return False
            if head is None:
                self._replay_delay = self.retry_initial
                self._spool_changed()
                return True
            bid, stored, rejected = head
            try:
                if stored:
                    self.writer.write(stored)
                if rejected:
                    self.writer.write_rejected(rejected)
            except StoreError as exc:
                self.stats.write_failures += 1
                self._next_replay = time.monotonic() + self._replay_delay
                self._replay_delay = min(self._replay_delay * 2, self.retry_max)
                level = logging.WARNING if not final else logging.ERROR
                log.log(
                    level,
                    "store still failing (%s); %d messages stay in the spool%s",
                    exc,
                    spool.depth,
                    " across the restart" if final else "",
                )
                return False
            try:
                spool.remove(bid)
            except SpoolError as exc:  # replaying it again later is harmless (idempotent)
                log.critical("cannot update the spool: %s", exc)
                return False
            self.stats.replayed += len(stored) + len(rejected)
            self._count_stored(stored, rejected)
            self._spool_changed()
            self._notify(stored)
            if spool.batches == 0:
                log.warning("spool drained: the store is answering again")

    def _spool_changed(self) -> None:
        depth = self.spool.depth if self.spool is not None else 0
        self.stats.spool_depth = depth
        level = depth // SPOOL_WARN_STEP + 1  # 1 from the first spooled message, +1 per step
        if depth and level > self._spool_warned:
            log.warning("spool growing: %d messages wait for the store", depth)
            self._spool_warned = level
        elif depth == 0:
            self._spool_warned = 0

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


def _with_arrival_time(u: Uplink, arrived_ns: int) -> Uplink:
    log.warning(
        "uplink of device_id=%s f_cnt=%d carries no network time; using arrival time", u.device_id, u.f_cnt
    )
    return u._replace(received_at_ns=arrived_ns or time.time_ns())


def _rejected(msg: Inbound, error: str, reason: str) -> RejectedMessage:
    body = bytes(msg.body[:MAX_BODY])
    return RejectedMessage(msg.source, msg.topic, body, error, msg.arrived_ns or time.time_ns(), reason)


def screen(
    body: bytes, source: str, arrived_ns: int, window: TimeWindow, event: str = "up"
) -> EnvelopeError | None:
    """What the pipeline would reject this message for (None: it would take it).

    For callers that answer the sender (the webhook): the message is still submitted, so
    the pipeline keeps it raw in the rejected table.
    """
    try:
        parsed = parse_tts(body, source) if source != "chirpstack" else parse_chirpstack(body, event)
        if not isinstance(parsed, OtherEvent):
            check_uplink(
                parsed if parsed.time_from_network else parsed._replace(received_at_ns=arrived_ns),
                arrived_ns,
                window,
            )
    except EnvelopeError as exc:
        return exc
    return None
