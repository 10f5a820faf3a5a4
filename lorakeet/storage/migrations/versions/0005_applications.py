"""Applications are owned: applications, grants and claims; pending devices; ids never reused.

Existing registries keep what was proved before: an application whose webhook secret an
account set, or that an admin listed in an account's ``ttn_application_ids``, becomes that
account's (proof ``migrated``). A device whose owner has proved its application in neither way
becomes pending (its data hidden from everyone but admins) until the owner proves it or an
admin assigns it. On SQLite the accounts and API keys tables are rebuilt with AUTOINCREMENT,
so an erased account's id (and its keys' ids) are never given to a new one.

Revision ID: 0005
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0006"
branch_labels = None
depends_on = None


def _ids(value: object) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def upgrade() -> None:
    """Create the ownership tables, mark unproved devices pending, make ids monotonic on SQLite."""
    op.create_table(
        "applications",
        sa.Column("application_id", sa.String(64), primary_key=True),
        sa.Column("owner_id", sa.Integer, nullable=True),
        sa.Column("proof", sa.String(16), nullable=False),
        sa.Column("proved_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_applications_owner_id", "applications", ["owner_id"])
    op.create_table(
        "application_grants",
        sa.Column("application_id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.Integer, primary_key=True),
        sa.Column("granted_by", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_application_grants_account_id", "application_grants", ["account_id"])
    op.create_table(
        "application_claims",
        sa.Column("application_id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.Integer, primary_key=True),
        sa.Column("secret_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_application_claims_account_id", "application_claims", ["account_id"])
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("pending", sa.Boolean, nullable=False, server_default=sa.false()))

    conn = op.get_bind()
    now = datetime.now(UTC)
    owners: dict[str, int] = {}
    for app_id, owner in conn.execute(
        sa.text("SELECT application_id, owner_id FROM application_secrets WHERE owner_id IS NOT NULL")
    ):
        owners.setdefault(app_id, owner)
    for account_id, apps in conn.execute(sa.text("SELECT id, ttn_application_ids FROM accounts ORDER BY id")):
        for app_id in _ids(apps):
            owners.setdefault(app_id, account_id)
    applications = sa.table(
        "applications",
        sa.column("application_id", sa.String),
        sa.column("owner_id", sa.Integer),
        sa.column("proof", sa.String),
        sa.column("proved_at", sa.DateTime(timezone=True)),
    )
    if owners:
        op.bulk_insert(
            applications,
            [
                {"application_id": a, "owner_id": o, "proof": "migrated", "proved_at": now}
                for a, o in owners.items()
            ],
        )
    conn.execute(
        sa.text(
            "UPDATE devices SET pending = :yes WHERE owner_id IS NOT NULL AND NOT EXISTS ("
            "SELECT 1 FROM applications a WHERE a.application_id = devices.application_id "
            "AND a.owner_id = devices.owner_id) "
            "AND owner_id NOT IN (SELECT id FROM accounts WHERE is_admin = :yes)"
        ),
        {"yes": True},
    )
    if conn.dialect.name == "sqlite":
        for table in ("accounts", "api_keys"):
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ) as batch:
                batch.alter_column("id", existing_type=sa.Integer)


def downgrade() -> None:
    """Drop the ownership tables and the pending flag (AUTOINCREMENT stays)."""
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("pending")
    for table in ("application_claims", "application_grants", "applications"):
        op.drop_table(table)
