"""Spending quota: every unit a job spends is charged before the call that spends it.

Parallel lanes would all update one ledger row per write and queue on its lock, so a
lane reserves a few writes' worth at a time and gives back what it did not spend when
its batch ends.  A worker that dies mid-batch leaves its reservation counted: the
ledger can only over-count, never let a period overspend.

Channels signed in through one OAuth client charge one ledger (ytsync.ledger): when it
is in another channel's database, a reservation commits there before the job's own
commit, and a refund after it: a failure between the two can only over-count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from ytsync import ledger
from ytsync.config import Settings
from ytsync.db.engine import transaction
from ytsync.db.models import SyncJob
from ytsync.quota import WRITE_COST

# A lane reserves at least ten writes at a time, more while the period has plenty left:
# each reservation locks the ledger row every lane shares, and a crash holds back what
# was reserved (counted as spent for the period, never overspent).  A twentieth of
# what is left keeps that loss under 5% of the period, and the lock traffic low.
RESERVE_CHUNK = 10 * WRITE_COST
RESERVE_SHARE = 20
RESERVE_MAX = 100 * WRITE_COST


class Budget:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        job_id: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        # Sessions on the database of the ledger this channel charges.
        self._ledger = ledger.sessions_for(settings, sessions)
        self._clock = clock
        self._monotonic = monotonic
        self._job_id = job_id
        self._held = 0
        self._held_period: datetime | None = None
        self._period_ends = float("inf")
        # Write units the batch can still spend (None: not known).  A lane never reserves
        # more: what it gives back when its batch ends can come too late for a lane that
        # was refused meanwhile, and the job would sleep on unspent quota.
        self._needs: int | None = None

    def expect_writes(self, count: int) -> None:
        """The batch makes at most ``count`` more writes."""
        self._needs = count * WRITE_COST

    def try_spend(self, units: int, then: Callable[[Session], None] | None = None) -> bool:
        """Charge the ledger and the job, or say no when the usable budget can't pay.

        ``then`` runs in the same transaction when the charge went through: a write
        marks its row in_flight in the commit that pays for it, one round trip fewer.
        """

        def paid_then(session: Session, paid: int) -> None:
            if paid and then is not None:
                then(session)

        return self._spend(units, 1, paid_then) == 1

    def spend_writes(self, count: int, then: Callable[[Session, int], None]) -> int:
        """Pay for up to ``count`` writes at once; ``then(session, n)`` runs in the paying
        commit with the number paid for, which is 0 when not even one write is left."""
        return self._spend(WRITE_COST, count, then)

    def period_is_over(self) -> bool:
        """The period the last payment was made in has ended: writes paid for in it and
        not sent yet must be paid again, or the new period would be overspent."""
        return self._monotonic() >= self._period_ends

    def unspend(self, units: int) -> None:
        """Paid for but never sent: back into the reservation, refunded at ``release``."""
        self._held += units
        if self._needs is not None:
            self._needs += units

    def _spend(self, units: int, count: int, then: Callable[[Session, int], None]) -> int:
        now = self._clock()
        quota_clock = self._settings.quota_clock
        period = quota_clock.period_start(now)
        # Measured on the monotonic clock, so checking it before every send costs nothing.
        ends = self._monotonic() + (quota_clock.next_reset(now) - now).total_seconds()
        held, held_period = self._held, self._held_period
        owed = None
        with transaction(self._sessions) as session:
            if held_period != period:
                owed = self._give_back(session, held, held_period)
                held, held_period = 0, period
            if held < units * count:
                most = RESERVE_MAX if self._needs is None else max(self._needs, units * count)
                least = min(max(RESERVE_CHUNK, units * count), most) - held
                with ledger.session_on(self._settings, self._sessions, session) as book:
                    granted = ledger.reserve(
                        book,
                        period,
                        wanted=lambda left: max(
                            least, min(left // RESERVE_SHARE, RESERVE_MAX, most - held)
                        ),
                        needed=max(0, units - held),
                        limit=self._settings.usable_quota,
                    )
                self._count_for_job(session, granted)
                held += granted
            paid = min(count, held // units)
            held -= paid * units
            then(session, paid)
        self._refund(owed)
        if self._needs is not None and units == WRITE_COST:
            self._needs = max(0, self._needs - paid * units)
        # Only once committed: a rolled-back reservation must not be given back later.
        self._held, self._held_period, self._period_ends = held, held_period, ends
        return paid

    def release(self) -> None:
        """Give back what is reserved and unspent (at the end of a batch)."""
        if self._held:
            with transaction(self._sessions) as session:
                owed = self._give_back(session, self._held, self._held_period)
            self._held = 0
            self._refund(owed)

    def _give_back(
        self, session: Session, held: int, period: datetime | None
    ) -> tuple[datetime, int] | None:
        """Units reserved and not spent go back: to the ledger in this commit when it is
        in this database, else what to refund once this commit is through."""
        if not held or period is None:
            return None
        self._count_for_job(session, -held)
        if self._ledger is not self._sessions:
            return period, held
        ledger.refund(session, period, held)
        return None

    def _refund(self, owed: tuple[datetime, int] | None) -> None:
        if owed is not None:
            with transaction(self._ledger) as session:
                ledger.refund(session, *owed)

    def _count_for_job(self, session: Session, units: int) -> None:
        if units:
            session.execute(
                update(SyncJob)
                .where(SyncJob.id == self._job_id)
                .values(quota_used=SyncJob.quota_used + units)
            )

    def exhausted(self) -> datetime:
        """YouTube refused for quota: close this period; the answer is when to resume."""
        now = self._clock()
        with transaction(self._ledger) as session:
            ledger.mark_exhausted(session, self._settings.quota_clock.period_start(now))
        return self._settings.quota_clock.next_reset(now)

    def next_reset(self) -> datetime:
        return self._settings.quota_clock.next_reset(self._clock())
