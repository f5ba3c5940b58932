"""drill figures: each drill's figures, for the drills of one roster side by side

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 08:10:00.000000

A county rehearses its roster and policy again and again; the report of a drill shows
the last drills of the same roster beside it. Their figures are kept here when a drill's
report is made; without a foreign key, since a drill runs in a store of its own and one
database may keep the figures of the drills of many runs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dispatcher.store.schema

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drill_figures",
        sa.Column("warning_id", sa.String(length=32), nullable=False),
        sa.Column("roster_id", sa.String(length=64), nullable=False),
        sa.Column("identifier", sa.String(length=255), nullable=False),
        sa.Column("headline", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column(
            "clock_start", dispatcher.store.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("answer_within_s", sa.Float(), nullable=False),
        sa.Column("grids", sa.Integer(), nullable=False),
        sa.Column("grids_met", sa.Integer(), nullable=False),
        sa.Column("grids_missed", sa.Integer(), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column("never_reached", sa.Integer(), nullable=False),
        sa.Column("all_settled_s", sa.Float(), nullable=True),
        sa.Column("made_at", dispatcher.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("warning_id"),
    )
    with op.batch_alter_table("drill_figures", schema=None) as batch_op:
        batch_op.create_index("ix_drill_figures_roster", ["roster_id", "made_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("drill_figures", schema=None) as batch_op:
        batch_op.drop_index("ix_drill_figures_roster")
    op.drop_table("drill_figures")
