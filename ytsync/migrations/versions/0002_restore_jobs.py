"""restore jobs: a job has a kind, and a restore names its snapshot

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 04:42:16.911286
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="sync", nullable=False)
        )
        batch_op.add_column(sa.Column("snapshot_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_sync_jobs_snapshot", "backup_snapshots", ["snapshot_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.drop_constraint("fk_sync_jobs_snapshot", type_="foreignkey")
        batch_op.drop_column("snapshot_id")
        batch_op.drop_column("kind")
