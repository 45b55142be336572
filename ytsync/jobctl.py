"""Starting a sync job and talking to its workflow (the CLI's side of Temporal)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError

from workflows.messages import SyncInput, WorkflowState
from workflows.restore import RestoreWorkflow
from workflows.sync import SyncWorkflow
from ytsync.config import Settings
from ytsync.db.engine import transaction
from ytsync.db.models import BackupSnapshot, Category, Playlist, SyncJob
from ytsync.errors import UserError
from ytsync.jobs import ACTIVE_STAGES
from ytsync.preview import compute_preview
from ytsync.strategies import STRATEGIES, record_kept
from ytsync.sync.unkeep import kept_in_use


class JobConflict(Exception):
    """Another job is active: starting a second one would race it (exit code 1)."""


@dataclass(frozen=True)
class StartedJob:
    job_id: int
    workflow_id: str
    handle: WorkflowHandle[Any, Any]


def active_job(session: Session) -> SyncJob | None:
    return session.scalars(
        select(SyncJob).where(SyncJob.stage.in_(ACTIVE_STAGES)).order_by(SyncJob.id.desc())
    ).first()


async def settle_abandoned(client: Client, sessions: sessionmaker[Session]) -> bool:
    """A job whose workflow was terminated or timed out from outside, or failed before
    it could record anything (its channel unknown to the worker), is not running,
    whatever its row says: mark it failed so it does not block the next one.  True
    when it did."""
    with sessions() as session:
        job = active_job(session)
        if job is None:
            return False
        job_id, workflow_id, stage = job.id, job.workflow_id, job.stage
    handle = client.get_workflow_handle(workflow_id)
    try:
        described = await handle.describe()
    except RPCError:
        return False  # a pending job's workflow may not exist yet
    if described.status in (None, WorkflowExecutionStatus.RUNNING):
        return False
    message = f"workflow ended from outside ({described.status.name})"
    if described.status == WorkflowExecutionStatus.FAILED:
        try:
            await handle.result(follow_runs=False)
        except WorkflowFailureError as exc:
            message = str(exc.cause or exc)
        except RPCError:
            pass
    with transaction(sessions) as session:
        stale = session.get_one(SyncJob, job_id)
        if stale.stage != stage:
            return False  # the workflow recorded its own end meanwhile
        stale.stage = "failed"
        stale.failure_message = message
        stale.completed_at = datetime.now(UTC)
    return True


def refuse_while_active(session: Session) -> None:
    """One job at a time per channel: raise JobConflict while another is not finished."""
    running = active_job(session)
    if running is not None:
        raise JobConflict(
            f"job {running.id} is still {running.stage} (workflow {running.workflow_id}); "
            "wait for it to finish or see 'python starter.py status'"
        )


def create_job(settings: Settings, sessions: sessionmaker[Session], now: datetime) -> SyncJob:
    """A job row for the plan, with the strategy the settings name (``start
    --strategy`` sets it on the command line)."""
    strategy = settings.strategy
    if strategy not in STRATEGIES:
        raise UserError(f"unknown strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    with transaction(sessions) as session:
        refuse_while_active(session)
        if session.scalar(select(Category.id).limit(1)) is None:
            raise UserError("there is no plan yet: run 'python starter.py plan apply FILE' first")
        preview = compute_preview(session, settings, now).model_dump(mode="json")
        job = SyncJob(
            workflow_id=f"ytsync-job-{uuid.uuid4().hex[:12]}",
            stage="pending",
            strategy=strategy,
            preview=preview,
        )
        session.add(job)
        session.flush()
        job.workflow_id = f"ytsync-job-{job.id}-{uuid.uuid4().hex[:8]}"
        if strategy == "reuse":
            # Decided once, in the job's first commit: every later step works from it.
            record_kept(session, job.id)
        return job


async def start_job(
    settings: Settings,
    sessions: sessionmaker[Session],
    client: Client,
    *,
    now: datetime,
    **workflow_options: Any,
) -> StartedJob:
    await settle_abandoned(client, sessions)
    job = create_job(settings, sessions, now)
    try:
        handle = await client.start_workflow(
            SyncWorkflow.run,
            SyncInput(job_id=job.id, channel=settings.channel, **workflow_options),
            id=job.workflow_id,
            task_queue=settings.task_queue,
            static_summary=f"ytsync job {job.id}: reorganize the library into category playlists",
        )
    except BaseException:
        # Nothing ran: drop the row so the next 'start' is not blocked by a ghost.
        with transaction(sessions) as session:
            session.delete(session.get_one(SyncJob, job.id))
        raise
    return StartedJob(job.id, job.workflow_id, handle)


async def start_restore(
    sessions: sessionmaker[Session],
    client: Client,
    settings: Settings,
    snapshot_id: int | None,
    **workflow_options: Any,
) -> StartedJob:
    """Start bringing back a snapshot's playlists that are gone from YouTube."""
    await settle_abandoned(client, sessions)
    with transaction(sessions) as session:
        refuse_while_active(session)
        query = select(BackupSnapshot).order_by(BackupSnapshot.id.desc()).limit(1)
        if snapshot_id is not None:
            query = select(BackupSnapshot).where(BackupSnapshot.id == snapshot_id)
        snapshot = session.scalars(query).first()
        if snapshot is None:
            which = f"snapshot {snapshot_id}" if snapshot_id is not None else "any snapshot"
            raise UserError(f"there is no {which}; see 'python starter.py backup list'")
        gone = restorable(session, snapshot)
        if not gone:
            raise UserError(
                f"nothing to restore: every playlist of snapshot {snapshot.id} is still on "
                "YouTube (run 'python starter.py import' if you deleted some by hand)"
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
        job_id, workflow_id = job.id, job.workflow_id
    try:
        handle = await client.start_workflow(
            RestoreWorkflow.run,
            SyncInput(
                job_id=job_id,
                stage="restore_playlists",
                channel=settings.channel,
                **workflow_options,
            ),
            id=workflow_id,
            task_queue=settings.task_queue,
            static_summary=f"ytsync job {job_id}: restore snapshot {snapshot.id}",
        )
    except BaseException:
        with transaction(sessions) as session:
            session.delete(session.get_one(SyncJob, job_id))
        raise
    return StartedJob(job_id, workflow_id, handle)


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


async def workflow_state(client: Client, workflow_id: str) -> WorkflowState | None:
    try:
        handle = client.get_workflow_handle(workflow_id)
        state: WorkflowState = await handle.query(SyncWorkflow.state)
        return state
    except RPCError:
        return None


async def send(client: Client, sessions: sessionmaker[Session], signal: str) -> SyncJob:
    """Pause or resume the active job.

    The job row keeps the user's pause request, so `status` shows it at once and the
    running batches read it at their next commit, without waiting for the workflow: it
    is recorded once the workflow has the signal (a refused signal records nothing),
    and cleared before the resume signal (a batch must not find a stale one).
    """
    with sessions() as session:
        job = active_job(session)
    if job is None:
        raise UserError(f"no sync job is running, nothing to {signal}")
    handle = client.get_workflow_handle(job.workflow_id)
    if signal == "pause":
        await handle.signal(SyncWorkflow.pause)
        _record_pause_request(sessions, job.id, datetime.now(UTC))
    else:
        _record_pause_request(sessions, job.id, None)
        await handle.signal(SyncWorkflow.resume)
    return job


def _record_pause_request(
    sessions: sessionmaker[Session], job_id: int, at: datetime | None
) -> None:
    """Set (keeping the first request's time) or clear the job's pause request."""
    with transaction(sessions) as session:
        job = session.get_one(SyncJob, job_id)
        if at is None or job.pause_requested_at is None:
            job.pause_requested_at = at
