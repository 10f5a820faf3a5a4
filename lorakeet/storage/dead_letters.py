"""The dead-letter table: uplinks and rejected bodies the readings store refused for good.

A point the store will never take as it is (beyond the retention policy, a field type
conflict, a number it cannot hold) must neither block the points behind it nor be lost.
The pipeline stores the rest of its batch and keeps the refused ones here, in the
registry's database (shared by every bridge and API process; migration 0004), with the
store's reason. An operator lists them, replays them once the cause is fixed (a wider
retention policy, a renamed field), or drops them: ``/v1/admin/dead-letters`` and
``lorakeet dead-letters``. Each row holds one uplink (or rejected body) in the spool's
encoding, so a replay writes exactly what was refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String, Text, delete, func, select, update
from sqlalchemy.orm import Mapped, mapped_column

from .records import RejectedMessage, StoredUplink
from .registry import Base, Registry, as_utc
from .spool import decode, encode


def _now() -> datetime:
    return datetime.now(UTC)


class DeadLetterRow(Base):
    """One refused uplink (kind ``uplink``) or rejected body (kind ``rejected``)."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    kind: Mapped[str] = mapped_column(String(16))
    application_id: Mapped[str] = mapped_column(String(64), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    f_cnt: Mapped[int | None] = mapped_column(BigInteger, default=None)
    time_ns: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    body: Mapped[bytes] = mapped_column(LargeBinary)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead letter as listed (without its body)."""

    id: int
    created_at: datetime
    kind: str
    application_id: str
    device_id: str
    f_cnt: int | None
    time_ns: int
    reason: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Refused:
    """What to keep: an uplink or a rejected body, and the store's reason."""

    item: StoredUplink | RejectedMessage
    reason: str


def _row(r: Refused) -> DeadLetterRow:
    reason = r.reason[:2000]
    if isinstance(r.item, RejectedMessage):
        m = r.item
        return DeadLetterRow(
            kind="rejected",
            application_id="",
            device_id="",
            time_ns=m.received_at_ns,
            reason=reason,
            body=encode([], [m]),
        )
    u = r.item.uplink
    return DeadLetterRow(
        kind="uplink",
        application_id=u.application_id,
        device_id=u.device_id,
        f_cnt=u.f_cnt,
        time_ns=u.received_at_ns,
        reason=reason,
        body=encode([r.item], []),
    )


def _public(row: DeadLetterRow) -> DeadLetter:
    return DeadLetter(
        row.id,
        as_utc(row.created_at),
        row.kind,
        row.application_id,
        row.device_id,
        row.f_cnt,
        row.time_ns,
        row.reason,
        row.attempts,
    )


class DeadLetters:
    """The dead-letter table of a registry database."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def add(self, refused: Sequence[Refused]) -> None:
        """Keep refused items (one transaction); raises SQLAlchemy errors."""
        if not refused:
            return
        with self.registry.session() as s, s.begin():
            s.add_all([_row(r) for r in refused])

    def count(self) -> int:
        """How many dead letters wait."""
        with self.registry.session() as s:
            return int(s.scalar(select(func.count()).select_from(DeadLetterRow)) or 0)

    def page(
        self, limit: int = 100, after_id: int = 0, application_id: str | None = None
    ) -> list[DeadLetter]:
        """Dead letters oldest first, after ``after_id`` (for paging)."""
        q = select(DeadLetterRow).where(DeadLetterRow.id > after_id)
        if application_id is not None:
            q = q.where(DeadLetterRow.application_id == application_id)
        with self.registry.session() as s:
            rows = s.scalars(q.order_by(DeadLetterRow.id).limit(limit)).all()
            return [_public(r) for r in rows]

    def load(
        self, ids: Sequence[int] | None, limit: int, after_id: int = 0
    ) -> list[tuple[int, StoredUplink | RejectedMessage]]:
        """Items to replay: the given ids, or the oldest ``limit`` after ``after_id``."""
        q = select(DeadLetterRow.id, DeadLetterRow.body).order_by(DeadLetterRow.id)
        q = (
            q.where(DeadLetterRow.id.in_(list(ids)))
            if ids is not None
            else q.where(DeadLetterRow.id > after_id)
        )
        with self.registry.session() as s:
            rows = s.execute(q.limit(limit)).all()
        out: list[tuple[int, StoredUplink | RejectedMessage]] = []
        for rid, body in rows:
            stored, rejected = decode(bytes(body))
            out.extend((rid, u) for u in stored)
            out.extend((rid, r) for r in rejected)
        return out

    def remove(self, ids: Sequence[int]) -> int:
        """Forget dead letters (stored by a replay, or dropped); returns how many went."""
        if not ids:
            return 0
        with self.registry.session() as s, s.begin():
            res = s.execute(delete(DeadLetterRow).where(DeadLetterRow.id.in_(list(ids))))
            return int(getattr(res, "rowcount", 0) or 0)

    def remove_all(self) -> int:
        """Drop every dead letter."""
        with self.registry.session() as s, s.begin():
            res = s.execute(delete(DeadLetterRow))
            return int(getattr(res, "rowcount", 0) or 0)

    def refused_again(self, rid: int, reason: str) -> None:
        """A replay was refused again: keep the new reason, count the attempt."""
        with self.registry.session() as s, s.begin():
            s.execute(
                update(DeadLetterRow)
                .where(DeadLetterRow.id == rid)
                .values(reason=reason[:2000], attempts=DeadLetterRow.attempts + 1)
            )
