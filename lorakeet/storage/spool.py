"""A durable on-disk spool for batches the store could not take.

When the readings store fails, the pipeline appends the batch here (one SQLite
transaction, ``synchronous=FULL``: fsync'd before the call returns) and only then
acknowledges it. Spooled batches are replayed oldest first, before any newer batch, once
the store answers again. A spool that cannot be written (disk full, unwritable path,
another process holding it) raises :class:`SpoolError`; the caller must then keep the
batch unacknowledged and retry, never drop it.

Records are serialised with :mod:`marshal` (our own file; plain tuples of the NamedTuple
fields, format version in every row). One process owns a spool file at a time (an
exclusive ``flock`` on ``<file>.lock``): two processes sharing a file could replay each
other's batches. Processes configured with the same path (``lorakeet api --workers N``,
or N bridges on one host) each take the first free *slot*: ``spool.db``, then
``spool-2.db``, ``spool-3.db``... up to :data:`SLOTS`. At start a process takes a free slot
that holds batches left by an earlier run, so they are replayed by whoever comes up next.
"""

from __future__ import annotations

import fcntl
import logging
import marshal
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from lorakeet.decoders import Reading

from .records import DeviceModel, RejectedMessage, StoredUplink, Uplink

log = logging.getLogger(__name__)

FORMAT = 1
SLOTS = 64
"""Spool files one configured path can stand for (one per process using it)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    format INTEGER NOT NULL,
    uplinks INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS unreadable (
    id INTEGER PRIMARY KEY,
    format INTEGER NOT NULL,
    error TEXT NOT NULL,
    body BLOB NOT NULL
);
"""


class SpoolError(Exception):
    """The spool could not durably take (or give back) a batch."""


_DEVICE_MODEL = Uplink._fields.index("device_model")


def _dump_uplink(s: StoredUplink) -> tuple[Any, ...]:
    u = s.uplink
    nd = dict(u.network_decoded) if u.network_decoded is not None else None
    fields: list[Any] = list(u._replace(network_decoded=nd))
    if u.device_model is not None:  # marshal takes plain tuples only
        fields[_DEVICE_MODEL] = tuple(u.device_model)
    return (
        tuple(fields),
        s.kind,
        s.decoder,
        tuple(tuple(r) for r in s.readings),
        s.warnings,
        s.decode_error,
    )


def _load_uplink(t: tuple[Any, ...]) -> StoredUplink:
    u, kind, decoder, readings, warnings, error = t
    up = Uplink(*u)
    if up.device_model is not None:
        up = up._replace(device_model=DeviceModel(*up.device_model))
    return StoredUplink(up, kind, decoder, tuple(Reading(*r) for r in readings), tuple(warnings), error)


def encode(stored: Sequence[StoredUplink], rejected: Sequence[RejectedMessage]) -> bytes:
    """One batch as bytes."""
    rej = [(r.source, r.topic, r.body, r.error, r.received_at_ns, r.reason) for r in rejected]
    return marshal.dumps(([_dump_uplink(s) for s in stored], rej), 4)


def decode(blob: bytes) -> tuple[list[StoredUplink], list[RejectedMessage]]:
    """The inverse of :func:`encode`."""
    ups, rej = marshal.loads(blob)  # noqa: S302 - our own file
    return [_load_uplink(t) for t in ups], [RejectedMessage(*r) for r in rej]


class Spool:
    """A FIFO of batches in one SQLite file, opened on first use (or when it exists)."""

    def __init__(self, path: str | Path, *, max_pages: int | None = None) -> None:
        self.configured = Path(path)
        self.path = self.configured  # the slot file in use (see slots())
        self.max_pages = max_pages  # tests: simulate a full disk (SQLITE_FULL)
        self._db: sqlite3.Connection | None = None
        self._lock_file: IO[bytes] | None = None
        self._mutex = threading.Lock()
        self._depth = 0  # uplinks + rejected messages waiting
        self._batches = 0

    # -- lifecycle -----------------------------------------------------------------------

    def exists(self) -> bool:
        """True when a spool file is on disk (possibly left by an earlier run)."""
        return any(p.exists() for p in self.slots())

    def slots(self) -> list[Path]:
        """The files this spool's configured path stands for, in the order they are taken."""
        base = self.configured
        return [base] + [base.with_name(f"{base.stem}-{i}{base.suffix}") for i in range(2, SLOTS + 1)]

    def _lock_slot(self, *, existing_only: bool) -> IO[bytes] | None:
        """Lock the first free slot (only files already on disk when ``existing_only``)."""
        try:
            self.configured.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot create spool {self.configured}: {exc}") from exc
        for path in self.slots():
            if existing_only and not path.exists():
                continue
            try:
                lock = (path.parent / (path.name + ".lock")).open("ab")
            except OSError as exc:
                raise SpoolError(f"cannot create spool {path}: {exc}") from exc
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                lock.close()
                continue
            self.path = path
            return lock
        if existing_only:
            return None
        raise SpoolError(f"spool {self.configured}: all {SLOTS} slots are in use by other processes")

    def _open(self, *, existing_only: bool = False) -> sqlite3.Connection | None:
        if self._db is not None:
            return self._db
        lock = self._lock_slot(existing_only=existing_only)
        if lock is None:
            return None
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            if self.max_pages is not None:
                db.execute(f"PRAGMA max_page_count={int(self.max_pages)}")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT count(*), coalesce(sum(uplinks + rejected), 0) FROM batch").fetchone()
        except sqlite3.Error as exc:
            lock.close()
            raise SpoolError(f"cannot open spool {self.path}: {exc}") from exc
        self._batches, self._depth = int(row[0]), int(row[1])
        self._db, self._lock_file = db, lock
        try:
            fsync_dir(self.path.parent)  # the new file's directory entry is durable too
        except OSError:
            pass
        if self._batches:
            log.warning(
                "spool %s holds %d batches (%d messages) from an earlier run; replaying them first",
                self.path,
                self._batches,
                self._depth,
            )
        return db

    def _open_any(self) -> sqlite3.Connection:
        db = self._open()
        assert db is not None  # a new slot is always opened (or SpoolError raised)
        return db

    def open_if_present(self) -> None:
        """Take a free slot left by an earlier run, so its batches are replayed."""
        with self._mutex:
            self._open(existing_only=True)

    def close(self) -> None:
        """Close the file and release the lock (batches stay on disk)."""
        with self._mutex:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None

    # -- the queue -----------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Messages (uplinks and rejected bodies) waiting to be replayed."""
        return self._depth

    @property
    def batches(self) -> int:
        """Batches waiting to be replayed."""
        return self._batches

    def append(self, stored: Sequence[StoredUplink], rejected: Sequence[RejectedMessage]) -> None:
        """Durably add a batch at the end; raises SpoolError (nothing was added then)."""
        blob = encode(stored, rejected)
        with self._mutex:
            db = self._open_any()
            try:
                db.execute(
                    "INSERT INTO batch (format, uplinks, rejected, body) VALUES (?, ?, ?, ?)",
                    (FORMAT, len(stored), len(rejected), blob),
                )
            except sqlite3.Error as exc:
                raise SpoolError(f"spool {self.path} not writable: {exc}") from exc
            self._batches += 1
            self._depth += len(stored) + len(rejected)

    def peek(self) -> tuple[int, list[StoredUplink], list[RejectedMessage]] | None:
        """The oldest batch (id, uplinks, rejected), or None when empty.

        A batch that cannot be read back (another format, a damaged file) must not hold up
        the ones behind it: it is moved to the ``unreadable`` table of the same file, kept
        for inspection, with a CRITICAL log.
        """
        while True:
            with self._mutex:
                db = self._open(existing_only=True)
                if db is None:
                    return None
                try:
                    row = db.execute("SELECT id, format, body FROM batch ORDER BY id LIMIT 1").fetchone()
                except sqlite3.Error as exc:
                    raise SpoolError(f"cannot read spool {self.path}: {exc}") from exc
            if row is None:
                return None
            bid, fmt, blob = row
            try:
                if fmt != FORMAT:
                    raise ValueError(f"unknown format {fmt}")
                stored, rejected = decode(blob)
            except Exception as exc:
                self._set_aside(int(bid), int(fmt), bytes(blob), exc)
                continue
            return int(bid), stored, rejected

    def _set_aside(self, bid: int, fmt: int, blob: bytes, exc: Exception) -> None:
        log.critical(
            "spool %s: batch %d cannot be read back (%r); kept in its 'unreadable' table", self.path, bid, exc
        )
        with self._mutex:
            db = self._open_any()
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "INSERT OR REPLACE INTO unreadable (id, format, error, body) VALUES (?, ?, ?, ?)",
                    (bid, fmt, repr(exc)[:2000], blob),
                )
                db.execute("DELETE FROM batch WHERE id = ?", (bid,))
                db.execute("COMMIT")
            except sqlite3.Error as e:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise SpoolError(f"cannot update spool {self.path}: {e}") from e
            self._batches = max(0, self._batches - 1)
            row = db.execute("SELECT coalesce(sum(uplinks + rejected), 0) FROM batch").fetchone()
            self._depth = int(row[0])

    def remove(self, batch_id: int) -> None:
        """Forget a batch once the store has it."""
        with self._mutex:
            db = self._open_any()
            try:
                row = db.execute("SELECT uplinks + rejected FROM batch WHERE id = ?", (batch_id,)).fetchone()
                db.execute("DELETE FROM batch WHERE id = ?", (batch_id,))
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot update spool {self.path}: {exc}") from exc
            if row is not None:
                self._batches -= 1
                self._depth -= int(row[0])
            if self._batches == 0:
                try:
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error:
                    pass


def fsync_dir(path: Path) -> None:
    """fsync a directory so a newly created file's entry is durable too."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
