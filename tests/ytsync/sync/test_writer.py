"""The write protocol in chunks: a worker dying mid-chunk costs look-ups, never a duplicate."""

from __future__ import annotations

import errno
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.support.harness import Installation, install
from tests.support.writing import (
    Lane,
    lease_for,
    ledger,
    make_lane,
    statuses,
    wall_clock,
    writer_for,
)
from ytsync.db.engine import transaction
from ytsync.db.models import Playlist, SyncOperation, utcnow
from ytsync.jobs import create_job
from ytsync.quota import WRITE_COST, QuotaClock
from ytsync.sync import operations as ops
from ytsync.sync.budget import Budget
from ytsync.sync.lease import LeaseBusy, LeaseLost
from ytsync.sync.writer import (
    CHUNK_WRITES,
    FRESH_PLAYLIST,
    FRESH_RETRY_SECONDS,
    RetryLater,
    StopBatch,
)
from ytsync.wire import PauseReason
from ytsync.youtube.client import YouTube
from ytsync_emulator.clock import VirtualClock
from ytsync_emulator.state import NOT_FOUND_AFTER_CREATE_SECONDS


class WorkerDied(BaseException):
    """Like a SIGKILL, nothing in the writer may catch it."""


@pytest.fixture
def lane(tmp_path: Path, database_url: str) -> Lane:
    return make_lane(tmp_path, database_url, wall_clock)


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_worker_dying_mid_chunk_costs_one_chunk_of_look_ups_and_no_duplicate(
    lane: Lane, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst, job_id, op_ids, playlist = lane
    youtube = YouTube(inst.settings)
    insert = youtube.insert_playlist_item
    sent = 0
    dies_at = CHUNK_WRITES + 4  # the 4th send of the second chunk

    def dying_insert(*args: Any) -> str:
        nonlocal sent
        if sent == dies_at:
            raise WorkerDied
        sent += 1
        return insert(*args)

    monkeypatch.setattr(youtube, "insert_playlist_item", dying_insert)
    with pytest.raises(WorkerDied):
        writer_for(inst, job_id, youtube).add_videos(op_ids)

    # The first chunk was recorded in the commit that paid for the second; the whole
    # second chunk is in_flight, sent or not: its outcome is unknown.
    assert statuses(inst, op_ids) == Counter(
        completed=CHUNK_WRITES, in_flight=CHUNK_WRITES, pending=len(op_ids) - 2 * CHUNK_WRITES
    )
    assert len(inst.state.playlist_items(playlist)) == dies_at

    inst.state.clear_log()
    writer_for(inst, job_id, YouTube(inst.settings)).add_videos(op_ids)

    assert statuses(inst, op_ids) == Counter(completed=len(op_ids))
    items = inst.state.playlist_items(playlist)
    assert len(items) == len(set(items)) == len(op_ids), "a duplicate or a missing video"
    calls = Counter(record.method for record in inst.state.requests())
    assert calls["playlistItems.list"] == CHUNK_WRITES, "one look-up per in_flight row"
    assert calls["playlistItems.insert"] == len(op_ids) - dies_at


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_writes_paid_for_in_a_period_that_ends_mid_chunk_are_paid_again_in_the_next(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    quota_clock = QuotaClock(period_seconds=100)
    now = quota_clock.period_start(datetime(2026, 11, 25, 12, tzinfo=UTC)) + timedelta(seconds=95)
    monotonic = 0.0

    def clock() -> datetime:
        return now

    inst, job_id, op_ids, _playlist = make_lane(tmp_path, database_url, clock, period_seconds=100)
    first, second = quota_clock.period_start(now), quota_clock.next_reset(now)
    before = ledger(inst)
    youtube = YouTube(inst.settings)
    insert = youtube.insert_playlist_item
    sent = 0

    def insert_as_time_passes(*args: Any) -> str:
        nonlocal sent, now, monotonic
        item_id = insert(*args)
        sent += 1
        if sent == 3:  # the period ends after three writes of the first chunk
            now, monotonic = now + timedelta(seconds=10), monotonic + 10
        return item_id

    monkeypatch.setattr(youtube, "insert_playlist_item", insert_as_time_passes)
    budget = Budget(inst.settings, inst.sessions, clock, job_id, monotonic=lambda: monotonic)
    writer_for(inst, job_id, youtube, budget).add_videos(op_ids)
    budget.release()

    spent = ledger(inst)
    assert spent[first] - before[first] == 3 * WRITE_COST, "only what was sent before the end"
    assert spent[second] == (len(op_ids) - 3) * WRITE_COST
    assert statuses(inst, op_ids) == Counter(completed=len(op_ids))


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_stalled_attempt_loses_its_lane_and_sends_nothing_after_the_takeover(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Temporal retries a batch whose attempt stopped heartbeating; the old attempt may
    wake up later.  Only one of them may write: no video twice, none lost."""
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)

    def clock() -> datetime:
        return now

    inst, job_id, op_ids, playlist = make_lane(tmp_path, database_url, clock)
    ttl = timedelta(seconds=inst.settings.lane_lease_seconds)
    stalled = YouTube(inst.settings)
    insert = stalled.insert_playlist_item
    sent = 0
    takeover: list[int] = []

    def stall_then_wake(*args: Any) -> str:
        nonlocal sent, now
        item_id = insert(*args)
        sent += 1
        if sent == CHUNK_WRITES + 2:
            # Frozen past the lease: Temporal's retry takes the lane and finishes it.
            with pytest.raises(LeaseBusy):
                lease_for(inst, job_id, clock)
            now += ttl
            retry = writer_for(
                inst, job_id, YouTube(inst.settings), lease=lease_for(inst, job_id, clock)
            )
            retry.add_videos(op_ids)
            takeover.append(retry.done)
        return item_id

    monkeypatch.setattr(stalled, "insert_playlist_item", stall_then_wake)
    first = writer_for(inst, job_id, stalled, lease=lease_for(inst, job_id, clock))
    with pytest.raises(LeaseLost):
        first.add_videos(op_ids)

    assert takeover == [len(op_ids)], "the retry settled every row"
    items = inst.state.playlist_items(playlist)
    assert len(items) == len(set(items)) == len(op_ids), "a duplicate or a missing video"
    assert sent == CHUNK_WRITES + 2, "the stalled attempt sent nothing after waking"
    assert statuses(inst, op_ids) == Counter(completed=len(op_ids))


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_deletions_in_chunks_count_a_playlist_already_gone_as_deleted(
    tmp_path: Path, database_url: str
) -> None:
    inst = install(tmp_path, database_url, wall_clock, videos=120, playlists=14, seed=6)
    job_id = create_job(inst.settings, inst.sessions, wall_clock()).id
    with transaction(inst.sessions) as session:
        ops.plan_deletions(session, job_id)
    with inst.sessions() as session:
        op_ids = ops.next_open(session, job_id, ops.DELETE, 1_000)
        old = list(session.scalars(select(Playlist.youtube_id)))
    assert len(op_ids) > CHUNK_WRITES
    with inst.state.lock:
        del inst.state.playlists[old[0]]  # deleted by hand on YouTube meanwhile

    writer = writer_for(inst, job_id, YouTube(inst.settings))
    writer.delete_playlists(op_ids)

    assert writer.done == len(op_ids)
    assert statuses(inst, op_ids) == Counter(completed=len(op_ids))
    assert not set(old) & set(inst.state.playlists), "an old playlist is still there"
    with inst.sessions() as session:
        left = session.scalars(
            select(Playlist.id).where(Playlist.deleted_from_youtube_at.is_(None))
        )
        assert list(left) == []


# ------------------------------------------------------------ what YouTube's answers mean


def backdate_creations(inst: Installation, job_id: int, by: timedelta) -> None:
    with transaction(inst.sessions) as session:
        session.execute(
            update(SyncOperation)
            .where(SyncOperation.job_id == job_id, SyncOperation.kind == ops.CREATE)
            .values(updated_at=utcnow() - by)
        )


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_an_insert_into_a_playlist_made_moments_ago_is_tried_again_not_failed(
    tmp_path: Path, database_url: str
) -> None:
    # The emulator's clock stands still until moved: the insert meets the 404 however
    # slowly the machine runs.
    clock = VirtualClock(wall_clock())
    inst, job_id, op_ids, playlist = make_lane(
        tmp_path,
        database_url,
        clock,
        not_found_after_create_seconds=NOT_FOUND_AFTER_CREATE_SECONDS,
    )
    budget = Budget(inst.settings, inst.sessions, wall_clock, job_id)
    with pytest.raises(RetryLater) as retry:
        writer_for(inst, job_id, YouTube(inst.settings), budget).add_videos(op_ids)
    budget.release()
    assert retry.value.delay == timedelta(seconds=FRESH_RETRY_SECONDS)
    assert "playlistNotFound" in str(retry.value)
    (refused,) = inst.state.requests("playlistItems.insert")
    assert refused.status == 404, "the first insert met the 404; the rest were not sent"
    assert statuses(inst, op_ids) == Counter(pending=len(op_ids)), "none failed"
    assert sum(ledger(inst).values()) == inst.state.quota_used(), "the 404 was paid for"

    clock.advance(NOT_FOUND_AFTER_CREATE_SECONDS)  # YouTube caught up
    writer_for(inst, job_id, YouTube(inst.settings)).add_videos(op_ids)
    assert statuses(inst, op_ids) == Counter(completed=len(op_ids))
    items = inst.state.playlist_items(playlist)
    assert len(items) == len(set(items)) == len(op_ids)


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_an_insert_into_a_playlist_gone_for_good_fails_once_it_is_not_new(
    tmp_path: Path, database_url: str
) -> None:
    """The 404 counts as "not yet" only within FRESH_PLAYLIST of the creation: an insert
    into a playlist that is really gone does not retry forever."""
    inst, job_id, op_ids, playlist = make_lane(tmp_path, database_url, wall_clock)
    with inst.state.lock:
        del inst.state.playlists[playlist]  # deleted by hand on YouTube
    with pytest.raises(RetryLater):
        writer_for(inst, job_id, YouTube(inst.settings)).add_videos(op_ids)
    backdate_creations(inst, job_id, FRESH_PLAYLIST + timedelta(minutes=1))
    writer_for(inst, job_id, YouTube(inst.settings)).add_videos(op_ids)
    assert statuses(inst, op_ids) == Counter(failed=len(op_ids))
    with inst.sessions() as session:
        errors = session.scalars(select(SyncOperation.error).where(SyncOperation.id.in_(op_ids)))
        assert all("playlistNotFound" in (error or "") for error in errors)


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_local_failure_after_a_send_pauses_and_spends_nothing_more(
    lane: Lane, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while the answer is being kept (the refreshed token saved, say): not
    YouTube's answer, not a reason to send again in a loop that spends quota."""
    inst, job_id, op_ids, playlist = lane
    youtube = YouTube(inst.settings)
    insert = youtube.insert_playlist_item
    sent = 0

    def insert_then_disk_full(*args: Any) -> str:
        nonlocal sent
        item_id = insert(*args)
        sent += 1
        if sent == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return item_id

    monkeypatch.setattr(youtube, "insert_playlist_item", insert_then_disk_full)
    budget = Budget(inst.settings, inst.sessions, wall_clock, job_id)
    with pytest.raises(StopBatch) as stop:
        writer_for(inst, job_id, youtube, budget).add_videos(op_ids)
    budget.release()

    assert stop.value.stop == PauseReason.AUTH and stop.value.resume_at is None
    assert stop.value.message.startswith("a problem on this machine, not YouTube's answer")
    assert "No space left on device" in stop.value.message
    assert sent == 3, "nothing sent after the local failure"
    # The third write was applied but its answer was lost here: unknown, so in_flight.
    assert statuses(inst, op_ids) == Counter(completed=2, in_flight=1, pending=len(op_ids) - 3)
    assert sum(ledger(inst).values()) == inst.state.quota_used()

    inst.state.clear_log()
    writer_for(inst, job_id, YouTube(inst.settings)).add_videos(op_ids)  # disk fixed
    assert statuses(inst, op_ids) == Counter(completed=len(op_ids))
    items = inst.state.playlist_items(playlist)
    assert len(items) == len(set(items)) == len(op_ids), "a duplicate or a missing video"
    assert len(inst.state.requests("playlistItems.list")) == 1, "one look-up for the unknown"


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_look_up_that_fails_is_sent_again_and_every_send_is_paid(
    lane: Lane, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst, job_id, op_ids, playlist = lane
    with transaction(inst.sessions) as session:  # a crash left three rows in_flight
        session.execute(
            update(SyncOperation).where(SyncOperation.id.in_(op_ids[:3])).values(status="in_flight")
        )
    inst.state.clear_log()
    inst.state.faults.add(method="playlistItems.list", kind="error_5xx", count=2)
    inst.state.faults.add(method="playlistItems.list", kind="rate_limit_429", count=1)
    youtube = YouTube(inst.settings, sleep=lambda _seconds: None)
    budget = Budget(inst.settings, inst.sessions, wall_clock, job_id)
    writer_for(inst, job_id, youtube, budget).add_videos(op_ids)
    budget.release()

    assert statuses(inst, op_ids) == Counter(completed=len(op_ids))
    assert len(inst.state.requests("playlistItems.list")) == 3 + 3, "three look-ups, three again"
    assert sum(ledger(inst).values()) == inst.state.quota_used(), "the ledger saw every send"
    items = inst.state.playlist_items(playlist)
    assert len(items) == len(set(items)) == len(op_ids)
