"""The audit log of registry changes: your own actions and changes to your devices; admins see all."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from lorakeet.storage.registry import DeviceFilter, as_utc

from ..auth import ReaderDep
from ..deps import ServicesDep
from ..errors import problem_responses
from ..schemas_registry import AuditEntry, AuditList

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", summary="Audit log", responses=problem_responses(401))
def audit_log(
    services: ServicesDep,
    viewer: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> AuditList:
    """Who changed what and when, newest first."""
    if viewer.is_admin:
        rows = services.registry.audit_entries(limit=limit, offset=offset)
    else:
        own, _ = services.registry.find_devices(DeviceFilter(owner_id=viewer.account_id), limit=100_000)
        targets = [f"device:{d.key.uid}" for d in own] + [f"account:{viewer.account_id}"]
        rows = services.registry.audit_entries(
            account_id=viewer.account_id, targets=targets, limit=limit, offset=offset
        )
    data = [
        AuditEntry(
            id=r.id,
            time=as_utc(r.time),
            account_id=r.account_id,
            action=r.action,
            target=r.target,
            detail=dict(r.detail or {}),
        )
        for r in rows
    ]
    return AuditList(data=data, count=len(data))
