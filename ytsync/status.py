"""The ``status`` view of a job, per the documented JSON contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ytsync import ledger
from ytsync.config import Settings
from ytsync.db.models import SyncError, SyncJob

RESULT_STAGES = ("backup", "create_playlists", "add_videos", "delete_playlists")


def latest_job(session: Session) -> SyncJob | None:
    return session.scalars(select(SyncJob).order_by(SyncJob.id.desc()).limit(1)).first()


def job_status(session: Session, job: SyncJob, settings: Settings, now: datetime) -> dict[str, Any]:
    errors = session.scalars(
        select(SyncError).where(SyncError.job_id == job.id).order_by(SyncError.id)
    )
    results = {
        stage: {
            key: int(job.stage_results.get(stage, {}).get(key, 0))
            for key in ("succeeded", "failed", "skipped", "open")
        }
        for stage in RESULT_STAGES
    }
    clock = settings.quota_clock
    period = clock.period_start(now)
    left = ledger.remaining(session, period, settings.usable_quota)
    return {
        "job_id": job.id,
        "workflow_id": job.workflow_id,
        "stage": job.stage,
        "paused_at_stage": job.paused_at_stage,
        "pause_reason": job.pause_reason,
        "resume_at": _iso(job.resume_at),
        # Set from the moment `pause` returns; `stage` turns "paused" only once the
        # workflow has stopped every running write (see the README).
        "pause_requested_at": _iso(job.pause_requested_at),
        "progress": {"done": job.progress_done, "total": job.progress_total},
        "stage_results": results,
        "quota_used": job.quota_used,
        "errors": [
            {
                "stage": e.stage,
                "entity_type": e.entity_type,
                "entity_id": e.entity_id,
                "message": e.message,
                "timestamp": _iso(e.timestamp),
            }
            for e in errors
        ],
        "failure_message": job.failure_message,
        "pause_message": job.pause_message if job.stage == "paused" else None,
        "backup_id": job.backup_id,
        "created_at": _iso(job.created_at),
        "completed_at": _iso(job.completed_at),
        "quota_today": {
            "period_start": _iso(period),
            "next_reset": _iso(clock.next_reset(now)),
            "usable": settings.usable_quota,
            "remaining": left,
        },
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
