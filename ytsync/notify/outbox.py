"""The notifications table as an outbox: record once, claim, mark.

A row is unique per job and event: a step retried after its commit, a worker killed
mid-step or a replayed workflow records nothing twice.  A sender claims a row with a
conditional UPDATE, so several workers never send one message twice; a claim whose
worker died is taken over once it is ``CLAIM_SECONDS`` old (the message may then go
twice: a sender that died mid-send cannot say whether it went).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ytsync.db.models import Notification
from ytsync.logs import mask

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
# Longer than any delivery can take (Apprise's timeouts are a few seconds a service).
CLAIM_SECONDS = 120.0


@dataclass(frozen=True)
class Message:
    event: str
    title: str
    body: str


def record(session: Session, job_id: int, message: Message) -> bool:
    """Add ``message`` to the outbox in the caller's transaction, unless the job has one
    for its event already (a conflict inserts nothing and leaves the transaction whole).
    True when it was added."""
    values = {
        "job_id": job_id,
        "event": message.event,
        # Whatever a message quotes (a pause's reason, a YouTube error), no secret.
        "title": mask(message.title),
        "body": mask(message.body),
        "status": PENDING,
        "attempts": 0,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Notification)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["job_id", "event"])
        .returning(Notification.id)
    )
    return session.execute(statement).first() is not None


def recorded(session: Session, job_id: int, prefix: str) -> list[str]:
    """The events of ``job_id`` starting with ``prefix``."""
    return list(
        session.scalars(
            select(Notification.event).where(
                Notification.job_id == job_id, Notification.event.startswith(prefix)
            )
        )
    )


def due(session: Session, now: datetime, limit: int = 50) -> Sequence[Notification]:
    """Rows to send now: pending ones whose next try has come, and claims left by a
    sender that died."""
    stale = now - timedelta(seconds=CLAIM_SECONDS)
    return session.scalars(
        select(Notification)
        .where(
            or_(
                and_(
                    Notification.status == PENDING,
                    or_(
                        Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now
                    ),
                ),
                and_(Notification.status == SENDING, Notification.claimed_at < stale),
            )
        )
        .order_by(Notification.id)
        .limit(limit)
    ).all()


def next_due(session: Session) -> datetime | None:
    """When the earliest pending retry is due."""
    return session.scalar(
        select(Notification.next_attempt_at)
        .where(Notification.status == PENDING, Notification.next_attempt_at.is_not(None))
        .order_by(Notification.next_attempt_at)
        .limit(1)
    )


def claim(session: Session, row: Notification, now: datetime) -> bool:
    """Take ``row`` for sending, if it is still as read; True when this sender has it."""
    claimed = session.execute(
        update(Notification)
        .where(
            Notification.id == row.id,
            Notification.status == row.status,
            Notification.attempts == row.attempts,
        )
        .values(status=SENDING, claimed_at=now, attempts=Notification.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    count: int = claimed.rowcount  # type: ignore[attr-defined]
    return count == 1


def finish(
    session: Session,
    row: Notification,
    now: datetime,
    *,
    sent: bool,
    retry_at: datetime | None,
) -> None:
    """Sent; or not, and tried again at ``retry_at`` (None: given up).  Only while this
    sender's claim holds (``row.attempts`` as claimed)."""
    if sent:
        values: dict[str, object] = {"status": SENT, "sent_at": now}
    elif retry_at is not None:
        values = {"status": PENDING, "next_attempt_at": retry_at}
    else:
        values = {"status": FAILED}
    session.execute(
        update(Notification)
        .where(
            Notification.id == row.id,
            Notification.status == SENDING,
            Notification.attempts == row.attempts + 1,
        )
        .values(claimed_at=None, **values)
        .execution_options(synchronize_session=False)
    )
