"""YouTube's text as the database takes it, the same in SQLite and PostgreSQL.

SQLite stores what it is given; PostgreSQL refuses a NUL in text and a string longer
than its column.  So texts (titles, descriptions) are made storable the same way for
both (``ytsync.safetext.storable``: NUL becomes U+FFFD), and an id or a value with a
bounded column that does not fit is refused with the item it belongs to, before any
statement is sent.
"""

from __future__ import annotations

from sqlalchemy import String

from ytsync.db.models import Playlist, PlaylistItem, Video
from ytsync.safetext import one_line


def _length(column: object) -> int:
    kind = getattr(column, "type", None)
    assert isinstance(kind, String) and kind.length is not None
    return kind.length


PLAYLIST_ID = _length(Playlist.__table__.c.youtube_id)
PRIVACY = _length(Playlist.__table__.c.privacy)
ITEM_ID = _length(PlaylistItem.__table__.c.youtube_item_id)
VIDEO_ID = _length(Video.__table__.c.youtube_id)
CHANNEL_ID = _length(Video.__table__.c.channel_id)
# How much of a refused value a message shows.
SHOWN = 20


def shown(value: str) -> str:
    """A value from YouTube as a message quotes it: one line, escaped, cut short."""
    cut = value if len(value) <= SHOWN else value[: SHOWN - 1] + "…"
    return repr(one_line(cut))


def id_problem(what: str, value: str, limit: int) -> str | None:
    """Why ``value`` cannot be stored as ``what`` (a column of ``limit`` characters
    holding a YouTube id), or None.  YouTube's ids are short printable ASCII."""
    if len(value) > limit:
        return f"its {what} is {len(value):,} characters long; ytsync stores at most {limit}"
    if not value or not value.isascii() or not value.isprintable() or " " in value:
        return f"its {what} {shown(value)} is not a YouTube id"
    return None


def value_problem(what: str, value: str, limit: int) -> str | None:
    """Why ``value`` does not fit its column of ``limit`` characters, or None."""
    if len(value) > limit:
        return f"its {what} {shown(value)} is longer than {limit} characters"
    return None
