"""Alert rules, their per-device state and history; the downlink log (TTN fair use).

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add alert_rules, alert_state, alert_events and downlinks."""
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("device", sa.String(130), nullable=True),
        sa.Column("kind", sa.String(16), nullable=True),
        sa.Column("rule_type", sa.String(16), nullable=False),
        sa.Column("quantity", sa.String(64), nullable=True),
        sa.Column("op", sa.String(8), nullable=True),
        sa.Column("threshold", sa.Float, nullable=True),
        sa.Column("hysteresis", sa.Float, nullable=False),
        sa.Column("silence_s", sa.Float, nullable=True),
        sa.Column("geofence", sa.JSON, nullable=True),
        sa.Column("webhook_url", sa.String(2000), nullable=True),
        sa.Column("webhook_secret", sa.String(200), nullable=True),
        sa.Column("mqtt_topic", sa.String(500), nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alert_rules_owner_id", "alert_rules", ["owner_id"])
    op.create_index("ix_alert_rules_device", "alert_rules", ["device"])
    op.create_table(
        "alert_state",
        sa.Column(
            "rule_id", sa.Integer, sa.ForeignKey("alert_rules.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("device", sa.String(130), primary_key=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("rule_id", sa.Integer, nullable=False),
        sa.Column("owner_id", sa.Integer, nullable=False),
        sa.Column("device", sa.String(130), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("message", sa.String(500), nullable=False),
        sa.Column("delivery", sa.JSON, nullable=False),
    )
    for col in ("rule_id", "owner_id", "device", "time"):
        op.create_index(f"ix_alert_events_{col}", "alert_events", [col])
    op.create_table(
        "downlinks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account_id", sa.Integer, nullable=True),
        sa.Column("f_port", sa.Integer, nullable=False),
        sa.Column("payload_hex", sa.String(512), nullable=False),
        sa.Column("confirmed", sa.Boolean, nullable=False),
        sa.Column("correlation_id", sa.String(100), nullable=False),
    )
    op.create_index("ix_downlinks_time", "downlinks", ["time"])
    op.create_index("ix_downlinks_device", "downlinks", ["application_id", "device_id", "time"])


def downgrade() -> None:
    """Drop them."""
    op.drop_table("downlinks")
    op.drop_table("alert_events")
    op.drop_table("alert_state")
    op.drop_table("alert_rules")
