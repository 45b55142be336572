"""The quota ledger: units this database's jobs spent in each quota period.

Charges are atomic conditional UPDATEs, so parallel activities (threads or processes)
can never overspend a period between them, on SQLite or PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ytsync.db.models import QuotaLedger, utcnow


def _ensure_row(session: Session, period_start: datetime) -> None:
    # Here, not at the top: the PostgreSQL dialect's module is heavy, and 'status'
    # reads the ledger without ever writing to it.
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {
        "period_start": period_start,
        "units_used": 0,
        "exhausted": False,
        "updated_at": utcnow(),
    }
    session.execute(insert(QuotaLedger).values(**values).on_conflict_do_nothing())


def _charge_within(session: Session, period_start: datetime, units: int, limit: int) -> bool:
    result = session.execute(
        update(QuotaLedger)
        .where(
            QuotaLedger.period_start == period_start,
            QuotaLedger.units_used + units <= limit,
            QuotaLedger.exhausted.is_(False),
        )
        .values(units_used=QuotaLedger.units_used + units, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def reserve(
    session: Session, period_start: datetime, wanted: Callable[[int], int], needed: int, limit: int
) -> int:
    """Take ``wanted(left)`` units of the ``left`` the period has, and at least ``needed``;
    0 when fewer than ``needed`` are left.  Atomic under concurrent reservations."""
    while True:
        row = session.execute(
            select(QuotaLedger.units_used, QuotaLedger.exhausted).where(
                QuotaLedger.period_start == period_start
            )
        ).first()
        if row is None:
            _ensure_row(session, period_start)
            continue
        used, exhausted = int(row[0]), bool(row[1])
        left = limit - used
        if exhausted or left < needed:
            return 0
        grant = min(max(wanted(left), needed), left)
        if _charge_within(session, period_start, grant, limit):
            return grant
        # Another lane reserved in between: look again.


def refund(session: Session, period_start: datetime, units: int) -> None:
    """Give back reserved units that were not spent."""
    session.execute(
        update(QuotaLedger)
        .where(QuotaLedger.period_start == period_start, QuotaLedger.units_used >= units)
        .values(units_used=QuotaLedger.units_used - units, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def charge(session: Session, period_start: datetime, units: int) -> None:
    """Record units already spent (reads of an import), whatever the limit."""
    _ensure_row(session, period_start)
    session.execute(
        update(QuotaLedger)
        .where(QuotaLedger.period_start == period_start)
        .values(units_used=QuotaLedger.units_used + units, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def mark_exhausted(session: Session, period_start: datetime) -> None:
    """YouTube said quotaExceeded: nothing more is spent in this period."""
    _ensure_row(session, period_start)
    session.execute(
        update(QuotaLedger)
        .where(QuotaLedger.period_start == period_start)
        .values(exhausted=True, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def remaining(session: Session, period_start: datetime, limit: int) -> int:
    row = session.execute(
        select(QuotaLedger.units_used, QuotaLedger.exhausted).where(
            QuotaLedger.period_start == period_start
        )
    ).first()
    if row is None:
        return limit
    used, exhausted = row
    return 0 if exhausted else max(0, limit - int(used))
