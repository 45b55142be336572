"""``starter.py import``: pull the channel's playlists, their items and video status.

Reads only (1 unit a page of 50), so the floor is one unit per 50 items.  Re-running
updates in place: rows are matched by their YouTube ids, never duplicated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from ytsync import ledger
from ytsync.config import Settings
from ytsync.db import bounds
from ytsync.db.engine import transaction
from ytsync.db.models import Category, Playlist, PlaylistItem, SyncJob, SyncOperation, Video
from ytsync.errors import JobRunning
from ytsync.safetext import storable
from ytsync.sync.kinds import RESTORE
from ytsync.wire import ACTIVE_STAGES
from ytsync.youtube.client import PAGE_SIZE, YouTube
from ytsync.youtube.videos import VideoDetails, video_details

# Watch Later, Liked, uploads and favourites are system lists: never ours to delete.
SPECIAL_PREFIXES = ("WL", "LL", "UU", "FL", "HL")
SYNC_MARKER = "ytsync:"
# The marker a restore job puts after an old playlist's description when it makes it
# again (ytsync.sync.writer): the playlist is the user's, and the number its row.
RESTORE_MARKER = re.compile(r"\n*ytsync:restore=\d+:playlist=(\d+)\s*$")

Progress = Callable[[str, int, int | None], None]


@dataclass
class ImportSummary:
    playlists: int = 0
    items: int = 0
    videos: int = 0
    unavailable: int = 0
    skipped_playlists: list[str] = field(default_factory=list)
    gone_playlists: int = 0
    units_spent: int = 0
    # Playlists and items whose ids (or privacy) the database cannot store, each with
    # why: left out of the library (see ytsync.db.bounds).
    refused: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "playlists": self.playlists,
            "items": self.items,
            "videos": self.videos,
            "unavailable_videos": self.unavailable,
            "skipped_playlists": self.skipped_playlists,
            "playlists_gone_from_youtube": self.gone_playlists,
            "units_spent": self.units_spent,
            "refused": self.refused,
        }


@dataclass
class _Fetched:
    playlist: dict[str, Any]
    items: list[dict[str, Any]]
    # A playlist a restore made again: the row of the old playlist it stands for.
    restored_row: int | None = None


def _is_special(playlist_id: str, related: set[str]) -> bool:
    return playlist_id in related or playlist_id.startswith(SPECIAL_PREFIXES)


def import_library(
    settings: Settings,
    sessions: sessionmaker[Session],
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Progress | None = None,
) -> ImportSummary:
    summary = ImportSummary()
    with sessions() as session:
        if session.scalar(select(SyncJob.id).where(SyncJob.stage.in_(ACTIVE_STAGES))):
            raise JobRunning(
                "a sync job is running; importing now would change what it works on. "
                "Wait for it to finish"
            )
        sync_made = set(
            session.scalars(
                select(Category.youtube_playlist_id).where(
                    Category.youtube_playlist_id.is_not(None)
                )
            )
        )
        # Playlists restores recreated -> the old playlists' rows they stand for: a
        # restore sets a recreated playlist's description back without its marker, so
        # one that stopped before recording the new id on the row is known by these.
        recreated = {
            str(youtube_id): row
            for youtube_id, row in session.execute(
                select(SyncOperation.youtube_id, SyncOperation.playlist_id).where(
                    SyncOperation.kind == RESTORE,
                    SyncOperation.status == "completed",
                    SyncOperation.youtube_id.is_not(None),
                    SyncOperation.playlist_id.is_not(None),
                )
            )
            if row is not None
        }
        # Old playlists a reusing job kept as a category's: still known, left as they
        # were imported (a restore gives them back their old items from these rows).
        kept = {pid for pid in session.scalars(select(Playlist.youtube_id)) if pid in sync_made}
    kept_listed: set[str] = set()

    def count_units(_method: str, units: int) -> None:
        summary.units_spent += units

    youtube = YouTube(settings, on_units=count_units)
    tick = progress or (lambda _stage, _done, _total: None)
    try:
        channel = youtube.my_channel()
        related = set(
            (channel or {}).get("contentDetails", {}).get("relatedPlaylists", {}).values()
        )
        owner = (channel or {}).get("id")
        fetched: list[_Fetched] = []
        for page in youtube.iter_pages(youtube.my_playlists):
            for playlist in page:
                pid = playlist["id"]
                description = playlist.get("snippet", {}).get("description", "")
                restored = RESTORE_MARKER.search(description)
                if pid in kept:
                    kept_listed.add(pid)
                if (
                    _is_special(pid, related)
                    or pid in sync_made
                    or (SYNC_MARKER in description and restored is None)
                ):
                    summary.skipped_playlists.append(pid)
                    continue
                if _refused_playlist(playlist, summary):
                    continue
                row = int(restored.group(1)) if restored else recreated.get(pid)
                fetched.append(_Fetched(playlist, [], row))
        expected = sum(f.playlist.get("contentDetails", {}).get("itemCount", 0) for f in fetched)
        done = 0
        for entry in fetched:
            playlist_id = str(entry.playlist["id"])
            for page in youtube.iter_pages(partial(youtube.playlist_items, playlist_id)):
                entry.items.extend(i for i in page if not _refused_item(playlist_id, i, summary))
                done += len(page)
                tick("items", done, expected)
        video_ids = sorted({_video_id(item) for f in fetched for item in f.items})
        # videos.list leaves out someone else's private video as it does a deleted one;
        # the playlist item still tells them apart.
        item_privacy = {
            _video_id(item): item.get("status", {}).get("privacyStatus")
            for f in fetched
            for item in f.items
        }
        statuses: dict[str, str] = {}
        details: dict[str, VideoDetails] = {}
        for start in range(0, len(video_ids), PAGE_SIZE):
            batch = video_ids[start : start + PAGE_SIZE]
            # The same unit with the details rules match on (channel, duration, date).
            found = {v["id"]: v for v in youtube.videos(batch, details=True)}
            for vid in batch:
                statuses[vid] = _availability(found.get(vid), owner, item_privacy.get(vid))
            details.update((vid, video_details(video)) for vid, video in found.items())
            tick("videos", min(start + PAGE_SIZE, len(video_ids)), len(video_ids))
    finally:
        if summary.units_spent:
            # The ledger of the channel's OAuth client, wherever it is kept.
            with transaction(ledger.sessions_for(settings, sessions)) as session:
                period = settings.quota_clock.period_start(now())
                ledger.charge(session, period, summary.units_spent)

    with transaction(sessions) as session:
        _store(session, fetched, statuses, details, now(), summary, kept_listed)
    return summary


def _refused_playlist(playlist: dict[str, Any], summary: ImportSummary) -> bool:
    """Is this playlist one the database cannot store?  Noted in the summary."""
    pid = str(playlist["id"])
    privacy = str((playlist.get("status") or {}).get("privacyStatus") or "")
    problem = bounds.id_problem("id", pid, bounds.PLAYLIST_ID) or bounds.value_problem(
        "privacy", privacy, bounds.PRIVACY
    )
    if problem:
        summary.refused.append(f"playlist {bounds.shown(pid)} left out: {problem}")
    return problem is not None


def _refused_item(playlist_id: str, item: dict[str, Any], summary: ImportSummary) -> bool:
    """Is this item one the database cannot store?  Noted in the summary."""
    problem = bounds.id_problem("video id", _video_id(item), bounds.VIDEO_ID) or (
        bounds.id_problem("item id", str(item["id"]), bounds.ITEM_ID)
    )
    if problem:
        summary.refused.append(
            f"an item of playlist {bounds.shown(playlist_id)} left out: {problem}"
        )
    return problem is not None


def _video_id(item: dict[str, Any]) -> str:
    content = item.get("contentDetails", {})
    return str(content.get("videoId") or item["snippet"]["resourceId"]["videoId"])


def _availability(video: dict[str, Any] | None, owner: str | None, listed_as: str | None) -> str:
    if video is None:
        return "private" if listed_as == "private" else "deleted"
    status = video.get("status", {}).get("privacyStatus", "public")
    # A private video can still be added to playlists of the channel that owns it.
    if status == "private" and video.get("snippet", {}).get("channelId") != owner:
        return "private"
    return "available"


def _store(
    session: Session,
    fetched: list[_Fetched],
    statuses: dict[str, str],
    details: dict[str, VideoDetails],
    now: datetime,
    summary: ImportSummary,
    kept: set[str],
) -> None:
    titles: dict[str, str] = {}
    for entry in fetched:
        for item in entry.items:
            title = storable(item.get("snippet", {}).get("title", ""))
            if title not in ("Deleted video", "Private video"):
                titles.setdefault(_video_id(item), title)
    titles.update((vid, found.title) for vid, found in details.items() if found.title)
    video_ids = _upsert_videos(session, statuses, titles, details)
    summary.videos = len(video_ids)
    summary.unavailable = sum(1 for s in statuses.values() if s != "available")

    existing = {p.youtube_id: p for p in session.scalars(select(Playlist))}
    for youtube_id in kept:
        # Still there (an import of an older ytsync may have marked it gone).
        existing[youtube_id].deleted_from_youtube_at = None
    seen: set[str] = set(kept)
    for entry in fetched:
        data = entry.playlist
        snippet = data.get("snippet", {})
        playlist = existing.get(data["id"]) or _restored(session, entry, existing)
        if playlist is None:
            playlist = Playlist(youtube_id=data["id"])
            session.add(playlist)
        playlist.title = storable(snippet.get("title", ""))
        description = storable(snippet.get("description", ""))
        if entry.restored_row is not None:
            # The user's text without the restore's marker; whole, when the marker
            # made the restore cut it.
            description = RESTORE_MARKER.sub("", description)
            if not (playlist.description or "").startswith(description):
                playlist.description = description
        else:
            playlist.description = description
        playlist.privacy = data.get("status", {}).get("privacyStatus", "")
        playlist.item_count = len(entry.items)
        playlist.imported_at = now
        playlist.deleted_from_youtube_at = None
        session.flush()
        _replace_items(session, playlist.id, entry.items, video_ids)
        seen.add(data["id"])
        summary.playlists += 1
        summary.items += len(entry.items)
    for youtube_id, playlist in existing.items():
        if youtube_id not in seen and playlist.deleted_from_youtube_at is None:
            playlist.deleted_from_youtube_at = now
            summary.gone_playlists += 1


def _restored(session: Session, entry: _Fetched, existing: dict[str, Playlist]) -> Playlist | None:
    """The old playlist's row a restore made this playlist for, when the restore did not
    get to record the new id (it stopped before its end): it takes the new id, so the
    playlist stays the one the backups and the plan know."""
    if entry.restored_row is None:
        return None
    playlist = session.get(Playlist, entry.restored_row)
    if playlist is None or playlist.deleted_from_youtube_at is None:
        return None  # not a gone old playlist: this one is new to the library
    del existing[playlist.youtube_id]
    # What the snapshots taken before call it (ytsync.sync.undo).
    playlist.replaced_youtube_id = playlist.youtube_id
    playlist.youtube_id = str(entry.playlist["id"])
    existing[playlist.youtube_id] = playlist
    return playlist


def _upsert_videos(
    session: Session,
    statuses: dict[str, str],
    titles: dict[str, str],
    details: dict[str, VideoDetails],
) -> dict[str, int]:
    known = {
        vid: (pk, title)
        for vid, pk, title in session.execute(select(Video.youtube_id, Video.id, Video.title))
    }
    new = [
        {
            "youtube_id": vid,
            "title": titles.get(vid, ""),
            "availability": status,
            **_detail_columns(details.get(vid)),
        }
        for vid, status in statuses.items()
        if vid not in known
    ]
    # A video YouTube no longer shows keeps the details it had: a bulk UPDATE takes one
    # set of columns, so the two kinds go apart.
    shown: list[dict[str, Any]] = []
    hidden: list[dict[str, Any]] = []
    for vid, status in statuses.items():
        if vid not in known:
            continue
        pk, title = known[vid]
        row = {"id": pk, "availability": status, "title": titles.get(vid, title)}
        if vid in details:
            shown.append(row | _detail_columns(details[vid]))
        else:
            hidden.append(row)
    _in_chunks(session, insert(Video), new)
    _in_chunks(session, update(Video), shown)
    _in_chunks(session, update(Video), hidden)
    return {vid: pk for vid, pk in session.execute(select(Video.youtube_id, Video.id))}


def _detail_columns(found: VideoDetails | None) -> dict[str, Any]:
    return {
        "channel_id": found.channel_id if found else None,
        "channel_title": found.channel_title if found else None,
        "duration_seconds": found.duration_seconds if found else None,
        "published_at": found.published_at if found else None,
    }


def _replace_items(
    session: Session, playlist_id: int, items: list[dict[str, Any]], video_ids: dict[str, int]
) -> None:
    session.execute(delete(PlaylistItem).where(PlaylistItem.playlist_id == playlist_id))
    rows = [
        {
            "playlist_id": playlist_id,
            "video_id": video_ids[_video_id(item)],
            "youtube_item_id": item["id"],
            "position": item.get("snippet", {}).get("position", index),
        }
        for index, item in enumerate(items)
    ]
    _in_chunks(session, insert(PlaylistItem), rows)


def _in_chunks(session: Session, statement: Any, rows: Iterable[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == 5_000:
            session.execute(statement, batch)
            batch = []
    if batch:
        session.execute(statement, batch)
