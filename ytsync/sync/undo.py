"""What a restore writes: from a backup snapshot, and from what the sync jobs did since.

The same rows serve the preview (counted, never written) and the job (written once, in
one commit, by its first step):

* each playlist of the snapshot that is gone from YouTube is recreated, then its items
  are appended in their old order, and its description is set back without the marker
  that finds a creation whose answer was lost;
* each old playlist a reusing job kept gets back its old title, description, privacy
  and items (ytsync.sync.unkeep), in their old order (``order`` "keep") or with only
  what it lacks appended (``order`` "any");
* a full undo (``undo``) also deletes the category playlists the sync made, each only
  once every video in it is verified back where it was (ytsync.sync.undo_verify).

A restore's removals and deletions are planned only once its appends are done and
checked: nothing leaves a playlist before its new place is verified.  A removal a
restore held back (its video's old playlist could not be recreated) is planned again by
the next restore, which verifies it again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ytsync.db.models import BackupSnapshot, Category, Playlist, SyncJob, SyncOperation, Video
from ytsync.sync.kinds import CREATE, RESTORE, RESTORE_REMOVE, UNDO_DELETE
from ytsync.sync.unkeep import kept_in_use, plan_kept

ORDERS = ("keep", "any")
UNAVAILABLE = ("private", "deleted")


@dataclass(frozen=True)
class RestoreOptions:
    """What the user asked of a restore (``restore --order``, ``--undo-sync``)."""

    order: str = "keep"
    undo: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"order": self.order, "undo_sync": self.undo}

    @classmethod
    def of_job(cls, preview: dict[str, Any]) -> RestoreOptions | None:
        """The options a restore job was started with; None for a job started by a
        release from before them (its removals are planned with its items)."""
        options = preview.get("options")
        if not isinstance(options, dict):
            return None
        return cls(str(options.get("order", "keep")), bool(options.get("undo_sync", False)))


@dataclass
class RestoreRows:
    """A restore's rows, by kind, as ``operations.insert_missing`` takes them."""

    playlists: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    removals: list[dict[str, Any]] = field(default_factory=list)
    # Item rows of videos known unavailable since the import: (row, video, availability).
    unavailable: list[tuple[dict[str, Any], str, str]] = field(default_factory=list)
    # Old playlists' titles, by id, as the snapshot has them.
    titles: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MadePlaylist:
    """A category playlist the sync made: what a full undo deletes."""

    youtube_id: str
    title: str
    category_id: int | None


def restore_rows(
    session: Session, snapshot: dict[str, Any], options: RestoreOptions
) -> RestoreRows:
    """The rows that bring back the snapshot's playlists gone from YouTube, one per
    playlist then one per item in its old order, and give each old playlist a reusing
    job kept back its old self."""
    kept = kept_in_use(session)
    by_youtube_id = {p.youtube_id: p for p in session.scalars(select(Playlist))}
    videos = {
        vid: (pk, availability)
        for vid, pk, availability in session.execute(
            select(Video.youtube_id, Video.id, Video.availability)
        )
    }
    rows = RestoreRows()
    for saved in snapshot.get("playlists", []):
        playlist = by_youtube_id.get(saved["youtube_id"])
        if playlist is not None and playlist.id in kept.values():
            update, appends, removes = plan_kept(session, saved, playlist.id, videos, options.order)
            rows.titles[playlist.id] = str(saved.get("title", playlist.title))
            rows.updates.append(update)
            rows.items += appends
            rows.removals += removes
            continue
        if playlist is None or playlist.deleted_from_youtube_at is None:
            continue  # still on YouTube: restoring it would make a second copy
        rows.titles[playlist.id] = str(saved.get("title", playlist.title))
        rows.playlists.append({"op_key": f"restore:{playlist.id}", "playlist_id": playlist.id})
        for position, item in enumerate(saved.get("items", [])):
            if item["video_id"] not in videos:
                continue
            video_pk, availability = videos[item["video_id"]]
            row: dict[str, Any] = {
                "op_key": f"ritem:{playlist.id}:{position}",
                "playlist_id": playlist.id,
                "video_id": video_pk,
                "position": position,
            }
            if availability in UNAVAILABLE:
                rows.unavailable.append((row, item["video_id"], availability))
            rows.items.append(row)
    rows.removals += carried_removals(session, {row["op_key"] for row in rows.removals})
    return rows


def carried_removals(session: Session, planned: set[str]) -> list[dict[str, Any]]:
    """Removals an earlier restore held back and no restore made since: planned again,
    to be verified again."""
    rows = session.execute(
        select(SyncOperation)
        .join(SyncJob, SyncJob.id == SyncOperation.job_id)
        .where(SyncJob.kind == "restore", SyncOperation.kind == RESTORE_REMOVE)
        .order_by(SyncOperation.id)
    ).scalars()
    latest: dict[str, SyncOperation] = {}
    for op in rows:
        latest[op.op_key] = op
    return [
        {
            "op_key": op.op_key,
            "playlist_id": op.playlist_id,
            "video_id": op.video_id,
            "position": op.position,
            "youtube_id": op.youtube_id,
        }
        for key, op in latest.items()
        if op.status == "held_back" and key not in planned
    ]


def sync_jobs_since(session: Session, snapshot_id: int) -> list[int]:
    """The sync jobs that wrote since the snapshot was taken: its own job and later ones
    (a job started again after one held playlists back)."""
    first = session.scalar(select(SyncJob.id).where(SyncJob.backup_id == snapshot_id))
    if first is None:
        return []
    return list(
        session.scalars(select(SyncJob.id).where(SyncJob.kind == "sync", SyncJob.id >= first))
    )


def made_playlists(session: Session, snapshot_id: int) -> list[MadePlaylist]:
    """The category playlists the sync made since the snapshot that are still its
    categories' (or whose category a later plan removed), and that no undo deleted."""
    jobs = sync_jobs_since(session, snapshot_id)
    if not jobs:
        return []
    made = session.execute(
        select(SyncOperation.youtube_id, SyncOperation.category_id, Category.name)
        .outerjoin(Category, Category.id == SyncOperation.category_id)
        .where(
            SyncOperation.job_id.in_(jobs),
            SyncOperation.kind == CREATE,
            SyncOperation.status == "completed",
            SyncOperation.youtube_id.is_not(None),
        )
        .order_by(SyncOperation.id)
    ).all()
    deleted = set(
        session.scalars(
            select(SyncOperation.youtube_id).where(
                SyncOperation.kind == UNDO_DELETE, SyncOperation.status == "completed"
            )
        )
    )
    found: dict[str, MadePlaylist] = {}
    for youtube_id, category_id, name in made:
        if youtube_id in deleted or youtube_id in found:
            continue
        found[str(youtube_id)] = MadePlaylist(
            str(youtube_id), name or f"category {category_id}", category_id
        )
    return list(found.values())


def playlist_ids(session: Session, snapshot: dict[str, Any]) -> dict[str, int]:
    """The snapshot's playlist ids -> playlists.id: the id it names, or the one a
    restore recreated it under."""
    wanted = {str(saved["youtube_id"]) for saved in snapshot.get("playlists", [])}
    found: dict[str, int] = {}
    for pk, youtube_id, replaced in session.execute(
        select(Playlist.id, Playlist.youtube_id, Playlist.replaced_youtube_id)
    ):
        if youtube_id in wanted:
            found[youtube_id] = pk
        if replaced in wanted:
            found.setdefault(str(replaced), pk)
    return found


def homes(session: Session, snapshot: dict[str, Any]) -> dict[str, list[int]]:
    """Video -> the old playlists (playlists.id) the snapshot has it in."""
    ids = playlist_ids(session, snapshot)
    result: dict[str, list[int]] = defaultdict(list)
    for saved in snapshot.get("playlists", []):
        pk = ids.get(str(saved["youtube_id"]))
        if pk is None:
            continue
        for item in saved.get("items", []):
            if pk not in result[item["video_id"]]:
                result[item["video_id"]].append(pk)
    return dict(result)


def restore_targets(session: Session, job_id: int, playlist_pks: Iterable[int]) -> dict[int, str]:
    """Old playlist -> where it is on YouTube now: the playlist this job recreated for
    it, or its own (kept, or never deleted, or recreated by an earlier restore).  An
    old playlist gone and not recreated has none."""
    wanted = set(playlist_pks)
    if not wanted:
        return {}
    made = {
        pk: str(youtube_id)
        for pk, youtube_id in session.execute(
            select(SyncOperation.playlist_id, SyncOperation.youtube_id).where(
                SyncOperation.job_id == job_id,
                SyncOperation.kind == RESTORE,
                SyncOperation.status == "completed",
                SyncOperation.playlist_id.in_(wanted),
                SyncOperation.youtube_id.is_not(None),
            )
        )
        if pk is not None
    }
    there = {
        pk: youtube_id
        for pk, youtube_id in session.execute(
            select(Playlist.id, Playlist.youtube_id).where(
                Playlist.id.in_(wanted), Playlist.deleted_from_youtube_at.is_(None)
            )
        )
    }
    return {pk: made.get(pk) or there[pk] for pk in wanted if pk in made or pk in there}


def text_row(playlist_pk: int, youtube_id: str) -> dict[str, Any]:
    """The restore_update row that gives a recreated playlist back its old description,
    without the marker a lost creation is found by: planned once the playlist is made
    (its answer, or a settled check that found it), so no check needs the marker after."""
    return {"op_key": f"rtext:{playlist_pk}", "playlist_id": playlist_pk, "youtube_id": youtube_id}


def snapshot_of(session: Session, job_id: int) -> BackupSnapshot:
    job = session.get_one(SyncJob, job_id)
    return session.get_one(BackupSnapshot, job.snapshot_id)
