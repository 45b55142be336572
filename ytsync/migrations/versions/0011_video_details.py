"""video details and organize runs: what rules match on (publishing channel, duration,
publish date), and what a scheduled run read and decided

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 22:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # All NULL until the next import reads them (videos.list, at no extra units).
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("channel_title", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("duration_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "organize_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.String(length=255), nullable=False),
        sa.Column("schedule_id", sa.String(length=200), nullable=True),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("rules_source", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("read_units", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workflow_id"),
    )
    op.create_table(
        "organize_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=150), nullable=True),
        sa.Column("rule", sa.Integer(), nullable=True),
        sa.Column("source_item_id", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["category_id"], ["categories.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["run_id"], ["organize_runs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_organize_items_run", "organize_items", ["run_id", "action"])
    op.create_table(
        "organize_seen",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"]),
        sa.PrimaryKeyConstraint("source", "video_id"),
    )


def downgrade() -> None:
    op.drop_table("organize_seen")
    op.drop_index("ix_organize_items_run", table_name="organize_items")
    op.drop_table("organize_items")
    op.drop_table("organize_runs")
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_column("published_at")
        batch_op.drop_column("duration_seconds")
        batch_op.drop_column("channel_title")
        batch_op.drop_column("channel_id")
