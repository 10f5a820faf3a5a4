"""An account's personal data in the registry: what an export shows and an erasure removes.

Tables are found by name in the database (``alert_rules`` and ``downlinks`` belong to the
alerts store, which builds on the registry), so this module names no other layer.
Columns holding secrets or their hashes are never exported.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import MetaData, Table, delete, inspect, or_, select
from sqlalchemy.engine import Connection

from ..records import DeviceKey

# table -> the column naming the account
BY_ACCOUNT = {
    "codecs": "owner_id",
    "model_maps": "owner_id",
    "alert_rules": "owner_id",
    "alert_events": "owner_id",
    "applications": "owner_id",
    "application_secrets": "owner_id",
    "application_grants": "account_id",
    "application_claims": "account_id",
    "downlinks": "account_id",
    "audit_log": "account_id",
}
SECRET_MARKS = ("secret", "hash")
ERASED_HERE = ("audit_log", "downlinks", "application_grants", "application_claims")


def _tables(conn: Connection) -> dict[str, Table]:
    names = set(inspect(conn).get_table_names())
    md = MetaData()
    return {n: Table(n, md, autoload_with=conn) for n in (*BY_ACCOUNT, "devices") if n in names}


def _targets(account_id: int, devices: Sequence[DeviceKey]) -> list[str]:
    return [f"account:{account_id}", *(f"device:{k.uid}" for k in devices)]


def _json(v: object) -> object:
    return v.isoformat() if isinstance(v, datetime) else v


def personal_rows(
    conn: Connection, account_id: int, devices: Sequence[DeviceKey]
) -> dict[str, list[dict[str, Any]]]:
    """Every registry row about the account or its devices, table by table, secrets left out."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, t in _tables(conn).items():
        if name == "devices":
            continue
        cond = t.c[BY_ACCOUNT[name]] == account_id
        if name == "audit_log":
            cond = or_(cond, t.c.target.in_(_targets(account_id, devices)))
        if name == "downlinks" and devices:
            cond = or_(
                cond,
                *((t.c.application_id == k.application_id) & (t.c.device_id == k.device_id) for k in devices),
            )
        cols = [c for c in t.c if not any(m in c.name for m in SECRET_MARKS)]
        out[name] = [
            {k: _json(v) for k, v in row._mapping.items()} for row in conn.execute(select(*cols).where(cond))
        ]
    return out


def erase_personal_rows(conn: Connection, account_id: int, devices: Sequence[DeviceKey]) -> None:
    """Delete what ``personal_rows`` finds, plus grants and claims on the account's applications."""
    tables = _tables(conn)
    owned_apps = []
    if "applications" in tables:
        a = tables["applications"]
        owned_apps = list(conn.scalars(select(a.c.application_id).where(a.c.owner_id == account_id)))
    for name, t in tables.items():
        if name not in ERASED_HERE:  # the rest has an owner_id: the account's erasure removes it
            continue
        cond = t.c[BY_ACCOUNT[name]] == account_id
        if name == "audit_log":
            cond = or_(cond, t.c.target.in_(_targets(account_id, devices)))
        if name == "downlinks" and devices:
            cond = or_(
                cond,
                *((t.c.application_id == k.application_id) & (t.c.device_id == k.device_id) for k in devices),
            )
        if name in ("application_grants", "application_claims") and owned_apps:
            cond = or_(cond, t.c.application_id.in_(owned_apps))
        conn.execute(delete(t).where(cond))
