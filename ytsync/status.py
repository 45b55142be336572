"""The ``status`` view of a job, per the documented JSON contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ytsync import ledger
from ytsync.config import Settings
from ytsync.db.models import HeldBack, LaneCheck, Playlist, SyncError, SyncJob, Video
from ytsync.wire import SYNC_STAGES


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
            + (("held_back",) if stage == "delete_playlists" else ())
        }
        for stage in SYNC_STAGES
    }
    clock = settings.quota_clock
    period = clock.period_start(now)
    left = ledger.remaining(session, period, settings.usable_quota)
    return {
        "job_id": job.id,
        "workflow_id": job.workflow_id,
        "stage": job.stage,
        "strategy": job.strategy,
        "paused_at_stage": job.paused_at_stage,
        "pause_reason": job.pause_reason,
        "resume_at": _iso(job.resume_at),
        # Set from the moment `pause` returns; `stage` turns "paused" only once the
        # workflow has stopped every running write (see the README).
        "pause_requested_at": _iso(job.pause_requested_at),
        "progress": {"done": job.progress_done, "total": job.progress_total},
        "stage_results": results,
        "held_back": held_back(session, job.id),
        "audit": audit_summary(session, job.id),
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


def held_back(session: Session, job_id: int) -> list[dict[str, Any]]:
    """The old playlists the job kept, each with the videos that held it back."""
    rows = session.execute(
        select(
            Playlist.youtube_id,
            Playlist.title,
            Video.youtube_id,
            HeldBack.category,
            HeldBack.reason,
        )
        .join(Playlist, Playlist.id == HeldBack.playlist_id)
        .join(Video, Video.id == HeldBack.video_id)
        .where(HeldBack.job_id == job_id)
        .order_by(HeldBack.id)
    )
    kept: dict[str, dict[str, Any]] = {}
    for playlist_id, title, video_id, category, reason in rows:
        entry = kept.setdefault(
            playlist_id, {"playlist_id": playlist_id, "title": title, "videos": []}
        )
        entry["videos"].append({"video_id": video_id, "category": category, "reason": reason})
    return list(kept.values())


def audit_summary(session: Session, job_id: int) -> dict[str, int]:
    """What the settled checks read and repaired (see ytsync.sync.audit)."""
    checks = list(session.scalars(select(LaneCheck).where(LaneCheck.job_id == job_id)))
    return {
        "checks": len(checks),
        "clean": sum(check.status == "clean" for check in checks),
        "rounds": sum(check.rounds for check in checks),
        "read_units": sum(check.reads for check in checks),
        "found_after_settle": sum(check.found for check in checks),
        "sent_again": sum(check.resent for check in checks),
        "duplicates_removed": sum(check.duplicates_removed for check in checks),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
