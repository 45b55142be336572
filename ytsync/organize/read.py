"""An organize run's read side: what is new in the sources, and where the rules put it.

Reads only, paid from the same quota ledger as a sync (reserved before, the rest given
back after), and never while a sync or restore of the channel runs:

1. the channel (its uploads list) and its playlists (1 unit per 50): the inbox, by
   title or id, and which category playlists exist, with their sizes;
2. the inbox, whole (it is emptied as videos move out of it); the uploads, newest
   first, only until a page holds an upload an earlier run has read;
3. ``videos.list`` (1 unit per 50) for the new videos ytsync has no details of;
4. the rules, on the new videos;
5. for each category that gets videos, whether they are there already: one
   ``playlistItems.list?videoId=`` (1 unit) per video, or the whole playlist (1 unit per
   50 items) when that is fewer units.

What it decides is recorded, not written: one ``OrganizeItem`` per new video
(``ytsync.db.models``), for the write stages to carry out (ytsync.organize.write) and
for ``report``.  A retried read starts again from the top and replaces what the failed
attempt recorded.  Whether the run is a preview is decided once, with its row: so its
input says, or it is the schedule's first run of these rules (``preview_first``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from ytsync import ledger
from ytsync.config import Settings
from ytsync.db.engine import transaction
from ytsync.db.models import (
    Category,
    OrganizeItem,
    OrganizeRun,
    OrganizeSeen,
    Playlist,
    PlaylistItem,
    SyncJob,
    Video,
)
from ytsync.errors import UserError
from ytsync.organize.wire import ReadInput, ReadResult, Waiting
from ytsync.rules.file import RuleSet, Sources, parse_rules
from ytsync.rules.model import Library, LibraryVideo, Rule, first_matches
from ytsync.wire import ACTIVE_STAGES
from ytsync.youtube.client import PAGE_SIZE, YouTube
from ytsync.youtube.errors import Outcome, classify
from ytsync.youtube.videos import VideoDetails, video_details

# Asked of the ledger before reading; what is not spent is given back.
READ_RESERVATION = 200
# The fewest units a run can do anything with: the channel, its playlists, a source.
MIN_READ_UNITS = 3
# How long a run waits for a sync or restore of the channel before it asks again.
JOB_WAIT = timedelta(minutes=5)
_CHUNK = 500

INBOX, UPLOADS = "inbox", "uploads"
MOVE, REMOVE, COPY, PRESENT = "move", "remove", "copy", "present"
UNMATCHED, PROTECTED, NO_PLAYLIST = "unmatched", "protected", "no_playlist"
ACTIONS = (MOVE, REMOVE, COPY, PRESENT, UNMATCHED, PROTECTED, NO_PLAYLIST)


class SourceMissing(UserError):
    """The rules name an inbox the channel does not have (or has twice)."""


@dataclass
class _Item:
    """A new video of a source, as read."""

    video_id: str
    source: str
    item_id: str | None = None
    # The item's own title and privacy: all a deleted or private video still shows.
    title: str = ""
    listed_as: str | None = None


@dataclass
class _Read:
    """What the reads found."""

    inbox_title: str | None = None
    inbox_playlist_id: str | None = None
    items: list[_Item] = field(default_factory=list)
    details: dict[str, VideoDetails] = field(default_factory=dict)
    # Category playlist id -> its item count (only those on YouTube).
    playlist_sizes: dict[str, int] = field(default_factory=dict)
    present: set[tuple[str, str]] = field(default_factory=set)  # (playlist, video)


@dataclass
class _Decision:
    item: _Item
    action: str
    rule: Rule | None = None
    category_id: int | None = None
    # The category playlist the video goes into (move, copy).
    playlist: str | None = None


def read_sources(
    settings: Settings,
    sessions: sessionmaker[Session],
    run: ReadInput,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ReadResult:
    """Read what is new in the sources of ``run``'s rules and decide where it goes."""
    rules = parse_rules(run.rules, run.rules_source)
    rules.problems.raise_if_any()
    if not rules.sources.any:
        raise UserError(
            f"rules file {run.rules_source} names no source: add a [sources] table with "
            "an inbox or uploads = true"
        )
    moment = now()
    # The ledger of the channel's OAuth client: channels signed in through one client
    # share one period's units (ytsync.ledger.sessions_for).
    ledgers = ledger.sessions_for(settings, sessions)
    with transaction(sessions) as session:
        run_id, dry_run = _run_row(session, run)
        if session.scalar(select(SyncJob.id).where(SyncJob.stage.in_(ACTIVE_STAGES))):
            return _waiting(session, run_id, Waiting.JOB_RUNNING, moment + JOB_WAIT)
    period = settings.quota_clock.period_start(moment)
    with transaction(ledgers) as session:
        granted = ledger.reserve(
            session,
            period,
            lambda left: min(left, READ_RESERVATION),
            MIN_READ_UNITS,
            settings.usable_quota,
        )
    if not granted:
        with transaction(sessions) as session:
            return _waiting(session, run_id, Waiting.QUOTA, settings.quota_clock.next_reset(moment))
    spent = [0]

    def count(_method: str, units: int) -> None:
        spent[0] += units

    youtube = YouTube(settings, on_units=count)
    try:
        reader = _Reader(youtube, sessions, rules)
        found = reader.read()
        with sessions() as session:
            decisions = _decide(session, rules, found)
        reader.presence(found, _wanted(decisions))
    except Exception as exc:
        failure = classify(exc)
        if failure is None or failure.outcome is not Outcome.QUOTA_EXHAUSTED:
            raise
        with transaction(ledgers) as session:
            ledger.mark_exhausted(session, period)
        with transaction(sessions) as session:
            result = _waiting(
                session, run_id, Waiting.QUOTA, settings.quota_clock.next_reset(moment)
            )
        return result
    finally:
        with transaction(ledgers) as session:
            _settle_units(session, period, granted, spent[0])
    with transaction(sessions) as session:
        counts = _record(session, run_id, found, [_final(d, found) for d in decisions], spent[0])
    return ReadResult(run_id=run_id, counts=counts, read_units=spent[0], dry_run=dry_run)


def rules_digest(rules: str) -> str:
    return hashlib.sha256(rules.encode("utf-8")).hexdigest()


def _run_row(session: Session, run: ReadInput) -> tuple[int, bool]:
    """The run's row (made by its first attempt) and whether the run is a preview."""
    found = session.scalar(select(OrganizeRun).where(OrganizeRun.workflow_id == run.workflow_id))
    if found is not None and found.execution_id not in (None, run.execution):
        _set_aside(session, found)
        found = None
    if found is None:
        digest = rules_digest(run.rules)
        found = OrganizeRun(
            workflow_id=run.workflow_id,
            schedule_id=run.schedule_id,
            dry_run=run.dry_run or (run.preview_first and not _previewed(session, run, digest)),
            rules_source=run.rules_source,
            rules_digest=digest,
            execution_id=run.execution or None,
        )
        session.add(found)
    found.outcome = "reading"
    session.flush()
    return found.id, found.dry_run


def _set_aside(session: Session, earlier: OrganizeRun) -> None:
    """An earlier run under this workflow id (a schedule names its runs after the second
    they start in): its rows, and its job's, keep their records under another name."""
    renamed = f"{earlier.workflow_id}#{earlier.id}"
    if earlier.job_id is not None:
        session.get_one(SyncJob, earlier.job_id).workflow_id = renamed
    earlier.workflow_id = renamed
    session.flush()


def _previewed(session: Session, run: ReadInput, digest: str) -> bool:
    """Has a run of this schedule previewed these rules already?"""
    schedule = (
        OrganizeRun.schedule_id.is_(None)
        if run.schedule_id is None
        else OrganizeRun.schedule_id == run.schedule_id
    )
    return (
        session.scalar(
            select(OrganizeRun.id)
            .where(
                schedule,
                OrganizeRun.rules_digest == digest,
                OrganizeRun.dry_run.is_(True),
                OrganizeRun.outcome == "planned",
            )
            .limit(1)
        )
        is not None
    )


def _waiting(session: Session, run_id: int, why: Waiting, until: datetime) -> ReadResult:
    session.execute(
        update(OrganizeRun)
        .where(OrganizeRun.id == run_id)
        .values(outcome="waiting", message=str(why))
    )
    return ReadResult(run_id=run_id, waiting=why, resume_at=until)


def _settle_units(session: Session, period: datetime, granted: int, spent: int) -> None:
    if spent < granted:
        ledger.refund(session, period, granted - spent)
    elif spent > granted:
        ledger.charge(session, period, spent - granted)


def mark_failed(sessions: sessionmaker[Session], workflow_id: str, message: str) -> None:
    """The run failed for good (a missing inbox, bad rules): say so where status looks."""
    with transaction(sessions) as session:
        session.execute(
            update(OrganizeRun)
            .where(OrganizeRun.workflow_id == workflow_id)
            .values(outcome="failed", message=message, finished_at=datetime.now(UTC))
        )


# --------------------------------------------------------------------------- reads


class _Reader:
    def __init__(self, youtube: YouTube, sessions: sessionmaker[Session], rules: RuleSet) -> None:
        self._yt = youtube
        self._sessions = sessions
        self._rules = rules
        self._sources: Sources = rules.sources

    def read(self) -> _Read:
        found = _Read()
        uploads_id: str | None = None
        if self._sources.uploads:
            channel = self._yt.my_channel() or {}
            related = channel.get("contentDetails", {}).get("relatedPlaylists", {})
            uploads_id = related.get("uploads")
        playlists = [p for page in self._yt.iter_pages(self._yt.my_playlists) for p in page]
        with self._sessions() as session:
            category_ids = set(
                session.scalars(
                    select(Category.youtube_playlist_id).where(
                        Category.youtube_playlist_id.is_not(None)
                    )
                )
            )
            seen_uploads = set(
                session.scalars(
                    select(Video.youtube_id)
                    .join(OrganizeSeen, OrganizeSeen.video_id == Video.id)
                    .where(OrganizeSeen.source == UPLOADS)
                )
            )
            unhandled_uploads = list(
                session.execute(
                    select(Video.youtube_id, Video.title)
                    .join(OrganizeSeen, OrganizeSeen.video_id == Video.id)
                    .where(OrganizeSeen.source == UPLOADS, OrganizeSeen.handled.is_(False))
                )
            )
        found.playlist_sizes = {
            p["id"]: int(p.get("contentDetails", {}).get("itemCount", 0))
            for p in playlists
            if p["id"] in category_ids
        }
        if self._sources.inbox is not None:
            inbox = self._find_inbox(playlists)
            found.inbox_playlist_id = inbox["id"]
            found.inbox_title = inbox.get("snippet", {}).get("title", "")
            for page in self._yt.iter_pages(partial(self._yt.playlist_items, inbox["id"])):
                found.items.extend(_item(entry, INBOX) for entry in page)
        if self._sources.uploads and uploads_id:
            found.items.extend(self._new_uploads(uploads_id, seen_uploads))
            # Read before but never handled (a preview, or no rule then): decided again,
            # without reading them again.
            fresh = {i.video_id for i in found.items}
            found.items.extend(
                _Item(vid, UPLOADS, title=title)
                for vid, title in unhandled_uploads
                if vid not in fresh
            )
        found.details = self._details(found.items)
        return found

    def _find_inbox(self, playlists: Sequence[dict[str, Any]]) -> dict[str, Any]:
        wanted = self._sources.inbox or ""
        by_id = [p for p in playlists if p["id"] == wanted]
        if by_id:
            return by_id[0]
        titled = [p for p in playlists if p.get("snippet", {}).get("title", "") == wanted]
        if len(titled) == 1:
            return titled[0]
        if not titled:
            raise SourceMissing(
                f"the channel has no playlist titled or with the id {wanted!r} (the inbox "
                f"in {self._rules.source})"
            )
        ids = ", ".join(p["id"] for p in titled)
        raise SourceMissing(
            f"{len(titled)} playlists are titled {wanted!r} ({ids}); give the inbox's id "
            f"in {self._rules.source}"
        )

    def _new_uploads(self, uploads_id: str, seen: set[str]) -> list[_Item]:
        """The uploads list is newest first: page until a page holds one already read."""
        items: list[_Item] = []
        for page in self._yt.iter_pages(partial(self._yt.playlist_items, uploads_id)):
            fresh = [_item(entry, UPLOADS) for entry in page]
            items.extend(i for i in fresh if i.video_id not in seen)
            if any(i.video_id in seen for i in fresh):
                break
        return items

    def _details(self, items: Iterable[_Item]) -> dict[str, VideoDetails]:
        """videos.list for the new videos ytsync knows no details of."""
        wanted = sorted({i.video_id for i in items})
        with self._sessions() as session:
            known = _known_details(session, wanted)
        missing = [vid for vid in wanted if vid not in known]
        for start in range(0, len(missing), PAGE_SIZE):
            batch = missing[start : start + PAGE_SIZE]
            known.update(
                (video["id"], video_details(video))
                for video in self._yt.videos(batch, details=True)
            )
        return known

    def presence(self, found: _Read, wanted: dict[str, set[str]]) -> None:
        """Which of ``wanted`` (category playlist -> videos) are in it already, by the
        fewer units: one lookup per video, or the whole playlist."""
        for playlist_id, videos in wanted.items():
            pages = max(1, math.ceil(found.playlist_sizes.get(playlist_id, 0) / PAGE_SIZE))
            if len(videos) <= pages:
                for vid in sorted(videos):
                    if self._yt.playlist_items(playlist_id, video_id=vid).items:
                        found.present.add((playlist_id, vid))
                continue
            listed = partial(self._yt.playlist_items, playlist_id)
            for page in self._yt.iter_pages(listed):
                found.present.update(
                    (playlist_id, _video_id(entry)) for entry in page if _video_id(entry) in videos
                )


def _item(entry: dict[str, Any], source: str) -> _Item:
    snippet = entry.get("snippet", {})
    return _Item(
        _video_id(entry),
        source,
        item_id=entry.get("id"),
        title=snippet.get("title", ""),
        listed_as=entry.get("status", {}).get("privacyStatus"),
    )


def _video_id(entry: dict[str, Any]) -> str:
    content = entry.get("contentDetails", {})
    return str(content.get("videoId") or entry["snippet"]["resourceId"]["videoId"])


def _known_details(session: Session, video_ids: Sequence[str]) -> dict[str, VideoDetails]:
    known: dict[str, VideoDetails] = {}
    for start in range(0, len(video_ids), _CHUNK):
        rows = session.execute(
            select(
                Video.youtube_id,
                Video.title,
                Video.channel_id,
                Video.channel_title,
                Video.duration_seconds,
                Video.published_at,
            ).where(
                Video.youtube_id.in_(video_ids[start : start + _CHUNK]),
                Video.published_at.is_not(None),
            )
        )
        known.update((row[0], VideoDetails(*row[1:])) for row in rows)
    return known


# --------------------------------------------------------------------------- deciding


def _decide(session: Session, rules: RuleSet, found: _Read) -> list[_Decision]:
    """What the rules make of each new video, before it is known whether a category
    playlist holds it already (``_final``)."""
    items = _one_per_video(found.items)
    titles = playlist_titles(session, [i.video_id for i in items])
    library = Library([], [])
    for item in items:
        names = titles.get(item.video_id, [])
        if item.source == INBOX and found.inbox_title is not None:
            names = [*names, found.inbox_title]
        start = len(library.playlist_titles)
        library.playlist_titles.extend(names)
        library.videos.append(_library_video(item, found, list(range(start, start + len(names)))))
    categories = {
        c.name: c
        for c in session.scalars(select(Category).where(Category.name.in_(rules.categories)))
    }
    decisions: dict[str, _Decision] = {}
    for item, rule in zip(items, first_matches(rules.rules, library), strict=True):
        decisions[item.video_id] = _decision(item, rule, categories, found)
    # A video in the inbox twice: its other items go where its first goes (out of the
    # inbox, once it is verified in its category), or stay with it.
    extra = [
        _Decision(
            item,
            REMOVE if first.action == MOVE else first.action,
            first.rule,
            first.category_id,
            first.playlist,
        )
        for item in found.items
        if item.source == INBOX and (first := decisions[item.video_id]).item is not item
    ]
    return [*decisions.values(), *extra]


def _one_per_video(items: Iterable[_Item]) -> list[_Item]:
    """Each video once; the inbox first (a video in both is moved, not copied)."""
    first: dict[str, _Item] = {}
    for item in sorted(items, key=lambda i: i.source != INBOX):
        first.setdefault(item.video_id, item)
    return list(first.values())


def _library_video(item: _Item, found: _Read, playlists: list[int]) -> LibraryVideo:
    details = found.details.get(item.video_id)
    if details is None:
        return LibraryVideo(item.video_id, "", _hidden(item), None, None, None, None, playlists)
    return LibraryVideo(
        item.video_id,
        details.title,
        "available",
        details.channel_id,
        details.channel_title,
        details.duration_seconds,
        details.published_at,
        playlists,
    )


def _hidden(item: _Item) -> str:
    """A video videos.list did not show: someone else's private video, or a deleted one."""
    return "private" if item.listed_as == "private" else "deleted"


def _decision(
    item: _Item, rule: Rule | None, categories: dict[str, Category], found: _Read
) -> _Decision:
    if rule is None:
        return _Decision(item, UNMATCHED)
    category = categories.get(rule.category)
    if category is None:
        return _Decision(item, NO_PLAYLIST, rule)
    if category.is_protected:
        return _Decision(item, PROTECTED, rule, category.id)
    playlist = category.youtube_playlist_id
    if playlist is None or playlist not in found.playlist_sizes:
        return _Decision(item, NO_PLAYLIST, rule, category.id)
    return _Decision(item, MOVE if item.source == INBOX else COPY, rule, category.id, playlist)


def _wanted(decisions: Iterable[_Decision]) -> dict[str, set[str]]:
    wanted: dict[str, set[str]] = {}
    for d in decisions:
        if d.playlist is not None:
            wanted.setdefault(d.playlist, set()).add(d.item.video_id)
    return wanted


def _final(decision: _Decision, found: _Read) -> _Decision:
    """A video its category playlist holds already: the inbox only loses it, an upload
    needs nothing."""
    if (
        decision.playlist is None
        or (decision.playlist, decision.item.video_id) not in found.present
    ):
        return decision
    action = (
        REMOVE
        if decision.action == MOVE
        else PRESENT
        if decision.action == COPY
        else decision.action
    )
    return _Decision(decision.item, action, decision.rule, decision.category_id, decision.playlist)


def playlist_titles(session: Session, video_ids: Sequence[str]) -> dict[str, list[str]]:
    """The imported playlists still on YouTube that hold each of ``video_ids``."""
    titles: dict[str, list[str]] = {}
    for start in range(0, len(video_ids), _CHUNK):
        rows = session.execute(
            select(Video.youtube_id, Playlist.title)
            .join(PlaylistItem, PlaylistItem.video_id == Video.id)
            .join(Playlist, Playlist.id == PlaylistItem.playlist_id)
            .where(
                Video.youtube_id.in_(video_ids[start : start + _CHUNK]),
                Playlist.deleted_from_youtube_at.is_(None),
            )
            .distinct()
        )
        for vid, title in rows:
            titles.setdefault(vid, []).append(title)
    return titles


def _record(
    session: Session, run_id: int, found: _Read, decisions: list[_Decision], units: int
) -> dict[str, int]:
    """Store the new videos and what was decided for each; the run's counts."""
    pks = _store_videos(session, found)
    session.execute(delete(OrganizeItem).where(OrganizeItem.run_id == run_id))
    rows = [
        {
            "run_id": run_id,
            "video_id": pks[d.item.video_id],
            "source": d.item.source,
            "action": d.action,
            "category_id": d.category_id,
            "category": d.rule.category if d.rule else None,
            "rule": d.rule.number if d.rule else None,
            "source_item_id": d.item.item_id if d.item.source == INBOX else None,
        }
        for d in decisions
    ]
    for start in range(0, len(rows), _CHUNK):
        session.execute(insert(OrganizeItem), rows[start : start + _CHUNK])
    _remember_uploads(session, found, pks)
    counts = dict.fromkeys(ACTIONS, 0)
    for d in decisions:
        counts[d.action] += 1
    session.execute(
        update(OrganizeRun)
        .where(OrganizeRun.id == run_id)
        .values(
            outcome="planned",
            message=None,
            read_units=units,
            counts=counts,
            inbox_playlist_id=found.inbox_playlist_id,
            finished_at=datetime.now(UTC),
        )
    )
    return counts


def _store_videos(session: Session, found: _Read) -> dict[str, int]:
    """Every new video has a row, with the details read (a video met before keeps its
    row and gets the details it lacked)."""
    wanted = sorted({i.video_id for i in found.items})
    existing: dict[str, tuple[int, bool]] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = session.execute(
            select(Video.youtube_id, Video.id, Video.published_at).where(
                Video.youtube_id.in_(wanted[start : start + _CHUNK])
            )
        )
        existing.update((vid, (pk, published is not None)) for vid, pk, published in rows)
    first = {i.video_id: i for i in reversed(found.items)}
    new = [
        {"youtube_id": vid, **_columns(first[vid], found.details.get(vid))}
        for vid in wanted
        if vid not in existing
    ]
    completed = [
        {"id": existing[vid][0], **_columns(first[vid], found.details[vid])}
        for vid in wanted
        if vid in existing and not existing[vid][1] and vid in found.details
    ]
    for start in range(0, len(new), _CHUNK):
        session.execute(insert(Video), new[start : start + _CHUNK])
    for start in range(0, len(completed), _CHUNK):
        session.execute(update(Video), completed[start : start + _CHUNK])
    pks = {vid: pk for vid, (pk, _has) in existing.items()}
    for start in range(0, len(new), _CHUNK):
        chunk = [row["youtube_id"] for row in new[start : start + _CHUNK]]
        made = session.execute(
            select(Video.youtube_id, Video.id).where(Video.youtube_id.in_(chunk))
        )
        pks.update((vid, pk) for vid, pk in made)
    return pks


def _columns(item: _Item, details: VideoDetails | None) -> dict[str, Any]:
    """A video's columns; the same keys whatever is known (one bulk statement)."""
    if details is None:
        shown = item.title not in ("Deleted video", "Private video")
        return {
            "title": item.title if shown else "",
            "availability": _hidden(item),
            "channel_id": None,
            "channel_title": None,
            "duration_seconds": None,
            "published_at": None,
        }
    return {
        "title": details.title,
        "availability": "available",
        "channel_id": details.channel_id,
        "channel_title": details.channel_title,
        "duration_seconds": details.duration_seconds,
        "published_at": details.published_at,
    }


def _remember_uploads(session: Session, found: _Read, pks: dict[str, int]) -> None:
    """Uploads read now: the next run's read stops at them."""
    uploads = {pks[i.video_id] for i in found.items if i.source == UPLOADS}
    known: set[int] = set()
    listed = sorted(uploads)
    for start in range(0, len(listed), _CHUNK):
        known.update(
            session.scalars(
                select(OrganizeSeen.video_id).where(
                    OrganizeSeen.source == UPLOADS,
                    OrganizeSeen.video_id.in_(listed[start : start + _CHUNK]),
                )
            )
        )
    rows = [{"source": UPLOADS, "video_id": pk} for pk in listed if pk not in known]
    for start in range(0, len(rows), _CHUNK):
        session.execute(insert(OrganizeSeen), rows[start : start + _CHUNK])
