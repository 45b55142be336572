"""The CLI's side of Temporal: start a job's workflow, ask it for its state, pause and
resume it.  Workflows are called by the names the worker registers (``ytsync.wire``),
so starting a job loads none of their code."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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

from ytsync.config import Settings
from ytsync.errors import Refused
from ytsync.jobs import (
    create_job,
    create_restore_job,
    drop_job,
    job_to_ask,
    mark_failed,
    record_pause_request,
)
from ytsync.preview import Preview
from ytsync.restore_preview import RestorePreview
from ytsync.status import active_job
from ytsync.sync.undo import RestoreOptions
from ytsync.wire import (
    PAUSE_UPDATE,
    RESTORE_WORKFLOW,
    RESUME_UPDATE,
    STATE_QUERY,
    SYNC_WORKFLOW,
    JobProgress,
    Stage,
    SyncInput,
    WorkflowState,
)

# How long pause and resume wait for the job to answer.  A live worker answers an update
# in milliseconds; with none running, Temporal holds it until one comes, and the CLI
# must not hang on that.
UPDATE_TIMEOUT = 5.0
# The types of the workflow's refusals (its update validators).
REFUSALS = ("NotPausable", "NotPaused")


@dataclass(frozen=True)
class StartedJob:
    job_id: int
    workflow_id: str
    handle: WorkflowHandle[Any, JobProgress]


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
    return mark_failed(sessions, job_id, stage, message)


async def start_job(
    settings: Settings,
    sessions: sessionmaker[Session],
    client: Client,
    *,
    now: datetime,
    **workflow_options: Any,
) -> StartedJob:
    """Start a sync of the plan."""
    return await start_previewed_job(settings, sessions, client, None, now, workflow_options)


async def start_previewed_job(
    settings: Settings,
    sessions: sessionmaker[Session],
    client: Client,
    preview: Preview | None,
    now: datetime,
    workflow_options: dict[str, Any] | None = None,
) -> StartedJob:
    """Start a sync of the plan from ``preview``, the one the user confirmed (None:
    compute it)."""
    workflow_options = workflow_options or {}
    await settle_abandoned(client, sessions)
    job = create_job(settings, sessions, now, preview)
    try:
        handle = await client.start_workflow(
            SYNC_WORKFLOW,
            SyncInput(job_id=job.id, channel=settings.channel, **workflow_options),
            id=job.workflow_id,
            task_queue=settings.task_queue,
            result_type=JobProgress,
            static_summary=sync_summary(job.id, settings.channel, job.preview),
            static_details=sync_details(job.preview),
        )
    except BaseException:
        # Nothing ran: drop the row so the next 'start' is not blocked by a ghost.
        drop_job(sessions, job.id)
        raise
    return StartedJob(job.id, job.workflow_id, handle)


async def start_restore(
    sessions: sessionmaker[Session],
    client: Client,
    settings: Settings,
    snapshot_id: int | None,
    *,
    options: RestoreOptions | None = None,
    preview: RestorePreview | None = None,
    now: datetime | None = None,
    **workflow_options: Any,
) -> StartedJob:
    """Start restoring a snapshot: its playlists gone from YouTube back, the kept ones
    their old selves, and with ``options.undo`` the sync's category playlists deleted.
    ``preview``: the one the user confirmed (None: computed)."""
    await settle_abandoned(client, sessions)
    job = create_restore_job(
        sessions, snapshot_id, settings, now or datetime.now(UTC), options, preview
    )
    try:
        handle = await client.start_workflow(
            RESTORE_WORKFLOW,
            SyncInput(
                job_id=job.job_id,
                stage=Stage.RESTORE_PLAYLISTS,
                channel=settings.channel,
                **workflow_options,
            ),
            id=job.workflow_id,
            task_queue=settings.task_queue,
            result_type=JobProgress,
            static_summary=(
                f"ytsync job {job.job_id}, channel {settings.channel}: restore "
                f"{job.playlists:,} playlist(s) of snapshot {job.snapshot_id}"
                + (" and undo the sync" if options is not None and options.undo else "")
            ),
        )
    except BaseException:
        drop_job(sessions, job.job_id)
        raise
    return StartedJob(job.job_id, job.workflow_id, handle)


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


async def workflow_state(client: Client, workflow_id: str) -> WorkflowState | None:
    try:
        handle = client.get_workflow_handle(workflow_id)
        state: WorkflowState = await handle.query(STATE_QUERY, result_type=WorkflowState)
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
    job = job_to_ask(sessions, request)
    handle = client.get_workflow_handle(job.workflow_id)
    timeout = UPDATE_TIMEOUT if timeout is None else timeout
    if request == "pause":
        state = await _ask(handle, job.id, PAUSE_UPDATE, "pause", timeout)
        record_pause_request(sessions, job.id, datetime.now(UTC))
    else:
        asked_at = record_pause_request(sessions, job.id, None)
        try:
            state = await _ask(handle, job.id, RESUME_UPDATE, "resume", timeout)
        except Refused:
            # Not paused after all: a pause request still on its way stays recorded.
            if asked_at is not None:
                record_pause_request(sessions, job.id, asked_at)
            raise
    return Sent(job.id, job.workflow_id, state)


async def _ask(
    handle: WorkflowHandle[Any, Any],
    job_id: int,
    update: str,
    signal: str,
    timeout: float,
) -> WorkflowState | None:
    try:
        return await asyncio.wait_for(
            handle.execute_update(update, result_type=WorkflowState), timeout
        )
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
