"""One attempt at a time writes into a lane: leases that a stalled attempt loses.

Temporal retries a batch whose attempt stopped heartbeating, but that attempt may only
be stalled (a frozen VM, a worker cut off from Temporal but not from YouTube) and go on
sending.  Two attempts would each look up the same in_flight rows and write them twice.
So a batch first takes its lane's lease; a new attempt takes it over only once the
holder stopped renewing it for ``Settings.lane_lease_seconds``, longer than any request
the holder can still have in flight.  The holder renews it in every commit and before a
send whenever a third of that time passed since, and stops when it finds it taken.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session, sessionmaker

from ytsync.db.engine import transaction
from ytsync.db.models import LaneLease, SyncJob


class LeaseBusy(Exception):
    """Another attempt holds the lane and may still be writing: try again later."""

    def __init__(self, wait: timedelta) -> None:
        super().__init__(
            f"an earlier attempt of this batch may still be writing; retrying in {wait}"
        )
        self.wait = wait


class LeaseLost(Exception):
    """A newer attempt took the lane over: this one must not send anything more."""


class Lease:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        seconds: float,
        job_id: int,
        kind: str,
        lane: int | None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._ttl = timedelta(seconds=seconds)
        self._key = (job_id, kind, lane or 0)
        self.holder = uuid.uuid4().hex
        self._renewed: datetime | None = None

    def claim(self, then: Callable[[Session, datetime], None] | None = None) -> None:
        """Take the lane, or raise LeaseBusy while its holder may be alive.

        ``then`` runs in the claiming commit when the lane is taken over from a holder
        that never released it (it died, or stalled past its lease): whatever it sent
        and did not record went out before now."""
        job_id, kind, lane = self._key
        now = self._clock()
        with transaction(self._sessions) as session:
            lease = session.scalars(
                select(LaneLease)
                .where(LaneLease.job_id == job_id, LaneLease.kind == kind, LaneLease.lane == lane)
                .with_for_update()
            ).one_or_none()
            if lease is None:
                lease = LaneLease(job_id=job_id, kind=kind, lane=lane, holder=self.holder)
                lease.renewed_at = now
                session.add(lease)
            else:
                expires = lease.renewed_at + self._ttl
                if not lease.released and now < expires:
                    raise LeaseBusy(expires - now)
                if not lease.released and then is not None:
                    then(session, now)
                lease.holder, lease.renewed_at, lease.released = self.holder, now, False
        self._renewed = now

    def renew_in(self, session: Session) -> bool:
        """Renew inside a commit that is about to let writes go out; LeaseLost rolls it
        back when another attempt holds the lane.

        True when the user asked for a pause of the job: the same statement reads the
        job row's request, so a batch sees a pause at every commit without one more
        round trip.
        """
        now = self._clock()
        pause_requested = (
            select(SyncJob.pause_requested_at.is_not(None))
            .where(SyncJob.id == self._key[0])
            .scalar_subquery()
        )
        renewed = session.execute(
            update(LaneLease)
            .where(*self._mine())
            .values(renewed_at=now)
            .returning(pause_requested)
            .execution_options(synchronize_session=False)
        ).all()
        if len(renewed) != 1:
            raise LeaseLost("a newer attempt of this batch took its lane over")
        self._renewed = now
        return bool(renewed[0][0])

    def keep_fresh(self) -> bool:
        """Before a send: renew when a third of the lease has passed since the last time.
        True when that renewal found a pause requested."""
        if self._renewed is None or self._clock() - self._renewed >= self._ttl / 3:
            with transaction(self._sessions) as session:
                return self.renew_in(session)
        return False

    def release(self) -> None:
        with transaction(self._sessions) as session:
            session.execute(
                update(LaneLease)
                .where(*self._mine())
                .values(released=True)
                .execution_options(synchronize_session=False)
            )

    def _mine(self) -> list[ColumnElement[bool]]:
        job_id, kind, lane = self._key
        return [
            LaneLease.job_id == job_id,
            LaneLease.kind == kind,
            LaneLease.lane == lane,
            LaneLease.holder == self.holder,
        ]
