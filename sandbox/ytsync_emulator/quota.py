"""YouTube's quota as Google documents it, written down here on purpose.

The emulator charges every request from this table, not from the product's own
(``ytsync.quota``): a wrong cost there then shows as a difference between what ytsync
believes it spent and what the emulator counted, instead of being copied into both.

Costs are the YouTube Data API v3 "Quota Calculator" units per call
(https://developers.google.com/youtube/v3/determine_quota_cost): every ``list`` is 1,
every ``insert``, ``update`` and ``delete`` is 50, ``search.list`` is 100.  The daily
quota resets at midnight Pacific time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

# Units per call, by API method, for the resources the emulator serves and their
# neighbours (a method listed here but not served still has its documented price).
COSTS: dict[str, int] = {
    "channels.list": 1,
    "channels.update": 50,
    "playlists.list": 1,
    "playlists.insert": 50,
    "playlists.update": 50,
    "playlists.delete": 50,
    "playlistItems.list": 1,
    "playlistItems.insert": 50,
    "playlistItems.update": 50,
    "playlistItems.delete": 50,
    "videos.list": 1,
    "videos.update": 50,
    "videos.delete": 50,
    "videos.rate": 50,
    "subscriptions.list": 1,
    "search.list": 100,
}

# Google's default daily quota of a Cloud project.
DEFAULT_DAILY_LIMIT = 10_000
RESET_TIMEZONE = "America/Los_Angeles"


def cost(method: str) -> int:
    """Units one call of ``method`` (``"playlists.insert"``) costs."""
    return COSTS[method]


def is_write(method: str) -> bool:
    """A call that changes the library (what write hooks and faults are about)."""
    return not method.endswith(".list")


@dataclass(frozen=True)
class QuotaPeriods:
    """Quota periods: days from midnight in ``timezone`` (YouTube's: Pacific time), or,
    for demos and tests, ``period_seconds`` long, aligned to multiples of that many
    seconds since the Unix epoch."""

    timezone: str = RESET_TIMEZONE
    period_seconds: int | None = None

    def period_start(self, now: datetime) -> datetime:
        """Start (UTC) of the period that contains ``now``."""
        now = _as_utc(now)
        if self.period_seconds:
            epoch = int(now.timestamp())
            return datetime.fromtimestamp(epoch - epoch % self.period_seconds, UTC)
        local = now.astimezone(ZoneInfo(self.timezone))
        midnight = datetime(local.year, local.month, local.day, tzinfo=local.tzinfo)
        return midnight.astimezone(UTC)

    def next_reset(self, now: datetime) -> datetime:
        """Start (UTC) of the period after the one that contains ``now``."""
        now = _as_utc(now)
        if self.period_seconds:
            return self.period_start(now) + timedelta(seconds=self.period_seconds)
        local = now.astimezone(ZoneInfo(self.timezone))
        # The next calendar day's midnight, found from local noon so that days of 23
        # or 25 hours (DST changes) still land on the right day.
        noon = datetime(local.year, local.month, local.day, 12, tzinfo=local.tzinfo)
        tomorrow = (noon + timedelta(days=1)).date()
        midnight = datetime(
            tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=ZoneInfo(self.timezone)
        )
        return midnight.astimezone(UTC)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
