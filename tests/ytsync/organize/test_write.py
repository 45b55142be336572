"""An organize run's writes, step by step without Temporal, through the real client on the
emulator, on SQLite and PostgreSQL: the job a run makes, verify before remove, what each
video's writes did, and the uploads left untouched.

Lists show writes at once here and the settle is 0, so a test drives the steps one
after the other; the list lag and lost answers are the workflow tests' subject.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.harness import Installation, install
from tests.support.organize import Arrivals, new_videos, rules_for, synced
from ytsync.channels import Channel
from ytsync.db.engine import transaction
from ytsync.db.models import (
    OrganizeItem,
    OrganizeRun,
    OrganizeSeen,
    SyncError,
    SyncJob,
    SyncOperation,
    Video,
)
from ytsync.organize.read import read_sources
from ytsync.organize.steps import OrganizeJob
from ytsync.organize.wire import PlanInput, ReadInput, Waiting
from ytsync.organize.write import plan_writes
from ytsync.sync import operations as ops
from ytsync.sync.batches import Attempt
from ytsync.wire import BatchInput, Stage, StageUpdate
from ytsync_emulator.clock import utc_now

WORKFLOW = "ytsync-organize-test-run"


@pytest.fixture
def library(tmp_path: Path, database_url: str) -> Iterator[Installation]:
    inst = install(
        tmp_path,
        database_url,
        utc_now,
        videos=300,
        playlists=6,
        seed=3,
        settle_seconds=0.0,
        list_lag_seconds=0.0,
        list_lag_jitter_seconds=0.0,
        not_found_after_create_seconds=0.0,
    )
    yield inst
    inst.server.stop()


def wall_clock() -> datetime:
    return datetime.now(UTC)


def read(inst: Installation, rules: str, workflow_id: str = WORKFLOW) -> int:
    result = read_sources(
        inst.settings,
        inst.sessions,
        ReadInput(workflow_id, rules, "rules.toml", dry_run=False),
    )
    assert result.waiting is None and not result.dry_run
    return result.run_id


def organize_job(inst: Installation, job_id: int, workflow_id: str = WORKFLOW) -> OrganizeJob:
    attempt = Attempt(
        workflow_id=workflow_id,
        number=1,
        heartbeat=lambda: None,
        stop_requested=lambda: False,
        sleep=time.sleep,
        paused=lambda: None,
    )
    return OrganizeJob.on(
        Channel("test", inst.settings, inst.sessions), job_id, wall_clock, attempt
    )


def add_and_audit(inst: Installation, job: OrganizeJob, job_id: int) -> None:
    """The add_videos stage as the workflow runs it (the settle is 0)."""
    with inst.sessions() as session:
        lanes = ops.open_lanes(session, job_id, ops.ADD, ops.UNSENT)
    for lane in lanes:
        assert job.add_videos(BatchInput(job_id, 1_000, category_id=lane, settle=True)).stop is None
    audit(job, job_id)


def audit(job: OrganizeJob, job_id: int) -> None:
    """Audit the due lanes until every one is clean (with a settle of 0, each is due as
    soon as its last write ended)."""
    for _round in range(5):
        plan = job.plan_audits()
        if not plan.lanes:
            return
        for lane in plan.lanes:
            job.audit_lane(BatchInput(job_id, 1_000, category_id=lane, settle=True))
    raise AssertionError("a lane is still due after five rounds")


def take_out(job: OrganizeJob, job_id: int) -> int:
    """The remove_from_inbox stage: verify, then remove; how many it removed."""
    planned = job.verify_inbox()
    assert planned.stop is None
    removed = job.remove_from_inbox(BatchInput(job_id, 1_000))
    assert removed.remaining == 0
    return removed.done


def outcomes(inst: Installation, run_id: int) -> dict[str, tuple[str, str | None]]:
    """Video id -> (action, outcome) of a run's first item of each video."""
    with inst.sessions() as session:
        rows = session.execute(
            select(Video.youtube_id, OrganizeItem.action, OrganizeItem.outcome)
            .join(Video, Video.id == OrganizeItem.video_id)
            .where(OrganizeItem.run_id == run_id)
            .order_by(OrganizeItem.id)
        ).all()
    found: dict[str, tuple[str, str | None]] = {}
    for vid, action, outcome in rows:
        found.setdefault(vid, (action, outcome))
    return found


def inbox_with(inst: Installation, saved: Arrivals, *extra: str) -> str:
    videos = [v.id for v in saved.short + saved.recipe + saved.other]
    return inst.state.add_playlist("Inbox", video_ids=[*videos, *extra]).id


def test_moved_videos_leave_the_inbox_once_shown_in_their_category(library: Installation) -> None:
    state = library.state
    categories = synced(library)
    short, recipe = sorted(categories)[:2]
    saved = new_videos(library, "saved")
    there = state.add_video(title="old recipe", duration="PT5M")
    state.add_item(categories[recipe], there.id)
    inbox = inbox_with(library, saved, there.id, saved.short[0].id)
    run_id = read(library, rules_for(categories))

    plan = plan_writes(library.sessions, PlanInput(WORKFLOW, run_id), wall_clock())
    assert plan.job_id and plan.waiting is None and plan.finished is None
    with library.sessions() as session:
        job_row = session.get_one(SyncJob, plan.job_id)
        assert (job_row.kind, job_row.workflow_id) == ("organize", WORKFLOW)
        adds = session.scalars(
            select(SyncOperation.op_key).where(
                SyncOperation.job_id == plan.job_id, SyncOperation.kind == ops.ADD
            )
        ).all()
    assert len(adds) == 4, "one addition per video to move"
    again = plan_writes(library.sessions, PlanInput(WORKFLOW, run_id), wall_clock())
    assert again.job_id == plan.job_id, "a retried plan finds its job"

    job = organize_job(library, plan.job_id)
    add_and_audit(library, job, plan.job_id)
    state.clear_log()
    removed = take_out(job, plan.job_id)
    # Only the video already in its category needed a look-up (with the playlists'
    # sizes): the additions were confirmed by their settled audits.
    reads = Counter(r.method for r in state.requests() if not r.method.endswith(".delete"))
    assert reads == {"playlists.list": 1, "playlistItems.list": 1}
    assert removed == 6  # four moved, the one already there, and the second copy
    assert state.playlist_items(inbox) == [v.id for v in saved.other]
    for video in saved.short:
        assert state.playlist_items(categories[short]).count(video.id) == 1
    for video in [*saved.recipe, there]:
        assert state.playlist_items(categories[recipe]).count(video.id) == 1

    finished = job.finish()
    # Per inbox item: the second copy of a moved video is taken out too.
    assert finished.results == {"moved": 4, "taken_out": 2}
    assert finished.summary.startswith("organize: 4 moved, 2 taken out of the inbox, ")
    assert outcomes(library, run_id)[there.id] == ("remove", "taken_out")
    with library.sessions() as session:
        assert session.get_one(OrganizeRun, run_id).outcome == "done"
    assert job.finish() == finished, "finishing again changes nothing"


def test_an_inbox_item_whose_video_its_category_does_not_show_stays(
    library: Installation,
) -> None:
    state = library.state
    categories = synced(library)
    saved = new_videos(library, "saved")
    inbox = inbox_with(library, saved)
    run_id = read(library, rules_for(categories))
    # Gone before YouTube could take it: its addition fails, and spends nothing to know.
    state.set_video(saved.recipe[1].id, deleted=True)
    job_id = plan_writes(library.sessions, PlanInput(WORKFLOW, run_id), wall_clock()).job_id
    job = organize_job(library, job_id)
    with library.sessions() as session:
        lanes = ops.open_lanes(session, job_id, ops.ADD, ops.UNSENT)
    for lane in lanes:
        job.add_videos(BatchInput(job_id, 1_000, category_id=lane, settle=True))
    # The owner takes the first short out of its category before the audit: the second
    # short, sent later, is listed, so the first is judged removed on YouTube.
    with library.sessions() as session:
        first = session.scalars(
            select(SyncOperation.youtube_id)
            .join(Video, Video.id == SyncOperation.video_id)
            .where(SyncOperation.job_id == job_id, Video.youtube_id == saved.short[0].id)
        ).one()
    assert first is not None
    state.user_remove(first)
    audit(job, job_id)

    assert take_out(job, job_id) == 2
    left = state.playlist_items(inbox)
    assert saved.short[0].id in left and saved.recipe[1].id in left, "never lost"
    assert saved.short[1].id not in left and saved.recipe[0].id not in left
    finished = job.finish()
    assert finished.results == {"moved": 2, "kept": 1, "failed": 1}
    found = outcomes(library, run_id)
    assert found[saved.short[0].id] == ("move", "kept")
    assert found[saved.recipe[1].id] == ("move", "failed")
    with library.sessions() as session:
        errors = session.scalars(
            select(SyncError.message).where(
                SyncError.job_id == job_id, SyncError.stage == "remove_from_inbox"
            )
        ).all()
        held = session.scalars(
            select(SyncOperation.status).where(
                SyncOperation.job_id == job_id, SyncOperation.kind == ops.INBOX_REMOVE
            )
        ).all()
    assert len(errors) == 2 and any("YouTube does not show it" in e for e in errors)
    assert Counter(held) == {"completed": 2, "held_back": 2}


def test_an_item_the_owner_took_out_already_is_removed_all_the_same(
    library: Installation,
) -> None:
    state = library.state
    categories = synced(library)
    saved = new_videos(library, "saved")
    inbox = inbox_with(library, saved)
    run_id = read(library, rules_for(categories))
    job_id = plan_writes(library.sessions, PlanInput(WORKFLOW, run_id), wall_clock()).job_id
    job = organize_job(library, job_id)
    add_and_audit(library, job, job_id)
    assert job.verify_inbox().remaining == 4
    with library.sessions() as session:
        item = session.scalars(
            select(OrganizeItem.source_item_id)
            .join(Video, Video.id == OrganizeItem.video_id)
            .where(OrganizeItem.run_id == run_id, Video.youtube_id == saved.short[0].id)
        ).one()
    assert item is not None
    state.user_remove(item)
    job.remove_from_inbox(BatchInput(job_id, 1_000))
    assert job.finish().results == {"moved": 4}
    assert state.playlist_items(inbox) == [v.id for v in saved.other]
    gone = [r for r in state.requests("playlistItems.delete") if r.status == 404]
    assert len(gone) == 1, "its removal answered 404: taken out already"


def test_uploads_are_copied_never_removed_and_not_decided_again(
    library: Installation,
) -> None:
    state = library.state
    categories = synced(library)
    rules = rules_for(categories).replace('inbox = "Inbox"\n', "")
    uploaded = new_videos(library, "upload", own=True)
    uploads = state.playlist_items(state.uploads_id)
    run_id = read(library, rules)
    job_id = plan_writes(library.sessions, PlanInput(WORKFLOW, run_id), wall_clock()).job_id
    job = organize_job(library, job_id)
    add_and_audit(library, job, job_id)
    assert job.verify_inbox().remaining == 0
    job.remove_from_inbox(BatchInput(job_id, 1_000))
    finished = job.finish()
    copies = len(uploaded.short) + len(uploaded.recipe)
    assert finished.results.get("copied", 0) >= copies
    assert state.playlist_items(state.uploads_id) == uploads, "the uploads lose nothing"
    assert not [r for r in state.requests() if r.method.endswith(".delete")]
    with library.sessions() as session:
        handled = set(
            session.scalars(
                select(Video.youtube_id)
                .join(OrganizeSeen, OrganizeSeen.video_id == Video.id)
                .where(OrganizeSeen.handled.is_(True))
            )
        )
    assert {v.id for v in uploaded.short + uploaded.recipe + uploaded.secret} <= handled
    assert not {v.id for v in uploaded.other} & handled, "unmatched: decided again later"

    job.set_stage(StageUpdate(job_id, Stage.COMPLETED))  # as the workflow ends it
    next_run = read(library, rules, "ytsync-organize-test-next")
    decided = outcomes(library, next_run)
    assert {v.id for v in uploaded.other} <= set(decided)
    assert not {v.id for v in uploaded.short + uploaded.recipe} & set(decided)


def test_a_run_with_nothing_to_write_makes_no_job(library: Installation) -> None:
    categories = synced(library)
    saved = new_videos(library, "saved")
    library.state.add_playlist("Inbox", video_ids=[v.id for v in saved.other])
    rules = rules_for(categories).replace("uploads = true\n", "")
    run_id = read(library, rules)
    plan = plan_writes(library.sessions, PlanInput(WORKFLOW, run_id), wall_clock())
    assert plan.job_id == 0 and plan.finished is not None
    assert plan.finished.summary == f"organize: {len(saved.other)} unmatched"
    with library.sessions() as session:
        assert session.scalars(select(SyncJob)).all() == []


def test_writing_waits_for_a_sync_that_started_after_the_read(library: Installation) -> None:
    categories = synced(library)
    saved = new_videos(library, "saved")
    inbox_with(library, saved)
    run_id = read(library, rules_for(categories))
    with transaction(library.sessions) as session:
        session.add(SyncJob(workflow_id="ytsync-job-9", stage="backup"))
    now = wall_clock()
    plan = plan_writes(library.sessions, PlanInput(WORKFLOW, run_id), now)
    assert plan.job_id == 0 and plan.waiting == Waiting.JOB_RUNNING
    assert plan.resume_at is not None and plan.resume_at > now
    with library.sessions() as session:
        assert session.get_one(OrganizeRun, run_id).outcome == "waiting"
        assert session.scalars(select(SyncJob.kind)).all() == ["sync"]


def test_the_jobs_progress_counts_the_removals_before_they_are_verified(
    library: Installation,
) -> None:
    categories = synced(library)
    saved = new_videos(library, "saved")
    inbox_with(library, saved)
    run_id = read(library, rules_for(categories))
    job_id = plan_writes(library.sessions, PlanInput(WORKFLOW, run_id), wall_clock()).job_id
    progress = organize_job(library, job_id).set_stage(StageUpdate(job_id, Stage.ADD_VIDEOS))
    # Four additions and four removals from the start: the total does not jump.
    assert (progress.done, progress.total) == (0, 8)
    with library.sessions() as session:
        job = session.get_one(SyncJob, job_id)
        assert set(job.stage_results) == {"add_videos", "remove_from_inbox"}
