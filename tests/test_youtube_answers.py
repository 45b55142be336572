"""Whole syncs against YouTube's less friendly answers, on the time-skipping server.

A sign-in without the youtube scope is a sign-in problem (a pause), not a failed item
per write; the 404 YouTube gives an insert right after it made the playlist means "not
yet", not "gone".
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.harness import running_worker, sign_in_again, start
from tests.invariants import assert_library_as_planned
from tests.test_sync_faults import eventually, paused_for, setup, writes
from workflows.sync import SyncWorkflow
from ytsync.db.models import SyncJob
from ytsync.emulator.credentials import NARROW_SCOPE, issue_token_file
from ytsync.emulator.state import NOT_FOUND_AFTER_CREATE_SECONDS
from ytsync.status import job_status

SCOPE = "https://www.googleapis.com/auth/youtube"


def test_a_sign_in_without_the_youtube_scope_pauses_then_resumes(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario() -> None:
        async with setup(tmp_path, database_url, videos=120, playlists=4, seed=8) as (
            env,
            inst,
            clock,
        ):
            # The user signed in again and unticked "Manage your YouTube account".
            await asyncio.to_thread(
                issue_token_file,
                inst.state,
                inst.settings.token_file,
                base_url=inst.server.base_url,
                scope=NARROW_SCOPE,
            )
            async with running_worker(env.client, inst, clock):
                started, handle = await start(inst, env.client, await env.get_current_time())
                await eventually(paused_for(handle, "auth_required"), "auth_required")
                with inst.sessions() as session:
                    job = session.get_one(SyncJob, started.job_id)
                    status = job_status(session, job, inst.settings, await env.get_current_time())
                assert (status["stage"], status["pause_reason"]) == ("paused", "auth_required")
                assert status["paused_at_stage"] == "create_playlists"
                assert f"does not grant the YouTube scope ({SCOPE})" in status["pause_message"]
                assert status["errors"] == [], "a missing scope fails no item"
                assert writes(inst) == 0
                refused = [r for r in inst.state.requests() if r.status == 403]
                assert refused and all(r.units == 0 for r in refused)

                await asyncio.to_thread(sign_in_again, inst)
                await handle.signal(SyncWorkflow.resume)
                assert (await handle.result()).stage == "completed"
            with inst.sessions() as session:
                job = session.get_one(SyncJob, started.job_id)
                assert job.pause_message is None
            assert_library_as_planned(inst)

    asyncio.run(scenario())


def test_inserts_that_meet_the_404_after_creation_are_tried_again(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario() -> None:
        async with setup(tmp_path, database_url, videos=150, playlists=4, seed=9) as (
            env,
            inst,
            clock,
        ):
            assert inst.state.not_found_after_create_seconds == NOT_FOUND_AFTER_CREATE_SECONDS
            async with running_worker(env.client, inst, clock):
                started, handle = await start(inst, env.client, await env.get_current_time())
                assert (await handle.result()).stage == "completed"
            not_yet = [
                r
                for r in inst.state.requests("playlistItems.insert")
                if r.status == 404 and r.fault is None
            ]
            assert not_yet, "the emulator should have answered 404 right after a creation"
            with inst.sessions() as session:
                job = session.get_one(SyncJob, started.job_id)
                status = job_status(session, job, inst.settings, await env.get_current_time())
            messages = [e["message"] for e in status["errors"]]
            assert not [m for m in messages if "playlistNotFound" in m], messages
            assert_library_as_planned(inst)

    asyncio.run(scenario())
