"""indexes for finding a person's open chains when they answer

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 05:15:00.000000

An SMS reply is matched by the person, not the warning: without these, every answer read
all recipients and all escalations (a 50,000-person warning made each answer a scan).
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.create_index("ix_recipients_person", ["person_id"], unique=False)
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.create_index("ix_escalations_target", ["target_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_index("ix_escalations_target")
    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_recipients_person")
