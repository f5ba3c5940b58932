"""timer lanes: each timer names its warning, so due work is claimed warning by warning

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 08:00:00.000000

Under a provider's rate cap, the scheduler claims the due timers of the highest-level
warnings first and shares the rest between warnings of one level (`store/due.py`); it
finds the warnings with due timers through `ix_timers_lane` instead of reading every due
timer. Existing timers take their recipient's warning.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("warning_id", sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE timers SET warning_id ="
        " (SELECT recipients.warning_id FROM recipients WHERE recipients.id = timers.recipient_id)"
    )
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.alter_column("warning_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_index("ix_timers_lane", ["warning_id", "eta"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_index("ix_timers_lane")
        batch_op.drop_column("warning_id")
