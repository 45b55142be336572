"""Restore after a reuse: a kept playlist back as it was in the backup snapshot.

A reusing job (ytsync.reuse) leaves a kept playlist as ``O[:p]``, then the rest of
its old items ``O[p:]`` less the ones it removed, then the videos it appended, where
``p`` is the old position of the first item it removed: it only appends and removes.
YouTube keeps order reliably only for appends (never send ``snippet.position``), so
the old order comes back in three steps of the restore job:

1. ``restore_update``: the old title, description and privacy (one ``playlists.update``);
2. ``restore_item``: ``O[p:]`` appended again, in order (as for a recreated playlist);
3. ``restore_remove``: once the lane's appends are done, the items now in the way are
   deleted by their YouTube ids: the old copies of ``O[p:]`` still there, and the items
   the job appended.  Nothing is deleted before its new copy is in; an old item whose
   video could not be appended again stays (nothing lost, one item out of order).

Only items ytsync knows by id are deleted: one the user added since is left alone.

``--order any`` gives the items back without the order: only the items the job removed
are appended again, and the items it appended are removed; the rest stays where it is.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ytsync.db.models import (
    Category,
    JobKeptPlaylist,
    Playlist,
    PlaylistItem,
    SyncOperation,
)

# op_key prefixes of the removals: an old item whose copy is appended again, and an
# item the reusing job appended (deleted whatever happens to the appends).
OLD_ITEM, ADDED_ITEM = "rold", "radded"


def kept_in_use(session: Session) -> dict[str, int]:
    """YouTube id -> id of each old playlist a reusing job kept that is still its
    category's playlist (a finished restore hands it back: see ``hand_back``)."""
    rows = session.execute(
        select(Playlist.youtube_id, Playlist.id)
        .join(JobKeptPlaylist, JobKeptPlaylist.playlist_id == Playlist.id)
        .join(Category, Category.id == JobKeptPlaylist.category_id)
        .where(
            Category.youtube_playlist_id == Playlist.youtube_id,
            Playlist.deleted_from_youtube_at.is_(None),
        )
        .distinct()
    )
    return {youtube_id: pk for youtube_id, pk in rows}


def plan_kept(
    session: Session,
    saved: dict[str, Any],
    playlist_pk: int,
    videos: dict[str, tuple[int, str]],
    order: str = "keep",
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The rename, the appends and the removals that give one kept playlist back its
    snapshot ``saved``; ``videos``: YouTube id -> (videos.id, availability); ``order``:
    "keep" (its old order) or "any" (only what it lacks)."""
    jobs = select(JobKeptPlaylist.job_id).where(JobKeptPlaylist.playlist_id == playlist_pk)
    categories = select(JobKeptPlaylist.category_id).where(
        JobKeptPlaylist.playlist_id == playlist_pk
    )
    removed = set(
        session.scalars(
            select(SyncOperation.youtube_id).where(
                SyncOperation.job_id.in_(jobs),
                SyncOperation.kind == "remove_item",
                SyncOperation.playlist_id == playlist_pk,
                SyncOperation.status.in_(("completed", "in_flight")),
            )
        )
    )
    # The items as imported, in the snapshot's order (ytsync.backup takes them so).
    old = session.execute(
        select(PlaylistItem.youtube_item_id, PlaylistItem.video_id)
        .where(PlaylistItem.playlist_id == playlist_pk)
        .order_by(PlaylistItem.position, PlaylistItem.id)
    ).all()
    saved_videos = [item["video_id"] for item in saved.get("items", [])]
    first = next((i for i, (item_id, _v) in enumerate(old) if item_id in removed), len(old))
    update = {"op_key": f"runame:{playlist_pk}", "playlist_id": playlist_pk}
    appends: list[dict[str, Any]] = []
    removals: list[dict[str, Any]] = []
    for position in range(first, len(saved_videos)):
        known = videos.get(saved_videos[position])
        item_id, video_pk = old[position] if position < len(old) else (None, None)
        if known is None or known[1] in ("private", "deleted"):
            continue  # cannot be appended again: its old item, if still there, stays
        if order == "any" and item_id not in removed:
            continue  # still there: any order will do
        appends.append(
            {
                "op_key": f"ritem:{playlist_pk}:{position}",
                "playlist_id": playlist_pk,
                "video_id": known[0],
                "position": position,
            }
        )
        if (
            order == "keep"
            and item_id is not None
            and item_id not in removed
            and video_pk == (known[0])
        ):
            removals.append(_removal(OLD_ITEM, playlist_pk, item_id, video_pk, position))
    added = session.execute(
        select(SyncOperation.youtube_id, SyncOperation.video_id).where(
            SyncOperation.job_id.in_(jobs),
            SyncOperation.kind == "add_video",
            SyncOperation.category_id.in_(categories),
            SyncOperation.status == "completed",
            SyncOperation.youtube_id.is_not(None),
        )
    )
    for offset, (item_id, video_pk) in enumerate(added):
        position = len(old) + offset
        removals.append(_removal(ADDED_ITEM, playlist_pk, str(item_id), video_pk, position))
    return update, appends, removals


def _removal(
    prefix: str, playlist_pk: int, item_id: str, video_pk: int | None, position: int
) -> dict[str, Any]:
    return {
        "op_key": f"{prefix}:{item_id}",
        "playlist_id": playlist_pk,
        "video_id": video_pk,
        "position": position,
        "youtube_id": item_id,
    }
