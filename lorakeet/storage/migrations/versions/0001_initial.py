"""Initial registry: accounts, API keys, devices, codecs, application secrets.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

A database made by the pre-Alembic ``create_all`` already has ``devices``: it is kept.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the tables."""
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("ttn_application_ids", sa.JSON, nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("email", name="uq_accounts_email"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "account_id",
            sa.Integer,
            sa.ForeignKey("accounts.id", ondelete="CASCADE", name="fk_api_keys_account"),
            nullable=False,
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(8), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_used_at", TZ, nullable=True),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.UniqueConstraint("hash", name="uq_api_keys_hash"),
    )
    op.create_index("ix_api_keys_account_id", "api_keys", ["account_id"])
    if not sa.inspect(op.get_bind()).has_table("devices"):
        op.create_table(
            "devices",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("application_id", sa.String(64), nullable=False),
            sa.Column("device_id", sa.String(64), nullable=False),
            sa.Column("dev_eui", sa.String(16), nullable=True),
            sa.Column("name", sa.String(200), nullable=True),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("decoder", sa.String(100), nullable=True),
            sa.Column("metadata", sa.JSON, nullable=False),
            sa.Column(
                "owner_id",
                sa.Integer,
                sa.ForeignKey("accounts.id", ondelete="CASCADE", name="fk_devices_owner"),
                nullable=True,
            ),
            sa.Column("visibility", sa.String(16), nullable=False),
            sa.Column("licence", sa.String(100), nullable=True),
            sa.Column("latitude", sa.Float, nullable=True),
            sa.Column("longitude", sa.Float, nullable=True),
            sa.Column("tags", sa.JSON, nullable=False),
            sa.Column("source", sa.String(16), nullable=False),
            sa.Column("created_at", TZ, nullable=False),
            sa.Column("updated_at", TZ, nullable=False),
            sa.UniqueConstraint("application_id", "device_id", name="uq_devices_app_dev"),
        )
        op.create_index("ix_devices_owner_id", "devices", ["owner_id"])
    op.create_table(
        "codecs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "owner_id",
            sa.Integer,
            sa.ForeignKey("accounts.id", ondelete="CASCADE", name="fk_codecs_owner"),
            nullable=True,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("examples", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_codecs_owner_id", "codecs", ["owner_id"])
    op.create_table(
        "application_secrets",
        sa.Column("application_id", sa.String(64), primary_key=True),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column(
            "owner_id",
            sa.Integer,
            sa.ForeignKey("accounts.id", ondelete="CASCADE", name="fk_application_secrets_owner"),
            nullable=True,
        ),
    )
    op.create_index("ix_application_secrets_owner_id", "application_secrets", ["owner_id"])


def downgrade() -> None:
    """Drop the tables."""
    for table in ("application_secrets", "codecs", "devices", "api_keys", "accounts"):
        op.drop_table(table)
