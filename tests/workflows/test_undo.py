"""Undo you can trust: restores through the real API client on the emulator, whose lists
lag and whose answers get lost, under the time-skipping test server (the emulator's
clock is the server's, so its lag and the settle run on the same skipped time).

A restore brings the old playlists back in their old order, gives kept ones their old
selves, and with ``--undo-sync`` deletes the category playlists the sync made: each only
once its videos are verified back, never one that holds an item of the owner's.
Nothing that was in a playlist before ends in none.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from tests.support.harness import Installation, running_worker, worker_process
from tests.support.jobs import time_skipping, use_cli_on
from tests.support.restoring import (
    KillPoints,
    applied_writes,
    by_content,
    finished,
    last_request,
    library_of,
    made_playlists,
    restore,
    start_undo,
    sync,
    vary_old_playlists,
    videos_in,
    without,
)
from tests.support.reuse import apply, exported, merged, moved
from ytsync.cli.app import main
from ytsync.db.engine import transaction
from ytsync.db.models import Category, SyncJob, SyncOperation
from ytsync.importer import import_library
from ytsync.restore_preview import compute_restore_preview
from ytsync.sync import operations as ops
from ytsync.sync.undo import RestoreOptions

LAG = 5.0
SETTLE = 6.0

Body = Callable[[WorkflowEnvironment, Installation], Awaitable[None]]


def run(
    tmp_path: Path, database_url: str, body: Body, *, worker: bool = True, **options: Any
) -> None:
    """``body`` against a fresh library whose old playlists each have their own privacy
    and description; ``worker``: with a worker in this process (else the body runs its
    own, in processes it can kill)."""

    async def go() -> None:
        async with time_skipping(
            tmp_path,
            database_url,
            videos=240,
            playlists=6,
            seed=7,
            unavailable_fraction=0.0,
            **{"list_lag_seconds": LAG, "settle_seconds": SETTLE, **options},
        ) as (env, inst, clock):
            vary_old_playlists(inst)
            await asyncio.to_thread(import_library, inst.settings, inst.sessions, now=clock)
            if worker:
                async with running_worker(env.client, inst, clock):
                    await body(env, inst)
            else:
                await body(env, inst)

    asyncio.run(go())


def lose_answers(inst: Installation) -> None:
    """Every kind of write a restore makes loses some answers (applied, unanswered), and
    a few appends fail with a 5xx (not applied: their outcome unknown all the same)."""
    faults = inst.state.faults
    faults.add(method="playlistItems.insert", kind="lose_response", count=6)
    faults.add(method="playlistItems.insert", kind="error_5xx", count=2)
    faults.add(method="playlists.insert", kind="lose_response", count=2)
    faults.add(method="playlists.update", kind="lose_response", count=1)
    faults.add(method="playlistItems.delete", kind="lose_response", count=1)
    faults.add(method="playlists.delete", kind="lose_response", count=1)


def plan_reuse(inst: Installation) -> None:
    """Old playlists merged three into one (each category keeps one of them), some of
    their videos moved between categories or left out (the kept playlists lose items),
    and one new category the sync makes a playlist for, of videos the others hold too."""
    plan = moved(merged(exported(inst), 3))
    plan["Extra picks"] = [video for videos in plan.values() for video in videos[:4]]
    apply(inst, plan)


def assert_checked(status: dict[str, Any]) -> None:
    audit = status["audit"]
    assert audit["checks"] == audit["clean"] > 1, audit
    assert status["stage_results"]["restore_items"]["open"] == 0


def assert_no_second_sends(inst: Installation, since: int) -> None:
    """No video went into one playlist more often than the old one held it."""
    sent = Counter(
        (r.playlist_id, r.video_id)
        for r in inst.state.requests("playlistItems.insert")
        if r.seq > since and r.applied
    )
    with inst.state.lock:
        held = {
            pid: Counter(item.video_id for item in playlist.items)
            for pid, playlist in inst.state.playlists.items()
        }
    for (playlist, video), count in sent.items():
        assert count <= held.get(str(playlist), Counter())[str(video)], (playlist, video)


@pytest.mark.slow
def test_restore_after_a_rebuild_under_list_lag_and_lost_answers(
    tmp_path: Path, database_url: str
) -> None:
    """The old playlists come back once each, with their titles, privacy, descriptions
    and items in their old order, whatever answers were lost; the category playlists
    stay (a plain restore does not undo the sync)."""

    async def body(env: WorkflowEnvironment, inst: Installation) -> None:
        before = library_of(inst)
        await sync(env, inst)
        made = made_playlists(inst)
        since = last_request(inst)
        lose_answers(inst)
        status = await restore(env, inst)
        assert inst.state.faults.summary()["lose_response"] >= 8
        after = library_of(inst)
        assert set(made.values()) <= set(after)
        old = {pid: entry for pid, entry in after.items() if pid not in made.values()}
        assert by_content(old) == by_content(before)
        assert_checked(status)
        assert status["audit"]["found_after_settle"] >= 6
        assert_no_second_sends(inst, since)
        assert status["errors"] == []

    run(tmp_path, database_url, body)


@pytest.mark.slow
def test_restore_after_a_reuse_under_list_lag_and_lost_answers(
    tmp_path: Path, database_url: str
) -> None:
    """Kept playlists get their old selves back under their own ids, in their old order;
    the deleted ones come back; the playlist the sync made for a new category stays."""

    async def body(env: WorkflowEnvironment, inst: Installation) -> None:
        plan_reuse(inst)
        before = library_of(inst)
        await sync(env, inst, "reuse")
        made = made_playlists(inst)
        kept = set(made.values()) & set(before)
        assert len(kept) == 2
        since = last_request(inst)
        lose_answers(inst)
        status = await restore(env, inst)
        after = library_of(inst)
        for pid in kept:
            assert after[pid] == before[pid], f"kept {pid} is not its old self"
        new = set(made.values()) - kept
        assert len(new) == 1 and new <= set(after)
        old = {pid: entry for pid, entry in after.items() if pid not in new}
        assert by_content(old) == by_content(before)
        assert_checked(status)
        assert_no_second_sends(inst, since)
        assert not any(r.sent_position for r in inst.state.requests("playlistItems.insert"))

    run(tmp_path, database_url, body)


@pytest.mark.slow
def test_a_full_undo_leaves_the_channel_as_it_was(tmp_path: Path, database_url: str) -> None:
    """``--undo-sync`` after a rebuild, with lists late and answers lost: the channel ends
    as it was before the sync (titles, privacy, descriptions, items, order), but for a
    video deleted on YouTube meanwhile, which is reported; no category playlist is left."""

    async def body(env: WorkflowEnvironment, inst: Installation) -> None:
        before = library_of(inst)
        await sync(env, inst)
        made = made_playlists(inst)
        recreated = set(before) - set(library_of(inst))
        elsewhere = videos_in({pid: before[pid] for pid in set(before) - recreated})
        gone = sorted(videos_in({pid: before[pid] for pid in recreated}) - elsewhere)[0]
        inst.state.set_video(gone, deleted=True)
        lose_answers(inst)
        status = await restore(env, inst, undo=True)
        assert by_content(library_of(inst)) == by_content(without(before, {gone}))
        assert not set(made.values()) & set(inst.state.playlists)
        assert any(error["entity_id"] == gone for error in status["errors"]), status["errors"]
        assert status["held_back"] == []
        assert_checked(status)
        assert status["stage_results"]["restore_items"]["held_back"] == 0
        with inst.sessions() as session:
            left = session.scalars(
                select(Category.youtube_playlist_id).where(
                    Category.youtube_playlist_id.is_not(None)
                )
            ).all()
        assert left == [], "a category still names a deleted playlist"

    run(tmp_path, database_url, body)


@pytest.mark.slow
def test_a_refused_recreation_loses_nothing(tmp_path: Path, database_url: str) -> None:
    """After a reuse, a full undo on a channel at its playlist cap: the one old playlist
    YouTube refuses to recreate (maxPlaylistExceeded) keeps its videos where they are,
    in the kept and category playlists the sync moved them to, named with the reason.
    Once a slot is free, the same restore again finishes: the channel as it was."""

    async def body(env: WorkflowEnvironment, inst: Installation) -> None:
        plan_reuse(inst)
        before = library_of(inst)
        await sync(env, inst, "reuse")
        after_sync = library_of(inst)
        missing = len(set(before) - set(after_sync))
        assert missing >= 2
        inst.state.max_playlists = len(after_sync) + missing - 1
        status = await restore(env, inst, undo=True)
        now = library_of(inst)
        # The restore took no video out of the last playlist it was in.
        assert videos_in(after_sync) <= videos_in(now), "a video ended in no playlist"
        titles = {title for title, _d, _p, _items in now.values()}
        (refused_playlist,) = [e for e in before.values() if e[0] not in titles]
        # Only what the sync had left in no playlist (planned nowhere) and whose old
        # playlist could not come back is still in none.
        assert videos_in(before) - videos_in(now) <= set(refused_playlist[3])
        refused = [e for e in status["errors"] if "maxPlaylistExceeded" in e["message"]]
        assert refused, status["errors"]
        assert status["held_back"], "nothing named as kept"
        reasons = {v["reason"] for kept in status["held_back"] for v in kept["videos"]}
        assert any("was not recreated" in reason for reason in reasons), reasons
        assert status["stage_results"]["restore_items"]["held_back"] > 0
        assert inst.state.user_items_removed() == []

        inst.state.max_playlists = None
        again = await restore(env, inst, undo=True)
        assert by_content(library_of(inst)) == by_content(before)
        assert again["held_back"] == []

    run(tmp_path, database_url, body)


@pytest.mark.slow
def test_a_user_item_added_after_the_sync_survives_a_full_undo(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The owner saves a video to a category playlist after the sync, and an organize run
    moves one from the inbox into another: the full undo keeps both playlists (and their
    items), names them and why, and deletes the others.  The preview counted exactly the
    writes the restore then made (but the kept playlists' deletes)."""

    async def body(env: WorkflowEnvironment, inst: Installation) -> None:
        before = library_of(inst)
        await sync(env, inst)
        made = made_playlists(inst)
        (name, playlist), (organized_name, organized) = sorted(made.items())[:2]
        video = sorted(videos_in(before) - set(inst.state.playlist_items(playlist)))[0]
        item = await asyncio.to_thread(inst.state.user_add, playlist, video)
        moved_in = sorted(videos_in(before) - set(inst.state.playlist_items(organized)))[0]
        placed = await asyncio.to_thread(inst.state.user_add, organized, moved_in)
        record_organized(inst, placed.id)
        target = env.client.service_client.config.target_host
        use_cli_on(monkeypatch, inst, inst.settings.database_url, target)
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["restore", "--preview", "--undo-sync", "--json"]) == 0
        preview = json.loads(capsys.readouterr().out)
        assert preview["playlists_to_delete"]["count"] == len(made)
        since = last_request(inst)
        status = await restore(env, inst, undo=True)
        after = library_of(inst)
        assert item.id in {i.id for i in inst.state.playlists[playlist].items}
        assert placed.id in {i.id for i in inst.state.playlists[organized].items}
        assert inst.state.user_items_removed() == []
        kept_ids = {playlist, organized}
        assert set(made.values()) & set(after) == kept_ids
        assert by_content({p: e for p, e in after.items() if p not in kept_ids}) == by_content(
            before
        )
        kept = {k["playlist_id"]: k for k in status["held_back"]}
        assert {(p, k["title"]) for p, k in kept.items()} == {
            (playlist, name),
            (organized, organized_name),
        }
        assert [v["video_id"] for v in kept[playlist]["videos"]] == [video]
        assert "added on YouTube since the sync" in kept[playlist]["videos"][0]["reason"]
        assert [v["video_id"] for v in kept[organized]["videos"]] == [moved_in]
        assert "organize run" in kept[organized]["videos"][0]["reason"]
        writes = applied_writes(inst, since)
        assert sum(writes.values()) == preview["writes"] - 2
        assert writes["playlists.delete"] == len(made) - 2

    run(tmp_path, database_url, body, list_lag_seconds=0.5, settle_seconds=1.0)


def record_organized(inst: Installation, item_id: str) -> None:
    """Record ``item_id`` as an organize run records an append it made (its job, an
    add_video operation completed with YouTube's item id)."""
    with transaction(inst.sessions) as session:
        job = SyncJob(workflow_id="organize-test-run", kind="organize", stage="completed")
        session.add(job)
        session.flush()
        session.add(
            SyncOperation(
                job_id=job.id,
                kind=ops.ADD,
                op_key=f"organize:{item_id}",
                status="completed",
                youtube_id=item_id,
            )
        )


@pytest.mark.slow
def test_order_any_appends_only_what_is_missing(tmp_path: Path, database_url: str) -> None:
    """``--order any`` after a reuse: the kept playlists get back exactly their old items
    (whatever the order) for fewer writes than the old order costs, as previewed."""

    async def body(env: WorkflowEnvironment, inst: Installation) -> None:
        plan_reuse(inst)
        before = library_of(inst)
        await sync(env, inst, "reuse")
        kept = set(made_playlists(inst).values()) & set(before)
        with inst.sessions() as session:
            now = await env.get_current_time()
            preview = compute_restore_preview(
                session, inst.settings, None, RestoreOptions("any", True), now
            )
        assert preview.orders["any"].writes < preview.orders["keep"].writes
        since = last_request(inst)
        status = await finished(env, inst, await start_undo(env, inst, order="any", undo=True))
        assert sum(applied_writes(inst, since).values()) == preview.writes
        after = library_of(inst)
        for pid in kept:
            title, description, privacy, items = before[pid]
            assert after[pid][:3] == (title, description, privacy)
            assert Counter(after[pid][3]) == Counter(items)
        assert len(after) == len(before)
        recreated = {p: e for p, e in after.items() if p not in kept}
        assert by_content(recreated) == by_content({p: before[p] for p in before if p not in kept})
        assert status["held_back"] == []

    run(tmp_path, database_url, body, list_lag_seconds=0.5, settle_seconds=1.0)


@pytest.mark.slow
def test_a_worker_killed_in_each_restore_step_ends_exact(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker dies (SIGKILL) with a write in flight in every step of a full undo
    after a reuse: a recreation, a rename back, an append, a removal, a category
    playlist's deletion.  YouTube applies each write after its worker is gone; the next
    worker carries on, and the channel ends exactly as it was before the sync."""

    async def body(env: WorkflowEnvironment, inst: Installation) -> None:
        plan_reuse(inst)
        before = library_of(inst)
        monkeypatch.setenv("YTSYNC_YOUTUBE_TIMEOUT_SECONDS", "3")
        monkeypatch.setenv("YTSYNC_DAILY_QUOTA", str(inst.settings.daily_quota))
        target = env.client.service_client.config.target_host
        spawn = partial(worker_process, target, inst, database_url)
        worker = await asyncio.to_thread(spawn)
        try:
            await sync(env, inst, "reuse")
            points = KillPoints(
                [
                    ("playlists.insert", 1),
                    ("playlists.update", 1),
                    ("playlistItems.insert", 3),
                    ("playlistItems.delete", 2),
                    ("playlists.delete", 1),
                ]
            )
            inst.state.write_hook = points.hook
            started = await start_undo(env, inst, undo=True, heartbeat_timeout_seconds=5.0)
            for point in points.points:
                reached = await asyncio.to_thread(points.reached[point].wait, 120)
                assert reached, f"no {point[0]} number {point[1]} was sent"
                worker.send_signal(signal.SIGKILL)
                await asyncio.to_thread(worker.wait)
                points.released[point].set()
                worker = await asyncio.to_thread(spawn)
            status = await finished(env, inst, started)
        finally:
            inst.state.write_hook = None
            worker.kill()
            await asyncio.to_thread(worker.wait)
        assert by_content(library_of(inst)) == by_content(before)
        assert status["held_back"] == []
        with inst.sessions() as session:
            stuck = session.scalars(
                select(SyncOperation.op_key).where(
                    SyncOperation.job_id == status["job_id"],
                    SyncOperation.status.in_(("pending", "in_flight")),
                )
            ).all()
        assert stuck == []

    # Lists lag 2 s and the settle is 3 s, as the fault suite's: the kills and the
    # answers they lose are the point here, and settles run in real time between them
    # (the time-skipping server skips only while a result is awaited), so the sync and
    # the restore fit in one quota period.
    run(
        tmp_path,
        database_url,
        body,
        worker=False,
        list_lag_seconds=2.0,
        settle_seconds=3.0,
        daily_quota=100_000,
    )
