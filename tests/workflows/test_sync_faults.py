"""The sync through faults, pauses and restarts, on the time-skipping test server."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowHandle

from tests.support.harness import (
    running_worker,
    sign_in_again,
    start,
    worker_process,
)
from tests.support.jobs import FAST, paused_for, time_skipping, writes, writes_held
from tests.support.waiting import eventually
from workflows.sync import SyncWorkflow
from ytsync.cli.app import main as cli_main
from ytsync.cli.jobctl import start_job
from ytsync.db.models import Category, CategoryVideo, QuotaLedger, SyncJob, Video
from ytsync.errors import JobConflict
from ytsync.jobs import create_job
from ytsync.wire import SyncInput
from ytsync_sandbox.invariants import assert_library_as_planned


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_lost_answers_and_transient_errors_leave_no_duplicate(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=250, playlists=6, seed=5) as (
            env,
            inst,
            clock,
        ):
            faults = inst.state.faults
            faults.add(method="playlists.insert", kind="lose_response", count=2)
            faults.add(method="playlistItems.insert", kind="lose_response", probability=0.04)
            faults.add(method="playlistItems.insert", kind="lose_response_reset", probability=0.03)
            faults.add(method="playlistItems.insert", kind="error_5xx", probability=0.03)
            faults.add(method="playlistItems.insert", kind="conflict_409", probability=0.03)
            faults.add(method="playlistItems.insert", kind="rate_limit_429", count=2)
            faults.add(method="playlists.delete", kind="lose_response", count=1)
            async with running_worker(env.client, inst, clock):
                _started, handle = await start(
                    inst, env.client, await env.get_current_time(), **FAST
                )
                result = await handle.result()
            assert result.stage == "completed"
            injected = faults.summary()
            assert injected.get("lose_response", 0) >= 3, injected
            assert_library_as_planned(inst)

    asyncio.run(scenario())


def test_quota_used_from_outside_sleeps_and_finishes(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        async with time_skipping(
            tmp_path, database_url, videos=200, playlists=5, seed=6, emulator_limit=10_000
        ) as (env, inst, clock):
            # Another app on the same Google project (off the loop: the clock needs it).
            await asyncio.to_thread(inst.state.burn_quota, 9_000)
            async with running_worker(env.client, inst, clock):
                _started, handle = await start(inst, env.client, await env.get_current_time())
                assert (await handle.result()).stage == "completed"
            refused = [r for r in inst.state.requests() if r.status == 403]
            assert refused, "YouTube should have refused for quota at least once"
            with inst.sessions() as session:
                assert session.scalars(select(QuotaLedger).where(QuotaLedger.exhausted)).first()
            for period, used in inst.state.quota_usage().items():
                assert used <= 10_000, f"period {period} spent {used}"
            assert_library_as_planned(inst)

    asyncio.run(scenario())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_access_tokens_expiring_during_the_job(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        async with time_skipping(
            tmp_path, database_url, videos=150, playlists=4, seed=7, access_token_ttl=2.0
        ) as (env, inst, clock):
            async with running_worker(env.client, inst, clock):
                _started, handle = await start(inst, env.client, await env.get_current_time())
                assert (await handle.result()).stage == "completed"
            refreshes = [r for r in inst.state.requests() if r.method == "oauth.token"]
            assert len(refreshes) >= 3
            assert_library_as_planned(inst)
            assert stat_mode(inst.settings.token_file) == 0o600

    asyncio.run(scenario())


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_revoked_sign_in_waits_for_auth_then_resumes(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=120, playlists=4, seed=8) as (
            env,
            inst,
            clock,
        ):
            await asyncio.to_thread(inst.state.revoke_refresh_tokens)
            await asyncio.to_thread(inst.state.expire_all_access_tokens)
            async with running_worker(env.client, inst, clock):
                started, handle = await start(inst, env.client, await env.get_current_time())
                await eventually(paused_for(handle, "auth_required"), "auth_required")
                with inst.sessions() as session:
                    job = session.get_one(SyncJob, started.job_id)
                    assert (job.stage, job.pause_reason) == ("paused", "auth_required")
                assert writes(inst) == 0
                # The user signs in again: a new token file, then resume.
                await asyncio.to_thread(sign_in_again, inst)
                await handle.signal(SyncWorkflow.resume)
                assert (await handle.result()).stage == "completed"
            assert_library_as_planned(inst)

    asyncio.run(scenario())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_manual_pause_holds_through_quota_resets_until_resume(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=150, playlists=4, seed=9) as (
            env,
            inst,
            clock,
        ):
            async with running_worker(env.client, inst, clock):
                started, handle = await start(inst, env.client, await env.get_current_time())
                await handle.signal(SyncWorkflow.pause)
                await eventually(paused_for(handle, "user"), "user pause")
                before = writes(inst)
                await env.sleep(timedelta(days=3))
                assert writes(inst) == before, "a paused job must not write"
                with inst.sessions() as session:
                    job = session.get_one(SyncJob, started.job_id)
                    assert (job.stage, job.pause_reason) == ("paused", "user")
                await handle.signal(SyncWorkflow.resume)
                assert (await handle.result()).stage == "completed"
            assert_library_as_planned(inst)

    asyncio.run(scenario())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pause_during_quota_sleep_stays_paused_after_the_reset(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario() -> None:
        async with time_skipping(
            tmp_path, database_url, videos=300, playlists=6, seed=10, daily_quota=3_000
        ) as (env, inst, clock):
            async with running_worker(env.client, inst, clock):
                started, handle = await start(inst, env.client, await env.get_current_time())
                await eventually(paused_for(handle, "quota_exhausted"), "quota sleep")
                await handle.signal(SyncWorkflow.pause)
                await eventually(lambda: _query_paused(handle), "the pause request to be recorded")
                before = writes(inst)
                state = await handle.query(SyncWorkflow.state)
                assert state.resume_at is not None
                await env.sleep(timedelta(days=2))
                await eventually(paused_for(handle, "user"), "user pause after the reset")
                assert writes(inst) == before
                await handle.signal(SyncWorkflow.resume)
                assert (await handle.result()).stage == "completed"
                with inst.sessions() as session:
                    assert session.get_one(SyncJob, started.job_id).stage == "completed"
            assert_library_as_planned(inst)

    asyncio.run(scenario())


async def _query_paused(handle: WorkflowHandle[Any, Any]) -> bool:
    return bool((await handle.query(SyncWorkflow.state)).paused)


def test_start_is_refused_while_a_job_runs(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def scenario() -> None:
        async with (
            time_skipping(tmp_path, database_url, videos=60, playlists=3, seed=11) as (
                env,
                inst,
                clock,
            ),
            running_worker(env.client, inst, clock),
        ):
            started, handle = await start(inst, env.client, await env.get_current_time())
            await handle.signal(SyncWorkflow.pause)
            with pytest.raises(JobConflict, match=f"job {started.job_id} is still"):
                await start_job(
                    inst.settings, inst.sessions, env.client, now=await env.get_current_time()
                )
            target = env.client.service_client.config.target_host
            for name, value in {
                "YTSYNC_DATABASE_URL": database_url,
                "YTSYNC_TEMPORAL_ADDRESS": target,
                "YTSYNC_TASK_QUEUE": inst.settings.task_queue,
            }.items():
                monkeypatch.setenv(name, value)
            code = await asyncio.to_thread(cli_main, ["start", "--yes", "--json"])
            assert code == 1
            assert f"job {started.job_id} is still" in capsys.readouterr().err
            with inst.sessions() as session:
                assert len(session.scalars(select(SyncJob)).all()) == 1
            await handle.signal(SyncWorkflow.resume)
            await handle.result()

    asyncio.run(scenario())


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_worker_killed_mid_write_resumes_without_duplicates(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=200, playlists=5, seed=12) as (
            env,
            inst,
            _clock,
        ):
            target = env.client.service_client.config.target_host
            spawn = partial(worker_process, target, inst, database_url)

            hold = inst.state.hold_writes()
            first = await asyncio.to_thread(spawn)
            _started, handle = await start(inst, env.client, await env.get_current_time(), **FAST)
            await eventually(lambda: writes_held(inst), "an insert to be in flight")
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait)
            hold.release()  # YouTube applies the write; its answer goes nowhere
            second = await asyncio.to_thread(spawn)
            try:
                assert (await handle.result()).stage == "completed"
            finally:
                second.kill()
                second.wait()
            assert_library_as_planned(inst)

    asyncio.run(scenario())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_playlist_creation_limit_waits_for_the_next_day(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        async with time_skipping(
            tmp_path,
            database_url,
            videos=150,
            playlists=4,
            seed=13,
            playlist_create_limit_per_period=2,
        ) as (env, inst, clock):
            async with running_worker(env.client, inst, clock):
                _started, handle = await start(inst, env.client, await env.get_current_time())
                assert (await handle.result()).stage == "completed"
            created = [r for r in inst.state.requests("playlists.insert") if r.status == 200]
            limited = [r for r in inst.state.requests("playlists.insert") if r.status == 429]
            assert limited, "the emulator should have rate-limited playlist creation"
            days = {inst.settings.quota_clock.period_start(r.time) for r in created}
            assert len(days) >= 2, "creation should have continued on a later day"
            assert_library_as_planned(inst)

    asyncio.run(scenario())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_videos_already_in_an_existing_category_playlist_are_not_added_again(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=120, playlists=3, seed=14) as (
            env,
            inst,
            clock,
        ):
            # A category whose playlist already exists and already holds two of its videos.
            with inst.sessions() as session:
                category = session.scalars(
                    select(Category).where(Category.is_protected.is_(False)).order_by(Category.id)
                ).first()
                assert category is not None
                name = category.name
                videos = session.scalars(
                    select(Video.youtube_id)
                    .join(CategoryVideo, CategoryVideo.video_id == Video.id)
                    .where(
                        CategoryVideo.category_id == category.id, Video.availability == "available"
                    )
                    .order_by(CategoryVideo.position)
                ).all()
            existing = await asyncio.to_thread(
                partial(inst.state.add_playlist, name, video_ids=list(videos[:2]))
            )
            with inst.sessions() as session, session.begin():
                session.get_one(Category, category.id).youtube_playlist_id = existing.id
            async with running_worker(env.client, inst, clock):
                _started, handle = await start(inst, env.client, await env.get_current_time())
                assert (await handle.result()).stage == "completed"
            inserts = [
                r
                for r in inst.state.requests("playlistItems.insert")
                if r.playlist_id == existing.id
            ]
            assert {r.video_id for r in inserts}.isdisjoint(videos[:2])
            assert_library_as_planned(inst)

    asyncio.run(scenario())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pause_signalled_with_the_start_is_kept(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        async with time_skipping(tmp_path, database_url, videos=60, playlists=3, seed=15) as (
            env,
            inst,
            clock,
        ):
            async with running_worker(env.client, inst, clock):
                job = await asyncio.to_thread(
                    create_job, inst.settings, inst.sessions, await env.get_current_time()
                )
                # Signal-with-start: the pause is in the very first activation.
                handle = await env.client.start_workflow(
                    SyncWorkflow.run,
                    SyncInput(job_id=job.id),
                    id=job.workflow_id,
                    task_queue=inst.settings.task_queue,
                    start_signal="pause",
                )
                await eventually(paused_for(handle, "user"), "the early pause")
                assert writes(inst) == 0
                await handle.signal(SyncWorkflow.resume)
                assert (await handle.result()).stage == "completed"
            assert_library_as_planned(inst)

    asyncio.run(scenario())
