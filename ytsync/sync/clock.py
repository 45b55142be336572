"""The job's clock: the one clock every settle is measured on.

A write's ``sent_at`` is compared with the moment a check may judge it, across workers
and with the workflow's timers.  A worker's own wall clock will not do: hosts' clocks
disagree, and one running behind shortens every settle.  So an activity tells time on
the Temporal server's clock (the workflow's): the moment the server started the
attempt, plus what the worker's monotonic clock measured since.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


def anchored(start: datetime, monotonic: Callable[[], float] = time.monotonic) -> Clock:
    """A clock that reads ``start`` now and runs on at ``monotonic``'s pace."""
    start = start if start.tzinfo is not None else start.replace(tzinfo=UTC)
    began = monotonic()

    def now() -> datetime:
        return start + timedelta(seconds=monotonic() - began)

    return now
