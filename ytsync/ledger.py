"""The quota ledger: units the jobs spent in each quota period.

Charges are atomic conditional UPDATEs, so parallel activities (threads or processes)
can never overspend a period between them, on SQLite or PostgreSQL alike.

The quota is the Google Cloud project's, so channels signed in through one OAuth client
share one ledger, in one of their databases (``Settings.quota_ledger_url``, see
ytsync.config.share_quotas): ``sessions_for`` gives the sessions to charge it through.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from ytsync.config import Settings
from ytsync.db.models import QuotaLedger, utcnow

# Ledgers kept in another channel's database, opened once per process.
_shared: dict[str, tuple[Engine, sessionmaker[Session]]] = {}
_shared_lock = threading.Lock()


def sessions_for(settings: Settings, own: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions on the database whose ledger ``settings``' channel charges: ``own`` (its
    database's), or those of the channel that keeps its OAuth client's ledger."""
    url = settings.quota_ledger_url
    return own if url is None or url == settings.database_url else _shared_sessions(url)


def _shared_sessions(url: str) -> sessionmaker[Session]:
    with _shared_lock:
        found = _shared.get(url)
        if found is None:
            from ytsync.db.engine import make_engine, session_factory, upgrade

            engine = make_engine(url)
            try:
                upgrade(engine)
            except BaseException:
                engine.dispose()
                raise
            found = _shared[url] = (engine, session_factory(engine))
        return found[1]


def close_shared() -> None:
    """Close the ledgers opened in other channels' databases."""
    with _shared_lock:
        for engine, _sessions in _shared.values():
            engine.dispose()
        _shared.clear()


@contextmanager
def session_on(
    settings: Settings, own: sessionmaker[Session], session: Session
) -> Iterator[Session]:
    """A session on the ledger: ``session`` itself when the ledger is in its database
    (one commit for both), else a transaction of its own on the ledger's database,
    committed first: a failure after it can only over-count, never overspend."""
    ledger = sessions_for(settings, own)
    if ledger is own:
        yield session
        return
    from ytsync.db.engine import transaction

    with transaction(ledger) as shared:
        yield shared


def today(settings: Settings, session: Session, period_start: datetime) -> tuple[int, bool]:
    """(units used, exhausted) of the period in the channel's ledger; ``session`` is on
    the channel's own database."""
    url = settings.quota_ledger_url
    if url is None or url == settings.database_url:
        return _row(session, period_start)
    with _shared_sessions(url)() as shared:
        return _row(shared, period_start)


def remaining_for(settings: Settings, session: Session, period_start: datetime) -> int:
    """What the period has left for the channel's jobs (its group's, when shared)."""
    used, exhausted = today(settings, session, period_start)
    return 0 if exhausted else max(0, settings.usable_quota - used)


def _row(session: Session, period_start: datetime) -> tuple[int, bool]:
    row = session.execute(
        select(QuotaLedger.units_used, QuotaLedger.exhausted).where(
            QuotaLedger.period_start == period_start
        )
    ).first()
    return (0, False) if row is None else (int(row[0]), bool(row[1]))


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
