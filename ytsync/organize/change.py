"""A schedule's rules changed: what the new rules do differently, shown before they take
effect (``schedule create``).

The videos compared are those the channel's last organize run read (the inbox as it
was, and the uploads it had not handled): where the old rules placed each, and where
the new ones would.  Nothing is read from YouTube; a video's playlists are those the
import and that run knew.  The new rules then take effect with the schedule's next
runs, the first of them a preview unless ``--yes``.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from ytsync.db.models import OrganizeItem, OrganizeRun, Playlist, Video
from ytsync.organize.read import INBOX, playlist_titles, rules_digest
from ytsync.rules.file import RuleSet
from ytsync.rules.model import Library, LibraryVideo, first_matches

# Videos named in the command's view; --json lists them all.
SHOWN = 20


class VideoChange(BaseModel):
    video_id: str
    title: str
    source: str
    # The category each rules place it in (None: no rule matches).
    before: str | None
    after: str | None


class RulesChange(BaseModel):
    """``schedule create --json``'s ``rules_change``."""

    run_id: int
    workflow_id: str
    rules_source: str
    # Videos the last run read, and those the new rules place elsewhere.
    videos: int
    changed: list[VideoChange]


def rules_change(
    session: Session, rules: RuleSet, text: str, schedule_id: str
) -> RulesChange | None:
    """How ``rules`` (read from ``text``) place the last run's videos differently; None
    when the schedule has no run yet, or its last run used these very rules."""
    last = session.scalars(
        select(OrganizeRun)
        .where(
            OrganizeRun.schedule_id == schedule_id,
            OrganizeRun.outcome.in_(("planned", "writing", "done")),
        )
        .order_by(OrganizeRun.id.desc())
        .limit(1)
    ).first()
    if last is None or last.rules_digest == rules_digest(text):
        return None
    rows = session.execute(
        select(
            Video.youtube_id,
            Video.title,
            Video.availability,
            Video.channel_id,
            Video.channel_title,
            Video.duration_seconds,
            Video.published_at,
            OrganizeItem.source,
            OrganizeItem.category,
        )
        .join(Video, Video.id == OrganizeItem.video_id)
        .where(OrganizeItem.run_id == last.id)
        .order_by(OrganizeItem.id)
    ).all()
    first = {row[0]: row for row in reversed(rows)}
    ordered = [first[vid] for vid in dict.fromkeys(row[0] for row in rows)]
    inbox = _inbox_title(session, last, rules)
    titles = playlist_titles(session, [row[0] for row in ordered])
    library = Library([], [])
    for (
        vid,
        title,
        availability,
        channel,
        channel_title,
        duration,
        published,
        source,
        _c,
    ) in ordered:
        names = titles.get(vid, []) + ([inbox] if source == INBOX and inbox else [])
        start = len(library.playlist_titles)
        library.playlist_titles.extend(names)
        library.videos.append(
            LibraryVideo(
                vid,
                title,
                availability,
                channel,
                channel_title,
                duration,
                published,
                list(range(start, start + len(names))),
            )
        )
    changed = [
        VideoChange(
            video_id=row[0],
            title=row[1],
            source=row[7],
            before=row[8],
            after=rule.category if rule else None,
        )
        for row, rule in zip(ordered, first_matches(rules.rules, library), strict=True)
        if (rule.category if rule else None) != row[8]
    ]
    return RulesChange(
        run_id=last.id,
        workflow_id=last.workflow_id,
        rules_source=last.rules_source,
        videos=len(ordered),
        changed=changed,
    )


def _inbox_title(session: Session, run: OrganizeRun, rules: RuleSet) -> str | None:
    """The inbox's title as the import knows it, else as the rules name it."""
    if run.inbox_playlist_id is not None:
        title = session.scalar(
            select(Playlist.title).where(Playlist.youtube_id == run.inbox_playlist_id)
        )
        if title is not None:
            return title
    return rules.sources.inbox
