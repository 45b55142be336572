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
    Playlist,
    SyncError,
    SyncJob,
    SyncOperation,
    Video,
    utcnow,
)
from ytsync.importer import SPECIAL_PREFIXES

CREATE, ADD, DELETE = "create_playlist", "add_video", "delete_playlist"
STAGE_OF_KIND = {CREATE: "create_playlists", ADD: "add_videos", DELETE: "delete_playlists"}
OPEN = ("pending", "in_flight")
UNAVAILABLE = ("private", "deleted")


def _existing_keys(session: Session, job_id: int, kind: str) -> set[str]:
    return set(
        session.scalars(
            select(SyncOperation.op_key).where(
                SyncOperation.job_id == job_id, SyncOperation.kind == kind
            )
        )
    )


def _insert_missing(session: Session, job_id: int, kind: str, rows: list[dict[str, Any]]) -> int:
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
    categories = session.execute(
        select(Category.id).where(
            Category.is_protected.is_(False), Category.youtube_playlist_id.is_(None)
        )
    ).scalars()
    rows = [{"op_key": f"create:{cid}", "category_id": cid} for cid in categories]
    return _insert_missing(session, job_id, CREATE, rows)


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
            # Known unavailable at import: fail it now, spending no write on it.
            row.update(status="failed", error=f"video is {availability}")
            record_error(
                session,
                job_id,
                "add_videos",
                "video",
                youtube_id,
                f"video is {availability}; not added",
            )
        elif youtube_id in present.get(category_id, set()):
            row.update(status="completed", error="already in the playlist")
        rows.append(row)
    return _insert_missing(session, job_id, ADD, rows)


def plan_deletions(session: Session, job_id: int) -> int:
    keep = set(
        session.scalars(
            select(Category.youtube_playlist_id).where(Category.youtube_playlist_id.is_not(None))
        )
    )
    playlists = session.execute(
        select(Playlist.id, Playlist.youtube_id).where(Playlist.deleted_from_youtube_at.is_(None))
    )
    rows = [
        {"op_key": f"delete:{pid}", "playlist_id": pid}
        for pid, youtube_id in playlists
        if youtube_id not in keep and not youtube_id.startswith(SPECIAL_PREFIXES)
    ]
    return _insert_missing(session, job_id, DELETE, rows)


def open_lanes(session: Session, job_id: int) -> list[int]:
    """Categories with additions still to make, fewest first so small lanes finish early."""
    query = (
        select(SyncOperation.category_id, func.count())
        .where(
            SyncOperation.job_id == job_id,
            SyncOperation.kind == ADD,
            SyncOperation.status.in_(OPEN),
        )
        .group_by(SyncOperation.category_id)
        .order_by(func.count(), SyncOperation.category_id)
    )
    return [int(cid or 0) for cid, _count in session.execute(query)]


def count_open(session: Session, job_id: int, kind: str, category_id: int | None = None) -> int:
    query = select(func.count()).where(
        SyncOperation.job_id == job_id,
        SyncOperation.kind == kind,
        SyncOperation.status.in_(OPEN),
    )
    if category_id is not None:
        query = query.where(SyncOperation.category_id == category_id)
    return int(session.scalar(query) or 0)


def next_open(
    session: Session, job_id: int, kind: str, limit: int, category_id: int | None = None
) -> list[SyncOperation]:
    query = select(SyncOperation).where(
        SyncOperation.job_id == job_id,
        SyncOperation.kind == kind,
        SyncOperation.status.in_(OPEN),
    )
    if category_id is not None:
        query = query.where(SyncOperation.category_id == category_id)
    return list(
        session.scalars(query.order_by(SyncOperation.position, SyncOperation.id).limit(limit))
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


def stage_results(session: Session, job_id: int) -> dict[str, dict[str, int]]:
    """Per stage: succeeded, failed, skipped (and what is still open)."""
    results: dict[str, dict[str, int]] = {
        stage: {"succeeded": 0, "failed": 0, "skipped": 0, "open": 0}
        for stage in STAGE_OF_KIND.values()
    }
    query = (
        select(SyncOperation.kind, SyncOperation.status, func.count())
        .where(SyncOperation.job_id == job_id)
        .group_by(SyncOperation.kind, SyncOperation.status)
    )
    bucket = {
        "completed": "succeeded",
        "failed": "failed",
        "skipped": "skipped",
        "pending": "open",
        "in_flight": "open",
    }
    for kind, status, count in session.execute(query):
        results[STAGE_OF_KIND[kind]][bucket[status]] += int(count)
    return results


def refresh_progress(session: Session, job_id: int) -> SyncJob:
    job = session.get_one(SyncJob, job_id)
    results = stage_results(session, job_id)
    results["backup"] = {
        "succeeded": 1 if job.backup_id else 0,
        "failed": 0,
        "skipped": 0,
        "open": 0 if job.backup_id else 1,
    }
    job.stage_results = results
    job.progress_total = sum(sum(r.values()) for r in results.values())
    job.progress_done = sum(r["succeeded"] + r["failed"] + r["skipped"] for r in results.values())
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
