"""Sync and restore jobs as the database keeps them: one active job at a time, the row a
job starts from, and the pause a user asked for.  Starting the workflow and talking to
it is the command line's side."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ytsync.backup import find_snapshot
from ytsync.config import Settings
from ytsync.db.engine import transaction
from ytsync.db.models import BackupSnapshot, Category, Playlist, SyncJob
from ytsync.errors import (
    JobConflict,
    NoPlan,
    NothingToRestore,
    Refused,
    UserError,
)
from ytsync.preview import Preview, compute_preview
from ytsync.status import active_job, latest_job
from ytsync.strategies import STRATEGIES, record_kept
from ytsync.sync.unkeep import kept_in_use


@dataclass(frozen=True)
class RestoreJob:
    job_id: int
    workflow_id: str
    snapshot_id: int
    playlists: int


def refuse_while_active(session: Session) -> None:
    """One job at a time per channel: raise JobConflict while another is not finished."""
    running = active_job(session)
    if running is not None and running.kind == "organize":
        raise JobConflict(
            f"an organize run is writing (job {running.id}, {running.stage}, workflow "
            f"{running.workflow_id}); wait for it to finish, or pause it ('python "
            "starter.py pause')"
        )
    if running is not None:
        raise JobConflict(
            f"job {running.id} is still {running.stage} (workflow {running.workflow_id}); "
            "wait for it to finish"
        )


def create_job(
    settings: Settings,
    sessions: sessionmaker[Session],
    now: datetime,
    preview: Preview | None = None,
) -> SyncJob:
    """A job row for the plan, with the strategy the settings name (``start
    --strategy`` sets it on the command line).  ``preview``: the one the user was
    shown, when they were shown one; computed here otherwise."""
    strategy = settings.strategy
    if strategy not in STRATEGIES:
        raise UserError(f"unknown strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    with transaction(sessions) as session:
        refuse_while_active(session)
        if session.scalar(select(Category.id).limit(1)) is None:
            raise NoPlan("there is no plan yet")
        if preview is None:
            preview = compute_preview(session, settings, now)
        job = SyncJob(
            workflow_id=f"ytsync-job-{uuid.uuid4().hex[:12]}",
            stage="pending",
            strategy=strategy,
            preview=preview.model_dump(mode="json"),
        )
        session.add(job)
        session.flush()
        job.workflow_id = f"ytsync-job-{job.id}-{uuid.uuid4().hex[:8]}"
        if strategy == "reuse":
            # Decided once, in the job's first commit: every later step works from it.
            record_kept(session, job.id)
        return job


def create_restore_job(sessions: sessionmaker[Session], snapshot_id: int | None) -> RestoreJob:
    """A job row that brings back a snapshot's playlists gone from YouTube (the newest
    snapshot when ``snapshot_id`` is None)."""
    with transaction(sessions) as session:
        refuse_while_active(session)
        snapshot = find_snapshot(session, snapshot_id)
        gone = restorable(session, snapshot)
        if not gone:
            raise NothingToRestore(
                f"nothing to restore: every playlist of snapshot {snapshot.id} is still on YouTube"
            )
        job = SyncJob(
            workflow_id=f"ytsync-restore-{uuid.uuid4().hex[:12]}",
            kind="restore",
            snapshot_id=snapshot.id,
            stage="pending",
            preview={"playlists_to_restore": gone},
        )
        session.add(job)
        session.flush()
        return RestoreJob(job.id, job.workflow_id, snapshot.id, len(gone))


def drop_job(sessions: sessionmaker[Session], job_id: int) -> None:
    """Forget a job whose workflow never started, so the next one is not blocked by a
    ghost."""
    with transaction(sessions) as session:
        session.delete(session.get_one(SyncJob, job_id))


def restorable(session: Session, snapshot: BackupSnapshot) -> list[str]:
    """Titles of the snapshot's playlists that are gone from YouTube, or that a reusing
    job kept as a category's playlist (a restore gives them back their old selves)."""
    gone = {
        p.youtube_id: p.title
        for p in session.scalars(
            select(Playlist).where(
                Playlist.deleted_from_youtube_at.is_not(None)
                | Playlist.id.in_(list(kept_in_use(session).values()))
            )
        )
    }
    return [
        gone[p["youtube_id"]] for p in snapshot.data.get("playlists", []) if p["youtube_id"] in gone
    ]


def mark_failed(sessions: sessionmaker[Session], job_id: int, stage: str, message: str) -> bool:
    """Record that a job still at ``stage`` failed; False when its workflow recorded its
    own end meanwhile."""
    with transaction(sessions) as session:
        job = session.get_one(SyncJob, job_id)
        if job.stage != stage:
            return False
        job.stage = "failed"
        job.failure_message = message
        job.completed_at = datetime.now(UTC)
    return True


def job_to_ask(sessions: sessionmaker[Session], request: str) -> SyncJob:
    """The active job a pause or resume goes to: Refused when the latest one has
    ended, UserError when there is none."""
    with sessions() as session:
        job = active_job(session)
        last = latest_job(session) if job is None else None
    if job is not None:
        return job
    if last is not None:
        raise Refused(f"job {last.id} is {last.stage}: nothing to {request}")
    raise UserError(f"no sync job is running, nothing to {request}")


def record_pause_request(
    sessions: sessionmaker[Session], job_id: int, at: datetime | None
) -> datetime | None:
    """Set (keeping the first request's time) or clear the job's pause request; the
    request recorded before."""
    with transaction(sessions) as session:
        job = session.get_one(SyncJob, job_id)
        before = job.pause_requested_at
        if at is None or before is None:
            job.pause_requested_at = at
        return before
