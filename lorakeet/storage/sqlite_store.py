"""The embedded readings store: one SQLite file in WAL mode.

Layout: ``device`` (application_id, device_id) and ``series`` (device, key) give small
integer ids; ``reading`` is a WITHOUT ROWID table clustered by (series, time), so a
device's history of one quantity is one contiguous range. ``series`` also keeps each
key's latest value, so "latest" never scans history. ``uplink`` keeps every uplink's
radio metadata, raw payload and decode outcome, keyed by (device, time, f_cnt): a
redelivered uplink overwrites itself. One transaction per batch, its rows written in key
order; bench/scale.py measures ingest and reads as the file grows to 10M readings.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from operator import itemgetter
from pathlib import Path

from lorakeet.decoders import Reading

from .protocols import StoreError
from .records import (
    DeviceKey,
    RejectedMessage,
    StoredUplink,
)
from .sqlite_reads import SqliteReads
from .sqlite_schema import SCHEMA
from .write_errors import sqlite_write_error as classify

_WRITER_CACHE_KIB = 128 * 1024  # page cache of a connection that writes, filled as pages are used
_CHECKPOINT_PAGES = 16384  # WAL pages (64 MiB at 4 KiB) before a checkpoint
_UPLINK_KEY = itemgetter(0, 1, 2)  # (device, time, f_cnt)
_READING_KEY = itemgetter(0, 1)  # (series, time)


class SqliteStore(SqliteReads):
    """ReadingWriter and ReadingReader on one SQLite file (the reads: ``SqliteReads``)."""

    reads_inline = True  # a point read takes microseconds: less than a thread-pool hop

    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._devices: dict[tuple[str, str], int] = {}
        self._series: dict[tuple[int, str], int] = {}
        self._units: dict[int, str] = {}  # series id -> the unit last stored for it
        with self._write_lock:
            self._conn().executescript(SCHEMA)

    # -- connections ---------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={self._synchronous}")
                conn.execute("PRAGMA busy_timeout=30000")
                # A batch dirties the last page of every series and device it touches (the
                # tables are clustered by series and device, uplinks arrive in time order): a
                # page rewritten by the next batches is checkpointed once rather than after
                # every commit.
                conn.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")
                conn.execute(f"PRAGMA journal_size_limit={_CHECKPOINT_PAGES * 4096}")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from exc
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            self._local.writer = False

    # -- ids -----------------------------------------------------------------------------

    def _device_id(self, conn: sqlite3.Connection, app: str, dev: str, create: bool) -> int | None:
        key = (app, dev)
        did = self._devices.get(key)
        if did is None:
            row = conn.execute("SELECT id FROM device WHERE application_id=? AND device_id=?", key).fetchone()
            if row is None:
                if not create:
                    return None
                row = conn.execute(
                    "INSERT INTO device (application_id, device_id) VALUES (?, ?) RETURNING id", key
                ).fetchone()
            did = int(row[0])
            self._devices[key] = did
        return did

    def _series_id(self, conn: sqlite3.Connection, device: int, reading: Reading) -> int:
        sk = (device, reading.key)
        sid = self._series.get(sk)
        if sid is None:
            row = conn.execute("SELECT id, unit FROM series WHERE device=? AND key=?", sk).fetchone()
            if row is None:
                v = reading.value
                type_ = "bool" if isinstance(v, bool) else "str" if isinstance(v, str) else "float"
                row = conn.execute(
                    "INSERT INTO series (device, key, unit, type) VALUES (?, ?, ?, ?) RETURNING id, unit",
                    (device, reading.key, reading.unit, type_),
                ).fetchone()
            sid = int(row[0])
            self._series[sk] = sid
            self._units[sid] = str(row[1])
        return sid

    # -- writing -------------------------------------------------------------------------

    def write(self, batch: Sequence[StoredUplink]) -> None:
        """Store a batch in one transaction; idempotent on (device, time, f_cnt)."""
        if not batch:
            return
        with self._write_lock:
            conn = self._conn()
            try:
                if not getattr(self._local, "writer", False):
                    # the pages a batch dirties (thousands for a large fleet) stay cached
                    # for the next batches; readers keep SQLite's small default cache
                    conn.execute(f"PRAGMA cache_size=-{_WRITER_CACHE_KIB}")
                    self._local.writer = True
                conn.execute("BEGIN IMMEDIATE")
                try:
                    self._write_batch(conn, batch)
                except BaseException:
                    conn.execute("ROLLBACK")
                    # ids created inside the rolled-back transaction are gone too
                    self._devices.clear()
                    self._series.clear()
                    self._units.clear()
                    raise
                conn.execute("COMMIT")
            except Exception as exc:
                raise classify(exc) from exc

    def _write_batch(self, conn: sqlite3.Connection, batch: Sequence[StoredUplink]) -> None:
        uplinks: list[tuple[object, ...]] = []
        readings: list[tuple[int, int, float | None, str | None]] = []
        devices = self._devices
        series = self._series
        units = self._units
        unit_changes: dict[int, str] = {}
        for s in batch:
            u = s.uplink
            t_up = u.received_at_ns
            did = devices.get((u.application_id, u.device_id))
            if did is None:
                did = self._device_id(conn, u.application_id, u.device_id, create=True)
                assert did is not None
            uplinks.append(
                (
                    did,
                    t_up,
                    u.f_cnt,
                    u.f_port,
                    u.source,
                    u.payload,
                    u.rssi,
                    u.snr,
                    u.spreading_factor,
                    u.frequency,
                    ",".join(u.gateways),
                    s.decoder,
                    s.decode_error,
                    "\n".join(s.warnings) if s.warnings else None,
                    json.dumps(u.network_decoded) if u.network_decoded is not None else None,
                )
            )
            for r in s.readings:
                sid = series.get((did, r.key))
                if sid is None:
                    sid = self._series_id(conn, did, r)
                if units.get(sid) != r.unit:  # a vendor field whose stated unit changed
                    unit_changes[sid] = units[sid] = r.unit
                t = t_up if r.time_ns is None else r.time_ns
                v = r.value
                readings.append((sid, t, None, v) if isinstance(v, str) else (sid, t, float(v), None))
        # In key order, consecutive rows land on the same page: far fewer B-tree descents
        # than the batch's arrival order (every device in turn). The sorts are stable, so a
        # key written twice in one batch still keeps its last value.
        uplinks.sort(key=_UPLINK_KEY)
        readings.sort(key=_READING_KEY)
        conn.executemany(
            "INSERT OR REPLACE INTO uplink VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            uplinks,
        )
        conn.executemany("INSERT OR REPLACE INTO reading VALUES (?,?,?,?)", readings)
        if unit_changes:
            conn.executemany("UPDATE series SET unit=? WHERE id=?", [(u, i) for i, u in unit_changes.items()])
        # the last row of each series in sorted order is its latest (the last written on a tie)
        latest = {row[0]: row for row in readings}
        conn.executemany(
            "UPDATE series SET last_time=?, last_value=?, last_text=? WHERE id=? AND last_time<=?",
            [(t, v, txt, sid, t) for sid, t, v, txt in latest.values()],
        )

    def write_rejected(self, batch: Sequence[RejectedMessage]) -> None:
        """Keep unparseable messages in the ``rejected`` table."""
        if not batch:
            return
        with self._write_lock:
            try:
                self._conn().executemany(
                    "INSERT INTO rejected (time, source, topic, body, error) VALUES (?,?,?,?,?)",
                    [(m.received_at_ns, m.source, m.topic, m.body, m.error) for m in batch],
                )
            except Exception as exc:
                raise classify(exc) from exc

    def forget_devices(self, devices: Sequence[DeviceKey]) -> None:
        """Nothing to drop: latest values are read from the database itself."""

    def delete_device(self, device: DeviceKey) -> None:
        """Erase every reading and uplink of a device, and the rejected messages naming it."""
        with self._write_lock:
            conn = self._conn()
            try:  # rejected messages naming the device (its topic or body holds both ids)
                conn.execute(
                    "DELETE FROM rejected WHERE (instr(topic, ?1) OR instr(CAST(body AS TEXT), ?1)) "
                    "AND (instr(topic, ?2) OR instr(CAST(body AS TEXT), ?2))",
                    (device.device_id, device.application_id),
                )
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite delete failed: {exc}") from exc
            did = self._device_id(conn, device.application_id, device.device_id, create=False)
            if did is None:
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute(
                        "DELETE FROM reading WHERE series IN (SELECT id FROM series WHERE device=?)", (did,)
                    )
                    conn.execute("DELETE FROM series WHERE device=?", (did,))
                    conn.execute("DELETE FROM uplink WHERE device=?", (did,))
                    conn.execute("DELETE FROM device WHERE id=?", (did,))
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite delete failed: {exc}") from exc
            self._devices.pop((device.application_id, device.device_id), None)
            self._series = {k: v for k, v in self._series.items() if k[0] != did}

    # -- reading -------------------------------------------------------------------------

    def keys(self, device: DeviceKey) -> list[str]:
        """The reading keys stored for a device."""
        did = self._lookup(device)
        if did is None:
            return []
        return [k for _, k, _ in self._series_of(did, None)]

    def units(self, device: DeviceKey) -> dict[str, str]:
        """The unit stored with each key of a device ('' for none)."""
        did = self._lookup(device)
        if did is None:
            return {}
        rows = self._conn().execute("SELECT key, unit FROM series WHERE device=?", (did,)).fetchall()
        return {str(k): str(u) for k, u in rows}

    def count_uplinks(self) -> int:
        """Number of stored uplinks (all devices)."""
        return int(self._conn().execute("SELECT count(*) FROM uplink").fetchone()[0])

    def rejected(self, limit: int = 100) -> list[RejectedMessage]:
        """The most recent messages that could not be parsed."""
        rows = (
            self._conn()
            .execute(
                "SELECT source, topic, body, error, time FROM rejected ORDER BY id DESC LIMIT ?", (limit,)
            )
            .fetchall()
        )
        return [RejectedMessage(r[0], r[1], bytes(r[2]), r[3], r[4]) for r in rows]
