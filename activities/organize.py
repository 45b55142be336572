"""An organize run's activities: its read side on the channel the run names, and the
record of a run that failed for good.

Blocking code (SQLAlchemy, the API client), run on the worker's thread pool.  What a
user must fix (the rules, a missing inbox, the sign-in) fails the run at once: the
schedule's next run tries again.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ytsync.channels import Channels, UnknownChannel
from ytsync.errors import UserError
from ytsync.organize.read import mark_failed, read_sources
from ytsync.organize.wire import ORGANIZE_FAILED, ORGANIZE_READ, FailedInput, ReadInput, ReadResult
from ytsync.sync.clock import Clock, anchored
from ytsync.youtube.errors import Outcome, classify

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

    def all(self) -> list[Callable[..., object]]:
        return [self.organize_read, self.organize_failed]
