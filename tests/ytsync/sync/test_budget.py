"""Quota reservations: lanes take a few writes' worth at a time, never overspend a period."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ytsync.config import Settings
from ytsync.db.engine import transaction
from ytsync.db.models import QuotaLedger, SyncJob
from ytsync.sync.budget import RESERVE_CHUNK, Budget

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def budget_for(sessions: sessionmaker[Session], tmp_path: Path, usable: int) -> Budget:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        daily_quota=usable + 1_000,
        quota_reserve=1_000,
    )
    with transaction(sessions) as session:
        job = SyncJob(workflow_id="wf-budget")
        session.add(job)
        session.flush()
        job_id = job.id
    return Budget(settings, sessions, lambda: NOW, job_id)


def spent(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with sessions() as session:
        ledger = sum(session.scalars(select(QuotaLedger.units_used)))
        job = session.scalars(select(SyncJob.quota_used)).one()
        return int(ledger), int(job)


def test_reserves_a_chunk_and_gives_back_the_rest(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    budget = budget_for(sessions, tmp_path, usable=9_000)
    assert budget.try_spend(50)
    assert spent(sessions) == (RESERVE_CHUNK, RESERVE_CHUNK)
    assert budget.try_spend(50)
    assert spent(sessions) == (RESERVE_CHUNK, RESERVE_CHUNK), "no new lock for the 2nd write"
    budget.release()
    assert spent(sessions) == (100, 100)


def test_never_overspends_and_returns_the_remainder(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    budget = budget_for(sessions, tmp_path, usable=120)
    assert budget.try_spend(50)
    assert budget.try_spend(50)
    assert not budget.try_spend(50), "20 units left cannot pay a write"
    assert spent(sessions)[0] == 120
    budget.release()
    assert spent(sessions) == (100, 100)


def test_a_rolled_back_charge_is_not_given_back_later(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    budget = budget_for(sessions, tmp_path, usable=9_000)

    def fail(_session: Session) -> None:
        raise RuntimeError("database connection dropped")

    with pytest.raises(RuntimeError):
        budget.try_spend(50, then=fail)
    assert spent(sessions) == (0, 0)
    budget.release()
    assert spent(sessions) == (0, 0), "a refund of units never charged would allow overspending"
    assert budget.try_spend(50)
    budget.release()
    assert spent(sessions) == (50, 50)


def test_pays_for_a_chunk_of_writes_or_as_many_as_are_left(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    budget = budget_for(sessions, tmp_path, usable=170)
    paid_for: list[int] = []

    def note(_session: Session, paid: int) -> None:
        paid_for.append(paid)

    assert budget.spend_writes(10, note) == 3, "170 units pay for 3 of 10 writes"
    assert budget.spend_writes(10, note) == 0
    assert paid_for == [3, 0], "the paying commit always runs, to record what came before"
    budget.release()
    assert spent(sessions) == (150, 150)


def test_writes_paid_for_but_never_sent_are_given_back(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    budget = budget_for(sessions, tmp_path, usable=9_000)
    assert budget.spend_writes(10, lambda _s, _n: None) == 10
    budget.unspend(7 * 50)
    budget.release()
    assert spent(sessions) == (150, 150)


def test_a_batch_reserves_no_more_than_the_writes_it_has_left(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    budget = budget_for(sessions, tmp_path, usable=9_000)
    budget.expect_writes(3)
    assert budget.spend_writes(2, lambda _s, _n: None) == 2
    assert spent(sessions) == (150, 150), "three writes' worth, not a chunk of ten"
    assert budget.spend_writes(1, lambda _s, _n: None) == 1
    assert spent(sessions) == (150, 150), "the third was already paid for"
    budget.release()
    assert spent(sessions) == (150, 150), "nothing held back to give"
