"""The owner keeps using YouTube while a job runs: whole syncs through the real API client
on the emulator, under the time-skipping test server, while the owner saves a video to
an old playlist and removes another from one.

The saved video must survive (its playlist is held back and named in ``status``,
``report`` and the held-back list), the job still completes, the backup holds exactly
what the job deleted, and the documented way out (import again, plan the video or leave
it out, start again) finishes the library.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from tests.support.harness import Installation, running_worker, start
from tests.support.jobs import time_skipping
from ytsync.cli.jobctl import start_restore
from ytsync.cli.report import with_way_out
from ytsync.cli.views import StatusView, status_view
from ytsync.db.engine import transaction
from ytsync.db.models import BackupSnapshot, Notification, Playlist, SyncJob
from ytsync.importer import import_library
from ytsync.notify import events
from ytsync.plan import apply_plan
from ytsync.report import collect
from ytsync.status import JobStatus, job_status
from ytsync_emulator.model import PlaylistItem
from ytsync_emulator.state import WriteVerdict
from ytsync_sandbox.invariants import RunFacts, assert_library_as_planned, check_fault_run

LATE_TITLE = "Saved during the job"


@dataclass
class OwnerEdits:
    """What the owner does on youtube.com at the job's first video addition."""

    saved_to: str  # an old playlist the owner saves a new video to
    removed_from: str  # an old playlist the owner removes an item from
    late: str  # the saved video: on YouTube, never imported
    removed: PlaylistItem
    done: threading.Event
    saved_item: str = ""

    def hook(self, inst: Installation) -> Any:
        first = threading.Lock()

        def owner(method: str) -> WriteVerdict:
            if method == "playlistItems.insert" and first.acquire(blocking=False):
                self.saved_item = inst.state.user_add(self.saved_to, self.late).id
                inst.state.user_remove(self.removed.id)
                self.done.set()
            return "answer"

        return owner


def plan_edits(inst: Installation) -> OwnerEdits:
    with inst.sessions() as session:
        old = sorted(session.scalars(select(Playlist.youtube_id)))
    state = inst.state
    late = state.add_video(title=LATE_TITLE).id
    with state.lock:
        removed = state.playlists[old[1]].items[0]
    return OwnerEdits(old[0], old[1], late, removed, threading.Event())


async def finished_status(
    env: WorkflowEnvironment, inst: Installation
) -> tuple[int, dict[str, Any], JobStatus]:
    started, handle = await start(inst, env.client, await env.get_current_time())
    result = await handle.result()
    assert result.stage == "completed"
    with inst.sessions() as session:
        job = session.get_one(SyncJob, started.job_id)
        status = job_status(session, job, inst.settings, await env.get_current_time())
    return started.job_id, status.model_dump(mode="json"), status


def backup_of(inst: Installation, job_id: int) -> dict[str, Any]:
    """The job's backup snapshot: YouTube id -> its saved playlist."""
    with inst.sessions() as session:
        backup_id = session.get_one(SyncJob, job_id).backup_id
        data = session.get_one(BackupSnapshot, backup_id).data
    return {entry["youtube_id"]: entry for entry in data["playlists"]}


def shown(status: JobStatus, now: datetime) -> str:
    console = Console(record=True, width=300)
    console.print(status_view(StatusView(status, now)))
    return console.export_text()


async def first_job_holds_back(
    env: WorkflowEnvironment, inst: Installation, edits: OwnerEdits
) -> int:
    """The job the owner edits the library under: it completes, keeps the playlist the
    owner saved to, names it and the video, and deletes the others, backed up as read."""
    state = inst.state
    system_lists = {pid: state.playlist_items(pid) for pid in ("WL", "LL", state.uploads_id)}
    state.write_hook = edits.hook(inst)
    job_id, status, model = await finished_status(env, inst)
    state.write_hook = None
    assert edits.done.is_set()

    # Held back and named: the playlist and each new video, in status --json ...
    kept = status["held_back"]
    assert [entry["playlist_id"] for entry in kept] == [edits.saved_to]
    assert kept[0]["videos"] == [
        {
            "video_id": edits.late,
            "category": "",
            "reason": kept[0]["videos"][0]["reason"],
            "new": True,
            "title": LATE_TITLE,
        }
    ]
    assert "since the import" in kept[0]["videos"][0]["reason"]
    assert status["stage_results"]["delete_playlists"]["held_back"] == 1
    # ... in the human status, with the way out ...
    text = shown(model, datetime.fromisoformat(status["completed_at"]))
    assert f"saved to it since the import: {edits.late} '{LATE_TITLE}'" in text
    assert "python starter.py import" in text
    # ... and in the report.
    with inst.sessions() as session:
        report = collect(session, session.get_one(SyncJob, job_id))
    named = [item for item in report if item.stage == "delete_playlists"]
    assert [item.entity_id for item in named] == [edits.saved_to]
    assert named[0].kept and named[0].new_videos
    assert edits.late in named[0].message
    assert "python starter.py import" in with_way_out(named[0]).message
    # ... and in the message a notifying worker sends.
    with transaction(inst.sessions) as session:
        events.catch_up(session, session.get_one(SyncJob, job_id), "default")
    with inst.sessions() as session:
        body = session.scalars(
            select(Notification.body).where(
                Notification.job_id == job_id, Notification.event == "held_back"
            )
        ).one()
    assert "1 video saved to it since the import" in body
    assert "ytsync import" in body

    # The video survives where the owner put it; the removed one is simply gone and
    # held nothing back: its playlist was deleted.
    assert edits.late in state.playlist_items(edits.saved_to)
    assert edits.removed_from in state.deleted_playlists
    removed_video = edits.removed.video_id
    assert removed_video not in state.deleted_playlists[edits.removed_from].video_ids

    # The backup holds exactly what was deleted, and the kept playlist as read.
    backup = backup_of(inst, job_id)
    for pid, record in state.deleted_playlists.items():
        assert [item["video_id"] for item in backup[pid]["items"]] == record.video_ids
        assert backup[pid]["read_at"]
    assert [i["video_id"] for i in backup[edits.saved_to]["items"]] == state.playlist_items(
        edits.saved_to
    )

    # The fault suite's invariants hold: nothing of the owner's removed, nothing lost,
    # the only old playlist left is the one held back for the owner's save, named.
    facts = RunFacts(job_id, "completed", system_lists, {}, lanes=4)
    assert check_fault_run(inst, facts) > 0
    return job_id


def leave_in_plan(inst: Installation, late: str) -> None:
    """The way out, plan side: the new video goes into the first category."""
    category = next(name for name, _video, protected in inst.plan_rows if not protected)
    rows = [*inst.plan_rows, (category, late, False)]
    apply_plan(inst.sessions, inst.write_plan(rows))


def run(tmp_path: Path, database_url: str, plan_it: bool) -> None:
    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=120, playlists=4, seed=31) as (
            env,
            inst,
            clock,
        ):
            edits = await asyncio.to_thread(plan_edits, inst)
            saved_title = inst.state.playlists[edits.saved_to].title
            async with running_worker(env.client, inst, clock):
                await first_job_holds_back(env, inst, edits)
                # The way out: import again (the job has ended), plan the video or
                # leave it out, start again.
                await asyncio.to_thread(
                    partial(import_library, now=clock), inst.settings, inst.sessions
                )
                if plan_it:
                    await asyncio.to_thread(leave_in_plan, inst, edits.late)
                job_id, status, _model = await finished_status(env, inst)
            assert status["held_back"] == []
            assert status["stage_results"]["delete_playlists"]["held_back"] == 0
            assert edits.saved_to not in inst.state.playlists
            # Deleted with what the owner saved to it, all of it in the backup.
            deleted = inst.state.deleted_playlists[edits.saved_to].video_ids
            assert edits.late in deleted
            backup = backup_of(inst, job_id)
            assert [i["video_id"] for i in backup[edits.saved_to]["items"]] == deleted
            # Only now, the owner having imported and decided, did their item go.
            assert inst.state.user_items_removed() == [edits.saved_item]
            anywhere = {
                video
                for playlist in inst.state.iter_playlists()
                for video in inst.state.playlist_items(playlist.id)
            }
            assert (edits.late in anywhere) == plan_it
            assert_library_as_planned(inst)
            if not plan_it:
                # Left out, and still in the backup: a restore brings it back.
                async with running_worker(env.client, inst, clock):
                    restore = await start_restore(inst.sessions, env.client, inst.settings, None)
                    assert (await restore.handle.result()).stage == "completed"
                again = [p.id for p in inst.state.iter_playlists() if p.title == saved_title]
                assert len(again) == 1
                assert inst.state.playlist_items(again[0]) == deleted

    asyncio.run(scenario())


def test_a_video_saved_to_an_old_playlist_mid_job_survives_and_is_planned_after(
    tmp_path: Path, database_url: str
) -> None:
    run(tmp_path, database_url, plan_it=True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_video_saved_mid_job_may_be_left_out_on_purpose(
    tmp_path: Path, database_url: str
) -> None:
    run(tmp_path, database_url, plan_it=False)


def test_a_save_while_the_deletions_wait_for_the_quota_holds_the_playlist_back(
    tmp_path: Path, database_url: str
) -> None:
    """The delete stage read the old playlists, then YouTube refused for quota at the
    first deletion, and the job slept until the reset.  Meanwhile the owner saved a video
    to a playlist not deleted yet: read again before it goes (its read is old), it is
    kept and named, and the video survives."""

    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=80, playlists=4, seed=32) as (
            env,
            inst,
            clock,
        ):
            state = inst.state
            late = state.add_video(title=LATE_TITLE).id
            system_lists = {
                pid: state.playlist_items(pid) for pid in ("WL", "LL", state.uploads_id)
            }
            saved_to: list[str] = []
            first = threading.Lock()

            def owner(method: str) -> WriteVerdict:
                if method == "playlists.delete" and first.acquire(blocking=False):
                    # This very request is refused for quota; the owner saves meanwhile.
                    state.faults.add(method="playlists.delete", kind="quota_exceeded", count=1)
                    old = sorted(p.id for p in state.iter_playlists() if p.id in imported)
                    saved_to.append(old[0])
                    state.user_add(old[0], late)
                return "answer"

            with inst.sessions() as session:
                imported = set(session.scalars(select(Playlist.youtube_id)))
            state.write_hook = owner
            async with running_worker(env.client, inst, clock):
                job_id, status, _model = await finished_status(env, inst)
            state.write_hook = None
            assert saved_to, "no deletion was sent"
            assert status["quota_used"] > 0
            kept = status["held_back"]
            assert [entry["playlist_id"] for entry in kept] == saved_to
            assert [v["video_id"] for v in kept[0]["videos"] if v["new"]] == [late]
            assert late in state.playlist_items(saved_to[0])
            assert state.user_items_removed() == []
            facts = RunFacts(job_id, "completed", system_lists, {}, lanes=4)
            assert check_fault_run(inst, facts) > 0

    asyncio.run(scenario())
