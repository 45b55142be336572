"""Starting a sync job and talking to its workflow (the CLI's side of Temporal)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from workflows.restore import RestoreWorkflow
from workflows.sync import SyncWorkflow
from ytsync.config import Settings
from ytsync.db.engine import transaction
from ytsync.db.models import BackupSnapshot, Category, Playlist, SyncJob
from ytsync.errors import UserError
from ytsync.preview import compute_preview
from ytsync.status import latest_job
from ytsync.strategies import STRATEGIES, record_kept
from ytsync.sync.unkeep import kept_in_use
from ytsync.wire import ACTIVE_STAGES, Stage, SyncInput, WorkflowState

# How long pause and resume wait for the job to answer.  A live worker answers an update
# in milliseconds; with none running, Temporal holds it until one comes, and the CLI
# must not hang on that.
UPDATE_TIMEOUT = 5.0
# The types of the workflow's refusals (its update validators).
REFUSALS = ("NotPausable", "NotPaused")


class JobConflict(Exception):
    """Another job is active: starting a second one would race it (exit code 1)."""


class Refused(Exception):
    """The job turned a pause or resume down: it has ended, is paused already, or is
    not paused (exit code 1).  ``kind``: the refusal's type (see REFUSALS), when the
    job itself refused."""

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind


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
            static_summary=sync_summary(job.id, settings.channel, job.preview),
            static_details=sync_details(job.preview),
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
                stage=Stage.RESTORE_PLAYLISTS,
                channel=settings.channel,
                **workflow_options,
            ),
            id=workflow_id,
            task_queue=settings.task_queue,
            static_summary=(
                f"ytsync job {job_id}, channel {settings.channel}: restore {len(gone):,} "
                f"playlist(s) of snapshot {snapshot.id}"
            ),
        )
    except BaseException:
        with transaction(sessions) as session:
            session.delete(session.get_one(SyncJob, job_id))
        raise
    return StartedJob(job_id, workflow_id, handle)


def sync_summary(job_id: int, channel: str, preview: dict[str, Any]) -> str:
    """The one line the Web UI shows for the job (a workflow's static summary)."""
    playlists = preview["playlists_to_create"]["count"]
    videos = preview["videos_to_add"]["count"]
    return f"ytsync job {job_id}, channel {channel}: {playlists:,} playlists, {videos:,} videos"


def sync_details(preview: dict[str, Any]) -> str:
    """The preview the job was started with, as markdown for its workflow page: fixed
    at start, while the live details show where the job is now."""
    return "\n\n".join(
        [
            f"**Playlists to create:** {preview['playlists_to_create']['count']:,}",
            f"**Videos to add:** {preview['videos_to_add']['count']:,}",
            f"**Old playlists to delete:** {preview['playlists_to_delete']['count']:,}",
            f"**Quota cost:** {preview['total_quota_cost']:,} units "
            f"(about {preview['estimated_days']:,} day(s) at "
            f"{preview['daily_quota_limit']:,} units a day)",
        ]
    )


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


@dataclass(frozen=True)
class Sent:
    """A pause or resume the job took."""

    job_id: int
    workflow_id: str
    # The job's state as its workflow answered the update; None when no worker answered
    # in time and the request went as a signal, which the job takes once a worker runs.
    state: WorkflowState | None


async def send(
    client: Client,
    sessions: sessionmaker[Session],
    request: str,
    *,
    timeout: float | None = None,
) -> Sent:
    """Pause or resume the active job, as a Workflow Update: the job's validator says
    whether it takes the request (Refused when not), and it answers with its state.

    The job row keeps the user's pause request, so `status` shows it at once and the
    running batches read it at their next commit, without waiting for the workflow: it
    is recorded once the workflow has the request (a refused one records nothing), and
    cleared before a resume is sent (a batch must not find a stale one).
    """
    with sessions() as session:
        job = active_job(session)
        last = latest_job(session) if job is None else None
    if job is None:
        if last is not None:
            raise Refused(f"job {last.id} is {last.stage}: nothing to {request}")
        raise UserError(f"no sync job is running, nothing to {request}")
    handle = client.get_workflow_handle(job.workflow_id)
    timeout = UPDATE_TIMEOUT if timeout is None else timeout
    if request == "pause":
        state = await _ask(handle, job.id, SyncWorkflow.pause_update, "pause", timeout)
        _record_pause_request(sessions, job.id, datetime.now(UTC))
    else:
        asked_at = _record_pause_request(sessions, job.id, None)
        try:
            state = await _ask(handle, job.id, SyncWorkflow.resume_update, "resume", timeout)
        except Refused:
            # Not paused after all: a pause request still on its way stays recorded.
            if asked_at is not None:
                _record_pause_request(sessions, job.id, asked_at)
            raise
    return Sent(job.id, job.workflow_id, state)


async def _ask(
    handle: WorkflowHandle[Any, Any],
    job_id: int,
    update: UpdateMethodMultiParam[[Any], WorkflowState],
    signal: str,
    timeout: float,
) -> WorkflowState | None:
    try:
        return await asyncio.wait_for(handle.execute_update(update), timeout)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type in REFUSALS:
            raise Refused(cause.message, cause.type) from None
        # Any other failure: the job runs code from before updates (no handler).
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        pass  # no worker took it in time: none is running, or all are busy
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise Refused(f"job {job_id} is no longer running ({exc.message})") from None
        raise
    # A signal waits in the job's history until a worker runs it.  The update, if it
    # reaches the job later, asks for the same thing again; its validator turns it down.
    await handle.signal(signal)
    return None


def _record_pause_request(
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
