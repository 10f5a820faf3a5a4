"""Accounts: the people and groups using the API, and erasing one with all it owns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ..records import DeviceKey
from .changes import AccountChanges
from .database import Database
from .entities import Account
from .model import ConflictError
from .personal import erase_personal_rows, personal_rows
from .tables import AccountRow, ApiKeyRow, Base, DeviceRow


class AccountRepository(Database):
    """Accounts."""

    def create_account(
        self, name: str, email: str, *, is_admin: bool = False, ttn_application_ids: Iterable[str] = ()
    ) -> Account:
        """A new account; ConflictError when the email is taken."""
        with self.session() as s:
            row = AccountRow(
                name=name,
                email=email.lower(),
                is_admin=is_admin,
                ttn_application_ids=list(ttn_application_ids),
            )
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                raise ConflictError("an account with this email exists already") from None
            return Account.from_row(row)

    def get_account(self, account_id: int) -> Account | None:
        """An account by id."""
        with self.session() as s:
            row = s.get(AccountRow, account_id)
            return Account.from_row(row) if row is not None else None

    def list_accounts(self, *, limit: int = 100, offset: int = 0) -> list[Account]:
        """Accounts by id."""
        with self.session() as s:
            q = select(AccountRow).order_by(AccountRow.id).limit(limit).offset(offset)
            return [Account.from_row(r) for r in s.scalars(q)]

    def count_accounts(self) -> int:
        """How many accounts exist."""
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(AccountRow)) or 0)

    def update_account(self, account_id: int, changes: AccountChanges) -> Account | None:
        """Apply changes to an account; None when it does not exist."""
        with self.session() as s:
            row = s.get(AccountRow, account_id)
            if row is None:
                return None
            changes.apply(row)
            s.commit()
            self.cache.clear()
            return Account.from_row(row)

    def personal_data(self, account_id: int, devices: list[DeviceKey]) -> dict[str, list[dict[str, Any]]]:
        """Registry rows about the account and its devices, by table (no secrets): for exports."""
        with self.session() as s:
            return personal_rows(s.connection(), account_id, devices)

    def delete_account(self, account_id: int) -> list[DeviceKey]:
        """Erase an account, its keys, devices, codecs and secrets; returns the erased devices."""
        with self.session() as s:
            keys = [
                DeviceKey(a, d)
                for a, d in s.execute(
                    select(DeviceRow.application_id, DeviceRow.device_id).where(
                        DeviceRow.owner_id == account_id
                    )
                )
            ]
            erase_personal_rows(s.connection(), account_id, keys)  # downlinks, audit, grants, claims
            # Everything with an owner_id (devices, codecs, secrets, alert rules and events,
            # downlinks, ...), children first; SQLite does not enforce ON DELETE CASCADE.
            owned = [t for t in Base.metadata.sorted_tables if "owner_id" in t.c]
            for table in reversed(Base.metadata.sorted_tables):
                for fk in table.foreign_keys:
                    parent = fk.column.table
                    if parent in owned and parent is not table:
                        ids = select(parent.c.id).where(parent.c.owner_id == account_id)
                        s.execute(delete(table).where(fk.parent.in_(ids)))
            for table in reversed(owned):
                s.execute(delete(table).where(table.c.owner_id == account_id))
            s.execute(delete(ApiKeyRow).where(ApiKeyRow.account_id == account_id))
            s.execute(delete(AccountRow).where(AccountRow.id == account_id))
            s.commit()
            self.cache.clear()
            return keys
