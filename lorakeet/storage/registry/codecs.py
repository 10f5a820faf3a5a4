"""JavaScript codecs users store, and the webhook secrets of network applications."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select

from .database import Database
from .entities import ApplicationSecret, Codec
from .tables import ApplicationSecretRow, CodecRow


class CodecRepository(Database):
    """Codecs and webhook secrets."""

    def create_codec(
        self, owner_id: int | None, name: str, source: str, examples: Sequence[Any] = ()
    ) -> Codec:
        """Store a JavaScript codec."""
        with self.session() as s:
            row = CodecRow(owner_id=owner_id, name=name, source=source, examples=list(examples))
            s.add(row)
            s.commit()
            return Codec.from_row(row)

    def get_codec(self, codec_id: int) -> Codec | None:
        """A codec by id."""
        with self.session() as s:
            row = s.get(CodecRow, codec_id)
            return Codec.from_row(row) if row is not None else None

    def set_application_secret(self, application_id: str, secret_hash: str, owner_id: int | None) -> None:
        """Create or replace an application's webhook secret hash."""
        with self.session() as s:
            row = s.get(ApplicationSecretRow, application_id)
            if row is None:
                s.add(
                    ApplicationSecretRow(
                        application_id=application_id, secret_hash=secret_hash, owner_id=owner_id
                    )
                )
            else:
                row.secret_hash, row.owner_id = secret_hash, owner_id
            s.commit()

    def get_application_secret(self, application_id: str) -> ApplicationSecret | None:
        """An application's webhook secret."""
        with self.session() as s:
            row = s.get(ApplicationSecretRow, application_id)
            return ApplicationSecret.from_row(row) if row is not None else None

    def application_for_secret(self, secret_hash: str) -> ApplicationSecret | None:
        """The application whose webhook secret has this SHA-256 (hex), or None."""
        with self.session() as s:
            row = s.scalar(
                select(ApplicationSecretRow).where(ApplicationSecretRow.secret_hash == secret_hash)
            )
            return ApplicationSecret.from_row(row) if row is not None else None

    def list_codecs(self, owner_id: int | None = None, *, limit: int = 100, offset: int = 0) -> list[Codec]:
        """Codecs by id; with ``owner_id``, that account's and the shared (unowned) ones."""
        with self.session() as s:
            q = select(CodecRow).order_by(CodecRow.id)
            if owner_id is not None:
                q = q.where(or_(CodecRow.owner_id == owner_id, CodecRow.owner_id.is_(None)))
            return [Codec.from_row(r) for r in s.scalars(q.limit(limit).offset(offset))]
