"""Clocks the emulator reads: the wall clock by default, a virtual one in tests.

Quota periods and access-token lifetimes are judged by ``EmulatorState.clock``, so a test
can move days ahead (to cross a quota reset, or to expire tokens) without sleeping.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


def utc_now() -> datetime:
    return datetime.now(UTC)


class VirtualClock:
    """A thread-safe settable clock; call it to read the time."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        """Move forward by ``seconds`` (plus any ``timedelta`` keywords); returns the new time."""
        with self._lock:
            self._now += timedelta(seconds=seconds, **delta)
            return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        with self._lock:
            self._now = moment
