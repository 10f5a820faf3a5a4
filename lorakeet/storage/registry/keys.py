"""API keys: stored by SHA-256, looked up through the cache on every request."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select, update

from .database import Database
from .entities import ApiKey
from .model import KeyLookup
from .tables import AccountRow, ApiKeyRow, as_utc, now_utc

KEY_TOUCH_INTERVAL = timedelta(seconds=60)


class KeyRepository(Database):
    """API keys."""

    def create_key(
        self, account_id: int, *, name: str, key_hash: str, prefix: str, scopes: Sequence[str]
    ) -> ApiKey:
        """Store a new key's hash."""
        with self.session() as s:
            row = ApiKeyRow(
                account_id=account_id, name=name, key_hash=key_hash, prefix=prefix[:8], scopes=list(scopes)
            )
            s.add(row)
            s.commit()
            return ApiKey.from_row(row)

    def list_keys(self, account_id: int | None = None) -> list[ApiKey]:
        """Keys of one account (or all), by id, revoked ones included."""
        with self.session() as s:
            q = select(ApiKeyRow).order_by(ApiKeyRow.id)
            if account_id is not None:
                q = q.where(ApiKeyRow.account_id == account_id)
            return [ApiKey.from_row(r) for r in s.scalars(q)]

    def get_key(self, key_id: int) -> ApiKey | None:
        """A key by id."""
        with self.session() as s:
            row = s.get(ApiKeyRow, key_id)
            return ApiKey.from_row(row) if row is not None else None

    def revoke_key(self, key_id: int) -> ApiKey | None:
        """Mark a key revoked (idempotent); None when it does not exist."""
        with self.session() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None:
                return None
            if row.revoked_at is None:
                row.revoked_at = now_utc()
                s.commit()
            self.cache.clear()
            return ApiKey.from_row(row)

    def find_key(self, key_hash: str) -> KeyLookup | None:
        """The live key with this hash, touching its ``last_used_at`` at most once a minute."""
        with self.session() as s:
            found = s.execute(
                select(ApiKeyRow, AccountRow.is_admin)
                .join(AccountRow, AccountRow.id == ApiKeyRow.account_id)
                .where(ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked_at.is_(None))
            ).first()
            if found is None:
                return None
            row, is_admin = found
            now = now_utc()
            if row.last_used_at is None or as_utc(row.last_used_at) < now - KEY_TOUCH_INTERVAL:
                s.execute(update(ApiKeyRow).where(ApiKeyRow.id == row.id).values(last_used_at=now))
                s.commit()
            return KeyLookup(row.id, row.account_id, row.key_hash, tuple(row.scopes or ()), bool(is_admin))

    def lookup_key(self, key_hash: str) -> KeyLookup | None:
        """``find_key`` through the lookup cache (see the package docstring)."""
        c = self.cache
        return c.read_through(
            lambda: c.key(key_hash), lambda: self.find_key(key_hash), lambda g, k: c.put_key(g, key_hash, k)
        )
