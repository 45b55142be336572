"""YouTube's title rules: category names up to 150 characters, pause messages

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite ignores VARCHAR lengths; rebuilding its tables (batch mode) would only risk
    # the rows that cascade from them.
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(
            "categories", "name", type_=sa.String(length=150), existing_type=sa.String(100)
        )
        op.alter_column(
            "sync_errors", "entity_id", type_=sa.String(length=255), existing_type=sa.String(128)
        )
    op.add_column("sync_jobs", sa.Column("pause_message", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.drop_column("pause_message")
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(
            "sync_errors", "entity_id", type_=sa.String(length=128), existing_type=sa.String(255)
        )
        op.alter_column(
            "categories", "name", type_=sa.String(length=100), existing_type=sa.String(150)
        )
