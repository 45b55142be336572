"""Sync and restore jobs as the database keeps them: one active job at a time, the row a
job starts from, and the pause a user asked for.  Starting the workflow and talking to
it is the command line's side."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ytsync.config import Settings
from ytsync.db.engine import transaction
from ytsync.db.models import Category, SyncJob
from ytsync.errors import (
    JobConflict,
    NoPlan,
    NothingToRestore,
    Refused,
    UserError,
)
from ytsync.preview import Preview, compute_preview
from ytsync.restore_preview import RestorePreview, compute_restore_preview
from ytsync.status import active_job, latest_job
from ytsync.strategies import STRATEGIES, record_kept
from ytsync.sync.undo import ORDERS, RestoreOptions


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


def require_plan(sessions: sessionmaker[Session]) -> None:
    """NoPlan before there is a plan: said before Temporal is asked anything."""
    with sessions() as session:
        if session.scalar(select(Category.id).limit(1)) is None:
            raise NoPlan("there is no plan yet")


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


def restore_preview(
    sessions: sessionmaker[Session],
    snapshot_id: int | None,
    settings: Settings,
    now: datetime,
    options: RestoreOptions,
) -> RestorePreview:
    """What a restore of ``snapshot_id`` would write; NoSnapshot or NothingToRestore when
    it has nothing to do: said before Temporal is asked anything."""
    with sessions() as session:
        preview = compute_restore_preview(session, settings, snapshot_id, options, now)
    _refuse_empty(preview, options)
    return preview


def _refuse_empty(preview: RestorePreview, options: RestoreOptions) -> None:
    if not preview.writes:
        message = f"nothing to restore: every playlist of snapshot {preview.snapshot_id}"
        message += " is on YouTube"
        if options.undo:
            message += ", and no category playlist the sync made is left"
        raise NothingToRestore(message)


def create_restore_job(
    sessions: sessionmaker[Session],
    snapshot_id: int | None,
    settings: Settings,
    now: datetime,
    options: RestoreOptions | None = None,
    preview: RestorePreview | None = None,
) -> RestoreJob:
    """A job row that restores a snapshot (the newest when ``snapshot_id`` is None):
    its playlists gone from YouTube back, the ones a reusing job kept given back their
    old selves, and with ``options.undo`` the category playlists the sync made deleted.
    ``preview``: the one the user was shown, when they were shown one."""
    options = options or RestoreOptions()
    if options.order not in ORDERS:
        raise UserError(f"unknown order {options.order!r}: choose one of {', '.join(ORDERS)}")
    with transaction(sessions) as session:
        refuse_while_active(session)
        if preview is None:
            preview = compute_restore_preview(session, settings, snapshot_id, options, now)
        _refuse_empty(preview, options)
        job = SyncJob(
            workflow_id=f"ytsync-restore-{uuid.uuid4().hex[:12]}",
            kind="restore",
            snapshot_id=preview.snapshot_id,
            stage="pending",
            # The options with the preview: the job plans from them (ytsync.sync.undo).
            preview={**preview.model_dump(mode="json"), "options": options.as_dict()},
        )
        session.add(job)
        session.flush()
        return RestoreJob(
            job.id,
            job.workflow_id,
            preview.snapshot_id,
            preview.playlists_to_recreate.count + preview.playlists_to_rename.count,
        )


def drop_job(sessions: sessionmaker[Session], job_id: int) -> None:
    """Forget a job whose workflow never started, so the next one is not blocked by a
    ghost."""
    with transaction(sessions) as session:
        session.delete(session.get_one(SyncJob, job_id))


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
