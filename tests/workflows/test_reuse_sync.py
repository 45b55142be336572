"""Whole syncs with ``start --strategy reuse``, through the real API client on the
emulator, under the time-skipping test server (as tests/ytsync/sync/test_safety.py): the kept
playlists keep their YouTube ids, and every category playlist ends holding exactly its
videos, once each, whatever answers were lost on the way.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import re
import signal
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from tests.support.harness import (
    Installation,
    env_clock,
    running_worker,
    worker_process,
)
from tests.support.jobs import time_skipping
from tests.support.restoring import KillPoints, library_of
from tests.support.reuse import apply, category_playlists, exported, merged, moved, planned
from ytsync.cli.jobctl import StartedJob, start_job, start_restore
from ytsync.cli.jobs import register
from ytsync.cli.views import StatusView, status_view
from ytsync.config import Settings
from ytsync.db.models import (
    Category,
    JobKeptPlaylist,
    Playlist,
    SyncJob,
)
from ytsync.errors import UserError
from ytsync.importer import SPECIAL_PREFIXES, import_library
from ytsync.plan import apply_plan
from ytsync.status import JobStatus, job_status

LAG = 5.0
SETTLE = 6.0

Body = Callable[[WorkflowEnvironment, Installation], Awaitable[None]]


def run(
    tmp_path: Path, database_url: str, body: Body, *, worker: bool = True, **options: Any
) -> None:
    """``body`` against a fresh installation; ``worker``: with a worker in this process
    (else the body runs its own, in processes it can kill)."""

    async def go() -> None:
        async with time_skipping(
            tmp_path,
            database_url,
            videos=240,
            playlists=6,
            seed=7,
            plan=False,
            **{"list_lag_seconds": LAG, "settle_seconds": SETTLE, **options},
        ) as (env, inst, clock):
            if worker:
                async with running_worker(env.client, inst, clock):
                    await body(env, inst)
            else:
                await body(env, inst)

    asyncio.run(go())


async def start_reuse_job(
    env: WorkflowEnvironment, inst: Installation, **options: Any
) -> StartedJob:
    settings = inst.settings.model_copy(update={"strategy": "reuse"})
    now = await env.get_current_time()
    return await start_job(settings, inst.sessions, env.client, now=now, **options)


async def reuse_job_status(
    env: WorkflowEnvironment, inst: Installation, started: StartedJob
) -> dict[str, Any]:
    """Wait for the job's end; its ``status --json`` then."""
    result = await started.handle.result()
    assert result.stage == "completed"
    assert result.strategy == "reuse"
    with inst.sessions() as session:
        job = session.get_one(SyncJob, started.job_id)
        now = await env.get_current_time()
        return job_status(session, job, inst.settings, now).model_dump(mode="json")


async def run_reuse_job(env: WorkflowEnvironment, inst: Installation) -> dict[str, Any]:
    return await reuse_job_status(env, inst, await start_reuse_job(env, inst))


def status_now(status: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(status["completed_at"])


def _cells(text: str) -> list[str]:
    """The rows of a rich table, without its borders."""
    return [" ".join(line.replace("│", " ").split()) for line in text.splitlines()]


def old_playlists(inst: Installation) -> dict[str, list[str]]:
    """The old (non-system) playlists on the emulator before the job: id -> videos."""
    with inst.state.lock:
        return {
            pid: [item.video_id for item in playlist.items]
            for pid, playlist in inst.state.playlists.items()
            if not playlist.special and not pid.startswith(SPECIAL_PREFIXES)
        }


def privacy_of(inst: Installation) -> dict[str, str]:
    """Category name -> the privacy the plan gives its playlist."""
    with inst.sessions() as session:
        rows = session.execute(select(Category.name, Category.privacy))
        return {name: privacy for name, privacy in rows}


def kept_by_the_job(inst: Installation) -> dict[str, str]:
    """Category name -> YouTube id of the old playlist the job recorded it keeps."""
    with inst.sessions() as session:
        rows = session.execute(
            select(Category.name, Playlist.youtube_id)
            .join(JobKeptPlaylist, JobKeptPlaylist.category_id == Category.id)
            .join(Playlist, Playlist.id == JobKeptPlaylist.playlist_id)
        ).all()
    return {name: youtube_id for name, youtube_id in rows}


def assert_exact(inst: Installation, before: dict[str, list[str]]) -> dict[str, str]:
    """Every category playlist holds exactly its planned available videos once each
    (and no unavailable video it did not already hold); the kept playlists kept their
    ids, renamed and with the plan's privacy; every other old playlist is gone; no
    video is lost."""
    playlists = category_playlists(inst)
    privacy_wanted = privacy_of(inst)
    kept = kept_by_the_job(inst)
    assert kept, "the job kept no playlist"
    wanted = planned(inst)
    for name, playlist_id in playlists.items():
        assert playlist_id in inst.state.playlists, f"{name!r} has no playlist"
        if name in kept:
            assert playlist_id == kept[name], f"{name!r} did not keep {kept[name]}"
        with inst.state.lock:
            playlist = inst.state.playlists[playlist_id]
            title, privacy = playlist.title, playlist.privacy
        assert (title, privacy) == (name, privacy_wanted[name])
        items = inst.state.playlist_items(playlist_id)
        doubled = [video for video, n in Counter(items).items() if n > 1]
        assert not doubled, f"{name!r} holds duplicates {doubled}"
        available, unavailable = wanted[name]
        assert sorted(v for v in items if v not in unavailable) == sorted(available), name
        # An unavailable video stays only where it already was and was planned.
        assert set(items) - set(available) <= set(before.get(playlist_id, [])) & unavailable
    by_title = inst.state.playlists_by_title()
    for name in playlists:
        assert by_title[name] == [playlists[name]], f"{name!r}: {by_title[name]}"
    survivors = set(before) & set(inst.state.playlists)
    assert survivors == set(kept.values()), "an old playlist not kept survived"
    return playlists


def test_a_rename_plan_keeps_and_renames_every_playlist(tmp_path: Path, database_url: str) -> None:
    """The exported plan with every category renamed: one update per playlist and the
    second copies removed; no playlist made or deleted, no video added."""

    async def body(env: WorkflowEnvironment, inst: Installation) -> None:
        plan = {f"{name} (sorted)": videos for name, videos in exported(inst).items()}
        apply(inst, plan)
        before = old_playlists(inst)
        status = await run_reuse_job(env, inst)
        assert status["strategy"] == "reuse"
        view = io.StringIO()
        Console(file=view, width=120).print(
            status_view(StatusView(JobStatus.model_validate(status), status_now(status)))
        )
        assert any(line.split()[:2] == ["strategy", "reuse"] for line in _cells(view.getvalue()))
        playlists = assert_exact(inst, before)
        assert set(playlists.values()) == {pid for pid, items in before.items() if items}
        # Each kept playlist is its old self without the second copies, in its old order.
        for playlist_id in playlists.values():
            assert inst.state.playlist_items(playlist_id) == list(
                dict.fromkeys(before[playlist_id])
            )
        writes = Counter(r.method for r in inst.state.requests() if r.units == 50)
        copies = sum(len(items) - len(set(items)) for items in before.values())
        assert copies > 0, "the sample library has no second copy to remove"
        assert writes == Counter(
            {"playlists.update": len(playlists), "playlistItems.delete": copies}
        )
        assert status["held_back"] == []
        assert status["stage_results"]["delete_playlists"]["succeeded"] == copies

    run(tmp_path, database_url, body)


def test_a_merge_plan_keeps_one_playlist_per_category(tmp_path: Path, database_url: str) -> None:
    """Six old playlists folded into three categories: each category keeps one, gets the
    other's videos, and the other old playlists go once every video is verified."""

    async def body(env: WorkflowEnvironment, inst: Installation) -> None:
        apply(inst, merged(exported(inst), 2))
        before = old_playlists(inst)
        status = await run_reuse_job(env, inst)
        playlists = assert_exact(inst, before)
        assert set(kept_by_the_job(inst)) == set(playlists)
        writes = Counter(r.method for r in inst.state.requests() if r.applied)
        assert writes["playlists.insert"] == 0
        assert writes["playlists.update"] == len(playlists)
        assert writes["playlists.delete"] == len(before) - len(playlists)
        assert status["held_back"] == []

    run(tmp_path, database_url, body, unavailable_fraction=0.0)


def test_lost_answers_still_end_exact(tmp_path: Path, database_url: str) -> None:
    """Answers lost on updates, inserts and item deletes: each write is judged by a
    settled read or simply sent again; the end state is exact, with no second copy, and
    the items moved out of a kept playlist went only once verified in their new one."""

    async def body(env: WorkflowEnvironment, inst: Installation) -> None:
        apply(inst, moved(merged(exported(inst), 3)))
        before = old_playlists(inst)
        faults = inst.state.faults
        faults.add(method="playlists.update", kind="lose_response", count=1)
        faults.add(method="playlistItems.insert", kind="lose_response", count=3)
        faults.add(method="playlistItems.delete", kind="lose_response", count=2)
        status = await run_reuse_job(env, inst)
        assert faults.summary()["lose_response"] == 6
        assert_exact(inst, before)
        inserts = Counter(
            (r.playlist_id, r.video_id)
            for r in inst.state.requests("playlistItems.insert")
            if r.applied
        )
        assert max(inserts.values()) == 1, "a video was sent twice into one playlist"
        assert status["audit"]["found_after_settle"] >= 3
        assert status["held_back"] == []
        # Each item removed was of a video planned elsewhere (and by then inserted
        # there), or planned nowhere, or a second copy.
        log = inst.state.requests()
        removed = [r for r in log if r.method == "playlistItems.delete" and r.applied]
        assert len(removed) > 10
        last_insert = {
            (r.playlist_id, r.video_id): r.seq for r in log if r.method == "playlistItems.insert"
        }
        wanted = planned(inst)
        homes = category_playlists(inst)
        for r in removed:
            for name, (videos, _gone) in wanted.items():
                if r.video_id in videos and homes[name] != r.playlist_id:
                    inserted = last_insert.get((homes[name], r.video_id))
                    assert inserted is None or inserted < r.seq, "removed before it was added"

    run(tmp_path, database_url, body, unavailable_fraction=0.0)


def test_an_item_not_verified_elsewhere_stays_until_a_later_start(
    tmp_path: Path, database_url: str
) -> None:
    """YouTube refuses the adds (full playlists): an item moved out of a kept playlist
    stays there, held back and reported, while the items planned nowhere go.  Once the
    cause is gone, a second reuse job keeps the same playlists and finishes exact."""

    async def body(env: WorkflowEnvironment, inst: Installation) -> None:
        apply(inst, moved(merged(exported(inst), 3)))
        before = old_playlists(inst)
        # Every kept playlist is full already: each add into one is refused.
        inst.state.max_playlist_items = min(len(items) for items in before.values())
        status = await run_reuse_job(env, inst)
        kept = kept_by_the_job(inst)
        wanted = planned(inst)
        held = {
            (entry["playlist_id"], video["video_id"])
            for entry in status["held_back"]
            for video in entry["videos"]
        }
        now_in = {
            name: set(inst.state.playlist_items(pid))
            for name, pid in category_playlists(inst).items()
        }
        unverified = 0
        for name, playlist_id in kept.items():
            items = inst.state.playlist_items(playlist_id)
            for video in set(before[playlist_id]) - set(wanted[name][0]):
                homes = [other for other, (videos, _) in wanted.items() if video in videos]
                if any(video not in now_in[home] for home in homes):
                    # Planned elsewhere and not there (its add refused): still here, and
                    # said so.
                    assert video in items, f"{video} left {name!r} unverified"
                    assert (playlist_id, video) in held
                    unverified += 1
                else:
                    # Planned nowhere, or already where it was planned: gone from here.
                    assert video not in items, f"{video} stayed in {name!r}"
        assert unverified > 0
        assert status["stage_results"]["delete_playlists"]["held_back"] > 0
        first_kept = dict(kept)

        inst.state.max_playlist_items = 5000
        again = await run_reuse_job(env, inst)
        assert again["held_back"] == []
        assert_exact(inst, before)
        assert category_playlists(inst) == first_kept, "the second job kept other playlists"

    run(tmp_path, database_url, body, unavailable_fraction=0.0)


def test_privacy_and_description_of_the_plan_on_new_and_kept_playlists(
    tmp_path: Path, database_url: str
) -> None:
    """The plan's privacy and description columns: a kept playlist gets them in its one
    update (and keeps its own description when the plan gives none), a new one is
    created with them, its marker after the plan's text."""

    async def body(env: WorkflowEnvironment, inst: Installation) -> None:
        with inst.state.lock:
            for number, playlist in enumerate(inst.state.playlists.values()):
                if not playlist.special:
                    playlist.privacy, playlist.description = "public", f"Old text {number}"
        clock = env_clock(env, asyncio.get_running_loop())
        await asyncio.to_thread(import_library, inst.settings, inst.sessions, now=clock)
        plan = merged(exported(inst), 2)
        fresh = next(iter(plan.values()))[:3]  # too few for any old playlist to be kept
        settings = {
            "Merged 1": ("public", "Best of one"),
            "Merged 2": ("unlisted", ""),
            "Fresh": ("public", "Fresh picks"),
        }
        rows = [*plan.items(), ("Fresh", fresh)]
        path = inst.tmp / "settings.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["category", "video_id", "privacy", "description"])
            for name, videos in rows:
                privacy, text = settings.get(name, ("", ""))
                writer.writerows([name, video, privacy, text] for video in videos)
        apply_plan(inst.sessions, path)
        before = old_playlists(inst)
        with inst.state.lock:
            old_text = {pid: inst.state.playlists[pid].description for pid in before}
        await run_reuse_job(env, inst)
        assert_exact(inst, before)
        kept = kept_by_the_job(inst)
        assert set(kept) == {"Merged 1", "Merged 2", "Merged 3"}
        playlists = category_playlists(inst)
        assert playlists["Fresh"] not in before, "Fresh should have a new playlist"

        def shown(name: str) -> tuple[str, str]:
            with inst.state.lock:
                playlist = inst.state.playlists[playlists[name]]
                return playlist.privacy, playlist.description

        assert shown("Merged 1") == ("public", "Best of one")
        assert shown("Merged 2") == ("unlisted", old_text[kept["Merged 2"]])
        assert shown("Merged 3") == ("private", old_text[kept["Merged 3"]])
        privacy, text = shown("Fresh")
        assert privacy == "public"
        assert re.fullmatch(r"Fresh picks\n\nytsync:job=\d+:category=\d+", text), text

    run(tmp_path, database_url, body, unavailable_fraction=0.0)


def test_restore_after_a_reuse_gives_back_the_original_library(
    tmp_path: Path, database_url: str
) -> None:
    """A reuse that renamed, re-described and re-privatized kept playlists, moved items
    out of and into them and deleted the others; then ``restore``: the kept playlists
    are their old selves again under their old ids (title, description, privacy, items
    in their old order, second copies included), the deleted ones are back under new
    ids with their titles, privacy and items in order."""

    async def body(env: WorkflowEnvironment, inst: Installation) -> None:
        with inst.state.lock:
            for number, playlist in enumerate(inst.state.playlists.values()):
                if not playlist.special:
                    playlist.privacy = ("public", "unlisted", "private")[number % 3]
                    playlist.description = f"Old text {number}"
        clock = env_clock(env, asyncio.get_running_loop())
        await asyncio.to_thread(import_library, inst.settings, inst.sessions, now=clock)
        plan = moved(merged(exported(inst), 3))
        path = inst.tmp / "moved.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["category", "video_id", "privacy", "description"])
            for name, videos in plan.items():
                writer.writerows([name, video, "unlisted", "New text"] for video in videos)
        apply_plan(inst.sessions, path)
        original = library_of(inst)
        await run_reuse_job(env, inst)
        kept = set(kept_by_the_job(inst).values())
        assert len(kept) == 2
        after_sync = library_of(inst)
        assert all(after_sync[pid] != original[pid] for pid in kept), "the sync changed nothing"

        restore = await start_restore(inst.sessions, env.client, inst.settings, None)
        assert (await restore.handle.result()).stage == "completed"

        restored = library_of(inst)
        for pid in kept:
            assert restored[pid] == original[pid], f"kept {pid} is not its old self"
        recreated = {pid: entry for pid, entry in restored.items() if pid not in original}
        gone = {pid: entry for pid, entry in original.items() if pid not in restored}
        assert set(restored) - set(recreated) == kept
        assert sorted((t, p, items) for t, _d, p, items in recreated.values()) == sorted(
            (t, p, items) for t, _d, p, items in gone.values()
        )
        # Every restored playlist's items went back by appends only, never by position.
        assert not any(r.sent_position for r in inst.state.requests("playlistItems.insert"))
        with pytest.raises(UserError, match="nothing to restore"):
            await start_restore(inst.sessions, env.client, inst.settings, None)

    run(tmp_path, database_url, body, unavailable_fraction=0.0)


@pytest.mark.slow  # about 40-50 s: conftest starts it among the first
def test_workers_killed_mid_write_in_every_stage_end_exact(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker dies (SIGKILL) with a write in flight four times: a kept playlist's
    update, an add into a kept playlist, an item removal from one, an old playlist's
    deletion.  Each write is applied by YouTube after its worker is gone; the next
    worker carries on, and the end state is exact: kept ids unchanged, every category
    its videos once, nothing lost."""

    async def body(env: WorkflowEnvironment, inst: Installation) -> None:
        apply(inst, moved(merged(exported(inst), 3)))
        before = old_playlists(inst)
        # Every video of the library's playlists before: none may be lost.
        held = {video for items in before.values() for video in items}
        points = KillPoints(
            [
                ("playlists.update", 1),
                ("playlistItems.insert", 4),
                ("playlistItems.delete", 3),
                ("playlists.delete", 1),
            ]
        )
        inst.state.write_hook = points.hook
        # The worker processes' request timeout, and with it the lane lease a killed
        # worker leaves behind (1.5 times it): the emulator answers at once.
        monkeypatch.setenv("YTSYNC_YOUTUBE_TIMEOUT_SECONDS", "3")
        target = env.client.service_client.config.target_host
        spawn = partial(worker_process, target, inst, database_url)
        worker = await asyncio.to_thread(spawn)
        try:
            started = await start_reuse_job(env, inst, heartbeat_timeout_seconds=5.0)
            for point in points.points:
                reached = await asyncio.to_thread(points.reached[point].wait, 120)
                assert reached, f"no {point[0]} number {point[1]} was sent"
                worker.send_signal(signal.SIGKILL)
                await asyncio.to_thread(worker.wait)
                points.released[point].set()
                worker = await asyncio.to_thread(spawn)
            status = await reuse_job_status(env, inst, started)
        finally:
            for event in points.released.values():
                event.set()
            worker.kill()
            await asyncio.to_thread(worker.wait)
        kept = kept_by_the_job(inst)
        assert len(kept) == 2
        assert_exact(inst, before)
        with inst.state.lock:
            still = {i.video_id for p in inst.state.playlists.values() for i in p.items}
        in_plan = {video for videos, _gone in planned(inst).values() for video in videos}
        # Gone from every playlist: only the videos the plan leaves out on purpose.
        assert held - still == held - in_plan, "a planned video was lost"
        inserts = Counter(
            (r.playlist_id, r.video_id)
            for r in inst.state.requests("playlistItems.insert")
            if r.applied
        )
        assert max(inserts.values()) == 1, "a video was sent twice into one playlist"
        assert status["held_back"] == []

    # The fault suite's lag, and the settle a second past it: the kills and the answers
    # they lose are the point here, and two settles run in real time between the kills
    # (the time-skipping server skips only while a result is awaited).
    run(
        tmp_path,
        database_url,
        body,
        worker=False,
        unavailable_fraction=0.0,
        list_lag_seconds=2.0,
        settle_seconds=3.0,
    )


def test_start_takes_the_strategy_from_the_flag_or_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["start", "--strategy", "reuse"]).strategy == "reuse"
    assert parser.parse_args(["start"]).strategy is None  # then the settings decide
    with pytest.raises(SystemExit) as refused:
        parser.parse_args(["start", "--strategy", "append"])
    assert refused.value.code == 2
    monkeypatch.setenv("YTSYNC_STRATEGY", "reuse")
    assert Settings().strategy == "reuse"
    monkeypatch.setenv("YTSYNC_STRATEGY", "rebuild")
    assert Settings().strategy == "rebuild"
