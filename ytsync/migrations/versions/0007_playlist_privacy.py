"""playlist privacy: what the reuse strategy compares before it keeps a playlist

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("playlists", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("privacy", sa.String(length=16), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("playlists", schema=None) as batch_op:
        batch_op.drop_column("privacy")
