"""InfluxDB readings store: writes over v1 ``/write`` or the v2 API, reads over InfluxQL.

- ``api="v1"`` (any InfluxDB 1.x): line protocol POSTed to ``/write`` (gzip unless on loopback).
- ``api="v2"`` (InfluxDB 2.x, 3.x and 1.8+): writes through influxdb-client's write API.
- Reads always use InfluxQL on ``/query``, which 1.x, 2.x (DBRP mapping) and 3.x answer.

Point layout: see :mod:`lorakeet.storage.line_protocol`; every write also keeps the
``latest`` measurement up to date (:mod:`lorakeet.storage.influx_latest`). Reads:
:mod:`lorakeet.storage.influx_reads`.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Sequence
from typing import Any, Literal

import httpx
import orjson

from .influx_latest import LatestIndex
from .influx_reads import InfluxReads, _where
from .influx_reads import quote_ident as quote_ident  # re-exported
from .influx_reads import quote_literal as quote_literal  # re-exported
from .line_protocol import UnitLines, rejected_lines, uplink_lines
from .protocols import PointsRefused, StoreError
from .records import (
    DeviceKey,
    RejectedMessage,
    StoredUplink,
)
from .write_errors import influx_write_error as write_error

log = logging.getLogger(__name__)

_MAX_GET_QUERY = 4000  # longer InfluxQL goes in a POST body (a read is still a read)


class InfluxStore(InfluxReads):
    """ReadingWriter and ReadingReader on InfluxDB."""

    reads_inline = False  # every read is an HTTP request: never on an event loop

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
        self._latest = LatestIndex(self._stored_states)
        self._no_data: set[DeviceKey] = set()
        self._unit_lines = UnitLines()
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

    # -- writing -------------------------------------------------------------------------

    def write_lines(self, lines: list[str]) -> None:
        """Write raw line protocol; returns once InfluxDB acknowledged it."""
        if lines:
            self._post("\n".join(lines).encode())

    def _post(self, body: bytes) -> None:
        """Send one request body of line protocol."""
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
        headers["Content-Length"] = str(len(body))
        # The body goes in as a one-item iterator: httpx's request and response refer to each
        # other, so a body held by the request lives until the next full garbage collection
        # (a few MB per batch, ten batches at once); the exhausted iterator lets it go at once.
        try:
            r = self._http.post("/write", params=params, content=iter((body,)), headers=headers)
        except httpx.HTTPError as exc:
            raise StoreError(f"InfluxDB write failed: {exc}") from exc
        if r.status_code != 204:
            raise write_error(r.status_code, r.text)

    def write(self, batch: Sequence[StoredUplink]) -> None:
        """Write a batch; idempotent because a point's time and tags identify it."""
        lines: list[str] = []
        unit_lines = self._unit_lines
        try:
            for s in batch:
                lines.extend(uplink_lines(s))
                unit_lines.add(s, lines)
        except (TypeError, ValueError, OverflowError) as exc:  # e.g. an integer orjson cannot hold
            unit_lines.forget(batch)
            raise PointsRefused(f"not representable in line protocol: {exc}") from exc
        latest, pending = self._latest.prepare(batch)
        body = "\n".join(lines).encode()
        lines.clear()  # the body alone stays while InfluxDB answers
        try:
            if body:
                self._post(body)
        except BaseException:
            unit_lines.forget(batch)  # their units are written again with the retry
            raise
        if not latest:
            return
        # after the readings, in a request of their own: latest values never get ahead of
        # what is stored, and a refused latest point never dead-letters the uplinks
        try:
            self.write_lines(latest)
        except StoreError as exc:
            log.warning("readings stored; latest values not updated (the next uplinks update them): %s", exc)
            return
        self._latest.commit(pending)
        self._fleet = None  # this process's fleet reads see its own writes at once

    def write_rejected(self, batch: Sequence[RejectedMessage]) -> None:
        """Keep unparseable messages in the ``rejected`` measurement."""
        self.write_lines(rejected_lines(batch))

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
            self.forget_devices([device])
            return
        self.query(
            f"DROP SERIES FROM reading, reading_unit, uplink, latest WHERE {_where(device)}", method="POST"
        )
        self.forget_devices([device])

    def forget_devices(self, devices: Sequence[DeviceKey]) -> None:
        """Devices deleted (here or elsewhere): their latest values are learned again if they return."""
        self._latest.forget(devices)
        self._fleet = None
        self._no_data.difference_update(devices)
        for d in devices:
            self._unit_lines.forget_device(d.application_id, d.device_id)

    def close(self) -> None:
        """Close HTTP connections."""
        self._http.close()
        if self._v2 is not None:
            self._v2[1].close()
            self._v2[0].close()
