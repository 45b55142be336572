"""Backup snapshots: the old playlists with their items, and the plan, before any write."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ytsync.db.models import (
    BackupSnapshot,
    Category,
    CategoryVideo,
    Playlist,
    PlaylistItem,
    Video,
    utcnow,
)
from ytsync.errors import NoSnapshot

SNAPSHOT_VERSION = 1


def take_snapshot(session: Session) -> BackupSnapshot:
    playlists: dict[int, dict[str, Any]] = {}
    for playlist in session.scalars(
        select(Playlist).where(Playlist.deleted_from_youtube_at.is_(None)).order_by(Playlist.id)
    ):
        playlists[playlist.id] = _saved_playlist(playlist)
    items = session.execute(
        select(PlaylistItem.playlist_id, Video.youtube_id, Video.title)
        .join(Video, Video.id == PlaylistItem.video_id)
        .order_by(PlaylistItem.playlist_id, PlaylistItem.position, PlaylistItem.id)
    )
    count = 0
    for playlist_id, video_id, title in items:
        if playlist_id in playlists:
            playlists[playlist_id]["items"].append({"video_id": video_id, "title": title})
            count += 1
    categories: dict[int, dict[str, Any]] = {
        c.id: {"name": c.name, "protected": c.is_protected, "videos": []}
        for c in session.scalars(select(Category).order_by(Category.id))
    }
    for category_id, video_id in session.execute(
        select(CategoryVideo.category_id, Video.youtube_id)
        .join(Video, Video.id == CategoryVideo.video_id)
        .order_by(CategoryVideo.category_id, CategoryVideo.position)
    ):
        categories[category_id]["videos"].append(video_id)
    taken = utcnow()
    snapshot = BackupSnapshot(
        created_at=taken,
        playlist_count=len(playlists),
        item_count=count,
        data={
            "version": SNAPSHOT_VERSION,
            "taken_at": taken.isoformat(),
            "playlists": list(playlists.values()),
            "categories": list(categories.values()),
        },
    )
    session.add(snapshot)
    session.flush()
    return snapshot


def _saved_playlist(playlist: Playlist) -> dict[str, Any]:
    return {
        "youtube_id": playlist.youtube_id,
        "title": playlist.title,
        "description": playlist.description,
        # What a restore after a reuse sets a kept playlist back to.
        "privacy": playlist.privacy,
        "items": [],
    }


def bring_up_to_date(
    session: Session,
    snapshot_id: int,
    playlists: dict[str, list[tuple[str, str]]],
    read_at: datetime,
) -> None:
    """Set the items of these old playlists (YouTube id -> (video id, title) in order) to
    what YouTube showed at ``read_at``, the moment before the job deletes them: the
    backup then holds what was deleted, videos saved since the import included and
    those the owner removed left out.  Each playlist read gets ``read_at``; nothing else
    of the snapshot changes, so older readers and restores take it as before."""
    snapshot = session.get_one(BackupSnapshot, snapshot_id)
    # A new dict: the JSON column sees a change only when it is assigned.
    data = dict(snapshot.data)
    saved = [dict(entry) for entry in data.get("playlists", [])]
    by_id = {entry["youtube_id"]: entry for entry in saved}
    stamp = read_at.isoformat()
    for youtube_id, items in playlists.items():
        entry = by_id.get(youtube_id)
        if entry is None:
            # Not in the snapshot (it was not an old playlist when the job began): it
            # joins it, so whatever the job deletes is in the backup.
            playlist = session.scalars(
                select(Playlist).where(Playlist.youtube_id == youtube_id)
            ).one()
            entry = _saved_playlist(playlist)
            saved.append(entry)
        entry["items"] = [{"video_id": video, "title": title} for video, title in items]
        entry["read_at"] = stamp
    data["playlists"] = saved
    snapshot.data = data
    snapshot.playlist_count = len(saved)
    snapshot.item_count = sum(len(entry.get("items", [])) for entry in saved)


def list_snapshots(session: Session) -> list[dict[str, Any]]:
    """Every snapshot, oldest first, as ``backup list --json`` prints it."""
    return [
        {
            "snapshot_id": s.id,
            "created_at": s.created_at.isoformat(),
            "playlists": s.playlist_count,
            "items": s.item_count,
        }
        for s in session.scalars(select(BackupSnapshot).order_by(BackupSnapshot.id))
    ]


def find_snapshot(session: Session, snapshot_id: int | None) -> BackupSnapshot:
    """The snapshot ``snapshot_id``, or the newest when None; NoSnapshot when missing."""
    query = select(BackupSnapshot).order_by(BackupSnapshot.id.desc()).limit(1)
    if snapshot_id is not None:
        query = select(BackupSnapshot).where(BackupSnapshot.id == snapshot_id)
    snapshot = session.scalars(query).first()
    if snapshot is None:
        if snapshot_id is None:
            raise NoSnapshot("there is no snapshot yet (a sync takes one before its first write)")
        raise NoSnapshot(f"there is no snapshot {snapshot_id}")
    return snapshot


def snapshot_document(session: Session, snapshot_id: int | None) -> dict[str, Any]:
    """The snapshot as ``backup export`` writes it: its id, then its data."""
    snapshot = find_snapshot(session, snapshot_id)
    return {"snapshot_id": snapshot.id, **snapshot.data}
