"""YouTube is the truth: writes confirmed by id, sends whose answer was lost, and the
settle delay a job uses now

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_operations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("lost_sends", sa.JSON(), nullable=True))
    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settle_seconds", sa.Float(), nullable=True))
    with op.batch_alter_table("lane_checks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("late", sa.Integer(), server_default="0", nullable=False))
    # A worker of an earlier release left these in flight without a send time: they
    # were sent at the latest now, so a settled check judges them from now on.
    ops = sa.table(
        "sync_operations",
        sa.column("status", sa.String),
        sa.column("sent_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        ops.update()
        .where(ops.c.status == "in_flight", ops.c.sent_at.is_(None))
        .values(sent_at=sa.func.current_timestamp())
    )


def downgrade() -> None:
    with op.batch_alter_table("lane_checks", schema=None) as batch_op:
        batch_op.drop_column("late")
    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.drop_column("settle_seconds")
    with op.batch_alter_table("sync_operations", schema=None) as batch_op:
        batch_op.drop_column("lost_sends")
        batch_op.drop_column("confirmed_at")
