"""Re-import keeps what ytsync made: after a restore or a reuse, the restored and the
kept playlists stay known (not marked deleted), later jobs verify and handle them, and
a later restore renames a kept playlist back instead of making it again.

Whole jobs through the real API client on the emulator, under the time-skipping test
server, with ``import`` run between them as a user would.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from temporalio.testing import WorkflowEnvironment

from tests.support.harness import Installation, running_worker, start
from tests.support.jobs import time_skipping
from tests.support.reuse import apply, exported, merged
from ytsync.cli.jobctl import start_job, start_restore
from ytsync.db.engine import transaction
from ytsync.db.models import Category, JobKeptPlaylist, Playlist, SyncJob
from ytsync.importer import ImportSummary, import_library
from ytsync_sandbox.invariants import assert_library_as_planned

Library = dict[str, tuple[str, str, str, list[str]]]


def library_of(inst: Installation) -> Library:
    """Every normal playlist on the emulator: id -> (title, description, privacy, items)."""
    return {
        p.id: (p.title, p.description, p.privacy, inst.state.playlist_items(p.id))
        for p in inst.state.iter_playlists()
    }


def known(inst: Installation) -> dict[str, tuple[int, str, datetime | None]]:
    """The database's old playlists: YouTube id -> (row, description, gone since)."""
    with inst.sessions() as session:
        rows = session.execute(
            select(
                Playlist.youtube_id,
                Playlist.id,
                Playlist.description,
                Playlist.deleted_from_youtube_at,
            )
        )
        return {youtube_id: (pk, text, gone) for youtube_id, pk, text, gone in rows}


async def reimport(env: WorkflowEnvironment, inst: Installation) -> ImportSummary:
    """``import``, at the test server's time."""
    now = await env.get_current_time()
    return await asyncio.to_thread(import_library, inst.settings, inst.sessions, now=lambda: now)


async def completed(env: WorkflowEnvironment, inst: Installation, *, reuse: bool = False) -> int:
    settings = inst.settings.model_copy(update={"strategy": "reuse"}) if reuse else inst.settings
    now = await env.get_current_time()
    started = await start_job(settings, inst.sessions, env.client, now=now)
    assert (await started.handle.result()).stage == "completed"
    return started.job_id


async def restored(
    env: WorkflowEnvironment, inst: Installation, snapshot_id: int | None = None
) -> None:
    job = await start_restore(inst.sessions, env.client, inst.settings, snapshot_id)
    assert (await job.handle.result()).stage == "completed"


def test_reimport_after_a_restore_keeps_the_restored_playlists(
    tmp_path: Path, database_url: str
) -> None:
    """A sync, then a restore, then ``import``: the restored playlists are the library's
    old playlists under their new ids (their descriptions as they were: the restore
    sets them back without its marker), one restored by a restore that never recorded
    it on the playlist's row is taken back by the restore's own record of it, and the
    next sync verifies and deletes them all again."""

    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=100, playlists=4, seed=41) as (
            env,
            inst,
            clock,
        ):
            with inst.state.lock:
                for number, playlist in enumerate(inst.state.playlists.values()):
                    if not playlist.special:
                        playlist.description = f"Old text {number}"
            await reimport(env, inst)
            before = library_of(inst)
            first_ids = {pk: youtube_id for youtube_id, (pk, _t, _g) in known(inst).items()}
            async with running_worker(env.client, inst, clock):
                _started, handle = await start(inst, env.client, await env.get_current_time())
                assert (await handle.result()).stage == "completed"
                await restored(env, inst)
            with inst.sessions() as session:
                made = set(session.scalars(select(Category.youtube_playlist_id)))
            back = {
                pid: entry
                for pid, entry in library_of(inst).items()
                if pid not in before and pid not in made
            }
            assert len(back) == len(before) > 1
            # Titles, descriptions and privacy as they were: no marker left behind.
            assert sorted(e[:3] for e in back.values()) == sorted(e[:3] for e in before.values())
            rows = known(inst)
            assert set(back) <= set(rows)
            # A restore that stopped before its end: its row still names the old id.
            lost_id = sorted(back)[0]
            pk = rows[lost_id][0]
            stopped = await env.get_current_time()
            with transaction(inst.sessions) as session:
                session.execute(
                    update(Playlist)
                    .where(Playlist.id == pk)
                    .values(youtube_id=first_ids[pk], deleted_from_youtube_at=stopped)
                )

            summary = await reimport(env, inst)
            assert summary.playlists == len(back)
            rows = known(inst)
            for pid in back:
                assert pid in rows, f"restored {pid} is not known"
                _pk, text, gone = rows[pid]
                assert gone is None, f"restored {pid} was marked deleted"
                assert "ytsync:" not in text and text.startswith("Old text")
            assert rows[lost_id][0] == pk, "the restored playlist got a row of its own"

            async with running_worker(env.client, inst, clock):
                await completed(env, inst)
            assert not set(back) & set(inst.state.playlists), "a restored playlist survived"
            assert set(back) <= set(inst.state.deleted_playlists)
            assert_library_as_planned(inst)

    asyncio.run(scenario())


def test_reimport_after_a_reuse_keeps_the_kept_playlists(tmp_path: Path, database_url: str) -> None:
    """A reuse, then ``import``: the kept playlists stay known (not marked deleted,
    their rows as imported before the job); a sync after it leaves them to their
    categories, and a restore renames them back instead of making them again."""

    async def scenario() -> None:
        async with time_skipping(
            tmp_path, database_url, videos=120, playlists=6, seed=43, plan=False
        ) as (env, inst, clock):
            apply(inst, merged(exported(inst), 2))
            original = library_of(inst)
            async with running_worker(env.client, inst, clock):
                job_id = await completed(env, inst, reuse=True)
                with inst.sessions() as session:
                    kept = set(
                        session.scalars(
                            select(Playlist.youtube_id)
                            .join(JobKeptPlaylist, JobKeptPlaylist.playlist_id == Playlist.id)
                            .where(JobKeptPlaylist.job_id == job_id)
                        )
                    )
                assert len(kept) > 1
                before = known(inst)

                summary = await reimport(env, inst)
                rows = known(inst)
                for pid in kept:
                    assert rows[pid][2] is None, f"kept {pid} was marked deleted"
                    assert rows[pid] == before[pid]
                assert summary.gone_playlists == 0

                # A later sync: the kept playlists stay their categories' own, every
                # other old playlist is gone.
                await completed(env, inst)
                with inst.sessions() as session:
                    owned = set(session.scalars(select(Category.youtube_playlist_id)))
                assert kept <= owned & set(inst.state.playlists)
                assert not kept & set(inst.state.deleted_playlists)
                assert not (set(known(inst)) - kept) & set(inst.state.playlists)

                # The backup the reuse took: the kept playlists as they were, and the
                # old playlists it deleted.
                inserts = len(inst.state.requests("playlists.insert"))
                with inst.sessions() as session:
                    backup_id = session.get_one(SyncJob, job_id).backup_id
                await restored(env, inst, backup_id)
            back = library_of(inst)
            for pid in kept:
                assert back[pid] == original[pid], f"kept {pid} is not its old self"
            # Only the deleted old playlists were made again, none of the kept ones.
            made = len(inst.state.requests("playlists.insert")) - inserts
            assert made == len(original) - len(kept)
            with inst.sessions() as session:
                jobs = session.scalars(select(SyncJob.kind).order_by(SyncJob.id)).all()
            assert jobs == ["sync", "sync", "restore"]

    asyncio.run(scenario())
