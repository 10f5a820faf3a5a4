"""InfluxDB reads over InfluxQL: latest values (from the ``latest`` measurement, see
:mod:`lorakeet.storage.influx_latest`), raw points, aggregates and uplinks.

Every identifier in a query is a validated reading key (double-quoted); every string
literal is escaped.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from typing import Any, Literal

import orjson

from lorakeet.decoders import Value, split_key
from lorakeet.decoders.fields import is_reading_key, is_vendor_key, vendor_key_type

from .influx_latest import MEASUREMENT as LATEST
from .influx_latest import STAMP_NS, LatestIndex, State, latest_line, parse_series, state_values
from .influx_view import LatestView
from .protocols import StoreError
from .records import Aggregate, DeviceKey, LatestValue, Point, UplinkView

log = logging.getLogger(__name__)

_FILTER_UP_TO = 100  # devices named in a query of the writer's; more: the whole (small) measurement
_SPAN = f"time >= {STAMP_NS - 1} AND time <= {STAMP_NS}"  # the instants of the latest points
_VIEW_LOCK = threading.Lock()  # one view per store
_TAG_COLUMNS = frozenset({"time", "application_id", "device_id", "kind"})
_AGG_FN: dict[Aggregate, str] = {"mean": "mean", "min": "min", "max": "max", "last": "last", "count": "count"}


def quote_literal(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def quote_ident(key: str) -> str:
    """A double-quoted InfluxQL identifier; only reading keys (vocabulary or vendor) are accepted."""
    if not is_reading_key(key):
        raise ValueError(f"{key!r} is not a reading key")
    return f'"{key}"'


def _where(device: DeviceKey) -> str:
    app, dev = quote_literal(device.application_id), quote_literal(device.device_id)
    return f"application_id={app} AND device_id={dev}"


class InfluxReads:
    """The reading side of :class:`~lorakeet.storage.influx_store.InfluxStore`."""

    database: str  # the store's
    _no_data: set[DeviceKey]
    _latest: LatestIndex  # the writer's (its commits and deletions keep the view up to date)
    _view: LatestView | None = None
    _fleet: object = None  # the writer resets it after its writes: unused since the view

    def query(self, q: str, method: Literal["GET", "POST"] = "GET") -> list[dict[str, Any]]:
        """Run InfluxQL (the store's)."""
        raise NotImplementedError

    def write_lines(self, lines: list[str]) -> None:
        """Write line protocol (the store's)."""
        raise NotImplementedError

    def _rows(self, q: str) -> list[tuple[list[str], list[list[Any]]]]:
        return [(s["columns"], s["values"]) for res in self.query(q) for s in res.get("series", [])]

    def keys(self, device: DeviceKey) -> list[str]:
        """Reading keys that have at least one value for the device."""
        return [v.key for v in self.latest(device)]

    def latest(self, device: DeviceKey) -> list[LatestValue]:
        """The latest value of every key of a device."""
        return self.latest_many([device]).get(device, [])

    def field_keys(self) -> list[str]:
        """Every reading key of the database (``SHOW FIELD KEYS``: index metadata, no data scan)."""
        keys = {str(row[0]) for _, values in self._rows("SHOW FIELD KEYS FROM reading") for row in values}
        return sorted(k for k in keys if is_reading_key(k))

    def latest_many(self, devices: Sequence[DeviceKey]) -> dict[DeviceKey, list[LatestValue]]:
        """Latest values of many devices, from this process's view of the ``latest`` measurement
        (:mod:`lorakeet.storage.influx_view`: at most 2 s old, this process's own writes at once).

        Devices absent from it (data written before it existed) are read from the readings
        once per process, and their states written to it for the next reader; a device found
        to have no data at all is not looked for again by this process (new data reaches the
        ``latest`` measurement as it is written).
        """
        wanted = list(dict.fromkeys(devices))
        if not wanted:
            return {}
        view = self.latest_view()
        found: dict[DeviceKey, list[LatestValue]] = {}
        if len(wanted) > _FILTER_UP_TO or view.small:
            found = view.values_of(wanted)  # no query; each state's list made once
        if len(wanted) <= _FILTER_UP_TO and not view.small:  # a big fleet: ask for these devices
            found = {d: state_values(st) for d, st in self._query_points(wanted).items()}
        missing = [d for d in wanted if d not in found and d not in self._no_data]
        if missing:
            learned = self._latest_from_readings(missing)
            self._no_data.update(d for d in missing if d not in learned)
            found.update((d, state_values(st)) for d, st in learned.items())
            self._remember(learned)
        return found

    def latest_held(self, device: DeviceKey) -> list[LatestValue] | None:
        """``latest(device)`` when the view answers it without I/O (fit for an event loop), else None."""
        view = self._view
        if view is None:
            return None
        dev = (device.application_id, device.device_id)
        ok, state = view.held(dev)
        if not ok:
            return None
        if state is not None:
            return view.values(dev, state)
        return [] if device in self._no_data else None  # not known to have no data: ask the readings

    def latest_version(self) -> int | None:
        """A token that stays the same while ``latest_many`` of more than one device answers the
        same (the view's version, after making sure it may answer: may block like a read), or
        None when such reads ask InfluxDB instead (a fleet bigger than the view's limit)."""
        view = self.latest_view()
        view.fresh()
        return view.version if view.small else None

    def latest_view(self) -> LatestView:
        """This process's view of the ``latest`` measurement (made on first use)."""
        view = self._view
        if view is None:
            with _VIEW_LOCK:
                view = self._view
                if view is None:
                    view = LatestView(self._load_latest, mark=self._latest_mark)
                    self._latest.observe(view)
                    self._view = view
        return view

    def _load_latest(self) -> dict[tuple[str, str], State]:
        """The whole ``latest`` measurement: one query on one small shard."""
        q = f"SELECT * FROM {LATEST} WHERE {_SPAN} GROUP BY application_id, device_id"
        found = parse_series((s for r in self.query(q) for s in r.get("series", [])), _py)
        return {(d.application_id, d.device_id): st for d, st in found.items()}

    def _latest_mark(self) -> object | None:
        """What moves whenever a point is written to this database or a series dropped from
        it: every shard's count of points written and series created (InfluxDB counts a point
        once it can be read), the database's count of series, and when the server started
        (counts start again at a restart). None when InfluxDB does not say (no such shards
        yet is an answer: an empty tuple)."""
        res = self.query("SHOW DIAGNOSTICS FOR 'system'; SHOW STATS FOR 'shard'; SHOW STATS FOR 'database'")
        if len(res) != 3:
            return None
        system = [s for s in res[0].get("series", []) if s.get("name") == "system"]
        if not system or "started" not in system[0]["columns"]:
            return None
        started = system[0]["values"][0][system[0]["columns"].index("started")]
        counts: list[tuple[str, ...]] = []
        for r in res[1:]:
            for s in r.get("series", []):
                tags = s.get("tags") or {}
                if tags.get("database") != self.database:
                    continue
                row = dict(zip(s["columns"], s["values"][0], strict=True))
                counts.append(
                    (
                        str(s.get("name")),
                        str(tags.get("id", "")),
                        str(row.get("writePointsOk")),
                        str(row.get("seriesCreate")),
                        str(row.get("numSeries")),
                        str(row.get("numMeasurements")),
                    )
                )
        if not any(c[0] == "database" for c in counts):
            return None  # (a database without any series yet has no stats: read it)
        return (started, tuple(sorted(counts)))

    def _query_points(self, devices: Sequence[DeviceKey]) -> dict[DeviceKey, State]:
        """The devices' ``latest`` points as InfluxDB holds them now (one query)."""
        where = _where(devices[0]) if len(devices) == 1 else _where_many(devices)
        q = f"SELECT * FROM {LATEST} WHERE {_SPAN} AND {where} GROUP BY application_id, device_id"
        found = parse_series((s for res in self.query(q) for s in res.get("series", [])), _py)
        wanted = set(devices)
        return {d: st for d, st in found.items() if d in wanted}

    def _stored_states(self, devices: list[DeviceKey]) -> tuple[dict[DeviceKey, State], set[DeviceKey]]:
        """What the store holds for devices new to this process's writer (LatestIndex.learn),
        and which of them were found in the readings only (asked of InfluxDB, not the view:
        a writer must not start from values another process has already replaced)."""
        if len(devices) <= _FILTER_UP_TO:
            states = self._query_points(devices)
        else:
            every = self._load_latest()
            states = {d: st for d in devices if (st := every.get((d.application_id, d.device_id)))}
        missing = [d for d in devices if d not in states]
        from_readings: dict[DeviceKey, State] = self._latest_from_readings(missing) if missing else {}
        states.update(from_readings)
        return states, set(from_readings)

    def _remember(self, learned: dict[DeviceKey, State]) -> None:
        """Write states learned from the readings to ``latest``, stamped just before the
        writers' instant (readers merge both points key by key, so neither hides the other)."""
        kept = {(d.application_id, d.device_id): st for d, st in learned.items() if st}
        lines = [latest_line(d, st, STAMP_NS - 1) for d, st in kept.items()]
        try:
            self.write_lines(lines)
        except StoreError as exc:  # a read-only user: reads stay correct, only slower
            log.info("could not keep learned latest values in InfluxDB: %s", exc)
            return
        self.latest_view().apply(kept)

    def _latest_from_readings(self, devices: Sequence[DeviceKey]) -> dict[DeviceKey, State]:
        """Latest values from the readings themselves: the field keys, then ONE multi-statement request.

        Each statement is ``SELECT last("<key>") ... GROUP BY application_id, device_id`` over
        all the wanted devices, so a key's own time comes back with its value (``last(*)``
        would report time 0 for every column).
        """
        wanted = list(dict.fromkeys(devices))
        keys = self.field_keys()
        if not keys:
            return {}
        where = _where_many(wanted)
        q = ";".join(
            f"SELECT last({quote_ident(k)}) FROM reading WHERE {where} GROUP BY application_id, device_id"
            for k in keys
        )
        wanted_set = set(wanted)
        found: dict[DeviceKey, State] = {}
        for k, res in zip(keys, self.query(q), strict=True):
            for s in res.get("series", []):
                tags = s.get("tags", {})
                dev = DeviceKey(str(tags.get("application_id", "")), str(tags.get("device_id", "")))
                t, v = s["values"][0][0], s["values"][0][1]
                if v is not None and dev in wanted_set:
                    found.setdefault(dev, {})[k] = (int(t), _py(v))
        return found

    def points(
        self,
        device: DeviceKey,
        keys: Sequence[str] | None,
        start_ns: int,
        end_ns: int,
        limit: int,
    ) -> list[Point]:
        """Raw points in [start, end), oldest first."""
        fields = ",".join(quote_ident(k) for k in keys) if keys else "*"
        q = (
            f"SELECT {fields} FROM reading WHERE {_where(device)} AND time >= {int(start_ns)} "
            f"AND time < {int(end_ns)} ORDER BY time ASC LIMIT {int(limit)}"
        )
        out: list[Point] = []
        for cols, values in self._rows(q):
            for row in values:
                vals = {
                    c: _py(v)
                    for c, v in zip(cols, row, strict=True)
                    if c not in _TAG_COLUMNS and v is not None
                }
                if vals:
                    out.append(Point(int(row[0]), vals))
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
        """One point per non-empty window (``GROUP BY time(...) fill(none)``)."""
        keys = [k for k in keys if _numeric(k)]
        if not keys:
            return []
        fn = _AGG_FN[agg]
        sel = ",".join(f"{fn}({quote_ident(k)}) AS {quote_ident(k)}" for k in keys)
        every_us = max(1, every_ns // 1000)
        q = (
            f"SELECT {sel} FROM reading WHERE {_where(device)} AND time >= {int(start_ns)} "
            f"AND time < {int(end_ns)} GROUP BY time({every_us}u) fill(none)"
        )
        out: list[Point] = []
        for cols, values in self._rows(q):
            for row in values:
                vals: dict[str, Value] = {
                    c: float(v) for c, v in zip(cols, row, strict=True) if c != "time" and v is not None
                }
                if vals:
                    out.append(Point(int(row[0]), vals))
        return out

    def uplinks(self, device: DeviceKey, start_ns: int, end_ns: int, limit: int) -> list[UplinkView]:
        """Stored uplinks in [start, end), newest first."""
        import base64

        q = (
            f"SELECT * FROM uplink WHERE {_where(device)} AND time >= {int(start_ns)} "
            f"AND time < {int(end_ns)} ORDER BY time DESC LIMIT {int(limit)}"
        )
        out: list[UplinkView] = []
        for cols, values in self._rows(q):
            for row in values:
                d = dict(zip(cols, row, strict=True))
                out.append(
                    UplinkView(
                        device=device,
                        received_at_ns=int(d["time"]),
                        f_cnt=int(d.get("f_cnt") or 0),
                        f_port=int(d.get("f_port") or 0),
                        payload=base64.b64decode(d.get("payload") or ""),
                        source=str(d.get("source") or ""),
                        rssi=d.get("rssi"),
                        snr=d.get("snr"),
                        spreading_factor=d.get("sf"),
                        frequency=d.get("frequency"),
                        gateways=tuple(g for g in str(d.get("gateways") or "").split(",") if g),
                        decoder=str(d.get("decoder") or ""),
                        decode_error=d.get("decode_error") or None,
                        network_decoded=_json_object(d.get("network_decoded")),
                    )
                )
        return out

    def units(self, device: DeviceKey) -> dict[str, str]:
        """The stated unit of each vendor field of a device (measurement ``reading_unit``)."""
        rows = self._rows(f"SELECT last(*) FROM reading_unit WHERE {_where(device)}")
        out: dict[str, str] = {}
        for cols, values in rows:
            for col, v in zip(cols, values[0], strict=True):
                if col.startswith("last_") and isinstance(v, str):
                    out[col.removeprefix("last_")] = v
        return out

    def count_uplinks(self) -> int:
        """Number of stored uplinks (all devices)."""
        rows = self._rows("SELECT count(f_cnt) FROM uplink")
        return int(rows[0][1][0][1]) if rows else 0


def _where_many(devices: Sequence[DeviceKey]) -> str:
    """A predicate matching any of ``devices``: one regex on device_id per application."""
    by_app: dict[str, list[str]] = {}
    for d in devices:
        by_app.setdefault(d.application_id, []).append(d.device_id)
    parts = [
        f"(application_id={quote_literal(app)} AND device_id =~ /^(?:{'|'.join(_regex(d) for d in devs)})$/)"
        for app, devs in by_app.items()
    ]
    return "(" + " OR ".join(parts) + ")"


def _regex(text: str) -> str:
    """``text`` as a literal inside an InfluxQL /regex/ (Go RE2 syntax)."""
    return re.escape(text).replace("/", r"\/").replace("\n", r"\n").replace("\r", r"\r")


def _numeric(key: str) -> bool:
    if is_vendor_key(key):
        return vendor_key_type(key) == "float"
    try:
        return split_key(key)[0].type == "float"
    except KeyError:
        return False


def _json_object(text: Any) -> dict[str, object] | None:
    if not isinstance(text, str):
        return None
    try:
        v = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return v if isinstance(v, dict) else None


def _py(v: Any) -> Value:
    if isinstance(v, bool | str):
        return v
    return float(v)
