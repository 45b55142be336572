"""Spending quota: every unit a job spends is charged before the call that spends it.

Parallel lanes would all update one ledger row per write and queue on its lock, so a
lane reserves a few writes' worth at a time and gives back what it did not spend when
its batch ends.  A worker that dies mid-batch leaves its reservation counted: the
ledger can only over-count, never let a period overspend.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from ytsync import ledger
from ytsync.config import Settings
from ytsync.db.engine import transaction
from ytsync.db.models import SyncJob
from ytsync.quota import WRITE_COST

# Ten writes: a tenth of the lock traffic, and at most this much held back by a crash.
RESERVE_CHUNK = 10 * WRITE_COST


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
        self._held = 0
        self._held_period: datetime | None = None

    def try_spend(self, units: int, then: Callable[[Session], None] | None = None) -> bool:
        """Charge the ledger and the job, or say no when the usable budget can't pay.

        ``then`` runs in the same transaction when the charge went through: a write
        marks its row in_flight in the commit that pays for it, one round trip fewer.
        """
        period = self._settings.quota_clock.period_start(self._clock())
        with transaction(self._sessions) as session:
            if self._held_period != period:
                self._give_back(session)
                self._held_period = period
            if self._held < units:
                need = units - self._held
                granted = ledger.reserve(
                    session,
                    period,
                    wanted=max(RESERVE_CHUNK - self._held, need),
                    needed=need,
                    limit=self._settings.usable_quota,
                )
                if not granted:
                    return False
                self._count_for_job(session, granted)
                self._held += granted
            self._held -= units
            if then is not None:
                then(session)
        return True

    def release(self) -> None:
        """Give back what is reserved and unspent (at the end of a batch)."""
        if self._held:
            with transaction(self._sessions) as session:
                self._give_back(session)

    def _give_back(self, session: Session) -> None:
        if self._held and self._held_period is not None:
            ledger.refund(session, self._held_period, self._held)
            self._count_for_job(session, -self._held)
        self._held = 0

    def _count_for_job(self, session: Session, units: int) -> None:
        session.execute(
            update(SyncJob)
            .where(SyncJob.id == self._job_id)
            .values(quota_used=SyncJob.quota_used + units)
        )

    def exhausted(self) -> datetime:
        """YouTube refused for quota: close this period; the answer is when to resume."""
        now = self._clock()
        with transaction(self._sessions) as session:
            ledger.mark_exhausted(session, self._settings.quota_clock.period_start(now))
        return self._settings.quota_clock.next_reset(now)

    def next_reset(self) -> datetime:
        return self._settings.quota_clock.next_reset(self._clock())
