"""The audit log: who changed what in the registry, and when."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import or_, select

from .database import Database
from .entities import AuditRecord
from .tables import AuditRow


class AuditRepository(Database):
    """The audit log."""

    def audit(
        self, account_id: int | None, action: str, target: str, detail: Mapping[str, Any] | None = None
    ) -> None:
        """Record a registry change."""
        with self.session() as s:
            s.add(AuditRow(account_id=account_id, action=action, target=target, detail=dict(detail or {})))
            s.commit()

    def audit_entries(
        self,
        *,
        account_id: int | None = None,
        targets: Sequence[str] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditRecord]:
        """Newest first; with ``account_id``, only its own actions and those on ``targets``."""
        with self.session() as s:
            q = select(AuditRow).order_by(AuditRow.id.desc())
            if account_id is not None:
                q = q.where(or_(AuditRow.account_id == account_id, AuditRow.target.in_(list(targets or ()))))
            return [AuditRecord.from_row(r) for r in s.scalars(q.limit(limit).offset(offset))]
