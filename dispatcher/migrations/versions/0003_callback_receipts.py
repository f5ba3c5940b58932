"""callback receipts: a genuine provider callback is taken once

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 06:20:00.000000

A signed Twilio inbound SMS or key press carries no timestamp: captured and replayed a
week later it would answer the person's new warnings. Each one taken is remembered here
(by MessageSid; by CallSid, send key and digits), as is each WeChat push (by its signed
timestamp and nonce), and a second one is refused.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dispatcher.store.schema

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback_receipts",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("seen_at", dispatcher.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
    )
    with op.batch_alter_table("callback_receipts", schema=None) as batch_op:
        batch_op.create_index("ix_callback_receipts_seen", ["kind", "seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("callback_receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_receipts_seen")
    op.drop_table("callback_receipts")
