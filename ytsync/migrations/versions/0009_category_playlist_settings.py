"""per-category playlist settings: the privacy and description a category's playlist gets

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("categories", schema=None) as batch_op:
        # Plans from before had no such columns: every playlist was made private.
        batch_op.add_column(
            sa.Column("privacy", sa.String(length=16), server_default="private", nullable=False)
        )
        # NULL: none given (a new playlist gets ytsync's text, a kept one keeps its own).
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.drop_column("description")
        batch_op.drop_column("privacy")
