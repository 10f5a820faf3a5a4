"""Device models: a device's Device Repository ids and own field rules; users' model maps.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

_DEVICE_COLUMNS = ("brand_id", "model_id", "hardware_version", "firmware_version", "band_id", "field_map")


def upgrade() -> None:
    """Add the model columns to devices and the model_maps table."""
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("brand_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("model_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hardware_version", sa.String(100), nullable=True))
        batch.add_column(sa.Column("firmware_version", sa.String(100), nullable=True))
        batch.add_column(sa.Column("band_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("field_map", sa.JSON, nullable=True))
    op.create_table(
        "model_maps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
        sa.Column("brand_id", sa.String(64), nullable=False),
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(16), nullable=True),
        sa.Column("decoder", sa.String(100), nullable=True),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_model_maps_owner_id", "model_maps", ["owner_id"])


def downgrade() -> None:
    """Drop model_maps and the devices' model columns."""
    op.drop_index("ix_model_maps_owner_id", "model_maps")
    op.drop_table("model_maps")
    with op.batch_alter_table("devices") as batch:
        for name in reversed(_DEVICE_COLUMNS):
            batch.drop_column(name)
