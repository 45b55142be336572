"""Restore: after a sync, the old playlists come back with their items, in order."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from tests.support.harness import Installation, running_worker, start, worker_process
from tests.support.jobs import time_skipping, writes_held
from tests.support.waiting import eventually
from ytsync.cli.jobctl import start_restore
from ytsync.db.models import BackupSnapshot, Playlist
from ytsync.errors import UserError
from ytsync.importer import import_library


def snapshot_of(inst: Installation) -> dict[str, list[str]]:
    with inst.sessions() as session:
        snapshot = session.scalars(select(BackupSnapshot)).one()
        return {p["title"]: [i["video_id"] for i in p["items"]] for p in snapshot.data["playlists"]}


def assert_restored(inst: Installation, expected: dict[str, list[str]]) -> None:
    by_title = inst.state.playlists_by_title()
    with inst.sessions() as session:
        available = {
            v
            for v, a in session.execute(
                select(Playlist.youtube_id, Playlist.deleted_from_youtube_at)
            )
            if a is None
        }
    for title, videos in expected.items():
        ids = [pid for pid in by_title.get(title, []) if pid in available]
        assert len(ids) == 1, f"{title!r}: {len(by_title.get(title, []))} playlists"
        restored = inst.state.playlist_items(ids[0])
        wanted = [
            v
            for v in videos
            if inst.state.videos.get(v)
            and not inst.state.videos[v].deleted
            and (
                inst.state.videos[v].privacy != "private"
                or inst.state.videos[v].owner_channel_id == inst.state.channel_id
            )
        ]
        assert restored == wanted, f"{title!r} was not restored in order"


async def synced(
    env: WorkflowEnvironment, inst: Installation, clock: Callable[[], datetime]
) -> dict[str, list[str]]:
    """Run the sync to its end; the snapshot it took of the old playlists."""
    async with running_worker(env.client, inst, clock):
        _job, handle = await start(inst, env.client, await env.get_current_time())
        await handle.result()
    return snapshot_of(inst)


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_sync_then_restore_brings_the_old_playlists_back(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=150, playlists=4, seed=31) as (
            env,
            inst,
            clock,
        ):
            expected = await synced(env, inst, clock)
            assert not set(expected) & set(inst.state.playlists_by_title())
            async with running_worker(env.client, inst, clock):
                restore = await start_restore(inst.sessions, env.client, inst.settings, None)
                assert (await restore.handle.result()).stage == "completed"
            assert_restored(inst, expected)
            with pytest.raises(UserError, match="nothing to restore"):
                await start_restore(inst.sessions, env.client, inst.settings, None)

    asyncio.run(scenario())


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_restore_interrupted_by_a_worker_kill_has_no_duplicates(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=150, playlists=4, seed=32) as (
            env,
            inst,
            clock,
        ):
            expected = await synced(env, inst, clock)
            target = env.client.service_client.config.target_host
            spawn = partial(worker_process, target, inst, database_url)

            hold = inst.state.hold_writes()
            first = await asyncio.to_thread(spawn)
            restore = await start_restore(
                inst.sessions, env.client, inst.settings, None, heartbeat_timeout_seconds=5.0
            )
            await eventually(lambda: writes_held(inst), "a restore insert in flight")
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait)
            hold.release()
            second = await asyncio.to_thread(spawn)
            try:
                assert (await restore.handle.result()).stage == "completed"
            finally:
                second.kill()
                second.wait()
            assert_restored(inst, expected)

    asyncio.run(scenario())


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_restored_playlist_keeps_within_youtubes_description_limit(
    tmp_path: Path, database_url: str
) -> None:
    """An old playlist with a full 5,000-character description: its recreation carries a
    marker within YouTube's 5,000 characters, and the description then goes back to
    exactly what it was."""

    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=120, playlists=3, seed=33) as (
            env,
            inst,
            clock,
        ):
            videos = sorted(inst.state.videos)[:3]
            # Off the loop: the emulator reads the test server's clock through it.
            old = await asyncio.to_thread(
                partial(inst.state.add_playlist, "Notes", description="n" * 5000, video_ids=videos)
            )
            await asyncio.to_thread(import_library, inst.settings, inst.sessions, now=clock)
            expected = await synced(env, inst, clock)
            assert "Notes" in expected and old.id not in inst.state.playlists
            async with running_worker(env.client, inst, clock):
                restore = await start_restore(inst.sessions, env.client, inst.settings, None)
                assert (await restore.handle.result()).stage == "completed"
            assert_restored(inst, expected)
            (restored,) = inst.state.playlists_by_title()["Notes"]
            description = inst.state.playlists[restored].description
            assert description == "n" * 5000
            # Made with the marker, then given its description back: one update.
            updates = [r for r in inst.state.requests("playlists.update") if r.applied]
            assert [r.playlist_id for r in updates].count(restored) == 1

    asyncio.run(scenario())
