"""The quota clock: pure functions shared by activities, the emulator and the workflow.

YouTube resets the daily quota at midnight Pacific time.  Demos and tests use a short
period instead (``period_seconds``), aligned to multiples of N seconds since the Unix
epoch so that every process computes the same boundaries without talking to each other.

Nothing here does I/O or reads the clock; callers pass ``now`` in.  That keeps the module
safe to import into workflow code (through ``imports_passed_through``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

LIST_COST = 1
WRITE_COST = 50


@dataclass(frozen=True)
class QuotaClock:
    """Where quota periods start and end."""

    timezone: str = "America/Los_Angeles"
    period_seconds: int | None = None

    def period_start(self, now: datetime) -> datetime:
        """Start (UTC) of the quota period that contains ``now``."""
        now = _as_utc(now)
        if self.period_seconds:
            epoch = int(now.timestamp())
            return datetime.fromtimestamp(epoch - epoch % self.period_seconds, UTC)
        local = now.astimezone(ZoneInfo(self.timezone))
        midnight = datetime(local.year, local.month, local.day, tzinfo=local.tzinfo)
        return midnight.astimezone(UTC)

    def next_reset(self, now: datetime) -> datetime:
        """Start (UTC) of the quota period after the one that contains ``now``."""
        now = _as_utc(now)
        if self.period_seconds:
            return self.period_start(now) + timedelta(seconds=self.period_seconds)
        local = now.astimezone(ZoneInfo(self.timezone))
        # Step a day forward from local noon, so DST days of 23 or 25 hours land on
        # the next calendar day, then take that day's midnight.
        noon = datetime(local.year, local.month, local.day, 12, tzinfo=local.tzinfo)
        tomorrow = (noon + timedelta(days=1)).date()
        midnight = datetime(
            tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=ZoneInfo(self.timezone)
        )
        return midnight.astimezone(UTC)

    def period_length(self, now: datetime) -> timedelta:
        return self.next_reset(now) - self.period_start(now)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
