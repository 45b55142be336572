"""YouTube is the truth: an old playlist held back by videos saved to it since the import

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("held_back", schema=None) as batch_op:
        # True: the video was saved to the old playlist after the import (the delete
        # stage's read found it), not a planned video missing from its category.
        batch_op.add_column(
            sa.Column("new_in_playlist", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("held_back", schema=None) as batch_op:
        batch_op.drop_column("new_in_playlist")
