"""undo: a restored playlist remembers the id it had before (the backup snapshots name it
so); a held-back entry may name a playlist or a video by its YouTube id alone (a category
playlist a full undo kept, a video the owner added on YouTube)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-12 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("playlists", schema=None) as batch_op:
        # NULL: never recreated by a restore (its id is the one the snapshots name).
        batch_op.add_column(sa.Column("replaced_youtube_id", sa.String(length=64), nullable=True))
    with op.batch_alter_table("held_back", schema=None) as batch_op:
        batch_op.alter_column("playlist_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("video_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("youtube_playlist_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("title", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("youtube_video_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("held_back", schema=None) as batch_op:
        batch_op.drop_column("youtube_video_id")
        batch_op.drop_column("title")
        batch_op.drop_column("youtube_playlist_id")
    with op.batch_alter_table("playlists", schema=None) as batch_op:
        batch_op.drop_column("replaced_youtube_id")
