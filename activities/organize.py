"""An organize run's activities: its read side on the channel the run names, the record
of a run that failed for good, and the steps of its writes only an organize run has
(its additions and their audits are the sync's activities).

Blocking code (SQLAlchemy, the API client), run on the worker's thread pool.  What a
user must fix (the rules, a missing inbox, the sign-in) fails the read at once: the
schedule's next run tries again.  The write steps fail, retry and stop as a sync's do
(activities.sync.run_step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.sync import run_step
from ytsync.channels import Channels, UnknownChannel
from ytsync.errors import UserError
from ytsync.organize.read import mark_failed, read_sources
from ytsync.organize.steps import OrganizeJob
from ytsync.organize.wire import (
    FINISH,
    ORGANIZE_FAILED,
    ORGANIZE_PLAN,
    ORGANIZE_READ,
    REMOVE_FROM_INBOX,
    VERIFY_INBOX,
    FailedInput,
    Finished,
    PlanInput,
    ReadInput,
    ReadResult,
    WritePlan,
)
from ytsync.organize.write import plan_writes
from ytsync.sync.clock import Clock, anchored
from ytsync.wire import BatchInput, BatchResult
from ytsync.youtube.errors import Outcome, classify

T = TypeVar("T")
# Outcomes a retry of a read cannot change.
FINAL = frozenset({Outcome.AUTH_REQUIRED, Outcome.PERMANENT, Outcome.LOCAL, Outcome.NOT_FOUND})


class OrganizeActivities:
    def __init__(self, channels: Channels, *, clock: Clock | None = None) -> None:
        """``clock``: None, the Temporal server's (see ytsync.sync.clock)."""
        self._channels = channels
        self._clock = clock

    @activity.defn(name=ORGANIZE_READ)
    def organize_read(self, run: ReadInput) -> ReadResult:
        try:
            channel = self._channels.get(run.channel)
            clock = self._clock or anchored(activity.info().started_time)
            return read_sources(channel.settings, channel.sessions, run, now=clock)
        except (UserError, UnknownChannel) as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None
        except Exception as exc:
            failure = classify(exc)
            if failure is None or failure.outcome not in FINAL:
                raise
            message = (
                failure.sign_in_problem()
                if failure.outcome is Outcome.AUTH_REQUIRED
                else failure.describe()
            )
            raise ApplicationError(message, type=str(failure.outcome), non_retryable=True) from None

    @activity.defn(name=ORGANIZE_FAILED)
    def organize_failed(self, failed: FailedInput) -> None:
        channel = self._channels.get(failed.channel)
        mark_failed(channel.sessions, failed.workflow_id, failed.message)

    @activity.defn(name=ORGANIZE_PLAN.name)
    def organize_plan_writes(self, plan: PlanInput) -> WritePlan:
        channel = self._channels.get(plan.channel)
        clock = self._clock or anchored(activity.info().started_time)
        return plan_writes(channel.sessions, plan, clock())

    @activity.defn(name=VERIFY_INBOX.name)
    def organize_verify_inbox(self, job_id: int, channel: str | None = None) -> BatchResult:
        return self._step(channel, job_id, OrganizeJob.verify_inbox)

    @activity.defn(name=REMOVE_FROM_INBOX.name, no_thread_cancel_exception=True)
    def organize_remove_from_inbox(self, batch: BatchInput) -> BatchResult:
        return self._step(batch.channel, batch.job_id, lambda job: job.remove_from_inbox(batch))

    @activity.defn(name=FINISH.name)
    def organize_finish(self, job_id: int, channel: str | None = None) -> Finished:
        return self._step(channel, job_id, OrganizeJob.finish)

    def _step(self, channel: str | None, job_id: int, step: Callable[[OrganizeJob], T]) -> T:
        return run_step(self._channels, self._clock, OrganizeJob, channel, job_id, step)

    def all(self) -> list[Callable[..., object]]:
        return [
            self.organize_read,
            self.organize_failed,
            self.organize_plan_writes,
            self.organize_verify_inbox,
            self.organize_remove_from_inbox,
            self.organize_finish,
        ]
