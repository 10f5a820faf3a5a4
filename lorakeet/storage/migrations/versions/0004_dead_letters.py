"""Dead letters: uplinks and rejected bodies the readings store refused for good.

Revision ID: 0004
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add dead_letters."""
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("f_cnt", sa.BigInteger, nullable=True),
        sa.Column("time_ns", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_dead_letters_application_id", "dead_letters", ["application_id"])


def downgrade() -> None:
    """Drop dead_letters."""
    op.drop_index("ix_dead_letters_application_id", "dead_letters")
    op.drop_table("dead_letters")
