"""video details: what rules match on (publishing channel, duration, publish date)

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-07 22:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # All NULL until the next import reads them (videos.list, at no extra units).
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("channel_title", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("duration_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_column("published_at")
        batch_op.drop_column("duration_seconds")
        batch_op.drop_column("channel_title")
        batch_op.drop_column("channel_id")
