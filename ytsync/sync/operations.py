"""Operation rows: one per YouTube write a job must make, written before any write.

Each stage first writes its rows (idempotently: only the missing ones), then works
through them; a row's status is the source of truth for what is left.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, insert, select
from sqlalchemy.orm import Session

from ytsync.db.models import (
    Category,
    CategoryVideo,
    JobKeptPlaylist,
    Playlist,
    SyncError,
    SyncJob,
    SyncOperation,
    Video,
    utcnow,
)
from ytsync.importer import SPECIAL_PREFIXES
from ytsync.organize.sources import is_source

# The kinds' vocabulary lives in ytsync.sync.kinds; the protocol's users find it here too.
from ytsync.sync.kinds import ADD as ADD
from ytsync.sync.kinds import BY_CATEGORY as BY_CATEGORY
from ytsync.sync.kinds import CREATE as CREATE
from ytsync.sync.kinds import DEDUPE as DEDUPE
from ytsync.sync.kinds import DELETE as DELETE
from ytsync.sync.kinds import DROP as DROP
from ytsync.sync.kinds import INBOX_REMOVE as INBOX_REMOVE
from ytsync.sync.kinds import KINDS as KINDS
from ytsync.sync.kinds import ORGANIZE_KINDS as ORGANIZE_KINDS
from ytsync.sync.kinds import REMOVE as REMOVE
from ytsync.sync.kinds import REPAIRS as REPAIRS
from ytsync.sync.kinds import RESTORE as RESTORE
from ytsync.sync.kinds import RESTORE_DEDUPE as RESTORE_DEDUPE
from ytsync.sync.kinds import RESTORE_DROP as RESTORE_DROP
from ytsync.sync.kinds import RESTORE_ITEM as RESTORE_ITEM
from ytsync.sync.kinds import RESTORE_KINDS as RESTORE_KINDS
from ytsync.sync.kinds import RESTORE_REMOVE as RESTORE_REMOVE
from ytsync.sync.kinds import RESTORE_UPDATE as RESTORE_UPDATE
from ytsync.sync.kinds import STAGE_OF_KIND as STAGE_OF_KIND
from ytsync.sync.kinds import SYNC_KINDS as SYNC_KINDS
from ytsync.sync.kinds import UNDO_DELETE as UNDO_DELETE
from ytsync.sync.kinds import UPDATE as UPDATE
from ytsync.sync.undo import RestoreOptions, restore_rows

OPEN = ("pending", "in_flight")
# With settle-then-judge, batches send only pending rows: an in_flight row waits for its
# lane's settled check (ytsync.sync.audit).
UNSENT = ("pending",)
UNAVAILABLE = ("private", "deleted")


def _existing_keys(session: Session, job_id: int, kind: str) -> set[str]:
    return set(
        session.scalars(
            select(SyncOperation.op_key).where(
                SyncOperation.job_id == job_id, SyncOperation.kind == kind
            )
        )
    )


def insert_missing(session: Session, job_id: int, kind: str, rows: list[dict[str, Any]]) -> int:
    have = _existing_keys(session, job_id, kind)
    fresh = [
        {"job_id": job_id, "kind": kind, "status": "pending", "updated_at": utcnow(), **row}
        for row in rows
        if row["op_key"] not in have
    ]
    for start in range(0, len(fresh), 5_000):
        session.execute(insert(SyncOperation), fresh[start : start + 5_000])
    return len(fresh)


def plan_creations(session: Session, job_id: int) -> int:
    """Rows for every category playlist to make: a new one, or under the reuse strategy
    an update of the old playlist the category keeps (ytsync.strategies.record_kept)."""
    kept = kept_playlists(session, job_id)
    categories = session.execute(
        select(Category.id).where(
            Category.is_protected.is_(False), Category.youtube_playlist_id.is_(None)
        )
    ).scalars()
    creates, updates = [], []
    for cid in categories:
        if cid in kept:
            update = {"op_key": f"update:{cid}", "category_id": cid, "playlist_id": kept[cid]}
            updates.append(update)
        else:
            creates.append({"op_key": f"create:{cid}", "category_id": cid})
    return insert_missing(session, job_id, CREATE, creates) + insert_missing(
        session, job_id, UPDATE, updates
    )


def kept_playlists(session: Session, job_id: int) -> dict[int, int]:
    """Category id -> id of the old playlist it keeps; empty unless the job reuses."""
    return {
        category_id: playlist_id
        for category_id, playlist_id in session.execute(
            select(JobKeptPlaylist.category_id, JobKeptPlaylist.playlist_id).where(
                JobKeptPlaylist.job_id == job_id
            )
        )
    }


def plan_additions(session: Session, job_id: int, present: dict[int, set[str]]) -> int:
    """Rows for every (category, video) to add.  ``present`` holds, per category, the
    videos its playlist already has; those are recorded as done, not written again."""
    query = (
        select(
            CategoryVideo.category_id,
            CategoryVideo.video_id,
            CategoryVideo.position,
            Video.youtube_id,
            Video.availability,
        )
        .join(Category, Category.id == CategoryVideo.category_id)
        .join(Video, Video.id == CategoryVideo.video_id)
        .where(Category.is_protected.is_(False))
        .order_by(CategoryVideo.category_id, CategoryVideo.position)
    )
    have = _existing_keys(session, job_id, ADD)
    rows = []
    for category_id, video_pk, position, youtube_id, availability in session.execute(query):
        key = f"add:{category_id}:{video_pk}"
        if key in have:
            continue
        row: dict[str, Any] = {
            "op_key": key,
            "category_id": category_id,
            "video_id": video_pk,
            "position": position,
        }
        if availability in UNAVAILABLE:
            _fail_unavailable(
                session, job_id, row, "add_videos", youtube_id, availability, "not added"
            )
        elif youtube_id in present.get(category_id, set()):
            row.update(status="completed", error="already in the playlist")
        rows.append(row)
    return insert_missing(session, job_id, ADD, rows)


def _fail_unavailable(
    session: Session,
    job_id: int,
    row: dict[str, Any],
    stage: str,
    youtube_id: str,
    availability: str,
    outcome: str,
) -> None:
    """Known unavailable since the import: fail the row now, spending no write on it."""
    row.update(status="failed", error=f"video is {availability}")
    record_error(session, job_id, stage, "video", youtube_id, f"video is {availability}; {outcome}")


def plan_deletions(session: Session, job_id: int) -> int:
    """Rows for every old playlist the sync deletes, unverified: only histories from
    before verify-before-delete take this path (see ytsync.sync.verify)."""
    rows = [
        {"op_key": f"delete:{pid}", "playlist_id": pid} for pid, _yt in deletion_candidates(session)
    ]
    return insert_missing(session, job_id, DELETE, rows)


def deletion_candidates(session: Session) -> list[tuple[int, str]]:
    """The old playlists the sync deletes, as (id, YouTube id): still on YouTube, not
    special, not a category's playlist, not an organize source."""
    keep = set(
        session.scalars(
            select(Category.youtube_playlist_id).where(Category.youtube_playlist_id.is_not(None))
        )
    )
    # An organize schedule's inbox is a source, not an old playlist (ytsync.organize.sources).
    playlists = session.execute(
        select(Playlist.id, Playlist.youtube_id).where(
            Playlist.deleted_from_youtube_at.is_(None), ~is_source()
        )
    )
    return [
        (pid, youtube_id)
        for pid, youtube_id in playlists
        if youtube_id not in keep and not youtube_id.startswith(SPECIAL_PREFIXES)
    ]


def plan_restore(
    session: Session, job_id: int, snapshot: dict[str, Any], options: RestoreOptions | None
) -> int:
    """Rows to bring back the snapshot's playlists that are gone from YouTube, and to
    give each old playlist a reusing job kept back its old self (ytsync.sync.undo).
    ``options`` None: a job from before restores were checked like syncs, whose
    removals are planned here, with its items (else once its items are verified)."""
    if ops_exist(session, job_id, RESTORE) or ops_exist(session, job_id, RESTORE_UPDATE):
        return 0  # planned by an earlier attempt, in one transaction
    rows = restore_rows(session, snapshot, options or RestoreOptions())
    for row, video, availability in rows.unavailable:
        _fail_unavailable(
            session, job_id, row, "restore_items", video, availability, "not restored"
        )
    # A recreated playlist's description goes back without the marker once it is made
    # (ytsync.sync.writer), a row per playlist planned then.
    planned = (
        insert_missing(session, job_id, RESTORE, rows.playlists)
        + insert_missing(session, job_id, RESTORE_UPDATE, rows.updates)
        + insert_missing(session, job_id, RESTORE_ITEM, rows.items)
    )
    if options is None:
        planned += insert_missing(session, job_id, RESTORE_REMOVE, rows.removals)
    return planned


def open_lanes(
    session: Session, job_id: int, kind: str = ADD, statuses: tuple[str, ...] = OPEN
) -> list[int]:
    """Target playlists with writes still to make (a category's, or a restored one's),
    fewest first so small lanes finish early."""
    lane = SyncOperation.category_id if kind in BY_CATEGORY else SyncOperation.playlist_id
    query = (
        select(lane, func.count())
        .where(
            SyncOperation.job_id == job_id,
            SyncOperation.kind == kind,
            SyncOperation.status.in_(statuses),
        )
        .group_by(lane)
        .order_by(func.count(), lane)
    )
    return [int(target or 0) for target, _count in session.execute(query)]


def _open_in(
    kind: str,
    job_id: int,
    lane: int | None,
    statuses: tuple[str, ...] = OPEN,
    before: int | None = None,
) -> list[Any]:
    """Open rows of one kind, or of one lane: a category's, or a restored playlist's;
    ``before``: only those placed before that position."""
    where = [
        SyncOperation.job_id == job_id,
        SyncOperation.kind == kind,
        SyncOperation.status.in_(statuses),
    ]
    if lane is not None:
        column = SyncOperation.category_id if kind in BY_CATEGORY else SyncOperation.playlist_id
        where.append(column == lane)
    if before is not None:
        where.append(SyncOperation.position < before)
    return where


def count_open(
    session: Session,
    job_id: int,
    kind: str,
    lane: int | None = None,
    statuses: tuple[str, ...] = OPEN,
    before: int | None = None,
) -> int:
    where = _open_in(kind, job_id, lane, statuses, before)
    return int(session.scalar(select(func.count()).where(*where)) or 0)


def next_open(
    session: Session,
    job_id: int,
    kind: str,
    limit: int,
    lane: int | None = None,
    statuses: tuple[str, ...] = OPEN,
    before: int | None = None,
) -> list[int]:
    """Ids of the next open rows, in the order they are to be written."""
    query = select(SyncOperation.id).where(*_open_in(kind, job_id, lane, statuses, before))
    return list(
        session.scalars(query.order_by(SyncOperation.position, SyncOperation.id).limit(limit))
    )


def first_unknown(session: Session, job_id: int, kind: str, lane: int | None) -> int | None:
    """Where the lane's first write whose outcome is unknown sits: in a lane whose order
    counts, the writes after it wait for its settled check (sent again, it would land
    after them)."""
    where = _open_in(kind, job_id, lane, ("in_flight",))
    position = session.scalar(select(func.min(SyncOperation.position)).where(*where))
    return None if position is None else int(position)


def lanes_ready(session: Session, job_id: int, kind: str) -> list[int]:
    """Lanes of an ordered kind with a write never sent before their first write whose
    outcome is unknown, fewest first."""
    lane = SyncOperation.category_id if kind in BY_CATEGORY else SyncOperation.playlist_id
    rows = session.execute(
        select(lane, SyncOperation.status, func.min(SyncOperation.position), func.count())
        .where(*_open_in(kind, job_id, None))
        .group_by(lane, SyncOperation.status)
    ).all()
    pending: dict[int, tuple[int, int]] = {}
    unknown: dict[int, int] = {}
    for target, status, first, count in rows:
        if status == "pending":
            pending[int(target or 0)] = (int(first), int(count))
        else:
            unknown[int(target or 0)] = int(first)
    ready = [
        (count, target)
        for target, (first, count) in pending.items()
        if target not in unknown or first < unknown[target]
    ]
    return [target for _count, target in sorted(ready)]


def stranded(session: Session, job_id: int, kind: str, lane: int | None) -> list[SyncOperation]:
    """The lane's rows of ``kind`` left in_flight: sent, their outcome never recorded."""
    return list(
        session.scalars(select(SyncOperation).where(*_open_in(kind, job_id, lane, ("in_flight",))))
    )


def record_error(
    session: Session, job_id: int, stage: str, entity_type: str, entity_id: str, message: str
) -> None:
    session.add(
        SyncError(
            job_id=job_id,
            stage=stage,
            entity_type=entity_type,
            entity_id=entity_id,
            message=message,
        )
    )


def stage_results(
    session: Session, job_id: int, kinds: tuple[str, ...] = SYNC_KINDS
) -> dict[str, dict[str, int]]:
    """Per stage: succeeded, failed, skipped (and what is still open); the deletions
    also count the old playlists held back."""
    results: dict[str, dict[str, int]] = {
        STAGE_OF_KIND[kind]: {"succeeded": 0, "failed": 0, "skipped": 0, "open": 0}
        for kind in kinds
    }
    for kind in (DELETE, RESTORE_REMOVE, INBOX_REMOVE):
        if kind in kinds:
            # Old playlists, and under reuse items of kept playlists, held back; a
            # restore's removals and deletions held back; an organize run's inbox items.
            results[STAGE_OF_KIND[kind]]["held_back"] = 0
    query = (
        select(SyncOperation.kind, SyncOperation.status, func.count())
        .where(SyncOperation.job_id == job_id, SyncOperation.kind.not_in(REPAIRS))
        .group_by(SyncOperation.kind, SyncOperation.status)
    )
    bucket = {
        "completed": "succeeded",
        "failed": "failed",
        "skipped": "skipped",
        "pending": "open",
        "in_flight": "open",
        "held_back": "held_back",
    }
    for kind, status, count in session.execute(query):
        results[STAGE_OF_KIND[kind]][bucket[status]] += int(count)
    return results


def refresh_progress(session: Session, job_id: int) -> SyncJob:
    job = session.get_one(SyncJob, job_id)
    if job.kind == "restore":
        results = stage_results(session, job_id, RESTORE_KINDS)
    elif job.kind == "organize":
        results = stage_results(session, job_id, ORGANIZE_KINDS)
    else:
        backed_up = job.backup_id is not None
        backup = {
            "succeeded": int(backed_up),
            "failed": 0,
            "skipped": 0,
            "open": int(not backed_up),
        }
        results = {"backup": backup, **stage_results(session, job_id)}
    job.stage_results = results
    # Stages not planned yet count what the preview expected, so the total does not
    # jump at every stage and a percentage means something from the start.
    expected = {
        "create_playlists": job.preview.get("playlists_to_create", {}).get("count", 0),
        "add_videos": job.preview.get("videos_to_add", {}).get("count", 0),
        "delete_playlists": job.preview.get("playlists_to_delete", {}).get("count", 0),
        # An organize run's (ytsync.organize.write): its removals, known before verified.
        "remove_from_inbox": job.preview.get("inbox_items_to_remove", {}).get("count", 0),
    }
    reuse = job.preview.get("strategies", {}).get("reuse")
    if job.kind == "restore":
        # The restore preview's figures (ytsync.restore_preview).
        shown = job.preview
        expected = {
            "restore_playlists": 2 * shown.get("playlists_to_recreate", {}).get("count", 0)
            + shown.get("playlists_to_rename", {}).get("count", 0),
            "restore_items": shown.get("items_to_add", {}).get("count", 0)
            + shown.get("items_to_remove", {}).get("count", 0)
            + shown.get("playlists_to_delete", {}).get("count", 0),
        }
    elif job.strategy == "reuse" and reuse:
        # The preview's figures for the strategy the job runs.
        expected = {
            "create_playlists": reuse["creates"] + reuse["updates"],
            "add_videos": reuse["adds"],
            "delete_playlists": reuse["playlist_deletes"] + reuse["item_deletes"],
        }
    order = list(results)
    current = job.paused_at_stage if job.stage == "paused" else job.stage
    reached = order.index(current) if current in order else len(order)
    job.progress_total = sum(
        int(expected.get(stage, 0))
        if index > reached or (index == reached and not sum(r.values()))
        else sum(r.values())
        for index, (stage, r) in enumerate(results.items())
    )
    job.progress_done = sum(sum(r.values()) - r["open"] for r in results.values())
    return job


def ops_exist(session: Session, job_id: int, kind: str) -> bool:
    return (
        session.scalar(
            select(SyncOperation.id)
            .where(and_(SyncOperation.job_id == job_id, SyncOperation.kind == kind))
            .limit(1)
        )
        is not None
    )
