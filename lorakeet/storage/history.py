"""Questions about what a store holds, asked per kind of store (so only ``storage`` knows the kinds)."""

from __future__ import annotations

import sqlite3

from lorakeet.timefmt import parse_rfc3339_ns

from .protocols import StoreError


def newest_uplink_ns(store: object, application: str, before_ns: int | None = None) -> int | None:
    """The network time of the newest stored uplink of ``application`` (before ``before_ns``)."""
    from .influx_store import InfluxStore, quote_literal
    from .sqlite_store import SqliteStore

    before = before_ns if before_ns is not None else 2**63 - 1
    if isinstance(store, SqliteStore):
        try:
            row = (
                store._conn()
                .execute(
                    "SELECT max(u.time) FROM uplink u JOIN device d ON d.id = u.device "
                    "WHERE d.application_id = ? AND u.time < ?",
                    (application, before),
                )
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc
        return int(row[0]) if row and row[0] is not None else None
    if isinstance(store, InfluxStore):
        q = (
            f"SELECT last(f_cnt) FROM uplink WHERE application_id={quote_literal(application)} "
            f"AND time < {int(before)}"
        )
        rows = store.query(q)
        for result in rows:
            for series in result.get("series", []) or []:
                values = series.get("values") or []
                if values:
                    t = values[0][0]
                    return int(t) if isinstance(t, int) else parse_rfc3339_ns(str(t))
        return None
    fn = getattr(store, "newest_uplink_ns", None)
    if fn is None:
        return None
    out: int | None = fn(application, before)
    return out
