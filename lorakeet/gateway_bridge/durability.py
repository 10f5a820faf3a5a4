"""Durability: every batch ends up in the store, the spool or the dead-letter table.

The store's failures are told apart (see :mod:`lorakeet.storage.protocols`):

- **transient** (no answer, timeout, 5xx, 429): the batch goes to the on-disk
  :class:`~lorakeet.storage.spool.Spool` (fsync'd) and is acknowledged; spooled batches
  are replayed in order, before newer batches, once the store answers. Without a spool,
  or when the spool cannot be written (disk full: logged as critical), the same batch is
  retried with backoff, unacknowledged, while the queue pushes back on the producers.
- **refused points** (a partial write, a type conflict, beyond retention, a number the
  store cannot hold): the batch is split in halves until each refused uplink stands
  alone (the points the store took are written again, which is harmless: writes are
  idempotent); the refused ones go to the dead-letter table with the store's reason, the
  rest is stored. A batch the store takes costs one write, as before.
- **configuration** (401/403, no such database): ingest is *blocked*, loudly: a CRITICAL
  log, ``health()`` names it (``/readyz`` answers 503), and batches are spooled (or
  retried) until a write succeeds again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol, TypeVar

from lorakeet.storage.dead_letters import DeadLetters, Refused
from lorakeet.storage.protocols import PointsRefused, ReadingWriter, StoreConfigError, StoreError
from lorakeet.storage.records import RejectedMessage, StoredUplink
from lorakeet.storage.spool import Spool, SpoolError

from .sink import Outcome, PipelineStats

log = logging.getLogger(__name__)

T = TypeVar("T", StoredUplink, RejectedMessage)
SPOOL_WARN_STEP = 10_000
"""A warning is logged each time the spool depth crosses another multiple of this."""
BLOCKED_LOG_EVERY_S = 60.0


class DeadLetterSink(Protocol):
    """Where refused items are kept (the registry's dead-letter table)."""

    def add(self, refused: Sequence[Refused]) -> None:
        """Keep them durably; raises when it cannot."""
        ...


class MemoryDeadLetters:
    """Dead letters kept in memory only: for embedding and tests, lost at exit."""

    def __init__(self) -> None:
        self.items: list[Refused] = []

    def add(self, refused: Sequence[Refused]) -> None:
        """Keep them."""
        self.items.extend(refused)


class Durability:
    """Writes batches through the store, the spool and the dead-letter table; see the module docstring."""

    def __init__(
        self,
        writer: ReadingWriter,
        stats: PipelineStats,
        *,
        spool: Spool | None = None,
        dead_letters: DeadLetterSink | None = None,
        notify: Callable[[list[StoredUplink]], None] = lambda stored: None,
        retry_initial: float = 0.2,
        retry_max: float = 10.0,
        stopping: threading.Event | None = None,
    ) -> None:
        self.writer = writer
        self.stats = stats
        self.spool = spool
        self.dead_letters: DeadLetterSink = dead_letters if dead_letters is not None else MemoryDeadLetters()
        self.notify = notify
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.stopping = stopping or threading.Event()
        self.tolerant = False  # treat unexpected writer exceptions as refused points (after crashes)
        self._delay = retry_initial
        self._next_replay = 0.0
        self._spool_warned = 0
        self._blocked_logged = 0.0

    # -- a new batch ---------------------------------------------------------------------

    def commit(
        self, stored: list[StoredUplink], rejected: list[RejectedMessage]
    ) -> tuple[Outcome, list[StoredUplink]]:
        """Make a batch durable; returns where it went and the uplinks now in the store.

        Order is kept: while the spool holds batches, a new batch goes to the store only once
        every older spooled batch has been replayed; otherwise it is spooled behind them.
        """
        spool = self.spool
        while True:
            if spool is None or spool.batches == 0 or self.replay():
                written = self._attempt(stored, rejected)
                if written is not None:
                    return Outcome.STORED, written
            if spool is not None:
                try:
                    spool.append(stored, rejected)
                except SpoolError as exc:
                    log.critical(
                        "store down AND spool unusable (%s): %d uplinks stay unacknowledged and are retried",
                        exc,
                        len(stored),
                    )
                else:
                    self.stats.spooled += len(stored) + len(rejected)
                    self._spool_changed()
                    return Outcome.SPOOLED, []
            if self.stopping.is_set():
                log.error("store still failing at shutdown, %d uplinks left unacknowledged", len(stored))
                return Outcome.FAILED, []
            self.stopping.wait(self._delay)  # the failed attempt has doubled it already

    # -- the spool -----------------------------------------------------------------------

    def replay(self, *, final: bool = False) -> bool:
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
                self._spool_changed()
                return True
            bid, stored, rejected = head
            written = self._attempt(stored, rejected)
            if written is None:
                level = logging.WARNING if not final else logging.ERROR
                across = " across the restart" if final else ""
                log.log(level, "store still failing; %d messages stay in the spool%s", spool.depth, across)
                return False
            try:
                spool.remove(bid)
            except SpoolError as exc:  # replaying it again later is harmless (idempotent)
                log.critical("cannot update the spool: %s", exc)
                return False
            self.stats.replayed += len(stored) + len(rejected)
            self._spool_changed()
            self.notify(written)
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

    # -- one attempt ---------------------------------------------------------------------

    def _attempt(
        self, stored: list[StoredUplink], rejected: list[RejectedMessage]
    ) -> list[StoredUplink] | None:
        """Write a batch, dead-lettering refused points; None when the store failed (retry later)."""
        try:
            written, refused = write_splitting(self.writer, stored, rejected, tolerant=self.tolerant)
        except StoreConfigError as exc:
            self._block(str(exc))
            self._failed(exc)
            return None
        except StoreError as exc:
            self._failed(exc)
            return None
        if refused:
            try:
                self.dead_letters.add(refused)
            except Exception as exc:  # the dead-letter table does not answer: the batch waits
                log.error("cannot keep %d dead letters (%s); the batch waits", len(refused), exc)
                self._failed(exc)
                return None
        if self.stats.blocked:
            log.warning("the store takes writes again (was: %s)", self.stats.blocked)
            self.stats.blocked = ""
        self._delay = self.retry_initial
        stats = self.stats
        stats.stored += len(written)
        gone = {id(f.item) for f in refused}
        stats.rejected += sum(1 for r in rejected if id(r) not in gone)
        stats.dead_lettered += len(refused)
        for r in rejected:
            stats.rejected_by[r.reason] = stats.rejected_by.get(r.reason, 0) + 1
        for s in written:
            stats.by_decoder[s.decoder] = stats.by_decoder.get(s.decoder, 0) + 1
        for f in refused:
            log.error("store refused %s for good; kept as a dead letter: %s", _describe(f.item), f.reason)
        return written

    def _failed(self, exc: BaseException) -> None:
        self.stats.write_failures += 1
        self._next_replay = time.monotonic() + self._delay
        self._delay = min(self._delay * 2, self.retry_max)
        if not self.stats.blocked:
            log.warning("store write failed (%s); the batch waits (spool or retry)", exc)

    def _block(self, reason: str) -> None:
        now = time.monotonic()
        if reason != self.stats.blocked or now - self._blocked_logged > BLOCKED_LOG_EVERY_S:
            log.critical(
                "ingest BLOCKED: the store refuses every write until its configuration is fixed: %s", reason
            )
            self._blocked_logged = now
        self.stats.blocked = reason


def write_splitting(
    writer: ReadingWriter,
    stored: Sequence[StoredUplink],
    rejected: Sequence[RejectedMessage],
    *,
    tolerant: bool = False,
) -> tuple[list[StoredUplink], list[Refused]]:
    """Write uplinks and rejected bodies; returns (uplinks stored, items refused for good).

    Raises StoreError (transient) and StoreConfigError. ``tolerant`` treats any other
    exception of the writer as a refusal of the points that cause it.
    """
    refused: list[Refused] = []
    written = _split(writer.write, list(stored), refused, tolerant)
    _split(writer.write_rejected, list(rejected), refused, tolerant)
    return written, refused


def _split(
    write: Callable[[Sequence[T]], None], items: list[T], refused: list[Refused], tolerant: bool
) -> list[T]:
    if not items:
        return []
    try:
        try:
            write(items)
        except StoreError:
            raise
        except Exception as exc:
            if not tolerant:
                raise
            raise PointsRefused(f"internal error: {exc!r}") from exc
    except PointsRefused as exc:
        if len(items) == 1:
            refused.append(Refused(items[0], str(exc)))
            return []
        mid = len(items) // 2
        return _split(write, items[:mid], refused, tolerant) + _split(write, items[mid:], refused, tolerant)
    return items


def _describe(item: StoredUplink | RejectedMessage) -> str:
    if isinstance(item, RejectedMessage):
        return f"a rejected message of topic {item.topic!r}"
    u = item.uplink
    return f"uplink of {u.application_id}.{u.device_id} f_cnt={u.f_cnt}"


class ReplayResult(NamedTuple):
    """What a dead-letter replay did."""

    stored: int
    refused: int


def replay_dead_letters(
    writer: ReadingWriter, dead_letters: DeadLetters, ids: Sequence[int] | None = None, chunk: int = 500
) -> ReplayResult:
    """Write dead letters to the store again (all, or ``ids``), oldest first.

    A dead letter the store takes is removed once written (a replay interrupted between
    the two writes it again next time, which stores it once: writes are idempotent); one
    refused again stays, with the store's new reason. Raises StoreError when the store
    does not answer (nothing more is removed then).
    """
    stored = refused = 0
    after = 0
    pending = list(ids) if ids is not None else None
    while True:
        if pending is not None:
            if not pending:
                return ReplayResult(stored, refused)
            wanted, pending = pending[:chunk], pending[chunk:]
            items = dead_letters.load(wanted, chunk)
        else:
            items = dead_letters.load(None, chunk, after)
            if not items:
                return ReplayResult(stored, refused)
        by_id: dict[int, list[StoredUplink | RejectedMessage]] = {}
        for rid, item in items:
            by_id.setdefault(rid, []).append(item)
        ups = [i for _, i in items if not isinstance(i, RejectedMessage)]
        rej = [i for _, i in items if isinstance(i, RejectedMessage)]
        _, again = write_splitting(writer, ups, rej)
        failed = {id(f.item): f.reason for f in again}
        done: list[int] = []
        for rid, group in by_id.items():
            reasons = [failed[id(i)] for i in group if id(i) in failed]
            if reasons:
                dead_letters.refused_again(rid, reasons[0])
                refused += 1
            else:
                done.append(rid)
        stored += dead_letters.remove(done)
        after = max(by_id, default=after)
