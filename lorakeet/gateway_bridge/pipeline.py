"""The ingest pipeline: parse, validate, dedup, decode, write, then acknowledge.

One consumer thread drains the :class:`BatchQueue` in batches (by size and by time), and
parses and decodes each batch while a writer thread writes the one before: the write waits
on the store with the GIL released, so a store's round trip costs no decoding time.
Acknowledgements, observers and spool replays stay in the consumer, one batch after another.
Nothing is acknowledged before its batch is durable: in the store, in the on-disk spool,
or (points the store refuses for good) in the dead-letter table; see
:mod:`lorakeet.gateway_bridge.durability`. An undecodable payload is stored raw with its
error; an unparseable or out-of-range message (:mod:`lorakeet.gateway_bridge.validate`)
is kept in the store's rejected table. A body over ``MAX_BODY`` bytes is rejected (kept
raw, truncated) without parsing. Nothing is dropped.

A supervisor thread watches the consumer: when it dies (a bug, an injected fault, the
registry not answering while a device is looked up), ``health()`` names the cause (so
``/readyz`` answers 503), ``stats.restarts`` counts it, and a new consumer starts after a
backoff with the batch that was in flight: nothing is lost and nothing was acknowledged
early. When the same batch kills the consumer again, it is retried with unexpected store
errors treated as refused points, so a poisoned uplink ends in the dead-letter table
instead of stopping ingest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial

from lorakeet.storage.protocols import ReadingWriter, StoreError
from lorakeet.storage.records import RejectedMessage, StoredUplink
from lorakeet.storage.spool import Spool, SpoolError

from .admission import NO_KEYS, Admitted, Writing, parse_message, rejected_message
from .batch_queue import BatchQueue, Worker
from .decoding import NO_DECODER, Decoding, DedupCache
from .durability import DeadLetterSink, Durability
from .envelopes import EnvelopeError, OtherEvent
from .sink import Done, Inbound, Outcome, PipelineStats
from .validate import TimeWindow, check_readings

__all__ = [
    "NO_DECODER",
    "Decoding",
    "Done",
    "Inbound",
    "Outcome",
    "Pipeline",
    "PipelineStats",
]

log = logging.getLogger(__name__)

RESTART_INITIAL_S = 0.5
RESTART_MAX_S = 10.0
STALL_S = 10.0
"""A batch in flight longer than this (the store not answering, no spool) is reported by health()."""
TOLERANT_AFTER = 2
"""Crashes on the same batch after which unexpected store errors count as refused points."""

DEFAULT_WINDOW = TimeWindow()


class Pipeline:
    """Batches inbound messages into the store; see the module docstring. An IngestSink."""

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
        dead_letters: DeadLetterSink | None = None,
        window: TimeWindow = DEFAULT_WINDOW,
    ) -> None:
        self.writer = writer
        self.window = window
        self.observers = list(observers)
        self.decoding = decoding
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.queue: BatchQueue[Inbound] = BatchQueue(queue_size)
        self.dedup = DedupCache(dedup_capacity)
        self.stats = PipelineStats()
        self._stopping = threading.Event()
        self.durability = Durability(
            writer,
            self.stats,
            spool=spool,
            dead_letters=dead_letters,
            notify=self._notify,
            retry_initial=retry_initial,
            retry_max=retry_max,
            stopping=self._stopping,
        )
        self._thread: threading.Thread | None = None
        self._supervisor: threading.Thread | None = None
        self._idle = threading.Condition()
        self._finished = 0  # messages processed, against queue.accepted
        self._in_flight: list[Inbound] = []  # taken from the queue, not yet acknowledged
        self._batch_since = 0.0  # when the in-flight batch was taken (monotonic)
        self._retries = 0  # times the in-flight batch was taken up again after a crash
        self._writer = Worker("lorakeet-writer")
        self._pending: Writing | None = None  # the batch being written while the next is prepared
        self._writing: set[int] | frozenset[int] = NO_KEYS  # its dedup keys
        self._crash: BaseException | None = None
        self._down = ""  # why the consumer is not consuming, empty while it is

    @property
    def spool(self) -> Spool | None:
        """The on-disk spool, if any (owned by ``durability``)."""
        return self.durability.spool

    @spool.setter
    def spool(self, spool: Spool | None) -> None:
        self.durability.spool = spool

    # -- producers -----------------------------------------------------------------------

    def submit(self, msg: Inbound, timeout: float | None = None) -> bool:
        """Hand a message over; blocks while the queue is full. False on timeout."""
        return self.queue.put(msg, timeout)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Run the consumer in a background thread, watched by a supervisor thread."""
        if self.spool is not None:
            try:
                self.spool.open_if_present()
            except SpoolError as exc:
                log.critical("cannot open the spool: %s; store failures will block ingest instead", exc)
            self.stats.spool_depth = self.spool.depth
        self._writer.start()  # here, not in the consumer: a thread's start is never interrupted
        self._thread = self._spawn()
        self._supervisor = threading.Thread(
            target=self._supervise, name="lorakeet-pipeline-supervisor", daemon=True
        )
        self._supervisor.start()

    def _spawn(self) -> threading.Thread:
        t = threading.Thread(target=self._consume, name="lorakeet-pipeline", daemon=True)
        t.start()
        return t

    def stop(self, timeout: float = 30.0) -> None:
        """Drain what is queued (while the store accepts it) and stop."""
        self.queue.close()
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout)
        elif self._thread is not None:
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

    def health(self) -> list[str]:
        """Why ingest is not consuming normally right now; empty when it is."""
        problems: list[str] = []
        if self._down:
            problems.append(self._down)
        elif self._thread is not None and not self._thread.is_alive() and not self._stopping.is_set():
            problems.append("pipeline thread is not running")
        waited = time.monotonic() - self._batch_since if self._in_flight else 0.0
        if waited > STALL_S:
            problems.append(
                f"{len(self._in_flight)} messages have waited {waited:.0f}s for the store (not acknowledged)"
            )
        if self.stats.blocked:
            problems.append(f"store blocked: {self.stats.blocked}")
        return problems

    # -- the consumer and its supervisor -------------------------------------------------

    def _consume(self) -> None:
        try:
            self.run()
        except BaseException as exc:
            self._crash = exc
            raise  # the thread dies (threading's excepthook logs it); the supervisor restarts it

    def _supervise(self) -> None:
        while True:
            thread = self._thread
            assert thread is not None
            thread.join()
            crash, self._crash = self._crash, None
            if crash is None:
                if self.queue.closed and not self._in_flight and not len(self.queue):
                    return  # ran to its end: stopped
                crash = RuntimeError("the pipeline thread ended without finishing its work")
            try:
                delay = self._restarting(crash)
            except Exception:  # nothing in a report may end the supervisor, and ingest with it
                log.exception("reporting a pipeline crash failed; restarting all the same")
                delay = RESTART_MAX_S
            if not self._stopping.is_set():
                self._stopping.wait(delay)
            self._thread = self._spawn()

    def _restarting(self, crash: BaseException) -> float:
        """Count and report a crash; how long to wait before the next consumer starts."""
        self.stats.restarts += 1
        self._retries += 1
        # the exponent is capped: a crash loop that lasts for hours (a registry that does not
        # answer) must not overflow the backoff
        delay = min(RESTART_INITIAL_S * (1 << min(self._retries - 1, 32)), RESTART_MAX_S)
        cause = f"{type(crash).__name__}: {str(crash)[:200]}"
        self._down = f"pipeline thread died ({cause}); restart {self.stats.restarts} in {delay:.1f}s"
        log.critical(
            "ingest pipeline thread died (%s) with %d messages in flight; restarting in %.1fs",
            cause,
            len(self._in_flight),
            delay,
        )
        return delay

    def run(self) -> None:
        """Consume until the queue is closed and empty (after a crash, what was not acknowledged first)."""
        stale, self._pending = self._pending, None
        if stale is not None:  # a write still running ends before its batch is taken up again
            stale.result.done.wait()  # whatever it raised, the batch is retried below
        self._writing = NO_KEYS
        unfinished = self._unfinished()
        if unfinished:  # taken up again after a crash, on its own
            self._in_flight = unfinished
            self.durability.tolerant = self._retries >= TOLERANT_AFTER
            self.process(unfinished, retry=True)
            self._retire(unfinished)
            self.queue.taken = []
            self._retries = 0
        while True:
            writing: Writing | None = self._pending
            if writing is not None and writing.result.done.is_set():
                self._settle(writing)  # written: acknowledge at once
                continue
            self._down = ""
            # the writer wakes this wait when its write ends
            batch = self.queue.get_batch(self.batch_size, self.flush_interval, idle_timeout=0.5)
            if not batch:
                if writing is not None:
                    self._settle(writing)
                elif self.queue.closed:
                    self.durability.replay(final=True)
                    return
                else:
                    self.durability.replay()
                continue
            if writing is None:
                self._batch_since = time.monotonic()
            self._in_flight = [*self._in_flight, *batch]
            self.durability.tolerant = False
            admitted = self._prepare(batch)
            if writing is not None:
                self._settle(writing)
            self._writing = admitted.seen
            job = self._writer.submit(partial(self._commit, admitted), then=self.queue.wake)
            self._pending = Writing(admitted, job)

    def _unfinished(self) -> list[Inbound]:
        """After a crash: every message taken from the queue and not yet acknowledged."""
        batch, taken = self._in_flight, self.queue.taken
        if taken and (not batch or batch[-1] is not taken[-1]):
            return [*batch, *taken]  # the crash came between taking a batch and recording it
        return batch

    def _settle(self, writing: Writing) -> None:
        """Wait for a batch's write, then acknowledge it and tell the observers."""
        outcome, written = writing.result.result()  # a write that raised ends this thread here
        self._pending = None
        self._writing = NO_KEYS
        self._conclude(writing.admitted, outcome, written)
        self._retire(writing.admitted.batch)
        self._retries = 0
        self._batch_since = time.monotonic()

    def _retire(self, batch: Sequence[Inbound]) -> None:
        """A batch is done: count it (for wait_idle) and forget it."""
        with self._idle:  # counted before it is forgotten: a crash in between counts it twice, not never
            self._finished += len(batch)
            if self._finished >= self.queue.accepted:
                self._idle.notify_all()
        self._in_flight = self._in_flight[len(batch) :]
        if self.queue.taken is batch:
            self.queue.taken = []

    # -- the work ------------------------------------------------------------------------

    def process(self, batch: Sequence[Inbound], *, retry: bool = False) -> Outcome:
        """Parse, dedup, decode and durably write one batch, then acknowledge it."""
        admitted = self._prepare(batch, retry=retry)
        outcome, written = self._commit(admitted)
        return self._conclude(admitted, outcome, written)

    def _prepare(self, batch: Sequence[Inbound], *, retry: bool = False) -> Admitted:
        """Parse, validate, dedup and decode a batch (nothing is written yet)."""
        stats = self.stats
        if not retry:
            stats.received += len(batch)
        stored: list[StoredUplink] = []
        rejected: list[RejectedMessage] = []
        seen: set[int] = set()
        t0 = time.perf_counter_ns()
        for msg in batch:
            try:
                s = self._admit(msg, seen)
            except EnvelopeError as exc:
                log.warning("rejected message on topic %r from %s: %s", msg.topic, msg.source, exc)
                rejected.append(rejected_message(msg, str(exc), exc.reason))
                continue
            if s is not None:
                stored.append(s)
        stats.decode_ns += time.perf_counter_ns() - t0
        return Admitted(batch, stored, rejected, seen)

    def _commit(self, admitted: Admitted) -> tuple[Outcome, list[StoredUplink]]:
        """Make a prepared batch durable (runs in the writer thread while the next is prepared)."""
        t0 = time.perf_counter_ns()
        result = self.durability.commit(admitted.stored, admitted.rejected)
        self.stats.write_ns += time.perf_counter_ns() - t0
        return result

    def _conclude(self, admitted: Admitted, outcome: Outcome, written: list[StoredUplink]) -> Outcome:
        """Acknowledge a committed batch (or fail it) and tell the observers."""
        if outcome is Outcome.FAILED:
            self._finish(admitted.batch, StoreError("store unavailable; message not stored"))
            return outcome
        for k in admitted.seen:
            self.dedup.add(k)
        self.stats.batches += 1
        self._finish(admitted.batch, None)
        self._notify(written)
        return outcome

    def _admit(self, msg: Inbound, seen: set[int]) -> StoredUplink | None:
        """Parse, validate, dedup and decode one message; None when there is nothing to store.

        Raises EnvelopeError (OutOfRange included) for a message to keep in the rejected table.
        """
        stats = self.stats
        parsed = parse_message(msg, self.window)
        if isinstance(parsed, OtherEvent):
            stats.other_events += 1
            log.debug("skipping %s event of device_id=%s", parsed.kind, parsed.device_id)
            return None
        key = parsed.dedup_key
        if key in seen or key in self.dedup or key in self._writing:
            stats.dedup_hits += 1
            return None
        s = self.decoding.decode(parsed)  # a registry that does not answer raises: the batch waits
        bad = check_readings(s, self.window)
        if bad is not None:
            s = s._replace(
                readings=(), decode_error=f"decoder gave a value that is not a finite number for {bad}"
            )
        seen.add(key)
        if s.decode_error is not None:
            stats.decode_failed += 1
            log.info("stored raw: device_id=%s f_cnt=%d: %s", parsed.device_id, parsed.f_cnt, s.decode_error)
        return s

    def _notify(self, stored: Sequence[StoredUplink]) -> None:
        """Tell observers (alerts, live views) about uplinks that are now durable."""
        if not stored:
            return
        for observe in self.observers:
            try:
                observe(stored)
            except Exception:
                log.exception("observer %r failed; the uplinks are stored regardless", observe)

    def _finish(self, batch: Sequence[Inbound], error: BaseException | None) -> None:
        for msg in batch:
            if msg.done is not None:
                try:
                    msg.done(error)
                except Exception:
                    log.exception("acknowledgement callback failed for topic %r", msg.topic)
