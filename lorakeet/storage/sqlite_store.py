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
from collections.abc import Iterable, Sequence
from operator import itemgetter
from pathlib import Path

from lorakeet.decoders import Reading, Value

from .protocols import StoreError
from .records import (
    Aggregate,
    DeviceKey,
    LatestValue,
    Point,
    RejectedMessage,
    StoredUplink,
    UplinkView,
)
from .write_errors import sqlite_write_error as classify

SCHEMA = """
CREATE TABLE IF NOT EXISTS device (
    id INTEGER PRIMARY KEY,
    application_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    UNIQUE (application_id, device_id)
);
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    device INTEGER NOT NULL REFERENCES device(id),
    key TEXT NOT NULL,
    unit TEXT NOT NULL,
    type TEXT NOT NULL DEFAULT 'float',
    last_time INTEGER NOT NULL DEFAULT 0,
    last_value REAL,
    last_text TEXT,
    UNIQUE (device, key)
);
CREATE TABLE IF NOT EXISTS reading (
    series INTEGER NOT NULL,
    time INTEGER NOT NULL,
    value REAL,
    text TEXT,
    PRIMARY KEY (series, time)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uplink (
    device INTEGER NOT NULL,
    time INTEGER NOT NULL,
    f_cnt INTEGER NOT NULL,
    f_port INTEGER NOT NULL,
    source TEXT NOT NULL,
    payload BLOB NOT NULL,
    rssi REAL,
    snr REAL,
    sf INTEGER,
    frequency INTEGER,
    gateways TEXT NOT NULL,
    decoder TEXT NOT NULL,
    decode_error TEXT,
    warnings TEXT,
    network_decoded TEXT,
    PRIMARY KEY (device, time, f_cnt)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    source TEXT NOT NULL,
    topic TEXT NOT NULL,
    body BLOB NOT NULL,
    error TEXT NOT NULL
);
"""

_WRITER_CACHE_KIB = 128 * 1024  # page cache of a connection that writes, filled as pages are used
_CHECKPOINT_PAGES = 16384  # WAL pages (64 MiB at 4 KiB) before a checkpoint
_IN_CHUNK = 5000  # devices per latest_many statement (2 bound parameters each)
_UPLINK_KEY = itemgetter(0, 1, 2)  # (device, time, f_cnt)
_READING_KEY = itemgetter(0, 1)  # (series, time)

_AGG_SQL: dict[Aggregate, str] = {
    "mean": "avg(value)",
    "min": "min(value)",
    "max": "max(value)",
    "count": "count(*)",
    "last": "value",  # picked with max(time) below (SQLite's bare-column rule)
}


def _value(value: float | None, text: str | None, type_: str) -> Value:
    if text is not None:
        return text
    assert value is not None
    return bool(value) if type_ == "bool" else value


class SqliteStore:
    """ReadingWriter and ReadingReader on one SQLite file."""

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
            row = conn.execute("SELECT id FROM series WHERE device=? AND key=?", sk).fetchone()
            if row is None:
                v = reading.value
                type_ = "bool" if isinstance(v, bool) else "str" if isinstance(v, str) else "float"
                row = conn.execute(
                    "INSERT INTO series (device, key, unit, type) VALUES (?, ?, ?, ?) RETURNING id",
                    (device, reading.key, reading.unit, type_),
                ).fetchone()
            sid = int(row[0])
            self._series[sk] = sid
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
                    raise
                conn.execute("COMMIT")
            except Exception as exc:
                raise classify(exc) from exc

    def _write_batch(self, conn: sqlite3.Connection, batch: Sequence[StoredUplink]) -> None:
        uplinks: list[tuple[object, ...]] = []
        readings: list[tuple[int, int, float | None, str | None]] = []
        devices = self._devices
        series = self._series
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
        """Erase every reading and uplink of a device."""
        with self._write_lock:
            conn = self._conn()
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

    def _lookup(self, device: DeviceKey) -> int | None:
        return self._device_id(self._conn(), device.application_id, device.device_id, create=False)

    def _series_of(self, did: int, keys: Iterable[str] | None) -> list[tuple[int, str, str]]:
        rows = self._conn().execute("SELECT id, key, type FROM series WHERE device=?", (did,)).fetchall()
        wanted = set(keys) if keys is not None else None
        return [(int(sid), str(key), str(t)) for sid, key, t in rows if wanted is None or key in wanted]

    def latest(self, device: DeviceKey) -> list[LatestValue]:
        """The latest value of every key of a device."""
        did = self._lookup(device)
        if did is None:
            return []
        rows = (
            self._conn()
            .execute(
                "SELECT key, type, last_time, last_value, last_text FROM series "
                "WHERE device=? AND last_time>0 ORDER BY key",
                (did,),
            )
            .fetchall()
        )
        return [LatestValue(k, t, _value(v, txt, ty)) for k, ty, t, v, txt in rows]

    def latest_many(self, devices: Sequence[DeviceKey]) -> dict[DeviceKey, list[LatestValue]]:
        """Latest values of many devices (``series`` holds them): one query per chunk of ids."""
        conn = self._conn()
        by_id: dict[int, DeviceKey] = {}
        unknown: list[DeviceKey] = []
        for k in dict.fromkeys(devices):
            did = self._devices.get((k.application_id, k.device_id))
            if did is None:
                unknown.append(k)
            else:
                by_id[did] = k
        for i in range(0, len(unknown), _IN_CHUNK):
            chunk = unknown[i : i + _IN_CHUNK]
            rows = conn.execute(
                "SELECT id, application_id, device_id FROM device "
                f"WHERE (application_id, device_id) IN (VALUES {','.join(['(?,?)'] * len(chunk))})",
                [part for k in chunk for part in (k.application_id, k.device_id)],
            ).fetchall()
            for did, app, dev in rows:
                self._devices[(app, dev)] = did
                by_id[did] = DeviceKey(app, dev)
        values: dict[int, list[LatestValue]] = {}
        ids = list(by_id)
        for i in range(0, len(ids), 2 * _IN_CHUNK):
            chunk_ids = ids[i : i + 2 * _IN_CHUNK]
            rows = conn.execute(
                "SELECT device, key, type, last_time, last_value, last_text FROM series "
                f"WHERE device IN ({','.join('?' * len(chunk_ids))}) AND last_time > 0 ORDER BY device, key",
                chunk_ids,
            ).fetchall()
            for did, k, ty, t, v, txt in rows:
                lst = values.get(did)
                if lst is None:
                    lst = values[did] = []
                lst.append(LatestValue(k, t, _value(v, txt, ty)))
        return {by_id[did]: lst for did, lst in values.items()}

    def points(
        self,
        device: DeviceKey,
        keys: Sequence[str] | None,
        start_ns: int,
        end_ns: int,
        limit: int,
    ) -> list[Point]:
        """Raw points in [start, end), oldest first."""
        did = self._lookup(device)
        if did is None:
            return []
        series = self._series_of(did, keys)
        if not series:
            return []
        by_id = {sid: (key, type_) for sid, key, type_ in series}
        marks = ",".join("?" * len(by_id))
        rows = self._conn().execute(
            f"SELECT series, time, value, text FROM reading WHERE series IN ({marks}) "
            "AND time>=? AND time<? ORDER BY time, series",
            (*by_id, start_ns, end_ns),
        )
        out: list[Point] = []
        for sid, t, v, txt in rows:  # streamed: stops reading once ``limit`` times are complete
            if not out or out[-1].time_ns != t:
                if len(out) == limit:
                    break
                out.append(Point(t, {}))
            key, type_ = by_id[sid]
            out[-1].values[key] = _value(v, txt, type_)
        return out

    def aggregate(
        self,
        device: DeviceKey,
        keys: Sequence[str],
        start_ns: int,
        end_ns: int,
        every_ns: int,
        agg: Aggregate,
    ) -> list[Point]:
        """One point per non-empty window, windows aligned to the epoch."""
        did = self._lookup(device)
        if did is None:
            return []
        series = [row for row in self._series_of(did, keys) if row[2] == "float"]
        if not series:
            return []
        by_id = {sid: key for sid, key, _ in series}
        marks = ",".join("?" * len(by_id))
        extra = ", max(time)" if agg == "last" else ""
        rows = (
            self._conn()
            .execute(
                f"SELECT series, time - (time % ?) AS w, {_AGG_SQL[agg]}{extra} FROM reading "
                f"WHERE series IN ({marks}) AND time>=? AND time<? AND text IS NULL "
                "GROUP BY series, w",
                (every_ns, *by_id, start_ns, end_ns),
            )
            .fetchall()
        )
        points: dict[int, Point] = {}
        for row in rows:
            sid, w, v = row[0], row[1], row[2]
            p = points.get(w)
            if p is None:
                p = points[w] = Point(w, {})
            p.values[by_id[sid]] = float(v)
        return [points[w] for w in sorted(points)]

    def uplinks(self, device: DeviceKey, start_ns: int, end_ns: int, limit: int) -> list[UplinkView]:
        """Stored uplinks in [start, end), newest first."""
        did = self._lookup(device)
        if did is None:
            return []
        rows = (
            self._conn()
            .execute(
                "SELECT time, f_cnt, f_port, payload, source, rssi, snr, sf, frequency, gateways, "
                "decoder, decode_error, network_decoded FROM uplink WHERE device=? AND time>=? AND time<? "
                "ORDER BY time DESC LIMIT ?",
                (did, start_ns, end_ns, limit),
            )
            .fetchall()
        )
        return [
            UplinkView(
                device=device,
                received_at_ns=r[0],
                f_cnt=r[1],
                f_port=r[2],
                payload=bytes(r[3]),
                source=r[4],
                rssi=r[5],
                snr=r[6],
                spreading_factor=r[7],
                frequency=r[8],
                gateways=tuple(g for g in r[9].split(",") if g),
                decoder=r[10],
                decode_error=r[11],
                network_decoded=json.loads(r[12]) if r[12] is not None else None,
            )
            for r in rows
        ]

    def keys(self, device: DeviceKey) -> list[str]:
        """The reading keys stored for a device."""
        did = self._lookup(device)
        if did is None:
            return []
        return [k for _, k, _ in self._series_of(did, None)]

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
