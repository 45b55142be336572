"""A Writer on one lane of an installation, without Temporal, and what it wrote."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tests.support.harness import Installation, install
from ytsync.db.engine import transaction
from ytsync.db.models import Category, QuotaLedger, SyncOperation
from ytsync.jobs import create_job
from ytsync.plan import apply_plan
from ytsync.sync import operations as ops
from ytsync.sync.budget import Budget
from ytsync.sync.lease import Lease
from ytsync.sync.writer import (
    CHUNK_WRITES,
    Writer,
)
from ytsync.youtube.client import YouTube


def wall_clock() -> datetime:
    return datetime.now(UTC)


def lease_for(
    inst: Installation, job_id: int, clock: Callable[[], datetime] = wall_clock, lane: int = 1
) -> Lease:
    lease = Lease(inst.sessions, clock, inst.settings.lane_lease_seconds, job_id, "test", lane)
    lease.claim()
    return lease


def writer_for(
    inst: Installation,
    job_id: int,
    youtube: YouTube,
    budget: Budget | None = None,
    lease: Lease | None = None,
) -> Writer:
    budget = budget or Budget(inst.settings, inst.sessions, wall_clock, job_id)
    # A lane of its own unless given: these tests are not about two attempts at once.
    lease = lease or lease_for(inst, job_id, lane=int(uuid.uuid4().int % 10**9))
    return Writer(
        sessions=inst.sessions, youtube=youtube, budget=budget, lease=lease, job_id=job_id
    )


def statuses(inst: Installation, op_ids: list[int]) -> Counter[str]:
    with inst.sessions() as session:
        rows = session.execute(
            select(SyncOperation.status, func.count())
            .where(SyncOperation.id.in_(op_ids))
            .group_by(SyncOperation.status)
        )
        return Counter({status: int(count) for status, count in rows})


Lane = tuple[Installation, int, list[int], str]


def make_lane(
    tmp_path: Path,
    database_url: str,
    clock: Callable[[], datetime],
    **options: Any,
) -> Lane:
    """A job with its playlists made and one lane of 60 additions planned.

    The emulator's "just created" 404 and its list lag are off unless ``options`` turn
    them on: these tests insert at once into the playlists they made, and test the
    writer's own look-up (the settled checks are tested in test_safety)."""
    options.setdefault("not_found_after_create_seconds", 0)
    options.setdefault("list_lag_seconds", 0)
    options.setdefault("list_lag_jitter_seconds", 0)
    inst = install(
        tmp_path, database_url, clock, videos=200, playlists=4, seed=5, plan=False, **options
    )
    videos = sorted({video for _category, video, _protected in inst.plan_rows})[:60]
    apply_plan(inst.sessions, inst.write_plan([("Big", video, False) for video in videos]))
    job_id = create_job(inst.settings, inst.sessions, clock()).id
    with transaction(inst.sessions) as session:
        ops.plan_creations(session, job_id)
    with inst.sessions() as session:
        creations = ops.next_open(session, job_id, ops.CREATE, 1_000)
    budget = Budget(inst.settings, inst.sessions, clock, job_id)
    writer_for(inst, job_id, YouTube(inst.settings), budget).create_playlists(creations)
    budget.release()
    with transaction(inst.sessions) as session:
        ops.plan_additions(session, job_id, {})
    with inst.sessions() as session:
        category_id = ops.open_lanes(session, job_id)[-1]
        op_ids = ops.next_open(session, job_id, ops.ADD, 1_000, category_id)
        playlist = session.get_one(Category, category_id).youtube_playlist_id
    assert playlist is not None and len(op_ids) > 2 * CHUNK_WRITES
    return inst, job_id, op_ids, playlist


def ledger(inst: Installation) -> dict[datetime, int]:
    with inst.sessions() as session:
        rows = session.execute(select(QuotaLedger.period_start, QuotaLedger.units_used))
        return {start.replace(tzinfo=UTC): int(used) for start, used in rows}
