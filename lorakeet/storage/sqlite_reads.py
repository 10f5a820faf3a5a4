"""The reading half of the SQLite readings store: latest values, points, aggregates, uplinks.

``SqliteReads`` is mixed into :class:`~lorakeet.storage.sqlite_store.SqliteStore`, which owns the
connections and the id caches.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

from lorakeet.decoders import Value

from .records import Aggregate, DeviceKey, LatestValue, Point, UplinkView

_IN_CHUNK = 5000  # devices per latest_many statement (2 bound parameters each)

_AGG_SQL: dict[Aggregate, str] = {
    "mean": "avg(value)",
    "min": "min(value)",
    "max": "max(value)",
    "count": "count(*)",
    "last": "value",  # picked with max(time) below (SQLite's bare-column rule)
}


def value_of(value: float | None, text: str | None, type_: str) -> Value:
    """A stored value: the text, or the number (a bool when the series holds bools)."""
    if text is not None:
        return text
    assert value is not None
    return bool(value) if type_ == "bool" else value


class SqliteReads:
    """ReadingReader on the store's tables; the store provides ``_conn``, ``_device_id`` and
    ``_devices``."""

    _devices: dict[tuple[str, str], int]

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _device_id(self, conn: sqlite3.Connection, app: str, dev: str, create: bool) -> int | None:
        raise NotImplementedError

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
        return [LatestValue(k, t, value_of(v, txt, ty)) for k, ty, t, v, txt in rows]

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
                lst.append(LatestValue(k, t, value_of(v, txt, ty)))
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
            out[-1].values[key] = value_of(v, txt, type_)
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
