"""The failed and skipped items of a job, and why.

The reasons live in ``sync_errors``.  An operation row that ended ``failed`` or
``skipped`` without an error row (a skip needs none, and a job written by an older
ytsync may lack some) is listed too, from the row itself, so the report never hides an
item the job did not carry out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ytsync.db.models import Category, Playlist, SyncError, SyncJob, SyncOperation, Video
from ytsync.status import held_back, latest_job
from ytsync.sync.operations import STAGE_OF_KIND

PROBLEM_STATUSES = ("failed", "skipped", "held_back")


@dataclass(frozen=True)
class ReportItem:
    stage: str
    entity_type: str
    entity_id: str
    message: str
    timestamp: datetime | None
    # "error": a sync_errors row; "operation": a failed/skipped row with no error row.
    source: str
    # A playlist (or items) the job kept because its videos were not verified: running
    # the job again checks again (the face says how).
    kept: bool = False
    # ...or because videos were saved to it since the import: import again first.
    new_videos: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "message": self.message,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "source": self.source,
        }


@dataclass(frozen=True)
class JobReport:
    job_id: int
    workflow_id: str
    job_stage: str
    items: list[ReportItem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """``report --json``."""
        return {
            "job_id": self.job_id,
            "workflow_id": self.workflow_id,
            "job_stage": self.job_stage,
            "count": len(self.items),
            "items": [item.as_dict() for item in self.items],
        }


def latest_report(session: Session) -> JobReport | None:
    """The report of the latest job; None when there is no job yet."""
    job = latest_job(session)
    if job is None:
        return None
    return JobReport(job.id, job.workflow_id, job.stage, collect(session, job))


def collect(session: Session, job: SyncJob) -> list[ReportItem]:
    """The job's failed and skipped items, oldest first."""
    errors = list(
        session.scalars(select(SyncError).where(SyncError.job_id == job.id).order_by(SyncError.id))
    )
    kept = {
        entry.playlist_id: any(video.new for video in entry.videos)
        for entry in held_back(session, job.id)
    }
    items = [
        ReportItem(
            e.stage,
            e.entity_type,
            e.entity_id,
            e.message,
            e.timestamp,
            "error",
            kept=e.stage in ("delete_playlists", "restore_items") and e.entity_id in kept,
            new_videos=e.stage == "delete_playlists" and kept.get(e.entity_id, False),
        )
        for e in errors
    ]
    # Error rows do not point at their operation: match them by stage and entity id,
    # as a multiset, since one video that fails in two categories has two of each.
    unmatched = Counter((e.stage, e.entity_id) for e in errors)
    rows = session.execute(
        select(SyncOperation, Video.youtube_id, Category.name, Playlist.youtube_id)
        .outerjoin(Video, Video.id == SyncOperation.video_id)
        .outerjoin(Category, Category.id == SyncOperation.category_id)
        .outerjoin(Playlist, Playlist.id == SyncOperation.playlist_id)
        .where(SyncOperation.job_id == job.id, SyncOperation.status.in_(PROBLEM_STATUSES))
        .order_by(SyncOperation.id)
    )
    for op, video_id, category_name, playlist_id in rows:
        stage = STAGE_OF_KIND.get(op.kind, op.kind)
        candidates = [c for c in (video_id, category_name, playlist_id, op.op_key) if c]
        hit = next((c for c in candidates if unmatched[(stage, c)] > 0), None)
        if hit is not None:
            unmatched[(stage, hit)] -= 1
            continue
        entity_type, entity_id = _entity(op, video_id, category_name, playlist_id)
        items.append(
            ReportItem(
                stage,
                entity_type,
                entity_id,
                _message(op),
                op.updated_at,
                "operation",
                kept=op.status == "held_back" and bool(op.error),
            )
        )
    # Stable sort: equal (or missing) times keep the error-rows-first order.
    return sorted(items, key=lambda item: (item.timestamp is None, item.timestamp or 0))


def _entity(
    op: SyncOperation, video_id: str | None, category_name: str | None, playlist_id: str | None
) -> tuple[str, str]:
    """Name the item the way the sync's own error rows do."""
    if video_id:
        return "video", video_id
    if op.kind == "create_playlist":
        # A category removed by a later plan keeps only its id in the key.
        return "category", category_name or op.op_key
    if playlist_id:
        return "playlist", playlist_id
    return "operation", op.op_key


def _message(op: SyncOperation) -> str:
    if op.status == "skipped":
        return f"skipped: {op.error}" if op.error else "skipped (no reason was recorded)"
    return op.error or "failed (no reason was recorded)"
