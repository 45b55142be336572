"""Spending quota: every unit a job spends is charged before the call that spends it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from ytsync import ledger
from ytsync.config import Settings
from ytsync.db.engine import transaction
from ytsync.db.models import SyncJob


class Budget:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        job_id: int,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._clock = clock
        self._job_id = job_id

    def try_spend(self, units: int, then: Callable[[Session], None] | None = None) -> bool:
        """Charge the ledger and the job, or say no when the usable budget can't pay.

        ``then`` runs in the same transaction when the charge went through: a write
        marks its row in_flight in the commit that pays for it, one round trip fewer.
        """
        period = self._settings.quota_clock.period_start(self._clock())
        with transaction(self._sessions) as session:
            if not ledger.try_charge(session, period, units, self._settings.usable_quota):
                return False
            session.execute(
                update(SyncJob)
                .where(SyncJob.id == self._job_id)
                .values(quota_used=SyncJob.quota_used + units)
            )
            if then is not None:
                then(session)
        return True

    def exhausted(self) -> datetime:
        """YouTube refused for quota: close this period; the answer is when to resume."""
        now = self._clock()
        with transaction(self._sessions) as session:
            ledger.mark_exhausted(session, self._settings.quota_clock.period_start(now))
        return self._settings.quota_clock.next_reset(now)

    def next_reset(self) -> datetime:
        return self._settings.quota_clock.next_reset(self._clock())
