"""Alert rules remember the API key that created them (its scopes bound what they watch).

Revision ID: 0008
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add alert_rules.key_id."""
    with op.batch_alter_table("alert_rules") as batch:
        batch.add_column(sa.Column("key_id", sa.Integer, nullable=True))


def downgrade() -> None:
    """Drop alert_rules.key_id."""
    with op.batch_alter_table("alert_rules") as batch:
        batch.drop_column("key_id")
