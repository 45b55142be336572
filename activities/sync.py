"""The sync's activities: each runs one step of a job (ytsync.sync.batches) on the
channel the job names, and turns what goes wrong into the failure Temporal acts on.

Blocking code (SQLAlchemy, the API client), so these are plain functions run on the
worker's thread pool.  Stages are the workflow's to decide; an activity only reports
what it did and why it stopped.

Batches take a cancellation at their own pace (``no_thread_cancel_exception``): the
Writer stops between two writes, while an exception raised into the thread could land
between a send and its record.  A worker shutting down (SIGTERM) stops its batches the
same way: each records what it did, releases its lane and fails its attempt with a
short retry delay, so another worker takes the lane at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ytsync.channels import Channels, UnknownChannel
from ytsync.sync.batches import Attempt, ChannelJob, OutOfOrder, WrongChannel
from ytsync.sync.clock import Clock, anchored
from ytsync.sync.lease import LeaseBusy, LeaseLost
from ytsync.sync.writer import RetryLater
from ytsync.wire import Activity, BatchInput, BatchResult, CheckPlan, JobProgress, StageUpdate

T = TypeVar("T")
J = TypeVar("J", bound=ChannelJob)

# Heartbeats while a read waits to be sent again (the shortest heartbeat timeout in use
# is a few seconds, in tests that kill workers).
HEARTBEAT_EVERY_SECONDS = 1.0
# A batch stopped by its worker's shutdown is retried this soon, by another worker: its
# lane's lease is released, so nothing else holds the lane up.
AFTER_SHUTDOWN = timedelta(milliseconds=200)


class SyncActivities:
    """Every activity of a job, for every channel the worker serves."""

    def __init__(self, channels: Channels, *, clock: Clock | None = None) -> None:
        """``clock``: what a step tells time by; None, the Temporal server's (see
        ytsync.sync.clock), which tests replace with the time-skipping server's."""
        self._channels = channels
        self._clock = clock

    def _run(self, channel: str | None, job_id: int, step: Callable[[ChannelJob], T]) -> T:
        return run_step(self._channels, self._clock, ChannelJob, channel, job_id, step)

    def _batch(self, batch: BatchInput, step: Callable[[ChannelJob, BatchInput], T]) -> T:
        return self._run(batch.channel, batch.job_id, lambda job: step(job, batch))

    @activity.defn(name=Activity.SET_STAGE.name)
    def set_stage(self, update: StageUpdate) -> JobProgress:
        return self._run(update.channel, update.job_id, lambda job: job.set_stage(update))

    @activity.defn(name=Activity.BACKUP.name)
    def backup(self, job_id: int, channel: str | None = None) -> int:
        return self._run(channel, job_id, ChannelJob.backup)

    @activity.defn(name=Activity.PLAN_CREATIONS.name)
    def plan_creations(self, job_id: int, channel: str | None = None) -> int:
        return self._run(channel, job_id, ChannelJob.plan_creations)

    @activity.defn(name=Activity.CREATE_PLAYLISTS.name, no_thread_cancel_exception=True)
    def create_playlists(self, batch: BatchInput) -> BatchResult:
        return self._batch(batch, ChannelJob.create_playlists)

    @activity.defn(name=Activity.PLAN_CREATION_CHECK.name)
    def plan_creation_check(self, job_id: int, channel: str | None = None) -> CheckPlan:
        return self._run(channel, job_id, ChannelJob.plan_creation_check)

    @activity.defn(name=Activity.CHECK_CREATIONS.name, no_thread_cancel_exception=True)
    def check_creations(self, batch: BatchInput) -> BatchResult:
        return self._batch(batch, ChannelJob.check_creations)

    @activity.defn(name=Activity.PLAN_ADDITIONS.name)
    def plan_additions(self, job_id: int, channel: str | None = None) -> BatchResult:
        return self._run(channel, job_id, ChannelJob.plan_additions)

    @activity.defn(name=Activity.LIST_LANES.name)
    def list_lanes(self, job_id: int, channel: str | None = None) -> list[int]:
        return self._run(channel, job_id, ChannelJob.list_lanes)

    @activity.defn(name=Activity.LIST_UNSENT_LANES.name)
    def list_unsent_lanes(self, job_id: int, channel: str | None = None) -> list[int]:
        return self._run(channel, job_id, ChannelJob.list_unsent_lanes)

    @activity.defn(name=Activity.ADD_VIDEOS.name, no_thread_cancel_exception=True)
    def add_videos(self, batch: BatchInput) -> BatchResult:
        return self._batch(batch, ChannelJob.add_videos)

    @activity.defn(name=Activity.PLAN_AUDITS.name)
    def plan_audits(self, job_id: int, channel: str | None = None) -> CheckPlan:
        return self._run(channel, job_id, ChannelJob.plan_audits)

    @activity.defn(name=Activity.AUDIT_LANE.name, no_thread_cancel_exception=True)
    def audit_lane(self, batch: BatchInput) -> BatchResult:
        return self._batch(batch, ChannelJob.audit_lane)

    @activity.defn(name=Activity.PLAN_DELETIONS.name)
    def plan_deletions(self, job_id: int, channel: str | None = None) -> int:
        return self._run(channel, job_id, ChannelJob.plan_deletions)

    @activity.defn(name=Activity.VERIFY_DELETIONS.name)
    def verify_deletions(self, job_id: int, channel: str | None = None) -> BatchResult:
        return self._run(channel, job_id, ChannelJob.verify_deletions)

    @activity.defn(name=Activity.DELETE_PLAYLISTS.name, no_thread_cancel_exception=True)
    def delete_playlists(self, batch: BatchInput) -> BatchResult:
        return self._batch(batch, ChannelJob.delete_playlists)

    @activity.defn(name=Activity.PLAN_RESTORE.name)
    def plan_restore(self, job_id: int, channel: str | None = None) -> int:
        return self._run(channel, job_id, ChannelJob.plan_restore)

    @activity.defn(name=Activity.RESTORE_PLAYLISTS.name, no_thread_cancel_exception=True)
    def restore_playlists(self, batch: BatchInput) -> BatchResult:
        return self._batch(batch, ChannelJob.restore_playlists)

    @activity.defn(name=Activity.LIST_RESTORE_LANES.name)
    def list_restore_lanes(self, job_id: int, channel: str | None = None) -> list[int]:
        return self._run(channel, job_id, ChannelJob.list_restore_lanes)

    @activity.defn(name=Activity.RESTORE_ITEMS.name, no_thread_cancel_exception=True)
    def restore_items(self, batch: BatchInput) -> BatchResult:
        return self._batch(batch, ChannelJob.restore_items)

    @activity.defn(name=Activity.RESTORE_REMOVALS.name, no_thread_cancel_exception=True)
    def restore_removals(self, batch: BatchInput) -> BatchResult:
        return self._batch(batch, ChannelJob.restore_removals)

    @activity.defn(name=Activity.DELETE_MADE_PLAYLISTS.name, no_thread_cancel_exception=True)
    def delete_made_playlists(self, batch: BatchInput) -> BatchResult:
        return self._batch(batch, ChannelJob.delete_made_playlists)

    @activity.defn(name=Activity.FINISH_RESTORE.name)
    def finish_restore(self, job_id: int, channel: str | None = None) -> int:
        return self._run(channel, job_id, ChannelJob.finish_restore)

    def all(self) -> list[Callable[..., object]]:
        return [
            self.set_stage,
            self.backup,
            self.plan_creations,
            self.create_playlists,
            self.plan_creation_check,
            self.check_creations,
            self.plan_additions,
            self.list_lanes,
            self.list_unsent_lanes,
            self.add_videos,
            self.plan_audits,
            self.audit_lane,
            self.plan_deletions,
            self.verify_deletions,
            self.delete_playlists,
            self.plan_restore,
            self.restore_playlists,
            self.list_restore_lanes,
            self.restore_items,
            self.restore_removals,
            self.delete_made_playlists,
            self.finish_restore,
        ]


def run_step(
    channels: Channels,
    clock: Clock | None,
    job_type: type[J],
    channel: str | None,
    job_id: int,
    step: Callable[[J], T],
) -> T:
    """``step`` of job ``job_id`` on channel ``channel`` (None: the worker's own, for
    jobs started before channels existed).  The one place a step's errors become
    Temporal's failures: retried later, or never."""
    try:
        now = clock or anchored(activity.info().started_time)
        job = job_type.on(channels.get(channel), job_id, now, _attempt())
        return step(job)
    except (UnknownChannel, WrongChannel) as exc:
        raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None
    except OutOfOrder as exc:
        raise ApplicationError(str(exc), non_retryable=True) from None
    except RetryLater as retry:
        raise ApplicationError(
            str(retry), type="YouTubeRetry", next_retry_delay=retry.delay
        ) from None
    except LeaseBusy as busy:
        raise ApplicationError(str(busy), type="LaneBusy", next_retry_delay=busy.wait) from None
    except LeaseLost as lost:
        # A newer attempt owns the lane: this one is stale, whatever it returns.
        raise ApplicationError(str(lost), type="LaneLost") from None


def _attempt() -> Attempt:
    info = activity.info()
    return Attempt(
        workflow_id=info.workflow_id,
        number=info.attempt,
        heartbeat=activity.heartbeat,
        stop_requested=_stop_requested,
        sleep=heartbeating_sleep,
        paused=_end_if_not_paused,
    )


def _stop_requested() -> bool:
    return activity.is_cancelled() or activity.is_worker_shutdown()


def _end_if_not_paused() -> None:
    """A batch stopped by its cancellation: the workflow cancels batches only for a
    pause; a cancellation for any other reason (the worker shutting down, the attempt
    timed out) ends this attempt, and Temporal runs the batch again."""
    if activity.is_worker_shutdown():
        # Not the user's pause: the lane goes on, on another worker, at once.
        raise ApplicationError(
            "the worker is shutting down; another worker goes on with the batch",
            type="WorkerShutdown",
            next_retry_delay=AFTER_SHUTDOWN,
        )
    if not activity.is_cancelled():
        return  # stopped by the job row's pause request
    details = activity.cancellation_details()
    if details is None or not details.cancel_requested:
        raise ApplicationError("the batch's attempt was cancelled", type="AttemptCancelled")


def heartbeating_sleep(seconds: float) -> None:
    """The client's wait between sends of a read: inside an activity it keeps
    heartbeating, so Temporal does not take a batch that waits for a dead one.  (The
    channel's client outlives the activity that made it.)"""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if activity.in_activity():
            activity.heartbeat()
        time.sleep(min(left, HEARTBEAT_EVERY_SECONDS))
