"""the reuse strategy: a job's strategy, and the old playlists it keeps

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        # Jobs from before rebuilt: the only strategy there was.
        batch_op.add_column(
            sa.Column("strategy", sa.String(length=16), server_default="rebuild", nullable=False)
        )
    op.create_table(
        "kept_playlists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("playlist_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["sync_jobs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["category_id"], ["categories.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["playlist_id"], ["playlists.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "category_id"),
        sa.UniqueConstraint("job_id", "playlist_id"),
    )


def downgrade() -> None:
    op.drop_table("kept_playlists")
    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.drop_column("strategy")
