"""organize writes: a writing run's job, what its writes did per video, the rules'
digest (a schedule's first run with new rules is a preview), the run's execution, and
the sources a sync never deletes

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organize_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("job_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("results", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.add_column(sa.Column("rules_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("inbox_playlist_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("execution_id", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            "fk_organize_runs_job", "sync_jobs", ["job_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("organize_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
    op.create_table(
        "organize_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbox", sa.String(length=150), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("inbox"),
    )


def downgrade() -> None:
    op.drop_table("organize_sources")
    with op.batch_alter_table("organize_items", schema=None) as batch_op:
        batch_op.drop_column("note")
        batch_op.drop_column("outcome")
    with op.batch_alter_table("organize_runs", schema=None) as batch_op:
        batch_op.drop_constraint("fk_organize_runs_job", type_="foreignkey")
        batch_op.drop_column("execution_id")
        batch_op.drop_column("inbox_playlist_id")
        batch_op.drop_column("rules_digest")
        batch_op.drop_column("results")
        batch_op.drop_column("job_id")
