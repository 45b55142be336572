"""The playlists organize runs read from: a sync never deletes them, nor keeps one as a
category's playlist.

An inbox is a source, not an old playlist, even when its videos all sit in their
categories: it is where the owner saves what a run sorts next.  It is known by the name
a rules file gives it (a title or an id, recorded by ``plan rules`` and ``schedule
create``, so a sync run before any organize run spares it) and by the YouTube id each
run read it under (a renamed inbox stays spared).  The uploads list is a system list,
which no sync touches anyway.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from ytsync.db.models import OrganizeRun, OrganizeSource, Playlist


def record_inbox(session: Session, inbox: str) -> None:
    """Remember the inbox a rules file names (once)."""
    # Here, not at the top: the PostgreSQL dialect's module is heavy (see ytsync.ledger).
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(OrganizeSource).values(inbox=inbox).on_conflict_do_nothing())


def is_source() -> ColumnElement[bool]:
    """A ``Playlist`` that an organize schedule reads from."""
    named = select(OrganizeSource.inbox)
    read = select(OrganizeRun.inbox_playlist_id).where(OrganizeRun.inbox_playlist_id.is_not(None))
    return or_(
        Playlist.youtube_id.in_(named), Playlist.title.in_(named), Playlist.youtube_id.in_(read)
    )


def source_playlists(session: Session) -> list[tuple[int, str, str]]:
    """The imported playlists still on YouTube that are sources: (id, title, YouTube id)."""
    rows = session.execute(
        select(Playlist.id, Playlist.title, Playlist.youtube_id)
        .where(Playlist.deleted_from_youtube_at.is_(None), is_source())
        .order_by(Playlist.title, Playlist.id)
    )
    return [(pid, title, youtube_id) for pid, title, youtube_id in rows]
