"""InfluxDB readings store: writes over v1 ``/write`` or the v2 API, reads over InfluxQL.

- ``api="v1"`` (any InfluxDB 1.x): gzip-compressed line protocol POSTed to ``/write``.
- ``api="v2"`` (InfluxDB 2.x, 3.x and 1.8+): writes through influxdb-client's write API.
- Reads always use InfluxQL on ``/query``, which 1.x, 2.x (DBRP mapping) and 3.x answer.

Every identifier in a query is a validated reading key (double-quoted); every string
literal is escaped. Point layout: see :mod:`lorakeet.storage.line_protocol`.
"""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Sequence
from typing import Any, Literal

import httpx
import orjson

from lorakeet.decoders import Value, is_valid_key, split_key

from .line_protocol import uplink_lines
from .protocols import PointsRefused, StoreError
from .records import (
    Aggregate,
    DeviceKey,
    LatestValue,
    Point,
    RejectedMessage,
    StoredUplink,
    UplinkView,
)
from .write_errors import influx_write_error as write_error

log = logging.getLogger(__name__)

_TAG_COLUMNS = frozenset({"time", "application_id", "device_id", "kind"})
_MAX_GET_QUERY = 4000  # longer InfluxQL goes in a POST body (a read is still a read)
_AGG_FN: dict[Aggregate, str] = {"mean": "mean", "min": "min", "max": "max", "last": "last", "count": "count"}


def quote_literal(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def quote_ident(key: str) -> str:
    """A double-quoted InfluxQL identifier; only vocabulary keys are accepted."""
    if not is_valid_key(key):
        raise ValueError(f"{key!r} is not a reading key")
    return f'"{key}"'


def _where(device: DeviceKey) -> str:
    app, dev = quote_literal(device.application_id), quote_literal(device.device_id)
    return f"application_id={app} AND device_id={dev}"


class InfluxStore:
    """ReadingWriter and ReadingReader on InfluxDB."""

    def __init__(
        self,
        url: str,
        database: str,
        *,
        api: Literal["v1", "v2"] = "v1",
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        org: str = "-",
        bucket: str | None = None,
        retention_policy: str | None = None,
        timeout_s: float = 30.0,
        gzip_level: int = 1,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.api = api
        self.bucket = bucket or database
        self.org = org
        self.retention_policy = retention_policy
        self._gzip_level = gzip_level
        headers: dict[str, str] = {}
        auth: httpx.BasicAuth | None = None
        if token:
            headers["Authorization"] = f"Token {token}"
        elif username:
            auth = httpx.BasicAuth(username, password or "")
        self._http = httpx.Client(base_url=self.url, headers=headers, auth=auth, timeout=timeout_s)
        self._v2: Any = None
        if api == "v2":
            from influxdb_client.client.influxdb_client import InfluxDBClient
            from influxdb_client.client.write_api import SYNCHRONOUS

            client = InfluxDBClient(
                url=self.url, token=token or f"{username}:{password}", org=org, enable_gzip=True
            )
            self._v2 = (client, client.write_api(write_options=SYNCHRONOUS))

    # -- plumbing ------------------------------------------------------------------------

    def ping(self) -> str:
        """The server's version; raises StoreError when it does not answer."""
        try:
            r = self._http.get("/ping")
        except httpx.HTTPError as exc:
            raise StoreError(f"InfluxDB at {self.url} unreachable: {exc}") from exc
        if r.status_code != 204:
            raise StoreError(f"InfluxDB at {self.url} answered /ping with {r.status_code}")
        return str(r.headers.get("X-Influxdb-Version", "unknown"))

    def create_database(self) -> None:
        """Create the database (1.x); harmless when it exists."""
        self.query(f'CREATE DATABASE "{self.database}"', method="POST")

    def query(self, q: str, method: Literal["GET", "POST"] = "GET") -> list[dict[str, Any]]:
        """Run InfluxQL; returns the ``results`` list. Raises StoreError."""
        params = {"db": self.database, "epoch": "ns"}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        try:
            if method == "POST" or len(q) > _MAX_GET_QUERY:
                # the statement goes in the form body: long multi-statement reads fit there
                r = self._http.post("/query", params=params, data={"q": q})
            else:
                r = self._http.get("/query", params={**params, "q": q})
        except httpx.HTTPError as exc:
            raise StoreError(f"InfluxDB query failed: {exc}") from exc
        if r.status_code != 200:
            raise StoreError(f"InfluxDB query failed ({r.status_code}): {r.text[:300]}")
        body = orjson.loads(r.content)
        results: list[dict[str, Any]] = body.get("results", [])
        for res in results:
            if "error" in res:
                raise StoreError(f"InfluxDB query error: {res['error']}")
        return results

    def _rows(self, q: str) -> list[tuple[list[str], list[list[Any]]]]:
        return [(s["columns"], s["values"]) for res in self.query(q) for s in res.get("series", [])]

    # -- writing -------------------------------------------------------------------------

    def write_lines(self, lines: list[str]) -> None:
        """Write raw line protocol; returns once InfluxDB acknowledged it."""
        if not lines:
            return
        body = "\n".join(lines).encode()
        if self._v2 is not None:
            try:
                self._v2[1].write(bucket=self.bucket, org=self.org, record=body, write_precision="ns")
            except Exception as exc:  # influxdb-client raises its own and urllib3 errors
                status = getattr(exc, "status", None)
                text = str(getattr(exc, "body", "") or exc)
                raise write_error(status if isinstance(status, int) else None, text) from exc
            return
        params = {"db": self.database, "precision": "ns"}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self._gzip_level:  # 0: sent as it is (InfluxDB on this host)
            body = gzip.compress(body, self._gzip_level)
            headers["Content-Encoding"] = "gzip"
        try:
            r = self._http.post("/write", params=params, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise StoreError(f"InfluxDB write failed: {exc}") from exc
        if r.status_code != 204:
            raise write_error(r.status_code, r.text)

    def write(self, batch: Sequence[StoredUplink]) -> None:
        """Write a batch; idempotent because a point's time and tags identify it."""
        lines: list[str] = []
        try:
            for s in batch:
                lines.extend(uplink_lines(s))
        except (TypeError, ValueError, OverflowError) as exc:  # e.g. an integer orjson cannot hold
            raise PointsRefused(f"not representable in line protocol: {exc}") from exc
        self.write_lines(lines)

    def write_rejected(self, batch: Sequence[RejectedMessage]) -> None:
        """Keep unparseable messages in the ``rejected`` measurement."""
        from .line_protocol import escape_tag, field_value

        self.write_lines(
            [
                f"rejected,source={escape_tag(m.source)} topic={field_value(m.topic)},"
                f"body={field_value(m.body.decode('utf-8', 'replace'))},error={field_value(m.error)} "
                f"{m.received_at_ns}"
                for m in batch
            ]
        )

    def delete_device(self, device: DeviceKey) -> None:
        """Drop every series of a device."""
        if self._v2 is not None:
            pred = f'application_id="{device.application_id}" AND device_id="{device.device_id}"'
            client = self._v2[0]
            try:
                client.delete_api().delete(
                    "1970-01-01T00:00:00Z", "2262-01-01T00:00:00Z", pred, self.bucket, self.org
                )
            except Exception as exc:
                raise StoreError(f"InfluxDB delete failed: {exc}") from exc
            return
        self.query(f"DROP SERIES FROM reading, uplink WHERE {_where(device)}", method="POST")

    def close(self) -> None:
        """Close HTTP connections."""
        self._http.close()
        if self._v2 is not None:
            self._v2[1].close()
            self._v2[0].close()

    # -- reading -------------------------------------------------------------------------

    def keys(self, device: DeviceKey) -> list[str]:
        """Reading keys that have at least one value for the device."""
        rows = self._rows(f"SELECT last(*) FROM reading WHERE {_where(device)}")
        keys: list[str] = []
        for cols, values in rows:
            for col, v in zip(cols, values[0], strict=True):
                if col.startswith("last_") and v is not None:
                    keys.append(col.removeprefix("last_"))
        return sorted(keys)

    def latest(self, device: DeviceKey) -> list[LatestValue]:
        """The latest value of every key of a device."""
        return self.latest_many([device]).get(device, [])

    def field_keys(self) -> list[str]:
        """Every reading key of the database (``SHOW FIELD KEYS``: index metadata, no data scan)."""
        keys = {str(row[0]) for _, values in self._rows("SHOW FIELD KEYS FROM reading") for row in values}
        return sorted(k for k in keys if is_valid_key(k))

    def latest_many(self, devices: Sequence[DeviceKey]) -> dict[DeviceKey, list[LatestValue]]:
        """Latest values of many devices: the field keys, then ONE multi-statement request.

        Each statement is ``SELECT last("<key>") ... GROUP BY application_id, device_id`` over
        all the wanted devices, so a key's own time comes back with its value (``last(*)``
        would report time 0 for every column).
        """
        wanted = list(dict.fromkeys(devices))
        if not wanted:
            return {}
        keys = self.field_keys()
        if not keys:
            return {}
        where = _where_many(wanted)
        q = ";".join(
            f"SELECT last({quote_ident(k)}) FROM reading WHERE {where} GROUP BY application_id, device_id"
            for k in keys
        )
        wanted_set = set(wanted)
        found: dict[DeviceKey, list[LatestValue]] = {}
        for k, res in zip(keys, self.query(q), strict=True):
            for s in res.get("series", []):
                tags = s.get("tags", {})
                dev = DeviceKey(str(tags.get("application_id", "")), str(tags.get("device_id", "")))
                t, v = s["values"][0][0], s["values"][0][1]
                if v is not None and dev in wanted_set:
                    found.setdefault(dev, []).append(LatestValue(k, int(t), _py(v)))
        return {d: found[d] for d in wanted if d in found}

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
